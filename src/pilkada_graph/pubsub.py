"""The event bus: what changed, told after commit, to every server process that serves subscribers.

One small interface, three backends::

    bus = open_bus("memory" | "redis://host:port/db[?channel=NAME]" | "postgres", database_url)
    bus.publish(event)                # any thread; never blocks, never raises
    async for event in bus.subscribe():   # in the server's event loop
        ...
    bus.close()

* ``memory`` (the default): in-process, for the embedded SQLite set-up with one server process.
* ``redis://…``: Redis pub/sub; several processes or hosts share one channel.
* ``postgres``: PostgreSQL LISTEN/NOTIFY on the service's own database, no extra server.

Events carry ids and codes, never rows: each receiving process loads the row it needs once (see
:mod:`pilkada_graph.broadcast`), so a message stays small and the database stays the one truth.

Publishing is fire-and-forget into a bounded local queue that a background thread drains, and that
thread reconnects with backoff, so ingest never fails or waits because the bus is down. What a bus
cannot deliver (the local queue overflowed, a listener was disconnected) is announced with a
:data:`GAP` event, so that subscribers are told they missed something and can re-query.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import json
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from pilkada_graph.ingest import StoredTally

log = logging.getLogger(__name__)

ISSUE = "issue"
TALLY = "tally"
PROGRESS = "progress"
#: Not a change: "events may have been lost here", which subscribers turn into a ``missed`` marker.
GAP_KIND = "gap"

DEFAULT_CHANNEL = "pilkada_events"
#: Events waiting to be sent; beyond this the newest are dropped and a GAP is sent instead.
OUTBOX_SIZE = 10_000
SEND_BATCH = 500
#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; progress events are split below this.
MAX_PAYLOAD = 7000


@dataclass(frozen=True)
class Event:
    """One committed change, by reference.

    ``issue``: ``id`` of the issue (new, updated or reviewed) and its new ``status`` when known.
    ``tally``: ``id`` of the stored revision, its station and contest, and the codes of the
    regions above the station (province first). ``progress``: a contest and the regions whose
    results it touched.
    """

    kind: str
    id: int | None = None
    status: str | None = None
    station_code: str | None = None
    contest_code: str | None = None
    region_codes: tuple[str, ...] = ()

    def to_json(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if v not in (None, ())}
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        raw = json.loads(text)
        raw["region_codes"] = tuple(raw.get("region_codes", ()))
        return cls(**raw)


GAP = Event(GAP_KIND)


def region_codes_of(station_code: str) -> tuple[str, ...]:
    """The regions above a station, province first: codes are their parents' codes plus a part."""
    parent, _, _ = station_code.rpartition(".")
    return _code_and_ancestors(parent) if parent else ()


@functools.lru_cache(maxsize=131_072)
def _code_and_ancestors(code: str) -> tuple[str, ...]:
    # Cached per village: a national import asks once per tally (~870,000) for ~84,000 villages.
    parts = code.split(".")
    return tuple(".".join(parts[:n]) for n in range(1, len(parts) + 1))


def issue_events(issue_ids: Iterable[int], status: str | None = None) -> list[Event]:
    return [Event(ISSUE, id=issue_id, status=status) for issue_id in dict.fromkeys(issue_ids)]


def tally_events(stored: Sequence[StoredTally]) -> list[Event]:
    """One ``tally`` event per stored revision, then one ``progress`` event per contest touched."""
    events = [
        Event(TALLY, id=t.id, station_code=t.station_code, contest_code=t.contest_code,
              region_codes=region_codes_of(t.station_code))
        for t in stored
    ]
    touched: dict[str, dict[str, None]] = {}
    for t in stored:
        if t.is_current:
            touched.setdefault(t.contest_code, {}).update(dict.fromkeys(region_codes_of(t.station_code)))
    for contest_code, regions in touched.items():
        events.extend(progress_events(contest_code, sorted(regions)))
    return events


