"""Subscription delivery latency, next to a bare ``websockets`` broadcast of the same payloads.

    .venv/bin/python bench/bench_live.py [--subscribers 10,1000,10000] [--postgres URL --redis URL]
                                         [--with-ingest] [--budget 540]

Loads the demo election's reference data (regions, contests, stations; no tallies) into a fresh
SQLite file (or a private schema of ``--postgres``), then for each subscriber count N:

* **ours**: starts one uvicorn process serving the app (in-process event bus, or Redis with
  ``--redis``, or LISTEN/NOTIFY with ``--postgres`` alone), opens N ``tallySubmitted(where:
  {within: "62.03"})`` subscriptions over graphql-transport-ws from separate client processes
  (one per 5,000), submits Kotawaringin Timur's forms through ``submitTally`` over HTTP at a steady
  rate, and stamps each form when ``submitTally`` returns and each delivery when a subscriber
  receives it (``time.monotonic_ns``: CLOCK_MONOTONIC, one clock for every process on the machine);
* **baseline**: starts ``live_baseline.py`` (``websockets.broadcast``, nothing else), opens N
  plain connections the same way, publishes the same payloads over a WebSocket at the same rate,
  and stamps each when the server acknowledges it.

The latency of a delivery is its receipt stamp minus its form's stamp. The app publishes a tally's
event right after the commit, before detection runs and before the HTTP answer is written, so a
delivery can arrive before ``submitTally`` returns: small and negative latencies are real. A
second table measures from each form's *sending* instead (end to end, always positive: what a
dashboard sees after the clerk submits), for both sides.
Deliveries/s is every delivery received over the time from the first form to the last delivery,
so when the server cannot keep up with the offered rate it measures what it could do.

``--with-ingest`` keeps a background import running in another process while the app is measured
(the demo night's other regencies' forms at ``--ingest-rate`` forms/s, which the subscribers'
filter excludes), for delivery latency at national load. The whole run stops itself within
``--budget`` seconds: a count whose turn comes too late is skipped and the table says why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import percentile, print_table  # noqa: E402
from live_clients import BACKLOG, client_worker, ingest_worker, raise_file_limit  # noqa: E402

from pilkada_graph.simulate import night_forms, submit_tally_mutation, write_reference_bundle  # noqa: E402

SEED = 2024
#: The regency whose forms are measured; subscribers filter on it, background ingest avoids it.
MEASURED_REGENCY = "62.03"
QUERY = ("subscription { tallySubmitted(where: {within: \"" + MEASURED_REGENCY + "\"}) "
         "{ submissionId station { code } contest { code } } }")
PER_WORKER = 5000
#: Deliveries per second offered to the server: the form rate is this over N, within
#: [MIN_RATE, MAX_RATE] (below what this shared 2-core machine's submitTally takes, ~10 forms/s).
OFFERED_DELIVERIES = 500
MAX_RATE = 5.0
MIN_RATE = 0.2
WARM_UP_PROBES = 40
STATUS_POLL = 0.25
STALL_SECONDS = 2.0
#: How long deliveries may trail the last form (plus one second per OFFERED_DELIVERIES expected).
DRAIN_SECONDS = 30.0
#: Seconds a count needs at least (start, open, measure, close); later counts are skipped.
MINIMUM_CELL = 20.0

Row = dict[str, Any]
Publish = Callable[[Row], Awaitable[None]]
SPAWN = multiprocessing.get_context("spawn")


@dataclass
class Cell:
    """What one side measured at one subscriber count."""

    subscribers: int
    opened: int = 0
    expected: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    deliveries_per_second: float = float("nan")
    missed: int = 0
    note: str = ""
    opening_seconds: float = float("nan")
    round_trip_ms: list[float] = field(default_factory=list)
    #: From each form's *sending* to each receipt: what a dashboard sees after the clerk submits.
    end_to_end_ms: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


@dataclass
class Plan:
    """The form rate and count at N subscribers: the same offered deliveries/s whatever N."""

    subscribers: int
    seconds: float

    @property
    def rate(self) -> float:
        return max(MIN_RATE, min(MAX_RATE, OFFERED_DELIVERIES / self.subscribers))

    @property
    def forms(self) -> int:
        return max(5, min(60, round(self.rate * self.seconds)))


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@asynccontextmanager
async def server_process(command: list[str], port: int, env: dict[str, str] | None = None) -> AsyncIterator[None]:
    process = subprocess.Popen(command, env={**os.environ, **(env or {})})
    try:
        await wait_for_port(port, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def app_server(database_url: str, event_bus: str) -> AsyncIterator[str]:
    """One uvicorn process serving the app; yields its GraphQL URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "pilkada_graph.app:app_from_environment",
               "--host", "127.0.0.1", "--port", str(port), "--backlog", str(BACKLOG), "--log-level", "warning",
               "--no-access-log"]
    async with server_process(command, port, {"PILKADA_DATABASE_URL": database_url, "PILKADA_EVENT_BUS": event_bus}):
        yield f"http://127.0.0.1:{port}/graphql"


