"""Tokens for tests that act through the API: an admin viewer in-process, a real token over HTTP."""

from __future__ import annotations

from pilkada_graph.db import make_engine
from pilkada_graph.schema.context import Viewer
from pilkada_graph.tokens import create_token

#: An in-process admin (``Context(desk, viewer=ADMIN)``), for tests of what admins may do.
ADMIN = Viewer(actor="graphql:test-admin", token_id=None, roles=frozenset({"admin"}))


def new_token(database_url: str, role: str = "admin", regions: list[str] | None = None,
              name: str | None = None) -> str:
    """A fresh token's secret in the database at ``database_url`` (migrated already)."""
    engine = make_engine(database_url)
    try:
        secret, _ = create_token(engine, role, regions=regions, actor=name)
    finally:
        engine.dispose()
    return secret


def bearer(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}