def progress_events(contest_code: str, region_codes: Sequence[str]) -> list[Event]:
    """Progress of one contest in these regions, split so that no payload is too big to NOTIFY."""
    events: list[Event] = []
    chunk: list[str] = []
    size = 0
    for code in region_codes:
        if chunk and size + len(code) + 3 > MAX_PAYLOAD - 200:
            events.append(Event(PROGRESS, contest_code=contest_code, region_codes=tuple(chunk)))
            chunk, size = [], 0
        chunk.append(code)
        size += len(code) + 3
    if chunk:
        events.append(Event(PROGRESS, contest_code=contest_code, region_codes=tuple(chunk)))
    return events


class Backoff:
    """Waits that double from ``first`` to ``longest`` seconds while a server stays away."""

    def __init__(self, first: float = 0.05, longest: float = 2.0) -> None:
        self.first = first
        self.longest = longest
        self.current = first

    def next(self) -> float:
        wait = self.current
        self.current = min(self.current * 2, self.longest)
        return wait

    def reset(self) -> None:
        self.current = self.first


# --------------------------------------------------------------------------- the interface


class EventBus:
    """Publish from any thread without waiting; subscribe from an event loop."""

    name = "bus"

    def publish(self, event: Event) -> None:
        """Hand ``event`` over for delivery. Never blocks and never raises into the caller."""
        self.publish_many([event])

    def publish_many(self, events: Iterable[Event]) -> None:
        raise NotImplementedError

    @property
    def has_listeners(self) -> bool:
        """Whether anything could receive an event now; when not, publishers may skip building them."""
        return True

    def subscribe(self, ready: asyncio.Event | None = None) -> AsyncIterator[Event]:
        """Every event published from now on (by any process sharing the bus), GAPs included.

        ``ready`` is set once the listener is connected: what is published after that arrives.
        """
        raise NotImplementedError

    def start(self) -> None:
        """Start delivering (backends also start on their first publish)."""

    def close(self, timeout: float = 2.0) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds), then stop."""

    def stats(self) -> dict[str, int]:
        return {}


def open_bus(spec: str | None, database_url: str | None = None) -> EventBus:
    """The bus a ``--event-bus`` value names: ``memory``, ``redis://…`` or ``postgres``."""
    spec = (spec or "memory").strip()
    if spec == "memory":
        return MemoryBus()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(spec)
    if spec in ("postgres", "postgresql"):
        if not database_url or not database_url.startswith(("postgresql", "postgres")):
            raise ValueError("--event-bus postgres needs a PostgreSQL --database-url")
        return PostgresBus(database_url)
    raise ValueError(f"unknown event bus {spec!r}; expected memory, redis://host:port/db or postgres")


# --------------------------------------------------------------------------- in-process


