"""Fan-out in a server process: one bus subscription, each event rendered once, sent to many.

Ten thousand dashboards watching ``issueFlagged`` must not cost ten thousand database reads per
flagged form. The :class:`Broadcaster` listens to the bus once per process, collects the events
that are waiting into a batch, asks one *renderer* per event kind to load the rows of the whole
batch and to say which of the distinct filters its subscribers asked for each event matches, then
hands the very same rendered object to every subscriber whose filter matches.

A subscriber may also name a :class:`Render`: what its client receives is then that function of the
rendered object (for GraphQL, the selection set executed and the answer encoded as JSON), and
subscribers with the same render key (same document, variables and rights) share one call per
event. Sending to thousands happens in chunks of :data:`FAN_OUT_CHUNK`, handing the event loop to
everything else (HTTP requests, ``submitTally``) between chunks.

Every subscriber has a bounded queue. A subscriber that does not keep up is not waited for: when
its queue is full, further events are dropped for it alone and it receives one :data:`MISSED`
marker in their place (so it can re-query). The same marker goes to everyone when the bus itself
lost events (a :data:`~pilkada_graph.pubsub.GAP`), e.g. while Redis restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pilkada_graph.pubsub import GAP_KIND, Event, EventBus

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = 256
INCOMING_QUEUE = 10_000
BATCH = 500
#: Subscribers served between two turns of the event loop for everything else.
FAN_OUT_CHUNK = 200
#: How long a new subscription waits for the bus listener to connect before it goes on anyway.
READY_TIMEOUT = 5.0


class Missed:
    """The marker a subscriber receives where events were dropped for it."""

    def __repr__(self) -> str:
        return "MISSED"


MISSED = Missed()


@dataclass(frozen=True)
class Delivery:
    """One rendered event: the object every matching subscriber gets, and the filters it matches."""

    item: Any
    matching: Collection[Hashable]


#: (events of one kind, {filter key: filter}) -> one Delivery (or None: nothing to send) per event.
Renderer = Callable[[Sequence[Event], Mapping[Hashable, Any]], Awaitable[Sequence[Delivery | None]]]


class Render(Protocol):
    """Turns a rendered object into what one group of subscribers receives (``key`` names the group)."""

    key: Hashable

    async def __call__(self, item: Any) -> Any: ...


#: Stands for "this group's render failed" in a fan-out: its subscribers are told they missed it.
_FAILED = object()


class Subscriber:
    """One live subscription: what it asked for, and its bounded queue."""

    def __init__(self, kind: str, key: Hashable, criteria: Any, size: int = SUBSCRIBER_QUEUE,
                 render: Render | None = None) -> None:
        self.kind = kind
        self.key = key
        self.criteria = criteria
        self.render = render
        self.queue: asyncio.Queue[Any] = asyncio.Queue(size)
        self.missed = False
        self.dropped = 0

    def offer(self, item: Any) -> None:
        """Queue ``item`` without waiting; when full, drop it and owe the subscriber a MISSED."""
        if self.missed and not self.queue.full():
            self.queue.put_nowait(MISSED)
            self.missed = False
        if self.queue.full():
            self.missed = True
            self.dropped += 1
            return
        self.queue.put_nowait(item)

    def mark_missed(self) -> None:
        if self.queue.full():
            self.missed = True
        else:
            self.queue.put_nowait(MISSED)

    async def next(self) -> Any:
        """The next rendered item, or :data:`MISSED` where items were dropped."""
        if self.missed and self.queue.empty():
            self.missed = False
            return MISSED
        return await self.queue.get()

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            yield await self.next()


class Broadcaster:
    """Subscribes once to ``bus`` and fans rendered events out to :class:`Subscriber` queues."""

    def __init__(self, bus: EventBus, renderers: Mapping[str, Renderer], *, queue_size: int = SUBSCRIBER_QUEUE) -> None:
        self.bus = bus
        self.renderers = dict(renderers)
        self.queue_size = queue_size
        self.ready = asyncio.Event()
        self.delivered = 0
        self._subscribers: dict[str, dict[Hashable, set[Subscriber]]] = defaultdict(lambda: defaultdict(set))
        self._incoming: asyncio.Queue[Event] = asyncio.Queue(INCOMING_QUEUE)
        self._overflowed = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifetime

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._dispatch_forever())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- subscribers

    @contextlib.asynccontextmanager
    async def subscription(self, kind: str, key: Hashable, criteria: Any, render: Render | None = None
                           ) -> AsyncIterator[Subscriber]:
        """Register a subscriber for events of ``kind`` whose filter is ``criteria`` (equal filters share ``key``).

        With ``render``, the subscriber receives ``render(item)`` (shared by the group ``render.key``).
        """
        if kind not in self.renderers:
            raise ValueError(f"no renderer for {kind!r} events")
        self.start()
        subscriber = Subscriber(kind, key, criteria, self.queue_size, render)
        self._subscribers[kind][key].add(subscriber)
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that arrives
            # as the wait completes, and the subscription of a client that left would run forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_TIMEOUT):
                    await self.ready.wait()
            yield subscriber
        finally:
            self._unregister(subscriber)

    def _unregister(self, subscriber: Subscriber) -> None:
        by_key = self._subscribers[subscriber.kind]
        by_key[subscriber.key].discard(subscriber)
        if not by_key[subscriber.key]:
            del by_key[subscriber.key]

    def subscriber_count(self) -> int:
        return sum(len(s) for by_key in self._subscribers.values() for s in by_key.values())

    # -- the loop

    async def _listen(self) -> None:
        async for event in self.bus.subscribe(ready=self.ready):
            try:
                self._incoming.put_nowait(event)
            except asyncio.QueueFull:
                self._overflowed = True

    async def _dispatch_forever(self) -> None:
        while True:
            batch = [await self._incoming.get()]
            while len(batch) < BATCH and not self._incoming.empty():
                batch.append(self._incoming.get_nowait())
            if self._overflowed:
                self._overflowed = False
                self._everyone_missed()
            try:
                await self.dispatch(batch)
            except Exception:  # noqa: BLE001 - one bad batch must not end the broadcaster
                log.exception("broadcaster: could not dispatch %d event(s)", len(batch))
                self._everyone_missed()

    async def dispatch(self, batch: Sequence[Event]) -> None:
        """Render the batch once per kind and fan each event out (GAPs: everyone missed something)."""
        by_kind: dict[str, list[Event]] = defaultdict(list)
        for event in batch:
            if event.kind == GAP_KIND:
                self._everyone_missed()
            elif self._subscribers.get(event.kind):
                by_kind[event.kind].append(event)
        for kind, events in by_kind.items():
            await self._render_and_send(kind, events)

    async def _render_and_send(self, kind: str, events: list[Event]) -> None:
        by_key = self._subscribers[kind]
        filters = {key: next(iter(subscribers)).criteria for key, subscribers in by_key.items()}
        try:
            deliveries = await self.renderers[kind](events, filters)
        except Exception:  # noqa: BLE001 - e.g. the database is away: tell them, don't die
            log.exception("broadcaster: could not render %d %s event(s)", len(events), kind)
            for subscribers in list(by_key.values()):
                for subscriber in subscribers:
                    subscriber.mark_missed()
            return
        for delivery in deliveries:
            if delivery is not None:
                await self._fan_out(delivery, by_key)

    async def _fan_out(self, delivery: Delivery, by_key: Mapping[Hashable, set[Subscriber]]) -> None:
        """Offer one event to its subscribers: each render group rendered once, the loop yielded per chunk."""
        shared: dict[Hashable, Any] = {}
        served = 0
        for key in delivery.matching:
            for subscriber in list(by_key.get(key, ())):
                item = await self._item_for(subscriber, delivery.item, shared)
                if item is _FAILED:
                    subscriber.mark_missed()
                else:
                    subscriber.offer(item)
                    self.delivered += 1
                served += 1
                if served % FAN_OUT_CHUNK == 0:
                    await asyncio.sleep(0)

    @staticmethod
    async def _item_for(subscriber: Subscriber, item: Any, shared: dict[Hashable, Any]) -> Any:
        render = subscriber.render
        if render is None:
            return item
        if render.key not in shared:
            try:
                shared[render.key] = await render(item)
            except Exception:  # noqa: BLE001 - one group's failure must not stop the others' events
                log.exception("broadcaster: could not render an event for %r", render.key)
                shared[render.key] = _FAILED
        return shared[render.key]

    def _everyone_missed(self) -> None:
        for by_key in self._subscribers.values():
            for subscribers in by_key.values():
                for subscriber in subscribers:
                    subscriber.mark_missed()
