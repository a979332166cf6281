"""The GraphQL endpoint: HTTP and WebSocket (graphql-transport-ws and graphql-ws) at one path."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from pilkada_graph.schema import build_schema
from pilkada_graph.schema.context import ANONYMOUS, Context, Viewer
from pilkada_graph.service import Desk


class GraphQLApp(GraphQL[Context, None]):
    """strawberry's ASGI app with our context: the app's desk, fresh loaders, the viewer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as refused:
            # A request that is not GraphQL at all (no query, a body that is not JSON) still gets
            # an answer in GraphQL's shape, so clients need one error path, not two.
            response = JSONResponse({"data": None, "errors": [{"message": refused.reason}]},
                                    status_code=refused.status_code)
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        desk: Desk = request.app.state.desk
        return Context(desk=desk, viewer=viewer_of(request), request=request, response=response)


def viewer_of(request: Request | WebSocket) -> Viewer:
    """Who is asking. Anonymous until tokens exist; the security layer replaces this one function."""
    return ANONYMOUS


def graphql_app(*, production: bool) -> GraphQLApp:
    """The endpoint; GraphiQL and introspection only outside production."""
    return GraphQLApp(
        build_schema(production=production),
        graphql_ide=None if production else "graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
    )
