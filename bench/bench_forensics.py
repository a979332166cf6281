"""Benchmark: Russian Duma 2011 (95k stations) -> bundle, then every forensic test.

Run ``python bench/bench_forensics.py``. Prints seconds per step and, for each test, a baseline
measured in the same run on the same arrays (the cheapest numpy pass that touches the same
data), so the ratio says what the statistics cost on top of reading the numbers.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pilkada_graph import forensics as F
from pilkada_graph.plugins import load_module

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PILKADA_SHARED", ROOT.parent / "shared"))
SOURCE = SHARED / "data" / "russia" / "russia_2011_duma_uik.csv.gz"
EXAMPLE = ROOT / "examples" / "russia_to_bundle.py"


def load_example() -> Any:
    return load_module(EXAMPLE, "russia_to_bundle")


def timed(func: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def baselines(a: F.ContestArrays) -> dict[str, Callable[[], Any]]:
    """One plain numpy pass per test over the arrays that test reads."""
    leader = a.votes[:, a.winner_index]
    turnout, share, ok = F.turnout_and_share(a)
    return {
        "second-digit": lambda: [np.bincount(col % 10, minlength=10) for col in a.votes.T],
        "last-digit": lambda: np.bincount(a.votes.ravel() % 10, minlength=10),
        "round-numbers": lambda: np.count_nonzero(a.votes % 5 == 0),
        "integer-percentages": lambda: (
            np.random.default_rng(0).binomial(a.registered, a.voters / np.maximum(a.registered, 1)),
            np.random.default_rng(1).binomial(a.ballots_cast, leader / np.maximum(a.ballots_cast, 1)),
        ),
        "fingerprint": lambda: np.histogram2d(turnout[ok], share[ok], bins=100, range=[[0, 1], [0, 1]]),
        "turnout-shape": lambda: (np.sort(turnout[ok]), np.sort(share[ok])),
    }


def main() -> int:
    module = load_example()
    with tempfile.TemporaryDirectory() as out:
        convert_s, counts = timed(lambda: module.convert(SOURCE, Path(out)))
    load_s, arrays = timed(lambda: module.load_contest_arrays(SOURCE))
    print(f"convert to bundle: {convert_s:6.2f} s  ({counts['stations']} stations, {counts['regions']} regions)")
    print(f"load ContestArrays: {load_s:5.2f} s\n")
    print(f"{'test':<22}{'seconds':>9}{'baseline s':>12}{'ratio':>9}  baseline")
    names = {"second-digit": "bincount of last digits per party", "last-digit": "bincount of last digits",
             "round-numbers": "count of multiples of 5", "integer-percentages": "ONE binomial draw of both counts",
             "fingerprint": "np.histogram2d alone", "turnout-shape": "sorting both arrays"}
    base = baselines(arrays)
    for test in F.TESTS:
        seconds, result = timed(lambda test=test: F.run(test, arrays))
        base_s, _ = timed(base[test], repeat=3)
        print(f"{test:<22}{seconds:9.3f}{base_s:12.4f}{seconds / base_s:9.0f}x  {names[test]}")
        print(f"    {result.summary}")
        if test == "integer-percentages":
            naive = result.n_sim * base_s
            print(f"    (a plain Monte Carlo of {result.n_sim} binomial draws would take ~{naive:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
