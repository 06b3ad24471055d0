"""order-service (gRPC, thread pool): orders from its own SQLite database.

GetOrder reads the order, then asks shipping-service where its parcel is. When shipping
fails the order is still answered, with shipping status ``unknown``: the trace shows the
failed call, the client gets what could be had.

    ORDER_SERVICE_ADDR=127.0.0.1:50053 SHIPPING_SERVICE_ADDR=127.0.0.1:50054 \\
        python -m traceway.demo.services.order
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Final

import grpc
from opentelemetry import trace

from traceway.demo import rpc, seed, topology
from traceway.demo.database import Database, Row
from traceway.demo.faults import FaultInjector
from traceway.demo.proto import order_pb2, order_pb2_grpc, shipping_pb2, shipping_pb2_grpc
from traceway.demo.runtime import ServiceProcess

__all__ = ["UNKNOWN_SHIPPING_STATUS", "OrderService", "main", "orders_database"]

SHIPPING_TIMEOUT_S: Final = 1.5
UNKNOWN_SHIPPING_STATUS: Final = "unknown"
DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
_SELECT_ORDER: Final = (
    "SELECT id, user_id, item, quantity, total_cents, currency, tracking_number "
    "FROM orders WHERE id = ? AND user_id = ?"
)
_SELECT_ORDERS: Final = (
    "SELECT id, user_id, item, quantity, total_cents, currency, tracking_number "
    "FROM orders WHERE user_id = ? ORDER BY id DESC LIMIT ?"
)

_logger = logging.getLogger("traceway.demo.order")


def orders_database() -> Database:
    """An in-memory database of the demo's orders."""
    database = Database("orders")
    database.setup(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, item TEXT, "
        "quantity INTEGER, total_cents INTEGER, currency TEXT, tracking_number TEXT);"
        "CREATE INDEX orders_by_user ON orders (user_id);",
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, 'EUR', ?)",
        [
            (o.id, o.user_id, o.item, o.quantity, o.total_cents, o.tracking_number)
            for o in seed.ORDERS
        ],
    )
    return database


def _order(row: Row) -> order_pb2.Order:
    return order_pb2.Order(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        item=row["item"],
        quantity=row["quantity"],
        total_cents=row["total_cents"],
        currency=row["currency"],
        tracking_number=row["tracking_number"],
    )


class OrderService(order_pb2_grpc.OrderServiceServicer):
    """The OrderService handlers; sync, served from a thread pool."""

    def __init__(
        self,
        database: Database,
        shipping: shipping_pb2_grpc.ShippingServiceStub,
        faults: FaultInjector,
    ) -> None:
        self._database = database
        self._shipping = shipping
        self._faults = faults

    def GetOrder(
        self, request: order_pb2.GetOrderRequest, context: grpc.ServicerContext
    ) -> order_pb2.Order:
        rpc.inject_faults(self._faults, context, "GetOrder")
        order_id = rpc.positive_id(request.order_id, "order id", context)
        user_id = rpc.positive_id(request.user_id, "user id", context)
        rows = self._database.query(
            _SELECT_ORDER, (order_id, user_id), operation="SELECT", collection="orders"
        )
        if not rows:
            context.abort(
                grpc.StatusCode.NOT_FOUND, f"user {user_id} has no order {request.order_id}"
            )
        order = _order(rows[0])
        try:
            shipment = self._shipping.GetStatus(
                shipping_pb2.GetStatusRequest(tracking_number=order.tracking_number),
                timeout=rpc.time_left(context, SHIPPING_TIMEOUT_S),
                metadata=rpc.caller_metadata(context),
            )
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            _logger.warning(
                "shipping status of order %s unknown: %s %s", order.id, code.name, details
            )
            trace.get_current_span().add_event(
                "shipping status unknown",
                {"rpc.grpc.status_code": code.value[0], "exception.message": details or ""},
            )
            order.shipping_status = UNKNOWN_SHIPPING_STATUS
        else:
            order.shipping_status = shipment.status
            order.estimated_delivery = shipment.estimated_delivery
        return order

    def ListOrders(
        self, request: order_pb2.ListOrdersRequest, context: grpc.ServicerContext
    ) -> order_pb2.ListOrdersResponse:
        rpc.inject_faults(self._faults, context, "ListOrders")
        user_id = rpc.positive_id(request.user_id, "user id", context)
        if request.limit < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit must not be negative")
        limit = min(request.limit or DEFAULT_LIMIT, MAX_LIMIT)
        rows = self._database.query(
            _SELECT_ORDERS, (user_id, limit), operation="SELECT", collection="orders"
        )
        return order_pb2.ListOrdersResponse(orders=[_order(row) for row in rows])


def main(environ: Mapping[str, str] = os.environ) -> None:
    """Serve until SIGTERM/SIGINT."""
    process = ServiceProcess(topology.ORDER, environ)
    channel = rpc.sync_channel(topology.target_of(topology.SHIPPING, environ))
    service = OrderService(
        orders_database(), shipping_pb2_grpc.ShippingServiceStub(channel), process.faults()
    )
    server = rpc.sync_server()
    order_pb2_grpc.add_OrderServiceServicer_to_server(service, server)
    rpc.run_sync_server(server, process)
    channel.close()


if __name__ == "__main__":
    main()
