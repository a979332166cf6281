"""On honest demo elections the detectors' tests are significant no more often than their level says."""

from __future__ import annotations

from functools import cache

import pytest
from scipy import stats

from tests.forensics.helpers import demo_arrays, forensics_plugin

P = forensics_plugin()
SEEDS = range(1000, 1050)
ALPHA = 0.05
#: The tests that may raise warnings (second-digit and turnout-shape are info at most).
WARNING_TESTS = ("forensics-integer-percentages", "forensics-last-digit", "forensics-round-numbers",
                 "forensics-fingerprint")


@cache
def p_values(name: str) -> list[float]:
    """The p-value the detector uses, on each seed's governor's election (279 stations)."""
    detector = P.BY_NAME[name]
    options = detector.options({**detector.defaults, "n_sim": 200})
    found = []
    for seed in SEEDS:
        p = detector.p_value(P.F.run(detector.test, demo_arrays(seed), **options))
        found.append(1.0 if p is None else p)
    return found


@pytest.mark.parametrize("name", WARNING_TESTS)
def test_honest_demo_elections_are_flagged_at_most_as_often_as_alpha(name: str) -> None:
    flagged = sum(p <= ALPHA for p in p_values(name))
    # With a true rate of 5% over 50 elections, more than this happens with probability 0.001.
    tolerance = int(stats.binom.ppf(0.999, len(SEEDS), ALPHA))
    assert flagged <= tolerance, f"{name}: {flagged} of {len(SEEDS)} honest elections flagged at {ALPHA}"
