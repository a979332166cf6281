"""Each event is rendered once per group of alike subscribers (same document, variables and rights)
and the same bytes reach every one of them; the fan-out hands the event loop back between chunks.

The end-to-end tests run uvicorn inside the test's own event loop, so they can count the renders of
the server's groups while real WebSocket clients receive what was rendered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets

from pilkada_graph.app import create_app
from pilkada_graph.broadcast import FAN_OUT_CHUNK, Broadcaster, Delivery
from pilkada_graph.config import Settings
from pilkada_graph.pubsub import ISSUE, Event, MemoryBus
from pilkada_graph.schema.subscriptions import broadcaster_for, render_groups
from pilkada_graph.service import Desk
from pilkada_graph.simulate import night_forms
from tests.live.servers import TOKENS, load_reference_data, submit
from tests.processes import free_port
from tests.tokens import bearer, new_token

WITH_ACTOR = 'subscription { tallySubmitted(where: {within: "62.08"}) { submissionId actor station { code } } }'
PROBES = "subscription { tallySubmitted { submissionId } }"


# --------------------------------------------------------------------------- the broadcaster alone


class CountingRender:
    """A render group that counts its calls and returns the item's id as text."""

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.calls = 0

    async def __call__(self, item: Any) -> str:
        self.calls += 1
        return f"{self.key}:{item['id']}"


async def everyone(events: Sequence[Event], filters: Mapping[Hashable, Any]) -> list[Delivery | None]:
    return [Delivery({"id": event.id}, list(filters)) for event in events]


async def test_broadcaster_renders_once_per_group_and_sends_the_same_text_to_each_member() -> None:
    bus = MemoryBus()
    broadcaster = Broadcaster(bus, {ISSUE: everyone})
    anonymous, admin = CountingRender("anonymous"), CountingRender("admin")
    opened = [broadcaster.subscription(ISSUE, "all", None, anonymous if n % 2 else admin) for n in range(50)]
    subscribers = [await o.__aenter__() for o in opened]
    bus.publish(Event(ISSUE, id=7))
    received = [await asyncio.wait_for(s.next(), 5) for s in subscribers]
    assert (anonymous.calls, admin.calls) == (1, 1)
    assert sorted(set(received)) == ["admin:7", "anonymous:7"]
    assert received.count("admin:7") == 25
    for o in opened:
        await o.__aexit__(None, None, None)
    await broadcaster.close()


async def test_fan_out_to_a_thousand_subscribers_gives_the_event_loop_turns_between_chunks() -> None:
    bus = MemoryBus()
    broadcaster = Broadcaster(bus, {ISSUE: everyone})
    opened = [broadcaster.subscription(ISSUE, "all", None) for _ in range(1000)]
    subscribers = [await o.__aenter__() for o in opened]
    turns: list[int] = []

    async def other_work() -> None:  # stands for an HTTP request waiting to be served
        while True:
            turns.append(sum(not s.queue.empty() for s in subscribers))
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_work())
    await broadcaster.dispatch([Event(ISSUE, id=1)])
    ticker.cancel()
    assert all(s.queue.qsize() == 1 for s in subscribers)
    served_while_fanning_out = {n for n in turns if 0 < n < 1000}
    assert len(served_while_fanning_out) >= 1000 // FAN_OUT_CHUNK - 1
    for o in opened:
        await o.__aexit__(None, None, None)
    await broadcaster.close()


# --------------------------------------------------------------------------- end to end, in one event loop


@asynccontextmanager
async def serving(desk: Desk) -> AsyncIterator[str]:
    """uvicorn serving the app in this event loop; yields the GraphQL URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(desk=desk), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off", backlog=2048))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task


async def subscribe(url: str, query: str, token: str | None) -> Any:
    connection = await websockets.connect(url.replace("http://", "ws://"), subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await connection.send(json.dumps({"type": "connection_init", "payload": bearer(token)}))
    assert json.loads(await connection.recv())["type"] == "connection_ack"
    await connection.send(json.dumps({"id": "s1", "type": "subscribe", "payload": {"query": query}}))
    return connection


async def next_tally(connection: Any, submission_id: str) -> dict[str, Any]:
    """The next message about ``submission_id`` (earlier probes skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(connection.recv(), 30))
        assert message["type"] == "next" and message["id"] == "s1", message
        if message["payload"]["data"]["tallySubmitted"]["submissionId"] == submission_id:
            return dict(message["payload"])


async def until_registered(desk: Desk, count: int) -> None:
    broadcaster = broadcaster_for(desk)
    for _ in range(500):
        if broadcaster.subscriber_count() >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {broadcaster.subscriber_count()} of {count} subscriptions registered")


@pytest.mark.parametrize("count", [50, 1000])
async def test_alike_subscribers_cost_one_render_per_rights_class_and_every_one_receives_the_tally(
    sqlite_url: str, small_bundle: Path, tmp_path: Path, count: int
) -> None:
    load_reference_data(sqlite_url, small_bundle, tmp_path)
    admin = new_token(sqlite_url, "admin", name="render-once")
    forms = [row for row in night_forms(7, "small") if row["source"] == "sirekap"]
    inside = [row for row in forms if row["station_code"].startswith("62.08.")]
    desk = Desk.open(Settings(database_url=sqlite_url), with_detection=False)
    async with serving(desk) as url:
        TOKENS[url] = admin
        tokens = [admin if n % 2 else None for n in range(count)]
        connections = await asyncio.gather(*(subscribe(url, WITH_ACTOR, token) for token in tokens))
        await until_registered(desk, count)
        groups = render_groups(broadcaster_for(desk)).groups()
        assert len(groups) == 2  # one per rights class: anonymous, admin
        before = {group.key: group.renders for group in groups}
        form = inside[0]
        await asyncio.to_thread(submit, url, form)
        payloads = await asyncio.gather(*(next_tally(c, form["submission_id"]) for c in connections))
        assert {group.key: group.renders - before[group.key] for group in groups} == dict.fromkeys(before, 1)
        for token, payload in zip(tokens, payloads, strict=True):
            tally = payload["data"]["tallySubmitted"]
            assert tally["station"]["code"] == form["station_code"]
            assert tally["actor"] == ("render-once" if token else None)
            assert ("errors" in payload) == (token is None)  # FORBIDDEN actor for the anonymous
        await asyncio.gather(*(c.close() for c in connections))
    desk.engine.dispose()
