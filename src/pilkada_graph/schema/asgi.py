"""The GraphQL endpoint: HTTP and WebSocket (graphql-transport-ws and graphql-ws) at one path."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from pilkada_graph.schema import build_schema
from pilkada_graph.schema.context import ANONYMOUS, Context, Viewer
from pilkada_graph.service import Desk


class GraphQLApp(GraphQL[Context, None]):
    """strawberry's ASGI app with our context: the app's desk, fresh loaders, the viewer."""

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
