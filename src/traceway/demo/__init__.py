"""``traceway demo``: the reference microservice system, traced end to end.

A gateway over HTTP; user, auth, order and shipping services over gRPC (sync and
``grpc.aio``); a shipping partner outside the traced system; faults and latency to
inject; a traffic generator; and the supervisor that runs them all as processes.
"""
