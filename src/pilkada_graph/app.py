"""The ASGI application: Starlette, with the GraphQL endpoint mounted at ``/graphql``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from pilkada_graph import __version__
from pilkada_graph.config import Settings, load_settings
from pilkada_graph.schema.asgi import graphql_app
from pilkada_graph.service import Desk


async def healthz(request: Request) -> JSONResponse:
    desk: Desk = request.app.state.desk
    return JSONResponse({"status": "ok", "version": __version__, "database": desk.engine.dialect.name})


def create_app(settings: Settings | None = None, desk: Desk | None = None) -> Starlette:
    """Build the app for ``settings`` (or an already opened ``desk``)."""
    desk = desk or Desk.open(settings or load_settings())
    graphql = graphql_app(production=desk.settings.production)
    app = Starlette(routes=[
        Route("/healthz", healthz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        # The desk console: static files that talk to /graphql only (the reference client).
        Mount("/desk", StaticFiles(packages=[("pilkada_graph", "static/desk")], html=True), name="desk"),
    ])
    app.state.desk = desk
    return app


def app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory pilkada_graph.app:app_from_environment`` (one per worker)."""
    return create_app(load_settings())
