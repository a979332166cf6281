"""Benchmark: the full Russian Duma 2011 bundle (95,225 stations) imported into SQLite, then every
forensic test run on it through the CLI's path.

Run ``python bench/bench_russia_import.py``. Baselines measured in the same run: a bare
``sqlite3`` ``executemany`` of the same tally rows into a table of the same columns (what storing
costs with no validation, no aggregates, no ORM), and the forensic tests on arrays read straight
from the CSV (what the tests cost without the database).
"""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
import tempfile
from pathlib import Path

from bench_forensics import SOURCE, load_example, timed

from pilkada_graph import forensics as F
from pilkada_graph.arrays import current_tally_arrays
from pilkada_graph.cli import main as cli
from pilkada_graph.db import make_engine


def bare_executemany(bundle: Path, database: Path) -> int:
    """Every tally row into one plain table with one executemany: the floor of storing them."""
    with (bundle / "tallies.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    connection = sqlite3.connect(database)
    connection.execute(f"CREATE TABLE tallies ({', '.join(header)})")
    with connection:
        connection.executemany(f"INSERT INTO tallies VALUES ({','.join('?' * len(header))})", rows)
    connection.close()
    return len(rows)


def main() -> int:
    module = load_example()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        bundle, database = folder / "duma-2011", folder / "russia.db"
        convert_s, counts = timed(lambda: module.convert(SOURCE, bundle))
        base_s, _ = timed(lambda: bare_executemany(bundle, folder / "bare.db"))
        url = f"sqlite:///{database}"
        with contextlib.redirect_stderr(io.StringIO()):
            import_s, code = timed(lambda: cli(["import", str(bundle), "--no-detect", "--database-url", url]))
        assert code == 0
        detected_url = f"sqlite:///{folder / 'russia-detected.db'}"
        with contextlib.redirect_stderr(io.StringIO()):
            detected_s, code = timed(lambda: cli(["import", str(bundle), "--database-url", detected_url]))
        assert code == 0
        print(f"stations: {counts['stations']}; bundle written in {convert_s:.1f} s")
        print(f"import --no-detect into SQLite: {import_s:6.1f} s   bare sqlite3 executemany of the tally rows: "
              f"{base_s:.2f} s   ratio {import_s / base_s:.0f}x")
        print(f"import with every detector:     {detected_s:6.1f} s   (per-tally and region checks included)")
        engine = make_engine(url)
        load_s, arrays = timed(lambda: current_tally_arrays(engine, "duma-2011"))
        csv_s, from_csv = timed(lambda: module.load_contest_arrays(SOURCE))
        print(f"current_tally_arrays: {load_s:6.2f} s   (reading the same arrays from the CSV: {csv_s:.2f} s)")
        tests_s, _ = timed(lambda: [F.run(name, arrays) for name in F.TESTS])
        bare_tests_s, _ = timed(lambda: [F.run(name, from_csv) for name in F.TESTS])
        with contextlib.redirect_stdout(io.StringIO()):
            cli_s, code = timed(lambda: cli(["forensics", "all", "--contest", "duma-2011", "--json",
                                             "--database-url", url]))
        assert code == 0
        print(f"every forensic test on the stored arrays: {tests_s:6.2f} s   on the CSV's arrays: {bare_tests_s:.2f} s")
        print(f"pilkada-graph forensics all --json (load + tests + JSON): {cli_s:6.2f} s   "
              f"ratio to the tests alone {cli_s / bare_tests_s:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
