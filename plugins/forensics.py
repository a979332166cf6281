"""Built-in region detectors: the election-forensics tests of :mod:`pilkada_graph.forensics`, per region.

When the runner checks a region for a contest (``pilkada_check_region``), this plugin runs each
enabled test on the region and on each of its child regions (a regency's districts, a
province's regencies) that has enough complete forms, and raises an issue on every region
whose test stays significant after correcting for everything examined in that pass.

**Multiple testing: Holm.** One pass examines up to (1 + children) x tests hypotheses, about
the same stations over and over (a district's stations are also its regency's, and the digit
tests read the same counts). Holm's step-down procedure controls the family-wise error rate at
``alpha`` under *any* dependence between the tests; Benjamini-Hochberg controls the false
discovery rate only under positive dependence (or needs the Benjamini-Yekutieli penalty
otherwise), and its promise, a proportion of false flags among many, is not what a desk needs
from a flag that sends people to ask for forms and may end in a Bawaslu audit: on an honest
count, the chance that a pass raises anything at all is at most ``alpha``. Each region check is
its own family (the runner calls the hook region by region and again as more stations report),
so with K regions checked the chance of a false flag somewhere is at most K x ``alpha``; the
default ``alpha`` of 0.01 keeps that small for a province of a dozen regencies.

**Which tests warn.** ``integer-percentages`` (Kobak et al.; one-sided: an *excess* of integer
turnout or leader's result), ``last-digit`` (all counts of >= ``min_count`` votes pooled),
``round-numbers`` (one-sided: an excess of counts or of percentages ending in 0 or 5) and
``fingerprint`` (Klimek et al.; skipped when the cloud's mode is itself in the high/high corner,
where the mirror says nothing). ``round-numbers`` is off by default only because the built-in ``round-numbers`` detector
(``plugins/round_numbers.py``) already tests every district and village for the same heaps of
0s and 5s; switch it on for the region-wide figure. ``second-digit`` is **off by default and never more than info**:
2BL's mean is miscalibrated on counts from stations of similar size (docs/forensics.md, about
12% false alarms at 5% on honest synthetic elections), so it must not send anyone to Bawaslu.
Both digit tests read only counts of at least ``min_count`` = 100 votes: a small party's counts
just above 10 end in 0 more often than in 9 (10 votes is commoner than 19), and on honest demo
elections the one-sided round-number test flagged 9.5% at 5% with 10 as the floor, 4.7% with 100.
``turnout-shape`` is off by default and info at most too: a second mode of turnout is also what
an honest mix of towns and villages looks like.

Severity: ``warning`` when the Holm-adjusted p-value is at most ``alpha``, ``critical`` when it
is at most ``critical_p`` as well (evidence of the strength of Russia 2011/2012 nationwide).
The evidence is the test's own figures plus the raw and adjusted p-values and the family size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from pilkada_graph import forensics as F
from pilkada_graph.arrays import from_region_tallies
from pilkada_graph.detect_types import (
    ContestView,
    DetectorInfo,
    DetectorSettings,
    Finding,
    RegionSummary,
    RegionTallies,
    Severity,
)
from pilkada_graph.hookspecs import hookimpl

__version__ = "1.0"

REFERENCE = "docs/forensics.md"
ASK_FORMS = ("Ask the KPU for the C.Hasil forms (photos) of this region's stations and compare them with the "
             "witnesses' copies and with Sirekap; ")
AUDIT = "if they differ, or the pattern stays, recommend that Bawaslu audit the region's count."


@dataclass(frozen=True)
class ForensicDetector:
    """One test as a region detector: its detector name, its defaults and how its result becomes a p-value."""

    name: str
    test: str
    description: str
    defaults: Mapping[str, Any]
    p_value: Callable[[Any], float | None]
    options: Callable[[Mapping[str, Any]], dict[str, Any]]
    suggestion: str
    #: The stations a reviewer should look at first (their codes go into the evidence), if any.
    stations_to_check: Callable[[F.ContestArrays, Any], list[str]] | None = None
    enabled: bool = True
    max_severity: Severity = "critical"

    def info(self) -> DetectorInfo:
        return DetectorInfo(self.name, self.description, dict(self.defaults), REFERENCE, self.suggestion,
                            self.enabled, "region")


# --------------------------------------------------------------------------- p-values the detectors use


def integer_percentages_p(result: F.IntegerPercentagesResult) -> float:
    """One-sided p of the excess from the simulated mean and sd (normal, continuity-corrected).

    The Monte Carlo p-value cannot go below 1/(n_sim + 1), which Holm's smallest threshold
    (alpha / family size) often is; the count is a sum of thousands of Bernoullis, so its
    normal tail is accurate where the simulation runs out.
    """
    if result.sim_std <= 0:
        return 1.0
    return float(stats.norm.sf((result.observed - 0.5 - result.expected) / result.sim_std))


def last_digit_p(result: F.DigitTable) -> float:
    """The chi-square of all candidates' counts pooled (Beber & Scacco pool them)."""
    return float(result.results[-1].p_value)


