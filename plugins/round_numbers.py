"""Built-in detector: a district or village whose counts are too round to be real counts.

What it looks for
    Within the region the runner hands over, every district and every village is tested:

    * **last digits**: among its counts of at least ``min_count`` (candidates' votes, valid and
      invalid votes, voters), the share ending in 0 or 5 should be about 1 in 5; an exact
      one-sided binomial test asks whether it is higher;
    * **whole percentages**: the share of candidates' results that are whole percentages of the
      valid votes (within 0.05 points), against the chance each has given its station's size
      (computed exactly from the lattice of possible counts); a Poisson tail test.

    A unit is reported when its smaller p-value, multiplied by the number of tests in the region
    (two per district and village: Bonferroni), is below ``alpha`` (warning) or
    ``critical_alpha`` (critical). A village is not reported when its district already is.
Why
    People who invent numbers favour round ones; real counts end in any digit equally often.
    A whole district written up at the desk instead of counted shows as a heap of 0s and 5s.
Reference
    Beber & Scacco, "What the numbers say", Political Analysis 20(2), 2012; Kobak, Shpilkin &
    Pshenichnikov, Ann. Appl. Stat. 10(1), 2016 (integer percentages); tests of
    :mod:`pilkada_graph.forensics` give the same figures region-wide.
Settings
    ``min_count`` (10), ``alpha`` (0.01), ``critical_alpha`` (1e-6), ``min_counts`` (12): fewer
    counts than this are not tested.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from pilkada_graph.detect_types import DetectorInfo, DetectorSettings, Finding, RegionTallies, Severity
from pilkada_graph.forensics import is_integer_percentage
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.peerstats import fmt_p

NAME = "round-numbers"
SUGGESTION = ("Ask the PPK for the district's recap (D.Hasil) and compare several stations' form photos (C.Hasil) "
              "and the witnesses' copies with the entries; if the forms were written up rather than counted, "
              "recommend that Bawaslu consider a recount in the district.")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [DetectorInfo(
        NAME, "A district or village whose counts end in 0 or 5, or are whole percentages, far too often.",
        defaults={"min_count": 10, "min_counts": 12, "alpha": 0.01, "critical_alpha": 1e-6},
        reference="Beber & Scacco, Political Analysis 20(2), 2012; Kobak et al., Ann. Appl. Stat. 10(1), 2016",
        next_step=SUGGESTION, checks="region",
    )]


@hookimpl
def pilkada_check_region(tallies: RegionTallies, settings: DetectorSettings) -> list[Finding] | None:
    config = settings.of(NAME)
    if config is None:
        return None
    per_station = station_roundness(tallies, int(config["min_count"]))
    results = []
    for level, codes in (("district", tallies.district_codes), ("village", tallies.village_codes)):
        labels, units = np.unique(codes, return_inverse=True)
        totals = {key: np.bincount(units, weights=values, minlength=len(labels)) for key, values in per_station.items()}
        sums = unit_p_values({key: total.astype(np.float64, copy=False) for key, total in totals.items()})
        results += [(level, str(code), unit_result(sums, u, int(config["min_counts"])))
                    for u, code in enumerate(labels)]
    tests = 2 * sum(1 for *_, r in results if r is not None)
    flagged_districts: set[str] = set()
    findings = []
    for level, code, result in results:
        if result is None:
            continue
        p_adjusted = min(1.0, min(result["p_last_digit"], result["p_whole_percent"]) * tests)
        severity = severity_of(p_adjusted, config)
        if severity is None or (level == "village" and code.rsplit(".", 1)[0] in flagged_districts):
            continue
        if level == "district":
            flagged_districts.add(code)
        findings.append(finding(tallies.contest_code, level, code, result, p_adjusted, tests, severity))
    return findings


def severity_of(p: float, config: Mapping[str, Any]) -> Severity | None:
    if p < float(config["critical_alpha"]):
        return "critical"
    return "warning" if p < float(config["alpha"]) else None


def station_roundness(tallies: RegionTallies, min_count: int) -> dict[str, npt.NDArray[np.float64]]:
    """Per station: counts tested and ending in 0/5; results, whole percentages and their expectation."""
    counts = np.column_stack([tallies.votes, tallies.valid_votes, tallies.invalid_votes, tallies.voters])
    tested = np.isfinite(counts) & (np.nan_to_num(counts) >= min_count)
    rounded = tested & (np.nan_to_num(counts).astype(np.int64) % 5 == 0)
    votes = tallies.votes
    valid = np.nansum(votes, axis=1)
    complete = np.isfinite(votes).all(axis=1) & (valid >= 20)
    safe_valid = np.where(complete, valid, 1).astype(np.int64)
    whole = is_integer_percentage(np.nan_to_num(votes).astype(np.int64), safe_valid[:, None])
    chance = np.array([whole_percent_chance(int(n)) for n in safe_valid])
    k = votes.shape[1]
    return {
        "counts": tested.sum(axis=1).astype(np.float64),
        "rounded": rounded.sum(axis=1).astype(np.float64),
        "shares": np.where(complete, k, 0).astype(np.float64),
        "whole": np.where(complete, whole.sum(axis=1), 0).astype(np.float64),
        "expected": np.where(complete, chance * k, 0.0),
        "stations": np.ones(len(valid)),
    }


@functools.lru_cache(maxsize=4096)
def whole_percent_chance(n: int) -> float:
    """The share of counts 0..n that are whole percentages of n: the chance of a count near anywhere."""
    return float(np.mean(is_integer_percentage(np.arange(n + 1), np.full(n + 1, n))))


def unit_p_values(sums: dict[str, npt.NDArray[np.float64]]) -> dict[str, npt.NDArray[np.float64]]:
    """Both tests' p-values for every unit at once (one scipy call each, not one per village)."""
    expected = sums["expected"]
    with np.errstate(invalid="ignore", divide="ignore"):
        p_whole = np.where(expected > 0, stats.poisson.sf(sums["whole"] - 1, np.where(expected > 0, expected, 1.0)),
                           1.0)
    return {**sums, "p_last_digit": stats.binom.sf(sums["rounded"] - 1, sums["counts"], 0.2),
            "p_whole_percent": p_whole}


