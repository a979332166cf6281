"""Built-in detector: identical or near-identical counts at stations of one village or district.

What it looks for
    Two stations of the same village (or district) whose candidates' votes and invalid votes are
    the same, or differ by at most ``tolerance`` each, when the chance that honest counts
    coincide that closely is small.
How
    Each count of an honest station is, to a good approximation, an independent binomial draw
    from the station's registered voters (the multinomial split of voters into candidates,
    invalid and abstaining, with many abstaining). Two stations' counts therefore differ by a
    normal-like amount whose variance is their binomial variances *times* a dispersion factor
    ``phi >= 1`` measured from the region's own same-village pairs (real neighbours differ by
    more than counting noise). The chance of a pair matching within the tolerance is the product
    over counts; it is multiplied by the number of pairs tested (Bonferroni, split between the
    village pairs and the district pairs), so a 40-voter station with two candidates, whose
    counts collide by chance, is not reported, while a 400-voter station's copy is.
Why
    Copying another station's form (or one form onto several) is how results are invented
    without a count; at real station sizes honest forms almost never coincide.
Reference
    Beber & Scacco, Political Analysis 20(2), 2012 (fabricated numbers); the pairwise-collision
    ("birthday") bound.
Settings
    ``tolerance`` (1), ``alpha`` (0.01), ``critical_alpha`` (1e-6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from pilkada_graph.detect_types import DetectorInfo, DetectorSettings, Finding, RegionTallies, Severity
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.peerstats import fmt_p, robust_sd

NAME = "copied-forms"
SUGGESTION = ("Compare both stations' form photos (C.Hasil) and the witnesses' copies; if the figures were "
              "copied rather than counted, recommend that Bawaslu consider a recount or a re-vote (PSU).")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [DetectorInfo(
        NAME, "Identical or near-identical counts at stations of one village or district, unlikely by chance.",
        defaults={"tolerance": 1, "alpha": 0.01, "critical_alpha": 1e-6},
        reference="Beber & Scacco, Political Analysis 20(2), 2012", next_step=SUGGESTION, checks="region",
    )]


@dataclass(frozen=True)
class Pair:
    first: int
    second: int
    same_village: bool
    chance: float  # probability that this honest pair matches this closely


@hookimpl
def pilkada_check_region(tallies: RegionTallies, settings: DetectorSettings) -> list[Finding] | None:
    config = settings.of(NAME)
    if config is None:
        return None
    counts = np.column_stack([tallies.votes, tallies.invalid_votes])
    usable = np.isfinite(counts).all(axis=1) & np.isfinite(tallies.registered) & (tallies.registered > 0)
    usable &= np.nansum(tallies.votes, axis=1) > 0
    rows = np.flatnonzero(usable)
    if rows.size < 2:
        return []
    tolerance = int(config.get("tolerance", 1))
    pairs, tested = close_pairs(counts[rows], tallies.registered[rows], tallies.village_codes[rows],
                                tallies.district_codes[rows], tolerance)
    findings: list[Finding] = []
    for pair in pairs:
        family = tested["village"] if pair.same_village else tested["district"]
        p_adjusted = min(1.0, pair.chance * family * 2)  # alpha split between the two families
        severity = severity_of(p_adjusted, config)
        if severity is not None:
            i, j = int(rows[pair.first]), int(rows[pair.second])
            findings += [finding(tallies, a, b, pair, p_adjusted, severity) for a, b in ((i, j), (j, i))]
    return findings


def severity_of(p: float, config: Mapping[str, Any]) -> Severity | None:
    if p < float(config["critical_alpha"]):
        return "critical"
    return "warning" if p < float(config["alpha"]) else None


def close_pairs(counts: npt.NDArray[np.float64], registered: npt.NDArray[np.float64], villages: npt.NDArray[Any],
                districts: npt.NDArray[Any], tolerance: int) -> tuple[list[Pair], dict[str, int]]:
    """Pairs of one district whose counts all differ by at most ``tolerance``, with their chance."""
    rates = counts / registered[:, None]
    binomial = registered[:, None] * rates * (1 - rates)
    phi = dispersion(counts, registered, binomial, villages)
    found: list[Pair] = []
    tested = {"village": 0, "district": 0}
    for district in np.unique(districts):
        members = np.flatnonzero(districts == district)
        m = members.size
        same = villages[members][:, None] == villages[members][None, :]
        upper = np.triu(np.ones((m, m), dtype=bool), 1)
        tested["village"] += int(np.count_nonzero(same & upper))
        tested["district"] += int(np.count_nonzero(~same & upper))
        gap = np.abs(counts[members][:, None, :] - counts[members][None, :, :]).max(axis=2)
        for a, b in zip(*np.nonzero((gap <= tolerance) & upper), strict=True):
            i, j = int(members[a]), int(members[b])
            chance = match_chance(counts[i], counts[j], registered[i], registered[j],
                                  phi * (binomial[i] + binomial[j]), int(gap[a, b]))
            found.append(Pair(i, j, bool(same[a, b]), chance))
    return found, tested


def dispersion(counts: npt.NDArray[np.float64], registered: npt.NDArray[np.float64],
               binomial: npt.NDArray[np.float64], villages: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Per count, how much wider than binomial noise neighbours' differences are (>= 1).

    From consecutive stations of the same village: (difference scaled to equal size)² over the
    sum of their binomial variances, robustly (the MAD ignores the few copies themselves).
    """
    same = villages[1:] == villages[:-1]
    if np.count_nonzero(same) < 10:
        return np.ones(counts.shape[1])
    scale = registered[1:, None] / registered[:-1, None]
    difference = counts[1:] - counts[:-1] * scale
    noise = np.sqrt(np.maximum(binomial[1:] + binomial[:-1] * scale**2, 0.0) + 0.25)
    with np.errstate(invalid="ignore"):
        ratio = (difference / noise)[same]
    return np.array([max(1.0, robust_sd(ratio[:, k]) ** 2) for k in range(counts.shape[1])])


