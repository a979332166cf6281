"""A station whose invalid-vote share is far above its district's.

A region detector: it needs the district's share, computed over the district's other stations
(the station itself left out, so that one huge outlier does not hide itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pilkada_graph.detect_types import DetectorInfo, DetectorSettings, Finding, RegionTallies
from pilkada_graph.hookspecs import hookimpl

__version__ = "0.1.0"
NAME = "invalid-votes-share"
SUGGESTION = ("Compare the invalid votes with the form's photo; if they are right, ask the witnesses "
              "and the KPPS what happened, and consider recommending that Bawaslu look into a recount.")


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [
        DetectorInfo(
            NAME,
            "A station's share of invalid votes is several times its district's.",
            defaults={"min_voters": 100, "min_share": 0.08, "ratio": 3.0, "min_stations": 5},
            reference="examples/pilkada-invalid-votes",
            next_step=SUGGESTION,
            checks="region",
        )
    ]


@hookimpl
def pilkada_check_region(tallies: RegionTallies, settings: DetectorSettings) -> list[Finding] | None:
    config = settings.of(NAME)
    if config is None:
        return None
    findings = []
    for district in np.unique(tallies.district_codes):
        findings += district_outliers(tallies, np.flatnonzero(tallies.district_codes == district), config)
    return findings


def district_outliers(tallies: RegionTallies, rows: np.ndarray, config: Mapping[str, Any]) -> list[Finding]:
    invalid = np.nan_to_num(tallies.invalid_votes[rows])
    cast = invalid + np.nan_to_num(tallies.valid_votes[rows])
    if len(rows) < int(config["min_stations"]) or cast.sum() == 0:
        return []
    others_invalid, others_cast = invalid.sum() - invalid, cast.sum() - cast
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(cast > 0, invalid / cast, np.nan)
        peers = np.where(others_cast > 0, others_invalid / others_cast, np.nan)
    flagged = ((cast >= config["min_voters"]) & (share >= config["min_share"])
               & (share >= config["ratio"] * np.maximum(peers, 1e-9)))
    return [finding(tallies, int(rows[i]), float(share[i]), float(peers[i])) for i in np.flatnonzero(flagged)]


def finding(tallies: RegionTallies, row: int, share: float, peers: float) -> Finding:
    station = str(tallies.station_codes[row])
    return Finding(
        detector=NAME,
        subject=station,
        contest=tallies.contest_code,
        severity="warning",
        message=(f"{share:.0%} of the votes at {station} are invalid, against {peers:.1%} at the other "
                 f"stations of district {tallies.district_codes[row]}"),
        evidence={"invalid_votes": int(tallies.invalid_votes[row]), "valid_votes": int(tallies.valid_votes[row]),
                  "share": round(share, 4), "district_share": round(peers, 4),
                  "district": str(tallies.district_codes[row])},
        suggestion=SUGGESTION,
        score=share / peers if peers > 0 else None,
    )
