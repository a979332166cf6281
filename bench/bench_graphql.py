"""GraphQL API under load: the three desk queries, next to a plain Starlette JSON baseline.

    .venv/bin/python bench/bench_graphql.py [--scale kalteng|small] [--seconds 3] [--postgres URL]

Generates the demo election, imports it (plus 60 open critical issues), starts two uvicorn
servers in subprocesses -- the app (``/graphql``) and ``graphql_baseline.py`` (hand-written SQL,
JSON out) -- and loads each from this process with an asyncio + httpx client at concurrency 1
and 32. Prints requests/s, p50 and p99 for both, and GraphQL's ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, print_table  # noqa: E402

from pilkada_graph.config import Settings  # noqa: E402
from pilkada_graph.demo import write_demo_bundle  # noqa: E402
from pilkada_graph.models import Contest, CurrentTally, Issue, Station  # noqa: E402
from pilkada_graph.service import Desk  # noqa: E402

BENCH = Path(__file__).resolve().parent
CONFIG_ENV = "PILKADA_CONFIG"

PROVINCE = """query { region(code: "62") { code name level
  results(contest: "gub-62") { stationsTotal stationsReported registered voters turnout invalidVotes
                               candidates { number name votes share } }
  children { code results(contest: "gub-62") { stationsTotal stationsReported registered voters turnout
                                               invalidVotes candidates { number name votes share } } } } }"""

ISSUES = """query { issues(where: { status: { _eq: OPEN }, severity: { _eq: CRITICAL } }, first: 50) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id detector message evidence station { code } region { code } contest { code }
                 tally { submissionId voters votes { number votes } } } } } }"""

STATION = """query ($code: String!) { station(code: $code) { code registered
  tally(contest: "gub-62") { submissionId }
  revisions(contest: "gub-62") { submissionId submittedAt source actor voters votes { number votes } } } }"""


@dataclass
class Scenario:
    name: str
    graphql: dict[str, Any]
    baseline: tuple[str, dict[str, str]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(factory: str, database_url: str, app_dir: Path | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    if app_dir:
        command += ["--app-dir", str(app_dir)]
    process = subprocess.Popen(command, env={**os.environ, "PILKADA_DATABASE_URL": database_url})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(url + "/", timeout=1)
            return url, process
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"{factory} did not start")


def insert_critical_issues(desk: Desk, count: int, contest_code: str = "gub-62") -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with desk.engine.begin() as connection:
        contest_id = connection.execute(select(Contest.id).where(Contest.code == contest_code)).scalar_one()
        rows = connection.execute(
            select(Station.id, Station.code, Station.village_id, CurrentTally.tally_id)
            .join(CurrentTally, CurrentTally.station_id == Station.id)
            .where(CurrentTally.contest_id == contest_id).order_by(Station.code).limit(count)).all()
        connection.execute(Issue.__table__.insert(), [{  # type: ignore[attr-defined]
            "detector": "bench", "subject_key": f"station:{r.code}:{contest_code}", "contest_id": contest_id,
            "region_id": r.village_id, "station_id": r.id, "subject_code": r.code, "tally_id": r.tally_id,
            "severity": "critical", "status": "open", "message": "bench issue", "suggestion": None,
            "evidence": {"ratio": 0.5}, "score": 1.0, "active": True, "created_at": now, "updated_at": now,
        } for r in rows])


def desk_token(desk: Desk) -> str:
    """A reviewer's token: the desk's screens show revision authors, which anonymous viewers may not read."""
    from pilkada_graph.tokens import create_token

    secret, _ = create_token(desk.engine, "reviewer", actor="bench")
    return secret


def unlimited_config(scratch: Path) -> Path:
    """A config whose per-minute query budget the load cannot empty: the bench measures speed, not the limiter."""
    path = scratch / "bench.toml"
    path.write_text("[limits]\nbudget_per_minute = 1000000000\nanonymous_budget_per_minute = 1000000000\n")
    return path


def most_revised_station(bundle: Path) -> str:
    with (bundle / "tallies.csv").open(newline="") as handle:
        counts: dict[str, int] = {}
        for row in csv.DictReader(handle):
            if row["contest_code"] == "gub-62":
                counts[row["station_code"]] = counts.get(row["station_code"], 0) + 1
    return max(counts, key=lambda code: (counts[code], code))


async def load(client: httpx.AsyncClient, send: Any, concurrency: int, seconds: float) -> tuple[float, list[float]]:
    """Requests/s and latencies of ``concurrency`` workers sending back to back for ``seconds``."""
    for _ in range(10):
        await send(client)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await send(client)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies


def graphql_sender(url: str, body: dict[str, Any]) -> Any:
    async def send(client: httpx.AsyncClient) -> None:
        response = await client.post(url + "/graphql", json=body)
        assert response.status_code == 200 and "errors" not in response.json(), response.text[:500]
    return send


def baseline_sender(url: str, path: str, params: dict[str, str]) -> Any:
    async def send(client: httpx.AsyncClient) -> None:
        response = await client.get(url + path, params=params)
        assert response.status_code == 200, response.text[:500]
    return send


async def measure(scenarios: list[Scenario], api: str, baseline: str, seconds: float, token: str) -> list[list[object]]:
    rows: list[list[object]] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client, \
            httpx.AsyncClient(limits=limits, timeout=60, headers={"Authorization": f"Bearer {token}"}) as desk:
        for scenario in scenarios:
            for concurrency in (1, 32):
                ours_rps, ours = await load(desk, graphql_sender(api, scenario.graphql), concurrency, seconds)
                base_rps, base = await load(client, baseline_sender(baseline, *scenario.baseline), concurrency,
                                            seconds)
                p50, p99 = percentile(ours, 50) * 1000, percentile(ours, 99) * 1000
                b50, b99 = percentile(base, 50) * 1000, percentile(base, 99) * 1000
                rows.append([scenario.name, concurrency, ours_rps, p50, p99, base_rps, b50, b99,
                             f"{ours_rps / base_rps:.2f}x", f"{p50 / b50:.2f}x"])
    return rows


def run_bench(folder: Path, database_url: str, scale: str, seconds: float) -> list[list[object]]:
    """Import the demo election into ``database_url``, serve it both ways and load both."""
    bundle = folder / "bundle"
    write_demo_bundle(bundle, seed=2024, scale=scale)
    desk = Desk.open(Settings(database_url=database_url), with_detection=False)
    assert desk.import_bundle(bundle).ok
    insert_critical_issues(desk, 60)
    token = desk_token(desk)
    desk.engine.dispose()
    os.environ[CONFIG_ENV] = str(unlimited_config(folder))
    station = most_revised_station(bundle)
    scenarios = [
        Scenario("province results + regencies", {"query": PROVINCE}, ("/province", {"code": "62",
                                                                                      "contest": "gub-62"})),
        Scenario("open critical issues, 50", {"query": ISSUES}, ("/issues", {"first": "50"})),
        Scenario("station with revisions", {"query": STATION, "variables": {"code": station}},
                 ("/station", {"code": station, "contest": "gub-62"})),
    ]
    api, api_process = start_server("pilkada_graph.app:app_from_environment", database_url)
    base, base_process = start_server("graphql_baseline:create_baseline", database_url, BENCH)
    try:
        return asyncio.run(measure(scenarios, api, base, seconds, token))
    finally:
        for process in (api_process, base_process):
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="kalteng", choices=["kalteng", "small"])
    parser.add_argument("--seconds", type=float, default=3.0, help="load time per measurement")
    parser.add_argument("--postgres", help="a PostgreSQL URL to use instead of a SQLite file")
    args = parser.parse_args()
    schema = None
    if args.postgres:  # a schema of its own, dropped at the end: the shared database stays as it was
        from bench_national import drop_schema, new_schema

        schema, postgres_url = new_schema(args.postgres)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            database_url = postgres_url if schema else f"sqlite:///{folder / 'bench.db'}"
            rows = run_bench(folder, database_url, args.scale, args.seconds)
    finally:
        if schema:
            drop_schema(args.postgres, schema)
    print(f"\nGraphQL vs plain Starlette+SQL, demo scale {args.scale}, "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}, one uvicorn worker each, {args.seconds:g} s per cell\n")
    print_table(["query", "conc", "gql req/s", "gql p50 ms", "gql p99 ms", "base req/s", "base p50 ms",
                 "base p99 ms", "req/s ratio", "p50 ratio"], rows)


if __name__ == "__main__":
    main()
