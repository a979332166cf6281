"""The broadcaster renders each event once, sends it only where filters match, and never lets a
slow subscriber hold up the others."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from pilkada_graph.broadcast import MISSED, Broadcaster, Delivery, Subscriber
from pilkada_graph.pubsub import GAP, ISSUE, Event, MemoryBus


class RegionRenderer:
    """Renders an issue event as a dict; a filter is a region code prefix. Counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, events: Sequence[Event], filters: Mapping[Hashable, Any]) -> list[Delivery | None]:
        self.calls += 1
        deliveries: list[Delivery | None] = []
        for event in events:
            code = event.station_code or ""
            item = {"id": event.id, "station": code}
            deliveries.append(Delivery(item, [key for key, region in filters.items() if code.startswith(region)]))
        return deliveries


async def receive(subscriber: Subscriber, count: int) -> list[Any]:
    return [await asyncio.wait_for(subscriber.next(), 5) for _ in range(count)]


async def test_every_subscriber_gets_the_same_object_rendered_once() -> None:
    bus, renderer = MemoryBus(), RegionRenderer()
    broadcaster = Broadcaster(bus, {ISSUE: renderer})
    async with asyncio.TaskGroup() as group:
        opened = [broadcaster.subscription(ISSUE, "62", "62") for _ in range(50)]
        subscribers = [await o.__aenter__() for o in opened]
        bus.publish(Event(ISSUE, id=1, station_code="62.71.01.1001.001"))
        received = [group.create_task(receive(s, 1)) for s in subscribers]
    items = [task.result()[0] for task in received]
    assert all(item is items[0] for item in items)
    assert renderer.calls == 1
    for o in opened:
        await o.__aexit__(None, None, None)
    assert broadcaster.subscriber_count() == 0
    await broadcaster.close()


async def test_subscriber_receives_only_events_its_filter_matches() -> None:
    bus = MemoryBus()
    broadcaster = Broadcaster(bus, {ISSUE: RegionRenderer()})
    async with broadcaster.subscription(ISSUE, "62.71", "62.71") as city, \
            broadcaster.subscription(ISSUE, "62.08", "62.08") as sukamara:
        bus.publish_many([
            Event(ISSUE, id=1, station_code="62.08.01.2001.001"),
            Event(ISSUE, id=2, station_code="62.71.01.1001.001"),
            Event(ISSUE, id=3, station_code="62.08.02.2002.003"),
        ])
        assert [item["id"] for item in await receive(sukamara, 2)] == [1, 3]
        assert [item["id"] for item in await receive(city, 1)] == [2]
        assert city.queue.empty()
    await broadcaster.close()


async def test_slow_subscriber_is_told_it_missed_events_and_does_not_hold_up_others() -> None:
    bus = MemoryBus()
    broadcaster = Broadcaster(bus, {ISSUE: RegionRenderer()}, queue_size=3)
    async with broadcaster.subscription(ISSUE, "62", "62") as slow, \
            broadcaster.subscription(ISSUE, "62", "62") as fast:
        ids: list[int] = []
        for i in range(8):
            bus.publish(Event(ISSUE, id=i, station_code="62.71.01.1001.001"))
            ids.append((await receive(fast, 1))[0]["id"])  # the fast one keeps up, event by event
        assert ids == list(range(8))
        late = await receive(slow, 4)
        assert [item["id"] for item in late[:3]] == [0, 1, 2]
        assert late[3] is MISSED
        assert slow.dropped == 5
    await broadcaster.close()


async def test_bus_gap_marks_everyone_missed() -> None:
    bus = MemoryBus()
    broadcaster = Broadcaster(bus, {ISSUE: RegionRenderer()})
    async with broadcaster.subscription(ISSUE, "62", "62") as one, broadcaster.subscription(ISSUE, "63", "63") as two:
        bus.publish(GAP)
        assert await receive(one, 1) == [MISSED]
        assert await receive(two, 1) == [MISSED]
    await broadcaster.close()


async def test_a_subscriber_cancelled_while_it_joins_ends_at_once() -> None:
    """A client that leaves as its subscription starts must not leave a task that never ends.

    Python 3.11's ``asyncio.wait_for`` returned the result and dropped a cancellation that arrived
    as the awaited thing completed; a subscription that waited for the broadcaster's readiness with
    it then went on to wait for events forever, and the server hung at shutdown waiting for it.
    Each step count below cancels the joining task at a different point of its join.
    """
    bus = MemoryBus()
    broadcaster = Broadcaster(bus, {ISSUE: RegionRenderer()})
    async with broadcaster.subscription(ISSUE, "62", "62"):
        await asyncio.wait_for(broadcaster.ready.wait(), 5)

    async def join_and_wait() -> None:
        async with broadcaster.subscription(ISSUE, "62", "62") as subscriber:
            await subscriber.next()

    for steps in range(8):
        task = asyncio.create_task(join_and_wait())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done, f"cancelled after {steps} steps, the subscription is still running"
        assert task.cancelled()
    assert broadcaster.subscriber_count() == 0
    await broadcaster.close()
