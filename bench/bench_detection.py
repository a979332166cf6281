"""Detection benchmark: do the built-in detectors find injected anomalies, with few false alarms?

``python bench/bench_detection.py`` generates elections with the demo generator, injects each
kind of anomaly of :mod:`pilkada_graph.anomalies` into about 1% of the station-contest pairs,
imports each through the real path (``Desk.open`` + ``import_bundle``, which runs the
detection runner, per-tally and region hooks), reads the issues back from the database and
prints, per kind, the recall; over all station-level warning/critical issues, the precision;
and beside them a plain IsolationForest given as many flags. It also prints the import time
with all detectors on against the same import with none, and a full re-detection
(``DetectionRunner.detect_all``) against the import.

Runs (``--runs`` picks some): ``kalteng`` (the default demo, seed 2024), ``volatile`` (another
seed, higher turnout and preference variance, other turnout and invalid levels) and
``national`` (a synthetic country of 6,000 stations: contests of 1 to 6 pairs, other sizes) and
``citylike`` (bigger stations, lower turnout, a more even field: parameters nobody tuned on).
Times are split into per-tally checks and region checks, beside the bare import of the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pilkada_graph.anomalies import KINDS, TamperedElection, inject, write_tampered_bundle
from pilkada_graph.config import Settings
from pilkada_graph.demo import DemoElection, DemoParameters, EffectSigmas, generate
from pilkada_graph.detection_score import Score, baseline_flags, load_issue_rows, score_issues
from pilkada_graph.service import Desk

VOLATILE = DemoParameters(
    turnout=0.78,
    turnout_sigmas=EffectSigmas(regency=0.25, district=0.25, village=0.3, station=0.2),
    invalid_share=0.03,
    invalid_sigmas=EffectSigmas(regency=0.2, district=0.2, village=0.3, station=0.35),
    preference_sigmas=EffectSigmas(regency=0.4, district=0.35, village=0.45, station=0.2),
    revision_share=0.03,
)


@dataclass(frozen=True)
class Run:
    name: str
    make: Callable[[], DemoElection]
    seed: int


#: Not tuned on: big stations, low and even turnout, a fragmented field with weak local loyalties.
CITYLIKE = DemoParameters(
    mean_registered=520.0,
    max_registered=800,
    turnout=0.58,
    turnout_sigmas=EffectSigmas(regency=0.1, district=0.2, village=0.15, station=0.15),
    invalid_share=0.06,
    preference_sigmas=EffectSigmas(regency=0.2, district=0.3, village=0.2, station=0.15),
    candidate_strength_sigma=0.3,
    revision_share=0.02,
)

RUNS = {
    "kalteng": Run("kalteng", lambda: generate(2024, "kalteng"), 2024),
    "volatile": Run("volatile", lambda: generate(77, "kalteng", parameters=VOLATILE), 77),
    "national": Run("national", lambda: generate(5, "national", stations=6000), 5),
    "citylike": Run("citylike", lambda: generate(311, "kalteng", parameters=CITYLIKE), 311),
}
TARGETS = {"overall recall": 0.9, "recall per kind": 0.75, "precision": 0.9}


@dataclass
class Measured:
    score: Score
    baseline: Score
    import_with: float
    import_without: float
    detect_all: float
    tallies: int
    #: Seconds of the import with detectors spent in per-tally and in region checks.
    import_tally: float = 0.0
    import_region: float = 0.0
    #: The same for the full re-detection.
    detect_tally: float = 0.0
    detect_region: float = 0.0


def import_seconds(bundle: Path, database: Path, *, with_detection: bool) -> tuple[float, Desk]:
    settings = Settings(database_url=f"sqlite:///{database}", detection={"debounce": 0})
    desk = Desk.open(settings, with_detection=with_detection)
    started = time.perf_counter()
    report = desk.import_bundle(bundle)
    seconds = time.perf_counter() - started
    if not report.committed:
        raise SystemExit(f"import of {bundle} failed: {report}")
    return seconds, desk


def measure(tampered: TamperedElection, folder: Path) -> Measured:
    bundle = folder / "bundle"
    write_tampered_bundle(tampered, bundle)
    without, bare = import_seconds(bundle, folder / "bare.db", with_detection=False)
    bare.engine.dispose()
    with_detection, desk = import_seconds(bundle, folder / "desk.db", with_detection=True)
    runner = desk.detection
    at_import = dict(runner.seconds)  # type: ignore[attr-defined]
    score = score_issues(tampered, load_issue_rows(desk.engine))
    started = time.perf_counter()
    runner.detect_all()  # type: ignore[attr-defined]
    detect_all = time.perf_counter() - started
    desk.engine.dispose()
    flags = baseline_flags(tampered, score.flagged_pairs)
    baseline = score_issues(tampered, [row for row, _ in flags])
    total = runner.seconds  # type: ignore[attr-defined]
    return Measured(score, baseline, with_detection, without, detect_all, len(tampered.tallies),
                    at_import["tally"], at_import["region"], total["tally"] - at_import["tally"],
                    total["region"] - at_import["region"])


def print_run(name: str, m: Measured) -> list[str]:
    """Print one run's table; return the targets it misses."""
    s, b = m.score, m.baseline
    print(f"\n## {name}: {m.tallies} forms; {s.station_issues} station-level warning/critical issues "
          f"on {s.flagged_pairs} station-contest pairs")
    print(f"{'kind':22} {'injected':>8} {'recall':>7} {'baseline':>9}")
    for kind in KINDS:
        print(f"{kind:22} {s.injected[kind]:8d} {s.recall(kind):7.2f} {b.recall(kind):9.2f}")
    print(f"{'all':22} {sum(s.injected.values()):8d} {s.recall():7.2f} {b.recall():9.2f}")
    print(f"precision (station-level warning/critical): {s.precision:.3f}   baseline at the same "
          f"{s.flagged_pairs} flags: {b.precision:.3f}")
    print("issues by detector (false alarms): " + ", ".join(
        f"{d} {n} ({s.false_by_detector[d]})" for d, n in s.by_detector.most_common()))
    print(f"import with detectors {m.import_with:.2f} s, without {m.import_without:.2f} s (baseline) "
          f"(x{m.import_with / m.import_without:.2f}); of it per-tally checks {m.import_tally:.2f} s "
          f"(x{m.import_tally / m.import_without:.2f} of the bare import), region checks {m.import_region:.2f} s")
    print(f"full re-detection {m.detect_all:.2f} s (x{m.detect_all / m.import_without:.2f} of the bare import): "
          f"per-tally {m.detect_tally:.2f} s, region {m.detect_region:.2f} s")
    if s.missed:
        sample = ", ".join(f"{a.kind} {a.station_code or a.region_code} {a.contest_code}" for a in s.missed[:6])
        print(f"missed (first {min(6, len(s.missed))} of {len(s.missed)}): {sample}")
    misses = []
    if s.recall() < TARGETS["overall recall"]:
        misses.append(f"{name}: overall recall {s.recall():.2f}")
    misses += [f"{name}: recall of {k} {s.recall(k):.2f}" for k in KINDS
               if s.injected[k] and s.recall(k) < TARGETS["recall per kind"]]
    if s.precision < TARGETS["precision"]:
        misses.append(f"{name}: precision {s.precision:.3f}")
    return misses


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--rate", type=float, default=0.01, help="share of pairs per kind (default 0.01)")
    args = parser.parse_args(argv)
    misses: list[str] = []
    for name in args.runs:
        run = RUNS[name]
        election = run.make()
        tampered = inject(election, rate=args.rate, seed=run.seed)
        with tempfile.TemporaryDirectory(prefix=f"bench-detection-{name}-") as folder:
            misses += print_run(name, measure(tampered, Path(folder)))
    print("\ntargets: overall recall >= 0.9, every kind >= 0.75, precision >= 0.9: "
          + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
