"""Built-in detector: a form with more voters than the station's form of another contest.

What it looks for
    In the 2024 Pilkada a station votes for its governor and its regent or mayor on the same day:
    every voter who comes receives both ballots, so both forms of one station should report about
    the same number of voters. For each station with another contest's current form that can
    witness this one (its own arithmetic holds, voters = valid + invalid; it carries this form's
    DPT; and it is not identical to another station's form of the village, which would make one
    of them a copy), the difference ``d`` = this form's voters
    minus the other form's (their median when there are several) is compared with the region's
    differences: ``z = (d - median) / s``, where ``s`` is the region's robust spread (1.4826 x the
    median absolute deviation, at least ``min_spread`` voters). A station is reported when its
    one-sided p-value times the number of stations tested (Bonferroni) is below ``alpha`` *and*
    ``d`` is at least ``min_difference`` voters and ``min_share`` of the other form's voters.
Why
    Ballots stuffed into one contest's box, or a form written up for one contest, raise that
    form's voters and leave the other form as counted: the other form is the station's own
    witness. Calibrating on the region's own differences keeps the test honest where forms
    legitimately differ (voters on the additional list, DPTb, from another regency receive only
    the governor's ballot; data where the two contests' turnouts vary independently give a wide
    spread and so few flags).
Reference
    Law 10/2016 and PKPU 17/2024 on simultaneous regional-head elections (one attendance list,
    one ballot per contest per voter); the peer-comparison logic of :mod:`plugins.peer_outliers`.
Settings
    ``alpha`` (0.01), ``min_difference`` (5 voters), ``min_share`` (0.02), ``min_spread`` (1.0
    voter), ``min_stations`` (10: fewer stations with both forms are not tested).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pilkada_graph.detect_types import DetectorInfo, DetectorSettings, Finding, RegionTallies
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.peerstats import bonferroni, fmt_p, upper_p

NAME = "voters-differ-between-contests"
SUGGESTION = ("Compare the photos of both of this station's result forms (C.Hasil) and the attendance list "
              "(C.Daftar Hadir): every voter receives both ballots. If this contest's form has more voters than "
              "attended, ask the witnesses for their copies and the PPK for its recap, and recommend that Bawaslu "
              "consider a recount or a re-vote (PSU).")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [DetectorInfo(
        NAME, "A station's form counts more voters than the same station's form of another contest.",
        defaults={"alpha": 0.01, "min_difference": 5, "min_share": 0.02, "min_spread": 1.0, "min_stations": 10},
        reference="Law 10/2016 and PKPU 17/2024 (simultaneous regional-head elections)",
        next_step=SUGGESTION, checks="region",
    )]


@hookimpl
def pilkada_check_region(tallies: RegionTallies, settings: DetectorSettings) -> list[Finding] | None:
    config = settings.of(NAME)
    if config is None:
        return None
    if tallies.other_voters is None:
        return []
    difference = tallies.voters - tallies.other_voters
    tested = np.isfinite(difference)
    if np.count_nonzero(tested) < int(config["min_stations"]):
        return []
    centre, spread = region_spread(difference[tested], float(config["min_spread"]))
    p_adjusted = bonferroni(upper_p((difference - centre) / spread), int(np.count_nonzero(tested)))
    flagged = tested & (p_adjusted < float(config["alpha"])) & is_material(difference, tallies.other_voters, config)
    return [finding(tallies, int(i), centre, spread, float(p_adjusted[i]), int(np.count_nonzero(tested)))
            for i in np.flatnonzero(flagged)]


def region_spread(differences: np.ndarray[Any, np.dtype[np.float64]], min_spread: float) -> tuple[float, float]:
    """The region's typical difference and its robust spread (1.4826 x MAD, at least ``min_spread``)."""
    centre = float(np.median(differences))
    mad = float(np.median(np.abs(differences - centre)))
    return centre, max(1.4826 * mad, min_spread)


def is_material(difference: np.ndarray[Any, np.dtype[np.float64]], other: np.ndarray[Any, np.dtype[np.float64]],
                config: Mapping[str, Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Big enough to matter: at least ``min_difference`` voters and ``min_share`` of the other form's."""
    with np.errstate(invalid="ignore"):
        return (difference >= float(config["min_difference"])) & (difference >= float(config["min_share"]) * other)


def finding(tallies: RegionTallies, i: int, centre: float, spread: float, p_adjusted: float, tested: int) -> Finding:
    voters, other = int(tallies.voters[i]), int(tallies.other_voters[i])  # type: ignore[index]
    return Finding(
        detector=NAME,
        subject=str(tallies.station_codes[i]),
        contest=tallies.contest_code,
        severity="warning",
        message=(f"{voters} voters on this form, but {other} on the station's form of another contest "
                 f"({voters - other:+d}); across {tallies.region_code} the two forms differ by {centre:+.0f} "
                 f"voters typically (spread {spread:.1f}); p = {fmt_p(p_adjusted)} after Bonferroni over "
                 f"{tested} stations"),
        evidence={"voters": voters, "other_contests_voters": other, "difference": voters - other,
                  "region": tallies.region_code, "region_median_difference": centre, "region_spread": spread,
                  "p_adjusted": p_adjusted, "stations_tested": tested},
        suggestion=SUGGESTION,
        score=(voters - other) / max(other, 1),
    )