def round_numbers_p(result: F.RoundNumbersResult) -> float:
    """One-sided: too many counts or percentages ending in 0 or 5 (Bonferroni over the two)."""
    p_counts = 1.0
    if result.n_counts:
        rounded = round(result.c05_share * result.n_counts)
        p_counts = float(stats.binomtest(rounded, result.n_counts, 0.2, alternative="greater").pvalue)
    p_percent = float(stats.norm.sf(result.p05_z)) if math.isfinite(result.p05_z) else 1.0
    return min(1.0, 2 * min(p_counts, p_percent))


def fingerprint_p(result: F.FingerprintResult) -> float | None:
    """The corner-vs-mirror p, or None when the mode lies in the corner (no fair mirror there)."""
    if result.mode_turnout > result.corner and result.mode_share > result.corner:
        return None
    return float(result.p_value)


def second_digit_p(result: F.DigitTable) -> float:
    """The smallest chi-square p over the candidates, Bonferroni-corrected for their number."""
    return min(1.0, result.min_p * len(result.results)) if math.isfinite(result.min_p) else 1.0


def turnout_shape_p(result: F.TurnoutShapeResult) -> float:
    """The smaller dip-test p of turnout and winner's share, Bonferroni-corrected for the two."""
    return min(1.0, 2 * result.p_value) if math.isfinite(result.p_value) else 1.0


def integer_stations(arrays: F.ContestArrays, result: F.IntegerPercentagesResult) -> list[str]:
    """Stations (of those the test keeps) whose turnout or leader's result is a whole percentage."""
    leader = arrays.votes[:, arrays.winner_index]
    keep = F.integer_percentages_mask(arrays.voters, arrays.registered, leader, arrays.ballots_cast)
    registered, cast = np.maximum(arrays.registered, 1), np.maximum(arrays.ballots_cast, 1)
    hit = keep & (F.is_integer_percentage(arrays.voters, registered, result.tolerance)
                  | F.is_integer_percentage(leader, cast, result.tolerance))
    return [arrays.station_codes[i] for i in np.flatnonzero(hit)]


def corner_stations(arrays: F.ContestArrays, result: F.FingerprintResult) -> list[str]:
    """Stations with both turnout and the winner's share above the fingerprint's corner."""
    turnout, share, ok = F.turnout_and_share(arrays)
    hit = ok & (turnout > result.corner) & (share > result.corner)
    return [arrays.station_codes[i] for i in np.flatnonzero(hit)]


