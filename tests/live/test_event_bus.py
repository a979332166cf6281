"""The event bus: every backend delivers across instances, survives its server going away,
and never lets ingest fail or wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from pilkada_graph.ingest import StoredTally
from pilkada_graph.pubsub import (
    GAP,
    ISSUE,
    PROGRESS,
    TALLY,
    Event,
    EventBus,
    MemoryBus,
    PostgresBus,
    RedisBus,
    open_bus,
    tally_events,
)
from tests.live.conftest import PrivateRedis
from tests.processes import free_port


async def next_event(events: AsyncIterator[Event], timeout: float = 10.0) -> Event:
    return await asyncio.wait_for(anext(events), timeout)


async def listening(bus: EventBus) -> AsyncIterator[Event]:
    """A subscription whose listener is connected (so nothing published next is lost)."""
    events = bus.subscribe()
    probe = asyncio.ensure_future(anext(events))
    for attempt in range(200):
        bus.publish(Event(ISSUE, id=-1 - attempt))
        done, _ = await asyncio.wait([probe], timeout=0.05)
        if done:
            break
    await probe
    return events


async def drain_probes(events: AsyncIterator[Event]) -> Event:
    """The first event that is not one of :func:`listening`'s probes."""
    while True:
        event = await next_event(events)
        if event.id is None or event.id >= 0:
            return event


def stored(tally_id: int, station: str, current: bool = True) -> StoredTally:
    return StoredTally(tally_id, f"s-{tally_id}", 1, 1, station, "gub-62", current, None)


def test_tally_events_carry_codes_of_every_region_above_the_station() -> None:
    events = tally_events([stored(7, "62.71.01.1001.001"), stored(8, "62.71.02.2001.004", current=False)])
    assert [(e.kind, e.id) for e in events] == [(TALLY, 7), (TALLY, 8), (PROGRESS, None)]
    assert events[0].region_codes == ("62", "62.71", "62.71.01", "62.71.01.1001")
    # A late older revision does not change results: progress names only the current one's regions.
    assert events[2].region_codes == ("62", "62.71", "62.71.01", "62.71.01.1001")


def test_event_survives_its_wire_format() -> None:
    event = Event(TALLY, id=3, station_code="62.71.01.1001.001", contest_code="gub-62", region_codes=("62",))
    assert Event.from_json(event.to_json()) == event


def test_unknown_bus_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="unknown event bus"):
        open_bus("kafka://x")
    with pytest.raises(ValueError, match="PostgreSQL"):
        open_bus("postgres", "sqlite:///x.db")


async def test_memory_bus_delivers_events_published_from_another_thread() -> None:
    bus = MemoryBus()
    events = bus.subscribe()
    waiting = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    await asyncio.to_thread(bus.publish, Event(ISSUE, id=1, status="open"))
    assert await asyncio.wait_for(waiting, 5) == Event(ISSUE, id=1, status="open")


async def test_memory_bus_overflow_becomes_a_gap_not_a_blocked_publisher() -> None:
    bus = MemoryBus(inbox_size=3)
    events = bus.subscribe()
    waiting = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    bus.publish_many(Event(ISSUE, id=i) for i in range(10))
    received = [await asyncio.wait_for(waiting, 5)]
    received += [await next_event(events) for _ in range(2)]
    bus.publish(Event(ISSUE, id=99))
    received += [await next_event(events) for _ in range(2)]
    assert [e.id for e in received[:3]] == [0, 1, 2]
    assert received[3:] == [GAP, Event(ISSUE, id=99)]


async def test_redis_bus_delivers_between_two_instances(redis_url: str) -> None:
    channel = f"test-{time.monotonic_ns()}"
    sender, receiver = RedisBus(f"{redis_url}?channel={channel}"), RedisBus(f"{redis_url}?channel={channel}")
    try:
        events = await listening(receiver)
        sender.publish(Event(TALLY, id=42, station_code="62.71.01.1001.001"))
        assert (await drain_probes(events)).id == 42
    finally:
        sender.close()
        receiver.close()


async def test_postgres_bus_delivers_between_two_instances(postgres_url: str) -> None:
    sender, receiver = PostgresBus(postgres_url), PostgresBus(postgres_url)
    try:
        events = await listening(receiver)
        sender.publish(Event(ISSUE, id=5, status="resolved"))
        assert await drain_probes(events) == Event(ISSUE, id=5, status="resolved")
    finally:
        sender.close()
        receiver.close()


def test_publishing_to_a_redis_that_is_not_there_neither_raises_nor_waits() -> None:
    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0", outbox_size=5)
    try:
        started = time.monotonic()
        for i in range(100):
            bus.publish(Event(ISSUE, id=i))
        assert time.monotonic() - started < 1.0  # a bound on blocking, not a speed target
        assert bus.stats()["dropped"] >= 95 - 1
    finally:
        bus.close(timeout=0.1)


async def test_redis_restart_resumes_delivery_after_a_gap(private_redis: PrivateRedis) -> None:
    sender, receiver = RedisBus(private_redis.url), RedisBus(private_redis.url)
    try:
        events = await listening(receiver)
        private_redis.stop()
        sender.publish(Event(ISSUE, id=1000))  # while Redis is down: neither raised nor waited for
        private_redis.start()
        # Pub/sub keeps no history: what was sent before the listener came back is lost, and said so.
        while (await next_event(events, timeout=20)) != GAP:
            pass
        sender.publish(Event(ISSUE, id=1001))
        while (event := await next_event(events)).id == 1000:
            pass
        assert event == Event(ISSUE, id=1001)
    finally:
        sender.close()
        receiver.close()
