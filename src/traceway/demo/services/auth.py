"""auth-service (gRPC, grpc.aio): credentials and HMAC-signed bearer tokens.

Demo logins are seeded (alice/wonderland, bob/builder, carol/captain) along with the
user service's own account. Tokens are signed with ``AUTH_TOKEN_SECRET``, or with a
secret made up at start (tokens then last as long as the process).

    AUTH_SERVICE_ADDR=127.0.0.1:50052 python -m traceway.demo.services.auth
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Mapping
from typing import Any

import grpc

from traceway.demo import rpc, seed, topology
from traceway.demo.faults import FaultInjector
from traceway.demo.proto import auth_pb2, auth_pb2_grpc
from traceway.demo.runtime import ServiceProcess
from traceway.demo.services.tokens import Credentials, TokenError, TokenSigner
from traceway.instrument import traced

__all__ = ["AuthService", "main"]

SECRET_VARIABLE = "AUTH_TOKEN_SECRET"  # noqa: S105 (a variable's name, not a secret)

_logger = logging.getLogger("traceway.demo.auth")

_Context = grpc.aio.ServicerContext[Any, Any]


class AuthService(auth_pb2_grpc.AuthServiceServicer):
    """The AuthService handlers; coroutines on grpc.aio."""

    def __init__(
        self, credentials: Credentials, signer: TokenSigner, faults: FaultInjector
    ) -> None:
        self._credentials = credentials
        self._signer = signer
        self._faults = faults

    async def _check(self, username: str, password: str) -> seed.Account | None:
        # Hashing takes CPU time: a thread keeps the event loop answering meanwhile.
        with traced("check password", **{"user.name": username}):
            return await asyncio.to_thread(self._credentials.check, username, password)

    async def ValidateCredentials(
        self, request: auth_pb2.ValidateCredentialsRequest, context: _Context
    ) -> auth_pb2.ValidateCredentialsResponse:
        await rpc.inject_faults_async(self._faults, context, "ValidateCredentials")
        account = await self._check(request.username, request.password)
        if account is None:
            return auth_pb2.ValidateCredentialsResponse(valid=False)
        return auth_pb2.ValidateCredentialsResponse(valid=True, user_id=account.user_id)

    async def Login(
        self, request: auth_pb2.LoginRequest, context: _Context
    ) -> auth_pb2.LoginResponse:
        await rpc.inject_faults_async(self._faults, context, "Login")
        if not request.username or not request.password:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "username and password are both required"
            )
        account = await self._check(request.username, request.password)
        if account is None or not account.user_id:
            _logger.info("failed login for %r", request.username)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong username or password")
        token, expires_at = self._signer.issue(account.user_id, account.tenant_id)
        return auth_pb2.LoginResponse(
            token=token, user_id=account.user_id, expires_at_unix=expires_at
        )

    async def VerifyToken(
        self, request: auth_pb2.VerifyTokenRequest, context: _Context
    ) -> auth_pb2.VerifyTokenResponse:
        await rpc.inject_faults_async(self._faults, context, "VerifyToken")
        try:
            claims = self._signer.verify(request.token)
        except TokenError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        return auth_pb2.VerifyTokenResponse(user_id=claims.user_id, tenant_id=claims.tenant_id)


def _secret(environ: Mapping[str, str]) -> bytes:
    configured = environ.get(SECRET_VARIABLE, "")
    if configured:
        return configured.encode()
    _logger.info("%s is not set: tokens are signed with a secret made up now", SECRET_VARIABLE)
    return secrets.token_bytes(32)


async def serve(process: ServiceProcess) -> None:
    """Serve until asked to stop."""
    stop = process.stop_event()
    credentials = Credentials([*seed.ACCOUNTS, seed.SERVICE_ACCOUNT])
    service = AuthService(credentials, TokenSigner(_secret(process.environ)), process.faults())
    server = rpc.aio_server()
    auth_pb2_grpc.add_AuthServiceServicer_to_server(service, server)
    await rpc.run_aio_server(server, process, stop)


def main(environ: Mapping[str, str] = os.environ) -> None:
    """Serve until SIGTERM/SIGINT."""
    asyncio.run(serve(ServiceProcess(topology.AUTH, environ)))


if __name__ == "__main__":
    main()
