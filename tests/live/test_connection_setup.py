"""Opening thousands of subscriptions: one token check serves the connections of one token at once."""

from __future__ import annotations

import asyncio

from pilkada_graph.config import Settings
from pilkada_graph.schema.asgi import TokenChecks
from pilkada_graph.service import Desk
from pilkada_graph.tokens import revoke_token
from tests.tokens import new_token


async def test_concurrent_connections_with_one_token_ask_the_database_once(sqlite_url: str) -> None:
    desk = Desk.open(Settings(database_url=sqlite_url), with_detection=False)
    secret = new_token(sqlite_url, "viewer", regions=["62.08"], name="wall")
    checks = TokenChecks(desk)
    tokens = await asyncio.gather(*(checks.token(secret) for _ in range(200)))
    assert {(t.actor, tuple(t.regions)) for t in tokens if t is not None} == {("wall", ("62.08",))}
    assert len(tokens) == 200 and checks.database_checks == 1
    assert await checks.token(secret) is tokens[0] and checks.database_checks == 1
    desk.engine.dispose()


async def test_a_revoked_or_unknown_token_is_asked_about_each_time_and_a_kept_one_expires(sqlite_url: str) -> None:
    desk = Desk.open(Settings(database_url=sqlite_url), with_detection=False)
    secret = new_token(sqlite_url, "viewer", name="wall")
    checks = TokenChecks(desk, seconds=0.0)
    token = await checks.token(secret)
    assert token is not None
    revoke_token(desk.engine, token.id)
    assert await checks.token(secret) is None  # the kept check was too old: the database said revoked
    assert await checks.token(secret) is None
    assert await checks.token("pk_unknown") is None
    assert checks.database_checks == 4
    desk.engine.dispose()
