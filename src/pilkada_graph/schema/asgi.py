"""The GraphQL endpoint: HTTP and WebSocket (graphql-transport-ws and graphql-ws) at one path.

Who is asking is settled here, once per HTTP request and once per WebSocket connection:
``Authorization: Bearer TOKEN`` on HTTP, ``{"Authorization": "Bearer TOKEN"}`` in the
``connection_init`` payload on WebSocket (or the upgrade request's header). A token that is
unknown, expired or revoked is refused (HTTP 401, WebSocket closed with 4403), never treated as
anonymous; no token at all is the anonymous, read-only viewer, unless the settings turn
anonymous access off.

WebSocket connections share a process's recent token checks for :data:`TOKEN_CHECK_SECONDS`
(:class:`TokenChecks`): when thousands of dashboards with one token (re)connect at once, the
database is asked once, not thousands of times. A revoked token is therefore refused to new
WebSocket connections within that time; HTTP requests are checked every time.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from cross_web import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from pilkada_graph.schema import build_schema
from pilkada_graph.schema.context import ANONYMOUS, Context, Viewer
from pilkada_graph.schema.live import LiveTransportWSHandler, LiveWSHandler
from pilkada_graph.service import Desk
from pilkada_graph.tokens import TokenInfo, authenticate, hash_secret, utc_now

#: How long a successful token check serves further WebSocket connections with the same token.
TOKEN_CHECK_SECONDS = 5.0
#: The same for HTTP requests: a token check is a thread hop, a connection and a statement (about
#: a tenth of a desk query on SQLite), so a token's requests within a second share one; a token
#: revoked by the CLI (another process) is refused at most this long after.
HTTP_TOKEN_CHECK_SECONDS = 1.0


class Unauthenticated(Exception):  # noqa: N818 - named after the answer it produces
    """The request's credentials are refused (HTTP 401)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GraphQLApp(GraphQL[Context, None]):
    """strawberry's ASGI app with our context: the app's desk, fresh loaders, the viewer.

    Its WebSocket handlers let subscriptions render each event once per group of alike subscribers
    (:mod:`~pilkada_graph.schema.live`).
    """

    graphql_transport_ws_handler_class = LiveTransportWSHandler
    graphql_ws_handler_class = LiveWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except Unauthenticated as refused:
            response = JSONResponse(
                {"data": None, "errors": [{"message": refused.message, "extensions": {"code": "UNAUTHENTICATED"}}]},
                status_code=401, headers={"WWW-Authenticate": 'Bearer realm="pilkada-graph"'},
            )
        except HTTPException as refused:
            # A request that is not GraphQL at all (no query, a body that is not JSON) still gets
            # an answer in GraphQL's shape, so clients need one error path, not two.
            response = JSONResponse({"data": None, "errors": [{"message": refused.reason}]},
                                    status_code=refused.status_code)
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        desk: Desk = request.app.state.desk
        if isinstance(request, WebSocket):  # authenticated at connection_init: see on_ws_connect
            return Context(desk=desk, viewer=ANONYMOUS, request=request, response=response)
        viewer = await viewer_of(desk, request.headers.get("authorization"),
                                 token_checks(desk, HTTP_TOKEN_CHECK_SECONDS))
        return Context(desk=desk, viewer=viewer, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket connection from its ``connection_init`` payload."""
        header = _authorization_in(context.connection_params) or context.request.headers.get("authorization")
        try:
            context.viewer = await viewer_of(context.desk, header, token_checks(context.desk))
        except Unauthenticated as refused:
            raise ConnectionRejectionError({"message": refused.message}) from None
        return await super().on_ws_connect(context)


def _authorization_in(params: dict[str, Any] | None) -> str | None:
    """``Authorization`` (any case) from a ``connection_init`` payload."""
    for key, value in (params or {}).items():
        if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
            return value
    return None


class TokenChecks:
    """Successful token checks of the last ``seconds``, and the checks in flight, by secret's hash.

    Concurrent connections with one token wait for the same check; only usable tokens are kept
    (an unknown secret is asked about every time), and a kept token still expires on time.
    """

    def __init__(self, desk: Desk, seconds: float = TOKEN_CHECK_SECONDS, size: int = 10_000) -> None:
        self.desk = desk
        self.seconds = seconds
        self.size = size
        self.database_checks = 0
        self._known: dict[str, tuple[float, TokenInfo]] = {}
        self._pending: dict[str, asyncio.Future[TokenInfo | None]] = {}

    async def token(self, secret: str) -> TokenInfo | None:
        key = hash_secret(secret)
        known = self._known.get(key)
        if known is not None and time.monotonic() - known[0] < self.seconds and known[1].usable(utc_now()):
            return known[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(self._check(key, secret))
        return await asyncio.shield(pending)

    async def _check(self, key: str, secret: str) -> TokenInfo | None:
        try:
            self.database_checks += 1
            token = await run_in_threadpool(authenticate, self.desk.engine, secret)
            if token is not None:
                if len(self._known) >= self.size:
                    self._known.clear()
                self._known[key] = (time.monotonic(), token)
            return token
        finally:
            del self._pending[key]


_token_checks: weakref.WeakKeyDictionary[Desk, dict[float, TokenChecks]] = weakref.WeakKeyDictionary()


def token_checks(desk: Desk, seconds: float = TOKEN_CHECK_SECONDS) -> TokenChecks:
    """The desk's shared token checks kept ``seconds`` (one per process and duration)."""
    per_duration = _token_checks.setdefault(desk, {})
    checks = per_duration.get(seconds)
    if checks is None:
        checks = per_duration[seconds] = TokenChecks(desk, seconds)
    return checks


async def viewer_of(desk: Desk, authorization: str | None, checks: TokenChecks | None = None) -> Viewer:
    """The viewer an ``Authorization`` header names; raises :class:`Unauthenticated` when refused.

    With ``checks``, a recent check of the same token may answer instead of the database.
    """
    if not authorization:
        if desk.settings.anonymous:
            return ANONYMOUS
        raise Unauthenticated("this server needs a token: send Authorization: Bearer TOKEN")
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("send the token as Authorization: Bearer TOKEN")
    if checks is not None:
        token = await checks.token(secret.strip())
    else:
        token = await run_in_threadpool(authenticate, desk.engine, secret.strip())
    if token is None:
        raise Unauthenticated("the token is unknown, expired or revoked")
    return Viewer.of_token(token)


def graphql_app(*, production: bool) -> GraphQLApp:
    """The endpoint; GraphiQL and introspection only outside production."""
    return GraphQLApp(
        build_schema(production=production),
        graphql_ide=None if production else "graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
    )
