"""Import speed of the demo bundle, against a bare ``executemany`` of the same rows.

    python bench/bench_import.py [--scale kalteng|small] [--stations N] [--postgres URL] [--stages]

Baseline (measured in the same run): the stdlib ``sqlite3`` module reads tallies.csv,
converts the counts to integers and inserts every row into a bare table with one
``executemany`` and one commit (WAL, ``synchronous=FULL``, like ours). On PostgreSQL the
baseline is a ``COPY`` of the same rows into a bare table.

Ours: ``Desk.import_bundle`` of the tallies into a database that already holds the
regions, contests and stations: parse, validate, store every revision, move the current
pointers and keep the region aggregates, with detection off (also with every chunk forced
onto the row road, see ``pilkada_graph.columnar``) and with every built-in detector on
(split into per-tally and region checks). Each figure is the best of ``--runs``
runs, each its own best (the per-tally checks of the fastest import were not always the
fastest). A second floor: the same rows into our own ``tallies`` table with no Python in between.

Last, what a clerk waits for: the median latency of one ``Desk.submit_tally`` (a corrected
revision) into the imported demo, with detection off and with the per-tally checks, taking the
submissions in turn (region checks are debounced off the request path, as in the server); the
last column is their ratio.

``--stages`` adds where the SQLite import's time goes (detection off), by the columnar road and
by the row road: each phase's function is wrapped with a timer for one more import (the timers
themselves add a few milliseconds).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_of, print_table  # noqa: E402

from pilkada_graph import bundle, columnar, ingest, store  # noqa: E402
from pilkada_graph.config import Settings  # noqa: E402
from pilkada_graph.demo import write_demo_bundle  # noqa: E402
from pilkada_graph.service import Desk  # noqa: E402


def split_bundle(source: Path, scratch: Path) -> tuple[Path, Path]:
    """Reference files in one folder, tallies in another: tallies are what the bench times."""
    reference, tallies = scratch / "reference", scratch / "tallies"
    reference.mkdir()
    tallies.mkdir()
    for name in bundle.present_files(source):
        target = tallies if name == bundle.TALLIES else reference
        shutil.copy(source / name, target / name)
    return reference, tallies


def read_tally_rows(path: Path) -> tuple[list[str], list[tuple[object, ...]]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [tuple(int(v) if v.isdigit() else (v or None) for v in row) for row in reader]
    return header, rows


def sqlite_baseline(tallies_csv: Path, scratch: Path) -> float:
    def run() -> int:
        path = scratch / "baseline.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        header, rows = read_tally_rows(tallies_csv)
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(f"CREATE TABLE tallies ({', '.join(header)})")
        connection.execute("BEGIN")
        connection.executemany(f"INSERT INTO tallies VALUES ({','.join('?' * len(header))})", rows)
        connection.execute("COMMIT")
        connection.close()
        return len(rows)

    seconds, _ = best_of(3, run)
    return seconds


def postgres_baseline(tallies_csv: Path, url: str) -> float:
    import psycopg

    def run() -> int:
        header, rows = read_tally_rows(tallies_csv)
        with psycopg.connect(url) as connection:
            connection.execute("DROP TABLE IF EXISTS bench_bare_tallies")
            connection.execute(f"CREATE TABLE bench_bare_tallies ({', '.join(h + ' text' for h in header)})")
            with connection.cursor().copy(f"COPY bench_bare_tallies ({', '.join(header)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            connection.execute("DROP TABLE bench_bare_tallies")
        return len(rows)

    seconds, _ = best_of(3, run)
    return seconds


@dataclass(frozen=True)
class Timing:
    """One import: its seconds, and of them the seconds in per-tally and in region checks."""

    seconds: float
    tally_checks: float = 0.0
    region_checks: float = 0.0


@contextlib.contextmanager
def row_road_only(only: bool = True) -> Iterator[None]:
    """While inside, every chunk of tallies takes the row road (``columnar`` declines them all)."""
    if not only:
        yield
        return
    clean_road = columnar.store_clean_chunk
    columnar.store_clean_chunk = lambda *args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        columnar.store_clean_chunk = clean_road


def ours(make_url: Callable[[], str], reference: Path, tallies: Path, detection: bool, runs: int,
         rows_only: bool = False) -> Timing:
    timings = []
    for _ in range(runs):
        desk = Desk.open(Settings(database_url=make_url()), with_detection=detection)
        desk.import_bundle(reference)
        started = time.perf_counter()
        with row_road_only(rows_only):
            report = desk.import_bundle(tallies)
        seconds = time.perf_counter() - started
        assert report.ok and report.stored[bundle.TALLIES] > 0, report.problems[:3]
        split = getattr(desk.detection, "seconds", {})
        timings.append(Timing(seconds, split.get("tally", 0.0), split.get("region", 0.0)))
        desk.engine.dispose()
    return Timing(*(min(figures) for figures in zip(*(astuple(t) for t in timings), strict=True)))


def submission_latencies(make_url: Callable[[], str], bundle_folder: Path,
                         submissions: int = 600) -> tuple[float, float]:
    """Median seconds of one ``Desk.submit_tally`` (a corrected revision of a station's form) into the
    imported demo, (detection off, with the per-tally checks): what a clerk waits for. Region checks
    are debounced off the request path, as in the server. Two desks on the same database take the
    submissions in turn, so that both medians see the same moments of a shared, noisy machine
    (measured one after the other, their ratio swung from x2.1 to x4.7 between runs)."""
    from datetime import timedelta

    from pilkada_graph.ingest import parse_tally_row

    settings = Settings(database_url=make_url(), detection={"debounce": 3600})
    Desk.open(settings, with_detection=False).import_bundle(bundle_folder)
    desks = (Desk.open(settings, with_detection=False), Desk.open(settings, with_detection=True))
    timings: tuple[list[float], list[float]] = ([], [])
    rows = list(bundle.read_rows(bundle_folder / bundle.TALLIES))[:submissions]
    for n, row in enumerate(rows):
        form, _ = parse_tally_row(row)
        assert form is not None
        form.submission_id = f"bench-correction-{n}"
        form.submitted_at += timedelta(hours=2)
        started = time.perf_counter()
        outcome = desks[n % 2].submit_tally(form)
        timings[n % 2].append(time.perf_counter() - started)
        assert outcome.accepted, outcome.problems
    for desk in desks:
        desk.engine.dispose()
    bare, judged = (sorted(t)[len(t) // 2] for t in timings)
    return bare, judged


def schema_floor(reference: Path, tallies_csv: Path, scratch: Path) -> float:
    """The same rows into our own ``tallies`` table (its indexes and constraints), with no Python
    between CSV and insert: what the data model alone costs, before pointers and aggregates."""
    template = scratch / "floor-template.db"
    desk = Desk.open(Settings(database_url=f"sqlite:///{template}"), with_detection=False)
    desk.import_bundle(reference)
    desk.engine.dispose()
    connection = sqlite3.connect(template)
    stations = dict(connection.execute("SELECT code, id FROM stations").fetchall())
    contests = dict(connection.execute("SELECT code, id FROM contests").fetchall())
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copy below must hold everything
    connection.close()
    columns = ("id", "submission_id", "station_id", "contest_id", "submitted_at", "submitted_offset", "received_at",
               "source", *bundle.COUNT_FIELDS, "votes")

    def run() -> int:
        path = scratch / "floor.db"
        shutil.copy(template, path)
        header, rows = read_tally_rows(tallies_csv)
        at = {name: i for i, name in enumerate(header)}
        votes = [at[c] for c in header if bundle.candidate_number_of(c)]
        values = [
            (n, row[at["submission_id"]], stations[row[at["station_code"]]], contests[row[at["contest_code"]]],
             row[at["submitted_at"]], 0, row[at["submitted_at"]], row[at["source"]],
             *(row[at[f]] for f in bundle.COUNT_FIELDS), str([row[i] for i in votes if row[i] is not None]))
            for n, row in enumerate(rows, start=1)
        ]
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("BEGIN")
        connection.executemany(f"INSERT INTO tallies ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})",
                               values)
        connection.execute("COMMIT")
        connection.close()
        return len(values)

    seconds, _ = best_of(3, run)
    return seconds


#: The first and last phases of every tally import, as (module or class, function name, label).
READING = ((bundle, "read_chunks", "read the CSV's lines"),)
SUMMING_UP = (
    (store, "carry_up", "carry the sums up the tree (once)"),
    (store, "write_result_deltas", "upsert the region sums (once)"),
)
#: The phases between, in the order they run, by the columnar road (clean chunks: the Kalteng demo's).
COLUMNAR_STAGES: tuple[tuple[object, str, str], ...] = (
    *READING,
    (columnar, "parse_columns", "convert the columns"),
    (columnar, "_references", "look up and check the references"),
    (columnar, "_rows_for_the_row_road", "find the forms left to the row road"),
    (columnar, "_insert_revisions", "insert the revisions"),
    (columnar, "write_current_pointers", "upsert the current pointers"),
    (columnar, "_village_sums", "sum the villages (numpy)"),
    *SUMMING_UP,
)
#: The same by the row road (any chunk that is not clean, every submitTally).
ROW_STAGES: tuple[tuple[object, str, str], ...] = (
    *READING,
    (bundle.CellChunk, "rows", "cut the lines into rows of cells"),
    (ingest, "parse_tally_row", "parse the rows into forms"),
    (ingest.Catalog, "prefetch_stations", "look up the stations"),
    (ingest, "validate_tally", "validate the references"),
    (store, "existing_submissions", "  store: find repeated submission ids"),
    (store, "_insert_revisions", "  store: insert the revisions"),
    (store, "_current_revisions", "  store: read the current revisions"),
    (store, "write_current_pointers", "  store: upsert the current pointers"),
    (store, "_add_changes", "  store: sum the changes per village"),
    *SUMMING_UP,
)
#: Inside the phases above: the time SQLite itself spends in ``executemany`` (every table's inserts).
IN_SQLITE = "  of all the above, inside SQLite's executemany"


def _timed_function(function: Callable[..., object], seconds: dict[str, float], label: str) -> Callable[..., object]:
    def timed(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - started
    return timed


def _timed_generator(function: Callable[..., object], seconds: dict[str, float], label: str) -> Callable[..., object]:
    def timed(*args: object, **kwargs: object) -> object:
        items = iter(function(*args, **kwargs))  # type: ignore[call-overload]
        while True:
            started = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                seconds[label] += time.perf_counter() - started
            yield item
    return timed


def import_stages(make_url: Callable[[], str], reference: Path, tallies: Path,
                  stages: tuple[tuple[object, str, str], ...], rows_only: bool = False) -> list[tuple[object, ...]]:
    """One import (detection off) with every phase of ``stages`` timed: (label, seconds, share)."""
    import inspect

    desk = Desk.open(Settings(database_url=make_url()), with_detection=False)
    desk.import_bundle(reference)
    seconds = dict.fromkeys((label for _, _, label in stages), 0.0)
    timed = (*stages, (store.RawSQL, "executemany", IN_SQLITE))
    seconds[IN_SQLITE] = 0.0
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in timed]
    for (owner, name, label), (_, _, function) in zip(timed, originals, strict=True):
        wrap = _timed_generator if inspect.isgeneratorfunction(function) else _timed_function
        setattr(owner, name, wrap(function, seconds, label))
    try:
        started = time.perf_counter()
        with row_road_only(rows_only):
            desk.import_bundle(tallies)
        total = time.perf_counter() - started
    finally:
        for owner, name, function in originals:
            setattr(owner, name, function)
        desk.engine.dispose()
    phases = [(label, seconds[label]) for _, _, label in stages]
    rest = total - sum(value for _, value in phases)
    rows: list[tuple[object, ...]] = [(label, value, value / total) for label, value in phases]
    rows.append(("everything else (ordering, pointers and ids in Python, commit)", rest, rest / total))
    rows.append(("the whole import", total, 1.0))
    rows.append((IN_SQLITE, seconds[IN_SQLITE], seconds[IN_SQLITE] / total))
    return rows


def fresh_postgres(url: str) -> Callable[[], str]:
    import uuid

    import psycopg

    def make() -> str:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(url, autocommit=True) as connection:
            for (old,) in connection.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_%'"):
                connection.execute(f"DROP SCHEMA {old} CASCADE")
            connection.execute(f"CREATE SCHEMA {schema}")
        return f"{url}?options=-csearch_path%3D{schema}"

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="kalteng")
    parser.add_argument("--stations", type=int)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--stages", action="store_true", help="also print where the SQLite import's time goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        started = time.perf_counter()
        counts = write_demo_bundle(scratch / "bundle", seed=2024, scale=args.scale, stations=args.stations)
        print(f"demo bundle ({args.scale}): {counts} generated in {time.perf_counter() - started:.2f}s")
        reference, tallies = split_bundle(scratch / "bundle", scratch)
        n = counts[bundle.TALLIES]
        counter = iter(range(1_000_000))
        sqlite_url: Callable[[], str] = lambda: f"sqlite:///{scratch / f'ours-{next(counter)}.db'}"  # noqa: E731
        rows = []
        base = sqlite_baseline(tallies / bundle.TALLIES, scratch)
        rows.append(("SQLite: bare executemany (baseline)", base, n / base, 1.0))
        floor = schema_floor(reference, tallies / bundle.TALLIES, scratch)
        rows.append(("SQLite: executemany into our tallies table", floor, n / floor, base / floor))
        rows += our_rows("SQLite", sqlite_url, (scratch / "bundle", reference, tallies), base, n, args.runs)
        if args.postgres:
            base = postgres_baseline(tallies / bundle.TALLIES, args.postgres)
            rows.append(("PostgreSQL: bare COPY (baseline)", base, n / base, 1.0))
            rows += our_rows("PostgreSQL", fresh_postgres(args.postgres), (scratch / "bundle", reference, tallies),
                             base, n, args.runs)
        print()
        print_table(["what", "seconds", "tallies/s", "rate vs baseline"], rows)
        if args.stages:
            for road, stages, rows_only in (("columnar", COLUMNAR_STAGES, False), ("row", ROW_STAGES, True)):
                print()
                print_table([f"SQLite import, detection off, the {road} road: phase", "seconds", "share"],
                            import_stages(sqlite_url, reference, tallies, stages, rows_only))


def our_rows(backend: str, make_url: Callable[[], str], folders: tuple[Path, Path, Path], base: float, n: int,
             runs: int) -> list[tuple[object, ...]]:
    """Our import without and with detection (split into per-tally and region checks), and one submission's
    latency without and with the per-tally checks. ``folders``: the whole bundle, and the reference
    files and tallies :func:`split_bundle` made of it."""
    whole, reference, tallies = folders
    off = ours(make_url, reference, tallies, False, runs)
    by_rows = ours(make_url, reference, tallies, False, runs, rows_only=True)
    on = ours(make_url, reference, tallies, True, runs)
    with_tally_checks = off.seconds + on.tally_checks
    bare_submit, judged_submit = submission_latencies(make_url, whole)
    return [
        (f"{backend}: import, detection off", off.seconds, n / off.seconds, base / off.seconds),
        (f"{backend}: import, detection off, the row road only", by_rows.seconds, n / by_rows.seconds,
         base / by_rows.seconds),
        (f"{backend}: import + per-tally checks", with_tally_checks, n / with_tally_checks, base / with_tally_checks),
        (f"{backend}: import, all detectors", on.seconds, n / on.seconds, base / on.seconds),
        ("  of which per-tally checks", on.tally_checks, "", ""),
        ("  of which region checks", on.region_checks, "", ""),
        (f"{backend}: one submitTally, detection off (median ms)", 1000 * bare_submit, "", ""),
        (f"{backend}: one submitTally + per-tally checks (median ms)", 1000 * judged_submit, "",
         f"x{judged_submit / bare_submit:.2f}"),
    ]


if __name__ == "__main__":
    main()