class _Inbox:
    """One in-process subscriber's bounded queue; overflow turns into a GAP, not a blocked publisher."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.lost = False

    def offer(self, event: Event) -> None:
        if self.lost and self.queue.full():
            return
        if self.lost:
            self.queue.put_nowait(GAP)
            self.lost = False
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lost = True


class MemoryBus(EventBus):
    """Delivers to subscribers of this process only: the default for one embedded server."""

    name = "memory"

    def __init__(self, inbox_size: int = OUTBOX_SIZE) -> None:
        self.inbox_size = inbox_size
        self._inboxes: set[_Inbox] = set()
        self._lock = threading.Lock()

    @property
    def has_listeners(self) -> bool:
        return bool(self._inboxes)

    def publish_many(self, events: Iterable[Event]) -> None:
        batch = list(events)
        with self._lock:
            inboxes = list(self._inboxes)
        for inbox in inboxes:
            with contextlib.suppress(RuntimeError):  # its loop is closed: it is going away
                inbox.loop.call_soon_threadsafe(_offer_all, inbox, batch)

    async def subscribe(self, ready: asyncio.Event | None = None) -> AsyncIterator[Event]:
        inbox = _Inbox(asyncio.get_running_loop(), self.inbox_size)
        with self._lock:
            self._inboxes.add(inbox)
        if ready is not None:
            ready.set()
        try:
            while True:
                yield await inbox.queue.get()
        finally:
            with self._lock:
                self._inboxes.discard(inbox)


def _offer_all(inbox: _Inbox, events: list[Event]) -> None:
    for event in events:
        inbox.offer(event)


# --------------------------------------------------------------------------- over a server


class RelayBus(EventBus):
    """A bus through a server: a sending thread with an outbox, and listeners that reconnect.

    Subclasses say how to send a batch of payloads (:meth:`send`, on the sending thread) and
    how to listen (:meth:`listen`, an async iterator of payloads that raises when the
    connection is lost).
    """

    def __init__(self, outbox_size: int = OUTBOX_SIZE) -> None:
        #: The connection :meth:`send` uses, opened by it on demand; any object with ``close()``.
        self._sender: Any = None
        self._outbox: queue.Queue[Event] = queue.Queue(outbox_size)
        self._overflowed = False
        self._closing = threading.Event()
        self._close_deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._counts = {"published": 0, "sent": 0, "dropped": 0, "send_failures": 0, "reconnects": 0}

    # -- publishing side (any thread)

    def publish_many(self, events: Iterable[Event]) -> None:
        try:
            self.start()
            for event in events:
                self._counts["published"] += 1
                try:
                    self._outbox.put_nowait(event)
                except queue.Full:
                    self._counts["dropped"] += 1
                    self._overflowed = True
        except Exception:  # noqa: BLE001 - ingest must never fail because of the bus
            log.exception("event bus: could not queue events")

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name=f"{self.name}-bus-sender", daemon=True)
                self._thread.start()
                atexit.register(self.close)

    def close(self, timeout: float = 2.0) -> None:
        self._close_deadline = time.monotonic() + timeout
        self._closing.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout + 0.5)

    def stats(self) -> dict[str, int]:
        return {**self._counts, "queued": self._outbox.qsize()}

    def _drain(self) -> None:
        backoff = Backoff()
        pending: list[Event] = []
        outage = False
        while True:
            if not pending:
                pending = self._take_batch()
            if not pending:
                if self._closing.is_set():
                    break
                continue
            try:
                self.send([event.to_json() for event in pending])
            except Exception as error:  # noqa: BLE001 - any failure: keep the batch, reconnect later
                self._counts["send_failures"] += 1
                if not outage:
                    log.warning("event bus %s: cannot send (%s); retrying with backoff", self.name, error)
                outage = True
                self.disconnect_sender()
                if self._closing.is_set() and time.monotonic() > self._close_deadline:
                    break
                time.sleep(backoff.next())
                continue
            self._counts["sent"] += len(pending)
            if outage:
                log.warning("event bus %s: sending again", self.name)
            pending, outage = [], False
            backoff.reset()
        self.disconnect_sender()

    def _take_batch(self) -> list[Event]:
        try:
            batch = [self._outbox.get(timeout=0.25)]
        except queue.Empty:
            return []
        while len(batch) < SEND_BATCH:
            try:
                batch.append(self._outbox.get_nowait())
            except queue.Empty:
                break
        if self._overflowed:
            self._overflowed = False
            batch.append(GAP)
        return batch

    def send(self, payloads: list[str]) -> None:
        raise NotImplementedError

    def disconnect_sender(self) -> None:
        """Drop the sending connection (the next :meth:`send` opens a new one)."""
        if self._sender is not None:
            with contextlib.suppress(Exception):
                self._sender.close()
            self._sender = None

    # -- listening side (event loop)

    async def subscribe(self, ready: asyncio.Event | None = None) -> AsyncIterator[Event]:
        backoff = Backoff()
        interrupted = False
        while True:
            try:
                async for payload in self.listen():
                    if payload is None:  # connected (again)
                        if ready is not None:
                            ready.set()
                        if interrupted:
                            self._counts["reconnects"] += 1
                            log.warning("event bus %s: listening again", self.name)
                            yield GAP
                        interrupted = False
                        backoff.reset()
                        continue
                    event = _parse(payload)
                    if event is not None:
                        yield event
                raise ConnectionError("listener ended")
            except Exception as error:  # noqa: BLE001 - any failure: reconnect with backoff
                if not interrupted:
                    log.warning("event bus %s: listener lost (%s); reconnecting", self.name, error)
                interrupted = True
                await asyncio.sleep(backoff.next())

    def listen(self) -> AsyncIterator[str | bytes | None]:
        """Payloads as they arrive; first ``None`` once subscribed. Raises when disconnected."""
        raise NotImplementedError


def _parse(payload: str | bytes) -> Event | None:
    try:
        return Event.from_json(payload)
    except (ValueError, TypeError) as error:
        log.warning("event bus: ignoring a malformed event %r (%s)", payload[:200], error)
        return None


# --------------------------------------------------------------------------- Redis


def split_channel(url: str, default: str = DEFAULT_CHANNEL) -> tuple[str, str]:
    """``redis://h:p/0?channel=x`` -> (``redis://h:p/0``, ``x``): our option, not redis-py's."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    channel = query.pop("channel", [default])[0]
    rest = urlencode({k: v[-1] for k, v in query.items()})
    return urlunsplit(parts._replace(query=rest)), channel


