"""The shipping partner: an outside company's HTTP API, standing in for a real one.

Deliberately not traced by traceway: a real partner is a black box outside the private
network, so traces end at the shipping service's CLIENT span that calls it.

    GET /v1/shipments/{tracking_number}   -> 200 {"carrier", "status", "estimated_delivery"}
                                          -> 404 for an unknown number, 503 when failing

    PARTNER_ADDR=127.0.0.1:50055 python -m traceway.demo.partner
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import os
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from traceway.demo import topology
from traceway.demo.faults import FaultInjector
from traceway.demo.http_serving import serve_http
from traceway.demo.runtime import ServiceProcess

__all__ = ["main", "partner_app", "shipment"]

_CARRIERS = ("Parcelo", "Swift Freight", "Hermes Post")
_STATUSES = ("label created", "in transit", "in transit", "out for delivery", "delivered")

_logger = logging.getLogger("traceway.demo.partner")


def shipment(tracking_number: str, today: datetime.date) -> dict[str, str] | None:
    """The made-up, stable state of a shipment; None for numbers the partner never issued."""
    if not tracking_number.startswith("PX"):
        return None
    digest = hashlib.sha256(tracking_number.encode()).digest()
    status = _STATUSES[digest[1] % len(_STATUSES)]
    delivery = today + datetime.timedelta(days=0 if status == "delivered" else 1 + digest[2] % 5)
    return {
        "tracking_number": tracking_number,
        "carrier": _CARRIERS[digest[0] % len(_CARRIERS)],
        "status": status,
        "estimated_delivery": delivery.isoformat(),
    }


def partner_app(faults: FaultInjector) -> Starlette:
    """The partner's API, with its faults."""

    async def get_shipment(request: Request) -> JSONResponse:
        if await faults.apply_async(_logger) is not None:
            return JSONResponse(
                {"error": "service temporarily overloaded, try again later"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        tracking_number = request.path_params["tracking_number"]
        found = shipment(tracking_number, datetime.datetime.now(datetime.UTC).date())
        if found is None:
            return JSONResponse({"error": f"no shipment {tracking_number}"}, status_code=404)
        return JSONResponse(found)

    return Starlette(routes=[Route("/v1/shipments/{tracking_number}", get_shipment)])


def main(environ: Mapping[str, str] = os.environ) -> None:
    """Serve until SIGTERM/SIGINT."""
    process = ServiceProcess(topology.PARTNER, environ, traced=False)
    asyncio.run(serve_http(partner_app(process.faults()), process))


if __name__ == "__main__":
    main()
