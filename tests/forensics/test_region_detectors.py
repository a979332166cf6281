"""The forensic region detectors (plugins/forensics.py): what they raise, on what, with which severity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from pilkada_graph.detect_types import DetectorSettings, Finding
from pilkada_graph.forensics import ContestArrays
from tests.forensics.helpers import demo_arrays, fabricate_turnout, forensics_plugin, region_input

P = forensics_plugin()
FABRICATED = "62.09"


def default_settings(**overrides: Mapping[str, Any]) -> DetectorSettings:
    """The settings in force with no config file (enabled detectors only), with ``overrides`` merged in."""
    values = {d.name: {**d.defaults, **overrides.get(d.name, {})} for d in P.DETECTORS
              if d.enabled or d.name in overrides}
    return DetectorSettings(values)


def check(arrays: ContestArrays, region: str, settings: DetectorSettings) -> Sequence[Finding]:
    summary, contest, tallies = region_input(arrays, region)
    return P.pilkada_check_region(region=summary, contest=contest, tallies=tallies, settings=settings) or []


def test_holm_adjusts_p_values_step_down() -> None:
    assert P.holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert P.holm_adjusted([]) == []


def test_fabricated_turnout_in_one_regency_raises_integer_percentages_on_it_alone() -> None:
    arrays = fabricate_turnout(demo_arrays(3), FABRICATED)
    findings = check(arrays, "62", default_settings())
    flagged = {(f.detector, f.subject) for f in findings}
    assert ("forensics-integer-percentages", FABRICATED) in flagged
    assert not any(f.subject == "62.08" for f in findings)
    finding = next(f for f in findings if f.subject == FABRICATED and f.detector == "forensics-integer-percentages")
    assert finding.severity == "critical"
    assert finding.evidence["correction"] == "holm"
    assert finding.evidence["p_adjusted"] <= 1e-6
    assert finding.evidence["result"]["excess"] > 50
    assert finding.evidence["stations_to_check"][0].startswith(FABRICATED + ".")
    assert "Bawaslu" in (finding.suggestion or "")


@pytest.mark.parametrize("seed", range(12))
def test_honest_demo_elections_raise_nothing(seed: int) -> None:
    assert check(demo_arrays(seed), "62", default_settings()) == []


def test_second_digit_is_off_by_default_and_never_more_than_info() -> None:
    assert "forensics-second-digit" not in default_settings()
    honest = demo_arrays(5)
    fixed = honest.votes.copy()
    fixed[:, 0] = np.where(fixed[:, 0] >= 10, fixed[:, 0] // 10 * 10 + 9, fixed[:, 0])  # 2-digit: 2nd digit 9
    forged = ContestArrays(honest.registered, honest.voters, honest.valid, honest.invalid, fixed,
                           honest.candidate_names, honest.station_codes)
    settings = DetectorSettings({"forensics-second-digit": P.BY_NAME["forensics-second-digit"].defaults})
    findings = check(forged, "62", settings)
    assert findings, "second digits all 9 must be seen"
    assert {f.severity for f in findings} == {"info"}


def test_regions_with_too_few_stations_are_not_tested() -> None:
    arrays = fabricate_turnout(demo_arrays(3), FABRICATED)
    settings = default_settings(**{"forensics-integer-percentages": {"min_stations": 10_000}})
    assert not [f for f in check(arrays, "62", settings) if f.detector == "forensics-integer-percentages"]
