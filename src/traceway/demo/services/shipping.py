"""shipping-service (gRPC, grpc.aio): asks the external shipping partner over HTTP.

The call to the partner is an httpx CLIENT span; the partner is a black box, so the
trace ends there. A partner that fails or does not answer makes GetStatus fail with
UNAVAILABLE or DEADLINE_EXCEEDED and says why.

    SHIPPING_SERVICE_ADDR=127.0.0.1:50054 PARTNER_URL=http://127.0.0.1:50055 \\
        python -m traceway.demo.services.shipping
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any, Final

import grpc
import httpx

from traceway.demo import rpc, topology
from traceway.demo.faults import FaultInjector
from traceway.demo.proto import shipping_pb2, shipping_pb2_grpc
from traceway.demo.runtime import ServiceProcess
from traceway.instrument import instrument_httpx

__all__ = ["ShippingService", "main", "partner_url"]

PARTNER_TIMEOUT_S: Final = 1.0

_Context = grpc.aio.ServicerContext[Any, Any]


def partner_url(environ: Mapping[str, str]) -> str:
    """``PARTNER_URL``, else ``http://`` and the partner's address."""
    configured = environ.get(topology.PARTNER_URL_VARIABLE, "").strip()
    return configured or f"http://{topology.target_of(topology.PARTNER, environ)}"


class ShippingService(shipping_pb2_grpc.ShippingServiceServicer):
    """The ShippingService handler; a coroutine on grpc.aio."""

    def __init__(self, partner: httpx.AsyncClient, faults: FaultInjector) -> None:
        self._partner = partner
        self._faults = faults

    async def GetStatus(
        self, request: shipping_pb2.GetStatusRequest, context: _Context
    ) -> shipping_pb2.ShipmentStatus:
        await rpc.inject_faults_async(self._faults, context, "GetStatus")
        tracking_number = request.tracking_number.strip()
        if not tracking_number.isalnum():
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"tracking number {request.tracking_number!r} is not letters and digits",
            )
        timeout = rpc.time_left(context, PARTNER_TIMEOUT_S)
        try:
            response = await self._partner.get(f"/v1/shipments/{tracking_number}", timeout=timeout)
        except httpx.TimeoutException:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"the shipping partner did not answer within {timeout:.2f}s",
            )
        except httpx.HTTPError as exc:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"the shipping partner is unreachable: {exc}"
            )
        if response.status_code == httpx.codes.NOT_FOUND:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"the partner knows no shipment {tracking_number}"
            )
        if response.status_code != httpx.codes.OK:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"the shipping partner answered {response.status_code}: {response.text[:200]}",
            )
        shipment = response.json()
        return shipping_pb2.ShipmentStatus(
            tracking_number=tracking_number,
            carrier=str(shipment.get("carrier", "")),
            status=str(shipment.get("status", "")),
            estimated_delivery=str(shipment.get("estimated_delivery", "")),
        )


async def serve(process: ServiceProcess) -> None:
    """Serve until asked to stop."""
    stop = process.stop_event()
    async with httpx.AsyncClient(base_url=partner_url(process.environ)) as partner:
        instrument_httpx(partner)
        server = rpc.aio_server()
        shipping_pb2_grpc.add_ShippingServiceServicer_to_server(
            ShippingService(partner, process.faults()), server
        )
        await rpc.run_aio_server(server, process, stop)


def main(environ: Mapping[str, str] = os.environ) -> None:
    """Serve until SIGTERM/SIGINT."""
    asyncio.run(serve(ServiceProcess(topology.SHIPPING, environ)))


if __name__ == "__main__":
    main()
