"""The national election on one machine: every path, each figure next to a baseline from the same run.

    .venv/bin/python bench/bench_national.py                      # 5,000 stations (a few minutes)
    .venv/bin/python bench/bench_national.py --stations 435000    # the whole 2024 Pilkada (long)

Options: ``--postgres URL`` (default ``$PILKADA_TEST_POSTGRES_URL`` or the local ``test`` database),
``--seconds`` of load per query cell, ``--skip-postgraphile``, ``--skip-live``, ``--skip-sqlite``.

1. **Import** of the national bundle's tallies (the reference files are loaded first, untimed)
   through ``Desk.import_bundle`` with every built-in detector on, in a child process (its peak
   memory is its ``VmHWM``), into SQLite and into PostgreSQL; baselines: the stdlib ``sqlite3``
   ``executemany`` of the same rows into a bare table, and a psycopg ``COPY`` of them.
2. **Full detection** (what ``pilkada-graph detect`` runs) over the imported data; baseline: one
   SELECT of every current revision with its station, which any detector must at least read.
3. **Queries**: the desk queries of the GraphQL issue (province results with regencies, a page of
   50 open critical issues, a station's revisions) and a national-size results query (the largest
   province's governor race down to every district), at concurrency 1 and 32, against our server
   (one uvicorn worker) and against **PostGraphile 4** over the same PostgreSQL schema and data
   (installed into ``bench/.postgraphile/`` with npm when missing), with equivalent queries written
   for its generated API. The server's peak memory is its ``VmHWM``.
4. **Subscription delivery latency** under ingest: ``bench_live.py --with-ingest``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_graphql import (  # noqa: E402
    ISSUES,
    desk_token,
    free_port,
    graphql_sender,
    insert_critical_issues,
    load,
    start_server,
    unlimited_config,
)
from bench_import import postgres_baseline, split_bundle, sqlite_baseline  # noqa: E402
from common import percentile, print_table  # noqa: E402

CONFIG_ENV = "PILKADA_CONFIG"
DEFAULT_POSTGRES = os.environ.get("PILKADA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
POSTGRAPHILE_DIR = BENCH / ".postgraphile"
SCHEMA_PREFIX = "natbench_"

RESULTS_FIELDS = """stationsTotal stationsReported registered voters turnout invalidVotes
                    candidates { number name votes share }"""


# --------------------------------------------------------------------------- child processes


def child_main(argv: list[str]) -> None:
    """``--child import URL REF TALLIES`` / ``--child detect URL`` / ``--child scan URL``: one JSON line."""
    kind, url, *paths = argv
    from pilkada_graph.config import Settings
    from pilkada_graph.service import Desk

    desk = Desk.open(Settings(database_url=url), with_detection=kind != "scan")
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    if kind == "import":
        desk.import_bundle(Path(paths[0]))
        started = time.perf_counter()
        report = desk.import_bundle(Path(paths[1]))
        assert report.ok, report.problems[:3]
        figures["tallies"] = report.stored.get("tallies.csv", 0)
    elif kind == "detect":
        summary = desk.detection.detect_all()  # type: ignore[attr-defined]
        figures.update(tallies=summary.tallies, regions=summary.regions, issues=len(summary.issue_ids))
    else:
        figures["rows"] = scan_current(desk.engine)
    figures["seconds"] = time.perf_counter() - started
    figures["max_rss_mb"] = peak_mb()
    print(json.dumps(figures))


def scan_current(engine: Any) -> int:
    """The detection baseline: read every current revision and its station once, nothing else."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT t.id, s.code, t.votes, t.dpt, t.dptb, t.dpk, t.voters, t.valid_votes, t.invalid_votes "
            "FROM current_tallies c JOIN tallies t ON t.id = c.tally_id JOIN stations s ON s.id = c.station_id")
        return sum(1 for _ in rows)


def run_child(*args: str, timeout: float) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- PostgreSQL schemas


def new_schema(url: str) -> tuple[str, str]:
    """A fresh schema of ``url`` for this run, and the URL that puts it first on the search path."""
    import psycopg

    schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return schema, f"{url}?options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# --------------------------------------------------------------------------- PostGraphile