class RedisBus(RelayBus):
    """Redis pub/sub: every server process on the channel receives every event.

    Pub/sub is fire-and-forget by design (no history), which fits: a listener that was
    disconnected says so with a GAP, and its subscribers re-query.
    """

    name = "redis"

    def __init__(self, url: str, outbox_size: int = OUTBOX_SIZE) -> None:
        super().__init__(outbox_size)
        self.url, self.channel = split_channel(url)

    def send(self, payloads: list[str]) -> None:
        import redis

        if self._sender is None:
            self._sender = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
        pipeline = self._sender.pipeline(transaction=False)
        for payload in payloads:
            pipeline.publish(self.channel, payload)
        pipeline.execute()

    async def listen(self) -> AsyncIterator[str | bytes | None]:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self.url, socket_connect_timeout=2)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            yield None
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message["type"] == "message":
                    yield message["data"]
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()


# --------------------------------------------------------------------------- PostgreSQL


def libpq_url(database_url: str) -> str:
    """The service's SQLAlchemy-style URL as psycopg takes it (no ``+driver``)."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_channel(database_url: str) -> str:
    """One channel per database schema: two elections in two schemas must not hear each other."""
    options = unquote(" ".join(parse_qs(urlsplit(database_url).query).get("options", [])))
    for option in options.replace("-c", " ").split():
        name, _, value = option.partition("=")
        if name == "search_path" and value:
            schema = "".join(ch for ch in value.split(",")[0] if ch.isalnum() or ch == "_")
            return f"{DEFAULT_CHANNEL}_{schema}"[:63]
    return DEFAULT_CHANNEL


class PostgresBus(RelayBus):
    """LISTEN/NOTIFY on the service's database: several processes, no extra server to run."""

    name = "postgres"

    def __init__(self, database_url: str, outbox_size: int = OUTBOX_SIZE) -> None:
        super().__init__(outbox_size)
        self.conninfo = libpq_url(database_url)
        self.channel = postgres_channel(database_url)

    def send(self, payloads: list[str]) -> None:
        import psycopg

        if self._sender is None:
            self._sender = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=2)
        with self._sender.transaction(), self._sender.cursor() as cursor:
            cursor.executemany("select pg_notify(%s, %s)", [(self.channel, p) for p in payloads])

    async def listen(self) -> AsyncIterator[str | bytes | None]:
        import psycopg
        from psycopg import sql

        connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, connect_timeout=2)
        try:
            await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            yield None
            async for notify in connection.notifies():
                yield notify.payload
        finally:
            with contextlib.suppress(Exception):
                await connection.close()