def unit_result(sums: Mapping[str, npt.NDArray[np.float64]], u: int, min_counts: int) -> dict[str, Any] | None:
    """Both tests on one district or village, or None when it has too few counts to judge."""
    counts, rounded = int(sums["counts"][u]), int(sums["rounded"][u])
    if counts < min_counts:
        return None
    whole, expected, shares = int(sums["whole"][u]), float(sums["expected"][u]), int(sums["shares"][u])
    return {"stations": int(sums["stations"][u]), "counts": counts, "ending_0_or_5": rounded,
            "share_0_or_5": rounded / counts, "p_last_digit": float(sums["p_last_digit"][u]),
            "shares": shares, "whole_percentages": whole, "expected_whole_percentages": expected,
            "p_whole_percent": float(sums["p_whole_percent"][u])}


def finding(contest: str, level: str, code: str, result: Mapping[str, Any], p: float, tests: int,
            severity: Severity) -> Finding:
    return Finding(
        detector=NAME, subject=code, contest=contest, severity=severity,
        message=(f"{level} {code}: {result['ending_0_or_5']} of {result['counts']} counts end in 0 or 5 "
                 f"({100 * result['share_0_or_5']:.0f}%, about 20% in real counts); "
                 f"{result['whole_percentages']} of {result['shares']} results are whole percentages "
                 f"(about {result['expected_whole_percentages']:.1f} expected); {fmt_p(p)} after {tests} tests"),
        evidence={**result, "level": level, "p_adjusted": p, "tests": tests},
        suggestion=SUGGESTION, score=-math.log10(max(p, 1e-300)),
    )