def match_chance(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], registered_a: float,
                 registered_b: float, variance: npt.NDArray[np.float64], gap: int) -> float:
    """P(every count of two honest stations differs by at most ``gap``, as these do), counts independent.

    Each difference is normal with mean (registered_a - registered_b) x pooled rate and the given
    variance, with a continuity correction; a lower bound on the variance of 1/4 keeps counts
    that are zero at both stations from claiming certainty either way.
    """
    rate = (a + b) / (registered_a + registered_b)
    mean = (registered_a - registered_b) * rate
    sd = np.sqrt(np.maximum(variance, 0.25))
    width = gap + 0.5
    probability = special.ndtr((width - mean) / sd) - special.ndtr((-width - mean) / sd)
    return float(np.prod(np.clip(probability, 1e-300, 1.0)))


def finding(tallies: RegionTallies, i: int, j: int, pair: Pair, p: float, severity: Severity) -> Finding:
    mine, theirs = tallies.votes[i], tallies.votes[j]
    same = "the same" if np.array_equal(mine, theirs) and tallies.invalid_votes[i] == tallies.invalid_votes[j] \
        else "nearly the same"
    where = "village" if pair.same_village else "district"
    return Finding(
        detector=NAME, subject=str(tallies.station_codes[i]), contest=tallies.contest_code, severity=severity,
        message=(f"{same} counts as station {tallies.station_codes[j]} of the same {where} "
                 f"(votes {_ints(mine)}, invalid {_int(tallies.invalid_votes[i])} against {_ints(theirs)}, "
                 f"{_int(tallies.invalid_votes[j])}); chance {fmt_p(pair.chance)}, {fmt_p(p)} after all pairs"),
        evidence={"other_station": str(tallies.station_codes[j]), "votes": _ints(mine), "other_votes": _ints(theirs),
                  "invalid": _int(tallies.invalid_votes[i]), "other_invalid": _int(tallies.invalid_votes[j]),
                  "registered": _int(tallies.registered[i]), "other_registered": _int(tallies.registered[j]),
                  "chance": pair.chance, "p_adjusted": p, "same": where},
        suggestion=SUGGESTION, score=-math.log10(max(p, 1e-300)),
    )


def _int(value: float) -> int:
    return int(value)


def _ints(values: npt.NDArray[np.float64]) -> list[int]:
    return [int(v) for v in values]