@asynccontextmanager
async def baseline_server() -> AsyncIterator[str]:
    port = free_port()
    async with server_process([sys.executable, str(BENCH / "live_baseline.py"), str(port)], port):
        yield f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- publishing


@asynccontextmanager
async def submit_tally(url: str, token: str | None) -> AsyncIterator[Publish]:
    """Publish = ``submitTally`` over HTTP, returning once the answer (TallyAccepted) is read."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:
        async def publish(row: Row) -> None:
            response = await client.post(url, json={"query": submit_tally_mutation(row)})
            body = response.json()
            if not body.get("data"):
                raise RuntimeError(f"{row['submission_id']}: {body}")
            answer = body["data"]["submitTally"]
            if answer["__typename"] != "TallyAccepted":
                raise RuntimeError(f"{row['submission_id']}: {answer}")
        yield publish


def baseline_payload(row: Row) -> str:
    """The very message the app's subscribers receive for ``row``."""
    tally = {"submissionId": row["submission_id"], "station": {"code": row["station_code"]},
             "contest": {"code": row["contest_code"]}}
    return json.dumps({"id": "1", "type": "next", "payload": {"data": {"tallySubmitted": tally}}})


@asynccontextmanager
async def broadcast_over_websocket(url: str, token: str | None) -> AsyncIterator[Publish]:
    """Publish = send the payload to the baseline's ``/publish``, returning once it is acknowledged."""
    async with connect(url.replace("http://", "ws://") + "/publish", max_size=None) as connection:
        one_at_a_time = asyncio.Lock()  # acks come back in order on the one connection

        async def publish(row: Row) -> None:
            async with one_at_a_time:
                await connection.send(baseline_payload(row))
                await connection.recv()
        yield publish


async def publish_steadily(publish: Publish, rows: list[Row], rate: float
                           ) -> tuple[dict[str, int], dict[str, int]]:
    """Publish ``rows`` at ``rate`` a second on schedule (a slow answer does not delay the next form).

    Returns the monotonic stamps at which each publication was sent and returned.
    """
    returned: dict[str, int] = {}
    sent: dict[str, int] = {}

    async def one(row: Row) -> None:
        sent[row["submission_id"]] = time.monotonic_ns()
        await publish(row)
        returned[row["submission_id"]] = time.monotonic_ns()

    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        for n, row in enumerate(rows):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            group.create_task(one(row))
    return sent, returned


# --------------------------------------------------------------------------- subscribers