def _no_options(config: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _min_count(config: Mapping[str, Any]) -> dict[str, Any]:
    return {"min_count": int(config["min_count"])}


#: At most this many station codes go into a finding's evidence.
MAX_LISTED = 50
COMMON = {"alpha": 0.01, "critical_p": 1e-6, "sub_regions": True}

DETECTORS: tuple[ForensicDetector, ...] = (
    ForensicDetector(
        "forensics-integer-percentages", "integer-percentages",
        "more stations with a whole-number turnout or leader's result than binomial chance allows "
        "(Kobak, Shpilkin & Pshenichnikov 2016): the mark of results written down rather than counted",
        {**COMMON, "min_stations": 100, "n_sim": 1000},
        integer_percentages_p, lambda c: {"n_sim": int(c["n_sim"])},
        ASK_FORMS + "start with the stations listed in the evidence, whose turnout or leader's result is a whole "
        "percentage; " + AUDIT, integer_stations),
    ForensicDetector(
        "forensics-last-digit", "last-digit",
        "the last digits of the vote counts are not uniform (Beber & Scacco 2012): invented numbers favour "
        "some digits",
        {**COMMON, "min_stations": 50, "min_count": 100},
        last_digit_p, _min_count, ASK_FORMS + AUDIT),
    ForensicDetector(
        "forensics-round-numbers", "round-numbers",
        "too many counts, or percentages, ending in 0 or 5 (Beber & Scacco 2012; Kobak et al. 2016)",
        {**COMMON, "min_stations": 50, "min_count": 100},
        round_numbers_p, _min_count, ASK_FORMS + AUDIT, enabled=False),
    ForensicDetector(
        "forensics-fingerprint", "fingerprint",
        "stations with both turnout and the winner's share above 80% far beyond what the rest of the cloud "
        "predicts (Klimek et al. 2012): the smear that ballot stuffing leaves",
        {**COMMON, "min_stations": 100},
        fingerprint_p, _no_options,
        ASK_FORMS + "start with the stations in the high-turnout, high-share corner and compare their ballots "
        "received, used and unused; " + AUDIT, corner_stations),
    ForensicDetector(
        "forensics-second-digit", "second-digit",
        "second digits far from Benford's law (Mebane's 2BL); informative only: honest counts from stations of "
        "similar size depart from it too",
        {**COMMON, "min_stations": 50, "n_boot": 200},
        second_digit_p, lambda c: {"n_boot": int(c["n_boot"])},
        "Compare with other regions and earlier elections before acting; on its own this is no reason to ask "
        "for forms.", enabled=False, max_severity="info"),
    ForensicDetector(
        "forensics-turnout-shape", "turnout-shape",
        "turnout or the winner's share has more than one mode (Hartigan's dip test); informative only: towns "
        "and villages mixed give two modes honestly",
        {**COMMON, "min_stations": 100},
        turnout_shape_p, _no_options,
        "Look at which stations form the second mode and whether they share an area or an official.",
        enabled=False, max_severity="info"),
)
BY_NAME = {d.name: d for d in DETECTORS}


@hookimpl
def pilkada_detectors() -> Sequence[DetectorInfo]:
    return [d.info() for d in DETECTORS]


# --------------------------------------------------------------------------- one pass over a region


@dataclass(frozen=True)
class Examined:
    """One hypothesis of the pass: a test on one region, with its raw p-value."""

    detector: ForensicDetector
    region: str
    arrays: F.ContestArrays
    result: Any
    p_value: float

    @property
    def stations(self) -> int:
        return len(self.arrays.station_codes)


@hookimpl
def pilkada_check_region(region: RegionSummary, contest: ContestView, tallies: RegionTallies,
                         settings: DetectorSettings) -> Sequence[Finding] | None:
    enabled = [d for d in DETECTORS if d.name in settings]
    if not enabled:
        return None
    arrays = from_region_tallies(tallies, contest.candidates)
    examined = examine(arrays, region.code, enabled, settings)
    return findings_of(examined, contest.code, settings)


def examine(arrays: F.ContestArrays, region_code: str, detectors: Sequence[ForensicDetector],
            settings: Mapping[str, Mapping[str, Any]]) -> list[Examined]:
    """Run each detector's test on the region and on its children with enough stations."""
    groups = regions_of(arrays, region_code)
    examined = []
    for detector in detectors:
        config = settings[detector.name]
        for code, mask in groups.items():
            if code != region_code and not config["sub_regions"]:
                continue
            if int(mask.sum()) < int(config["min_stations"]):
                continue
            subset = arrays if code == region_code else arrays.subset(mask)
            result = F.run(detector.test, subset, **detector.options(config))
            p = detector.p_value(result)
            if p is not None and math.isfinite(p):
                examined.append(Examined(detector, code, subset, result, p))
    return examined


def regions_of(arrays: F.ContestArrays, region_code: str) -> dict[str, np.ndarray]:
    """The region and each child region (one level down, from the station codes) -> station mask."""
    codes = np.array(arrays.station_codes, dtype=np.str_)
    groups = {region_code: np.ones(codes.size, dtype=bool)}
    depth = region_code.count(".") + 1
    if depth >= 4 or codes.size == 0:  # a village's children are its stations
        return groups
    children = np.array([".".join(c.split(".")[: depth + 1]) for c in arrays.station_codes])
    for child in np.unique(children):
        groups[str(child)] = children == child
    return groups


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: reject where adjusted <= alpha (FWER <= alpha, any dependence)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def findings_of(examined: Sequence[Examined], contest_code: str,
                settings: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
    adjusted = holm_adjusted([e.p_value for e in examined])
    findings = []
    for item, p_adjusted in zip(examined, adjusted, strict=True):
        config = settings[item.detector.name]
        if p_adjusted <= float(config["alpha"]):
            findings.append(finding(item, p_adjusted, len(examined), contest_code, config))
    return findings


def severity_of(detector: ForensicDetector, p_adjusted: float, config: Mapping[str, Any]) -> Severity:
    strength: Severity = "critical" if p_adjusted <= float(config["critical_p"]) else "warning"
    rank = {"info": 0, "warning": 1, "critical": 2}
    return strength if rank[strength] <= rank[detector.max_severity] else detector.max_severity


def finding(item: Examined, p_adjusted: float, family: int, contest_code: str,
            config: Mapping[str, Any]) -> Finding:
    detector = item.detector
    evidence = {
        "test": detector.test, "region": item.region, "stations": item.stations, "p_value": item.p_value,
        "p_adjusted": p_adjusted, "correction": "holm", "family_size": family, "alpha": float(config["alpha"]),
        "result": item.result.to_dict(),
    }
    if detector.stations_to_check is not None:
        codes = detector.stations_to_check(item.arrays, item.result)
        evidence["stations_to_check"] = codes[:MAX_LISTED]
        evidence["stations_to_check_total"] = len(codes)
    return Finding(
        detector.name, item.region, contest_code, severity_of(detector, p_adjusted, config),
        f"{detector.test} in {item.region} ({item.stations} stations): {item.result.summary}; "
        f"Holm-adjusted p={p_adjusted:.2g} over {family} test(s) of this pass",
        evidence, detector.suggestion, score=-math.log10(max(p_adjusted, 1e-300)),
    )
