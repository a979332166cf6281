"""Overhead of detection on import: the demo bundle imported with every built-in detector on, and with none.

    .venv/bin/python bench/bench_detect_overhead.py [--scale small|kalteng] [--database-url URL]

Prints both wall times (import + per-tally detectors + region detectors, all synchronous as the
CLI runs them) and their ratio, and the time the runner spent in per-tally checks and in region
checks separately; the run without detectors is the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pilkada_graph.config import Settings
from pilkada_graph.db import init_database, make_engine
from pilkada_graph.demo import write_demo_bundle
from pilkada_graph.detect import DetectionRunner
from pilkada_graph.plugins import DEFAULT_PLUGINS, PluginHost
from pilkada_graph.service import Desk, NoDetection


def timed_import(bundle: Path, database_url: str, builtins: tuple[str, ...]) -> tuple[float, int, dict[str, float]]:
    """Wall time of the import, tallies stored, and the runner's seconds in per-tally and region checks."""
    engine = make_engine(database_url)
    init_database(engine)
    settings = Settings(database_url=database_url)
    host = PluginHost.from_settings(settings, builtins=builtins, entry_points=False)
    runner = DetectionRunner(engine, host) if builtins else None
    desk = Desk(engine, settings, runner or NoDetection())
    start = time.perf_counter()
    report = desk.import_bundle(bundle)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed, report.stored.get("tallies.csv", 0), dict(runner.seconds) if runner else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="kalteng", choices=("small", "kalteng"))
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "bundle"
        write_demo_bundle(bundle, seed=args.seed, scale=args.scale)
        none, tallies, _ = timed_import(bundle, f"sqlite:///{scratch}/none.db", ())
        every, _, spent = timed_import(bundle, f"sqlite:///{scratch}/all.db", DEFAULT_PLUGINS)
    print(f"demo {args.scale}: {tallies} tallies, SQLite")
    print(f"  no detectors          {none:8.2f} s  {tallies / none:9.0f} tallies/s  (baseline)")
    print(f"  built-ins {','.join(DEFAULT_PLUGINS):<12}{every:8.2f} s  {tallies / every:9.0f} tallies/s")
    print(f"  ratio (with / without) {every / none:7.2f}")
    print(f"  of which per-tally checks {spent['tally']:6.2f} s (x{spent['tally'] / none:.2f} of the bare import), "
          f"region checks {spent['region']:6.2f} s (x{spent['region'] / none:.2f})")


if __name__ == "__main__":
    main()