class Subscribers:
    """N connections spread over client worker processes, driven through their pipes."""

    def __init__(self, url: str, query: str | None, token: str | None, count: int, open_seconds: float) -> None:
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for share in shares(count, PER_WORKER):
            ours, theirs = SPAWN.Pipe()
            arguments = (theirs, url.replace("http://", "ws://"), query, token, share, open_seconds)
            process = SPAWN.Process(target=client_worker, args=arguments, daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    async def ask(self, *command: Any) -> list[Any]:
        def ask_all() -> list[Any]:
            for pipe in self.pipes:
                pipe.send(command)
            return [pipe.recv() for pipe in self.pipes]

        return await asyncio.to_thread(ask_all)

    async def opened(self) -> tuple[int, int]:
        """Connections open and failed, once every worker has finished opening."""
        statuses = await self.ask("status")
        return sum(s[0] for s in statuses), sum(s[1] for s in statuses)

    async def heard_from(self) -> int:
        return sum(s[2] for s in await self.ask("status"))

    async def measured_count(self) -> int:
        return sum(s[3] for s in await self.ask("status"))

    async def results(self) -> tuple[dict[str, list[int]], int]:
        stamps: dict[str, list[int]] = {}
        errors = 0
        for worker_stamps, worker_errors in await self.ask("results"):
            errors += worker_errors
            for submission_id, values in worker_stamps.items():
                stamps.setdefault(submission_id, []).extend(values)
        return stamps, errors

    async def close(self) -> None:
        await self.ask("close")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


def shares(total: int, per: int) -> list[int]:
    workers = max(1, -(-total // per))
    return [total // workers + (1 if n < total % workers else 0) for n in range(workers)]


async def warm_up(subscribers: Subscribers, publish: Publish, probes: Iterator[Row], opened: int,
                  deadline: float) -> bool:
    """Publish probes until every open connection has received one (then each subscription is live).

    The next probe goes out only once the last one stopped reaching new connections for
    STALL_SECONDS: at 10,000 subscribers one probe takes many seconds to fan out.
    """
    for _ in range(WARM_UP_PROBES):
        await publish(next(probes))
        heard, last_progress = 0, time.monotonic()
        while time.monotonic() - last_progress < STALL_SECONDS:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(STATUS_POLL)
            now_heard = await subscribers.heard_from()
            if now_heard >= opened:
                return True
            if now_heard > heard:
                heard, last_progress = now_heard, time.monotonic()
    return False


async def drain(subscribers: Subscribers, expected: int, deadline: float) -> None:
    """Wait until every expected delivery arrived (or ``deadline``)."""
    while time.monotonic() < deadline and await subscribers.measured_count() < expected:
        await asyncio.sleep(STATUS_POLL)


# --------------------------------------------------------------------------- one cell


async def measure(url: str, query: str | None, token: str | None, publisher: Callable[[str], Any], plan: Plan,
                  rows: list[Row], probes: Iterator[Row], deadline: float) -> Cell:
    cell = Cell(plan.subscribers)
    open_seconds = max(5.0, (deadline - time.monotonic()) / 2)
    subscribers = Subscribers(url, query, token, plan.subscribers, open_seconds)
    try:
        opening = time.monotonic()
        cell.opened, failed = await subscribers.opened()
        cell.opening_seconds = time.monotonic() - opening
        cell.note = f"{failed} failed to open" if failed else ""
        async with publisher(url, token) as publish:
            if not await warm_up(subscribers, publish, probes, cell.opened, deadline):
                cell.note = "not every subscription went live"
            ids = [row["submission_id"] for row in rows]
            await subscribers.ask("measure", ids)
            cell.expected = cell.opened * len(rows)
            sent, returned = await publish_steadily(publish, rows, plan.rate)
        drain_seconds = DRAIN_SECONDS + cell.expected / OFFERED_DELIVERIES
        await drain(subscribers, cell.expected, min(deadline, time.monotonic() + drain_seconds))
        stamps, cell.missed = await subscribers.results()
    finally:
        await subscribers.close()
    summarise(cell, returned, stamps)
    cell.round_trip_ms = [(returned[i] - sent[i]) / 1e6 for i in returned]
    cell.end_to_end_ms = [(stamp - sent[i]) / 1e6 for i in returned for stamp in stamps.get(i, ())]
    return cell


def summarise(cell: Cell, returned: dict[str, int], stamps: dict[str, list[int]]) -> None:
    receipts = [(stamp, stamp - returned[i]) for i in returned for stamp in stamps.get(i, ())]
    cell.latencies_ms = [latency / 1e6 for _, latency in receipts]
    if receipts:
        span_ns = max(stamp for stamp, _ in receipts) - min(returned.values())
        cell.deliveries_per_second = len(receipts) / max(span_ns / 1e9, 1e-9)


# --------------------------------------------------------------------------- background ingest


@contextmanager
def background_ingest(url: str, token: str | None, rows: list[Row], rate: float, report: list[str]
                      ) -> Iterator[None]:
    """Another process submitting ``rows`` at ``rate`` while the body runs; appends what it achieved."""
    ours, theirs = SPAWN.Pipe()
    stop = SPAWN.Event()
    process = SPAWN.Process(target=ingest_worker, args=(theirs, stop, url, token, rows, rate), daemon=True)
    process.start()
    try:
        yield
    finally:
        stop.set()
        answered, seconds = ours.recv() if ours.poll(60) else (0, float("nan"))
        process.join(10)
        report.append(f"{answered} forms in {seconds:.1f} s ({answered / max(seconds, 1e-9):.0f}/s)")


# --------------------------------------------------------------------------- the run


@dataclass
class Setup:
    database_url: str
    event_bus: str
    token: str | None
    measured: Iterator[Row]
    elsewhere: list[Row]


def load_reference_data(database_url: str, folder: Path) -> str | None:
    """Import the reference data; the secret of an admin token to submit and subscribe with (if tokens exist)."""
    from pilkada_graph.config import Settings
    from pilkada_graph.service import Desk

    write_reference_bundle(folder / "reference", seed=SEED, scale="kalteng")
    desk = Desk.open(Settings(database_url=database_url), with_detection=False)
    assert desk.import_bundle(folder / "reference").committed
    try:
        from pilkada_graph.tokens import create_token
    except ImportError:  # a version of the app without API tokens: everyone may submit
        return None
    finally:
        desk.engine.dispose()
    return create_token(desk.engine, "admin", actor="bench_live")[0]


def split_forms() -> tuple[list[Row], list[Row]]:
    """First revisions of the night: the measured regency's, and everyone else's (for ingest)."""
    first = [row for row in night_forms(SEED, "kalteng") if row["source"] == "sirekap"]
    inside = [row for row in first if row["station_code"].startswith(MEASURED_REGENCY + ".")]
    return inside, [row for row in first if not row["station_code"].startswith(MEASURED_REGENCY + ".")]


async def run_count(setup: Setup, plan: Plan, args: argparse.Namespace, deadline: float,
                    ingest_report: list[str], slice_number: int) -> tuple[Cell, Cell]:
    """Ours, then the baseline, at one count; ours may take two thirds of the time to ``deadline``."""
    rows = [next(setup.measured) for _ in range(plan.forms)]
    ours_deadline = time.monotonic() + (deadline - time.monotonic()) * 2 / 3
    async with app_server(setup.database_url, setup.event_bus) as url:
        if args.with_ingest:
            share = len(setup.elsewhere) // len(args.subscribers)
            background = setup.elsewhere[slice_number * share : (slice_number + 1) * share]
            with background_ingest(url, setup.token, background, args.ingest_rate, ingest_report):
                ours = await measure(url, QUERY, setup.token, submit_tally, plan, rows, setup.measured, ours_deadline)
        else:
            ours = await measure(url, QUERY, setup.token, submit_tally, plan, rows, setup.measured, ours_deadline)
    fake = iter({**row, "submission_id": f"warm-{n}"} for n, row in enumerate(rows * WARM_UP_PROBES))
    async with baseline_server() as url:
        baseline = await measure(url, None, None, broadcast_over_websocket, plan, rows, fake, deadline)
    return ours, baseline


def time_needed(count: int) -> float:
    """A rough floor for one count: servers, the measuring, and opening a few hundred connections a second."""
    return MINIMUM_CELL + count / 200


def ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.1f}x" if ours > 0 and baseline > 0 else "-"


def print_results(results: list[tuple[Plan, Cell, Cell]], skipped: list[str]) -> None:
    headers = ["subscribers", "forms/s", "ours p50 ms", "ours p99 ms", "ours deliv/s", "received",
               "base p50 ms", "base p99 ms", "base deliv/s", "p50 ratio", "p99 ratio", "deliv/s ratio"]
    rows = []
    for plan, ours, base in results:
        rows.append([plan.subscribers, plan.rate, ours.p50, ours.p99, ours.deliveries_per_second,
                     f"{len(ours.latencies_ms)}/{ours.expected}", base.p50, base.p99, base.deliveries_per_second,
                     ratio(ours.p50, base.p50), ratio(ours.p99, base.p99),
                     ratio(ours.deliveries_per_second, base.deliveries_per_second)])
    print()
    print_table(headers, rows)
    for plan, ours, base in results:
        for side, cell in (("ours", ours), ("baseline", base)):
            problems = [p for p in (cell.note, f"{cell.missed} MISSED_EVENTS" if cell.missed else "",
                                    f"only {len(cell.latencies_ms)} of {cell.expected} delivered"
                                    if len(cell.latencies_ms) < cell.expected else "") if p]
            if problems:
                print(f"  N={plan.subscribers:,} {side}: {'; '.join(problems)}")
    print("\nopening the subscriptions, and the publication round trip (submitTally's answer; baseline's ack):")
    print_table(["subscribers", "ours opened/s", "base opened/s", "ours round trip p50 ms", "p99 ms",
                 "base round trip p50 ms", "p99 ms"],
                [[plan.subscribers, ours.opened / ours.opening_seconds, base.opened / base.opening_seconds,
                  percentile(ours.round_trip_ms, 50), percentile(ours.round_trip_ms, 99),
                  percentile(base.round_trip_ms, 50), percentile(base.round_trip_ms, 99)]
                 for plan, ours, base in results])
    print("\nfrom each form's sending to each receipt (end to end: the clerk submits, a dashboard sees it):")
    print_table(["subscribers", "ours p50 ms", "ours p99 ms", "base p50 ms", "base p99 ms"],
                [[plan.subscribers, percentile(ours.end_to_end_ms, 50), percentile(ours.end_to_end_ms, 99),
                  percentile(base.end_to_end_ms, 50), percentile(base.end_to_end_ms, 99)]
                 for plan, ours, base in results])
    for line in skipped:
        print(f"  skipped: {line}")


async def run(args: argparse.Namespace, setup: Setup) -> None:
    started = time.monotonic()
    deadline = started + args.budget
    results: list[tuple[Plan, Cell, Cell]] = []
    skipped: list[str] = []
    ingest_report: list[str] = []
    for number, count in enumerate(args.subscribers):
        plan = Plan(count, args.seconds)
        left = deadline - time.monotonic()
        reserved = sum(time_needed(later) for later in args.subscribers[number + 1 :])
        if left - reserved < time_needed(count):
            skipped.append(f"N={count:,}: {left:.0f} s of the {args.budget:g} s budget left, "
                           f"~{time_needed(count) + reserved:.0f} s needed")
            continue
        print(f"N={count:,}: {plan.forms} forms at {plan.rate:g}/s ...", file=sys.stderr, flush=True)
        ours, baseline = await run_count(setup, plan, args, deadline - reserved, ingest_report, number)
        results.append((plan, ours, baseline))
    print(f"\ndelivery latency from submitTally returning (baseline: from the ack) to each subscriber's receipt; "
          f"one uvicorn process, {setup.database_url.split(':')[0]}, bus {setup.event_bus.split('?')[0]}, "
          f"subscribers filter within {MEASURED_REGENCY}; clients: {PER_WORKER:,} per process; "
          f"{os.cpu_count()} CPUs; {time.monotonic() - started:.0f} s")
    if args.with_ingest:
        print(f"background ingest at {args.ingest_rate:g} forms/s requested, while ours was measured: "
              + "; ".join(ingest_report))
    print_results(results, skipped)


@contextmanager
def database(args: argparse.Namespace, folder: Path) -> Iterator[tuple[str, str]]:
    """(database URL, event bus): a SQLite file, or a private schema of ``--postgres`` dropped afterwards."""
    if not args.postgres:
        yield f"sqlite:///{folder / 'bench.db'}", args.redis or "memory"
        return
    from sqlalchemy import create_engine, text

    from pilkada_graph.db import driver_url

    schema = f"bench_live_{uuid.uuid4().hex[:8]}"
    admin = create_engine(driver_url(args.postgres), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in args.postgres else "?"
    bus = f"{args.redis}?channel={schema}" if args.redis else "postgres"
    try:
        yield f"{args.postgres}{separator}options=-csearch_path%3D{schema}", bus
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", default="10,1000,10000",
                        type=lambda text: [int(n) for n in text.split(",")], help="comma-separated counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per count (10 to 60 forms)")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a private schema is created and dropped)")
    parser.add_argument("--redis", help="a Redis URL for the event bus (default: in-process, or LISTEN/NOTIFY)")
    parser.add_argument("--with-ingest", action="store_true", help="keep a background import running")
    parser.add_argument("--ingest-rate", type=float, default=100.0, help="background forms a second")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds the whole run may take")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    raise_file_limit()
    with tempfile.TemporaryDirectory() as scratch, database(args, Path(scratch)) as (database_url, bus):
        print("loading the demo election's reference data ...", file=sys.stderr, flush=True)
        token = load_reference_data(database_url, Path(scratch))
        inside, elsewhere = split_forms()
        asyncio.run(run(args, Setup(database_url, bus, token, iter(inside), elsewhere)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