def postgraphile_binary() -> Path:
    """``postgraphile`` 4 from npm, installed beside this script on first use."""
    binary = POSTGRAPHILE_DIR / "node_modules" / ".bin" / "postgraphile"
    if not binary.exists():
        POSTGRAPHILE_DIR.mkdir(exist_ok=True)
        package = POSTGRAPHILE_DIR / "package.json"
        if not package.exists():
            package.write_text('{"name": "pilkada-bench-postgraphile", "private": true}\n')
        print("installing postgraphile@4 into bench/.postgraphile ...", flush=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "postgraphile@4"], cwd=POSTGRAPHILE_DIR,
                       check=True, capture_output=True)
    return binary


@contextmanager
def postgraphile_server(url: str, schema: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = subprocess.Popen(
        [str(postgraphile_binary()), "--connection", url, "--schema", schema, "--host", "127.0.0.1",
         "--port", str(port), "--disable-query-log", "--dynamic-json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.post(base + "/graphql", json={"query": "{ __typename }"}, timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    error = process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                    raise RuntimeError(f"postgraphile exited: {error}") from None
                time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=10)


# --------------------------------------------------------------------------- the queries


def our_queries(province: str, station: str) -> dict[str, dict[str, Any]]:
    contest = f"gub-{province}"
    results = f"results(contest: \"{contest}\") {{ {RESULTS_FIELDS} }}"
    return {
        "province results + regencies": {"query": f"""query {{ region(code: "{province}") {{ code name level
            {results} children {{ code {results} }} }} }}"""},
        "open critical issues, 50": {"query": ISSUES},
        "station with revisions": {"query": f"""query ($code: String!) {{ station(code: $code) {{ code registered
            tally(contest: "{contest}") {{ submissionId }}
            revisions(contest: "{contest}") {{ submissionId submittedAt source actor voters
                                               votes {{ number votes }} }} }} }}""", "variables": {"code": station}},
        "national: province > regencies > districts": {"query": f"""query {{ region(code: "{province}") {{ code
            {results} children {{ code {results} children {{ code {results} }} }} }} }}"""},
    }


def postgraphile_queries(province: str, station: str, contest_id: int) -> dict[str, dict[str, Any]]:
    """The same shapes over PostGraphile's generated API (its names for our tables and foreign keys)."""
    results = f"""stationsTotal
        regionResultsByRegionId(condition: {{contestId: {contest_id}}}) {{ nodes {{ stationsReported registered
                                                                               voters validVotes invalidVotes }} }}
        regionResultVotesByRegionId(condition: {{contestId: {contest_id}}}, orderBy: NUMBER_ASC) {{
            nodes {{ number votes }} }}"""
    candidates = (f"contestById(id: {contest_id}) {{ candidatesByContestId(orderBy: NUMBER_ASC) {{ "
                  "nodes { number name } } }")
    return {
        "province results + regencies": {"query": f"""query {{ {candidates} regionByCode(code: "{province}") {{
            code name level {results} regionsByParentId(orderBy: CODE_ASC) {{ nodes {{ code {results} }} }} }} }}"""},
        "open critical issues, 50": {"query": """query { allIssues(condition: {status: "open", severity: "critical"},
            first: 50, orderBy: [CREATED_AT_DESC, ID_DESC]) { totalCount pageInfo { hasNextPage endCursor }
            edges { node { id detector message evidence stationByStationId { code } regionByRegionId { code }
                           contestByContestId { code } tallyByTallyId { submissionId voters votes } } } } }"""},
        "station with revisions": {"query": f"""query ($code: String!) {{ stationByCode(code: $code) {{ code registered
            currentTalliesByStationId(condition: {{contestId: {contest_id}}}) {{ nodes {{
                tallyByTallyId {{ submissionId }} }} }}
            talliesByStationId(condition: {{contestId: {contest_id}}}, orderBy: SUBMITTED_AT_ASC) {{ nodes {{
                submissionId submittedAt source actor voters votes }} }} }} }}""", "variables": {"code": station}},
        "national: province > regencies > districts": {"query": f"""query {{ {candidates}
            regionByCode(code: "{province}") {{ code {results} regionsByParentId {{ nodes {{ code {results}
            regionsByParentId {{ nodes {{ code {results} }} }} }} }} }} }}"""},
    }


def pick_subjects(database_url: str) -> tuple[str, str, int]:
    """The largest province, its governor contest's id, and its most revised station."""
    from sqlalchemy import func, select

    from pilkada_graph.db import make_engine
    from pilkada_graph.models import Contest, Region, Station, Tally

    engine = make_engine(database_url)
    with engine.connect() as connection:
        province = connection.execute(select(Region.code).where(Region.level == "province")
                                      .order_by(Region.stations_total.desc(), Region.code).limit(1)).scalar_one()
        contest_id = connection.execute(select(Contest.id).where(Contest.code == f"gub-{province}")).scalar_one()
        low, high = f"{province}.", f"{province}/"
        station = connection.execute(
            select(Station.code).join(Tally, Tally.station_id == Station.id)
            .where(Tally.contest_id == contest_id, Station.code >= low, Station.code < high)
            .group_by(Station.code).order_by(func.count().desc(), Station.code).limit(1)).scalar_one()
    engine.dispose()
    return province, station, contest_id


def server_peak_mb(process: subprocess.Popen[bytes]) -> float:
    """The server's peak resident memory (``VmHWM``), read before it stops."""
    return peak_mb(process.pid)


def peak_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (``VmHWM``).

    Not ``ru_maxrss``: Linux carries it across ``execve``, so a child started while this
    bench held the national bundle in memory reported the bench's peak, not its own.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


Cells = dict[tuple[str, int], tuple[float, float, float]]


async def load_all(url: str, queries: dict[str, dict[str, Any]], seconds: float, token: str | None = None) -> Cells:
    """(query, concurrency) -> (requests/s, p50 ms, p99 ms)."""
    found = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(limits=limits, timeout=120, headers=headers) as client:
        for name, body in queries.items():
            for concurrency in (1, 32):
                rps, latencies = await load(client, graphql_sender(url, body), concurrency, seconds)
                found[(name, concurrency)] = (rps, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000)
    return found


# --------------------------------------------------------------------------- the sections


class Run:
    """One benchmark run's scratch folder, databases and printed figures."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.sqlite_url = f"sqlite:///{scratch / 'national.db'}"
        self.schema, self.postgres_url = new_schema(args.postgres)
        self.memory: list[list[object]] = []
        self.timeout = args.timeout

    def import_section(self, reference: Path, tallies: Path) -> None:
        n = sum(1 for _ in (tallies / "tallies.csv").open()) - 1
        rows: list[list[object]] = []
        targets: list[tuple[str, str, Callable[[], float]]] = []
        if not self.args.skip_sqlite:
            targets.append(("SQLite", self.sqlite_url, lambda: sqlite_baseline(tallies / "tallies.csv", self.scratch)))
        targets.append(("PostgreSQL", self.postgres_url, lambda: postgres_baseline(tallies / "tallies.csv",
                                                                                   self.args.postgres)))
        for name, url, baseline in targets:
            base = baseline()
            ours = run_child("import", url, str(reference), str(tallies), timeout=self.timeout)
            bare = "executemany" if name == "SQLite" else "COPY"
            rows.append([f"{name}: import, all detectors", ours["seconds"], n / ours["seconds"],
                         f"bare {bare}", base, n / base, f"{base / ours['seconds']:.2f}"])
            self.memory.append([f"import into {name} (child process)", ours["max_rss_mb"]])
        print(f"\n1. Import of {n:,} tallies (best of 3 for baselines, one run for ours)\n")
        print_table(["what", "seconds", "tallies/s", "baseline", "base seconds", "base tallies/s",
                     "rate vs baseline"], rows)

    def detection_section(self) -> None:
        rows: list[list[object]] = []
        for name, url in (("SQLite", self.sqlite_url), ("PostgreSQL", self.postgres_url)):
            if name == "SQLite" and self.args.skip_sqlite:
                continue
            scan = run_child("scan", url, timeout=self.timeout)
            ours = run_child("detect", url, timeout=self.timeout)
            rows.append([f"{name}: pilkada-graph detect", ours["seconds"], ours["tallies"], ours["regions"],
                         scan["seconds"], f"{ours['seconds'] / scan['seconds']:.0f}x"])
            self.memory.append([f"full detection on {name}", ours["max_rss_mb"]])
        print("\n2. Full detection over the national data (baseline: one SELECT of every current revision)\n")
        print_table(["what", "seconds", "tallies", "region runs", "scan seconds", "time vs scan"], rows)

    def query_section(self) -> None:
        from pilkada_graph.config import Settings
        from pilkada_graph.service import Desk

        tokens = {}
        for url in (self.postgres_url, *(() if self.args.skip_sqlite else (self.sqlite_url,))):
            desk = Desk.open(Settings(database_url=url), with_detection=False)
            insert_critical_issues_for_province(desk, 60)
            tokens[url] = desk_token(desk)
            desk.engine.dispose()
        os.environ[CONFIG_ENV] = str(unlimited_config(self.scratch))
        province, station, contest_id = pick_subjects(self.postgres_url)
        ours_queries = our_queries(province, station)
        measured: dict[str, Cells] = {}
        for name, url in (("ours PostgreSQL", self.postgres_url),
                          *(() if self.args.skip_sqlite else (("ours SQLite", self.sqlite_url),))):
            api, process = start_server("pilkada_graph.app:app_from_environment", url)
            try:
                measured[name] = asyncio.run(load_all(api, ours_queries, self.args.seconds, tokens[url]))
                self.memory.append([f"server, {name} (after the load)", server_peak_mb(process)])
            finally:
                process.terminate()
                process.wait(timeout=10)
        if not self.args.skip_postgraphile:
            with postgraphile_server(self.args.postgres, self.schema) as (base, process):
                measured["PostGraphile"] = asyncio.run(load_all(
                    base, postgraphile_queries(province, station, contest_id), self.args.seconds))
                self.memory.append(["PostGraphile (after the load)", server_peak_mb(process)])
        print(f"\n3. Queries (province {province}, station {station}), one server process each, "
              f"{self.args.seconds:g} s per cell\n")
        rows = []
        for query in ours_queries:
            for concurrency in (1, 32):
                row: list[object] = [query, concurrency]
                for name in measured:
                    rps, p50, p99 = measured[name][(query, concurrency)]
                    row += [rps, p50, p99]
                if "PostGraphile" in measured:
                    ours_rps = measured["ours PostgreSQL"][(query, concurrency)][0]
                    row.append(f"{ours_rps / measured['PostGraphile'][(query, concurrency)][0]:.2f}")
                rows.append(row)
        headers = ["query", "conc"]
        for name in measured:
            headers += [f"{name} req/s", "p50 ms", "p99 ms"]
        if "PostGraphile" in measured:
            headers.append("ours PG / PostGraphile req/s")
        print_table(headers, rows)

    def live_section(self) -> None:
        script = BENCH / "bench_live.py"
        print("\n4. Subscription delivery latency with ingest running (bench_live.py --with-ingest)\n", flush=True)
        if not script.exists():
            print("bench_live.py is not present: not measured")
            return
        done = subprocess.run([sys.executable, str(script), "--with-ingest", "--subscribers", "10,1000",
                               "--budget", str(self.args.live_budget)], capture_output=True, text=True,
                              timeout=self.args.live_budget + 120)
        print(done.stdout[-6000:] if done.returncode == 0 else f"bench_live.py failed:\n{done.stderr[-3000:]}")

    def close(self) -> None:
        drop_schema(self.args.postgres, self.schema)


def insert_critical_issues_for_province(desk: Any, count: int) -> None:
    """``bench_graphql``'s 60 open critical issues, on the largest province's governor race."""
    from sqlalchemy import select

    from pilkada_graph.models import Region

    with desk.engine.connect() as connection:
        province = connection.execute(select(Region.code).where(Region.level == "province")
                                      .order_by(Region.stations_total.desc(), Region.code).limit(1)).scalar_one()
    insert_critical_issues(desk, count, contest_code=f"gub-{province}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=5000)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--seconds", type=float, default=3.0, help="load time per query cell")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds any one child may take")
    parser.add_argument("--live-budget", type=int, default=240)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgraphile", action="store_true")
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    from pilkada_graph.demo import write_demo_bundle

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        counts = write_demo_bundle(scratch / "bundle", seed=2024, scale="national", stations=args.stations)
        print(f"national demo bundle, {args.stations:,} stations: {counts} "
              f"({time.perf_counter() - started:.0f} s to generate)", flush=True)
        reference, tallies = split_bundle(scratch / "bundle", scratch)
        shutil.rmtree(scratch / "bundle")
        run = Run(args, scratch)
        try:
            run.import_section(reference, tallies)
            run.detection_section()
            run.query_section()
            if not args.skip_live:
                run.live_section()
        finally:
            run.close()
        print("\n5. Peak memory (resident, MB)\n")
        print_table(["process", "peak MB"], run.memory)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
