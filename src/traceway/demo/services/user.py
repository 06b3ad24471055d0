"""user-service (gRPC, thread pool): a user's profile from its own SQLite database.

GetUser checks the id, proves its own identity to auth-service (ValidateCredentials
with its service account), then reads the user: a span per query, CLIENT kind.

    USER_SERVICE_ADDR=127.0.0.1:50051 AUTH_SERVICE_ADDR=127.0.0.1:50052 \\
        python -m traceway.demo.services.user
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Final

import grpc

from traceway.demo import rpc, seed, topology
from traceway.demo.database import Database
from traceway.demo.faults import FaultInjector
from traceway.demo.proto import auth_pb2, auth_pb2_grpc, user_pb2, user_pb2_grpc
from traceway.demo.runtime import ServiceProcess

__all__ = ["UserService", "main", "users_database"]

AUTH_TIMEOUT_S: Final = 1.0
_SELECT_USER: Final = "SELECT id, name, email, tenant_id FROM users WHERE id = ?"

_logger = logging.getLogger("traceway.demo.user")


def users_database() -> Database:
    """An in-memory database of the demo's users."""
    database = Database("users")
    database.setup(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, tenant_id TEXT);",
        "INSERT INTO users VALUES (?, ?, ?, ?)",
        [(u.id, u.name, u.email, u.tenant_id) for u in seed.USERS],
    )
    return database


class UserService(user_pb2_grpc.UserServiceServicer):
    """The UserService handlers; sync, served from a thread pool."""

    def __init__(
        self,
        database: Database,
        auth: auth_pb2_grpc.AuthServiceStub,
        faults: FaultInjector,
        account: seed.Account = seed.SERVICE_ACCOUNT,
    ) -> None:
        self._database = database
        self._auth = auth
        self._faults = faults
        self._account = account

    def GetUser(
        self, request: user_pb2.GetUserRequest, context: grpc.ServicerContext
    ) -> user_pb2.User:
        rpc.inject_faults(self._faults, context, "GetUser")
        user_id = rpc.positive_id(request.user_id, "user id", context)
        self._prove_identity(context)
        rows = self._database.query(
            _SELECT_USER, (user_id,), operation="SELECT", collection="users"
        )
        if not rows:
            context.abort(grpc.StatusCode.NOT_FOUND, f"there is no user {request.user_id.strip()}")
        row = rows[0]
        return user_pb2.User(
            id=str(row["id"]), name=row["name"], email=row["email"], tenant_id=row["tenant_id"]
        )

    def _prove_identity(self, context: grpc.ServicerContext) -> None:
        request = auth_pb2.ValidateCredentialsRequest(
            username=self._account.username, password=self._account.password
        )
        try:
            answer = self._auth.ValidateCredentials(
                request,
                timeout=rpc.time_left(context, AUTH_TIMEOUT_S),
                metadata=rpc.caller_metadata(context),
            )
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            _logger.warning("auth-service failed: %s %s", code.name, details)
            context.abort(rpc.upstream_failure(code), f"auth-service: {details}")
        if not answer.valid:
            context.abort(
                grpc.StatusCode.INTERNAL,
                f"auth-service rejected the credentials of {self._account.username!r}",
            )


def main(environ: Mapping[str, str] = os.environ) -> None:
    """Serve until SIGTERM/SIGINT."""
    process = ServiceProcess(topology.USER, environ)
    auth_target = topology.target_of(topology.AUTH, environ)
    channel = rpc.sync_channel(auth_target)
    service = UserService(
        users_database(), auth_pb2_grpc.AuthServiceStub(channel), process.faults()
    )
    server = rpc.sync_server()
    user_pb2_grpc.add_UserServiceServicer_to_server(service, server)
    rpc.run_sync_server(server, process)
    channel.close()


if __name__ == "__main__":
    main()
