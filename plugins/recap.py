"""Built-in detector: a recap that does not add up to what lies below it (penggelembungan suara).

Between the station and the province, the count is recapitulated by the district (PPK), the
regency and the province. Inflating a candidate, or deflating a rival, at one of those
levels is the classic manipulation: each form below is right, the recap is not. So a region's
current recap is compared with

* the sum of the current station forms below it, once every station there has reported, and
* the sum of the current recaps one level down, once every region there has one.

A difference names each candidate whose votes grew or shrank, and by how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pilkada_graph.detect_types import ContestView, DetectorInfo, DetectorSettings, Finding, Severity
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.recaps import RecapFacts, RegionRecaps

NAME = "recap-mismatch"
SUGGESTION = ("Ask the PPK / KPU for the signed recap form (D.Hasil) of this region and compare it, candidate "
              "by candidate, with the C.Hasil copies of the witnesses and the forms below; if the recap "
              "is wrong, report it to Bawaslu and ask for a correction at the recap meeting.")


@dataclass(frozen=True)
class VoteChange:
    """How much the recap says more (``difference`` > 0) or less than the reference for one candidate."""

    number: int
    recap: int
    reference: int

    @property
    def difference(self) -> int:
        return self.recap - self.reference

    def to_dict(self) -> dict[str, int]:
        return {"number": self.number, "recap": self.recap, "reference": self.reference,
                "difference": self.difference}


def vote_changes(recap: Sequence[int | None], reference: Sequence[int]) -> list[VoteChange]:
    """Candidates whose recap votes differ from the reference; a candidate the recap leaves empty is not judged."""
    return [
        VoteChange(number, stated, reference[number - 1] if number <= len(reference) else 0)
        for number, stated in enumerate(recap, start=1)
        if stated is not None and stated != (reference[number - 1] if number <= len(reference) else 0)
    ]


def children_sum(children: Sequence[RecapFacts], candidates: int) -> list[int]:
    return [sum(child.votes[k] or 0 for child in children if k < len(child.votes)) for k in range(candidates)]


def describe(changes: Sequence[VoteChange], names: dict[int, str]) -> str:
    """``no 2 (B) +500, no 3 (C) -20``: who grew, who shrank, by how much."""
    return ", ".join(f"no {c.number} ({names.get(c.number, '?')}) {c.difference:+d}" for c in changes)


def check_recap(recap: RecapFacts, children: Sequence[RecapFacts], contest: ContestView,
                tolerance: int = 0) -> Finding | None:
    """The finding for one recap, or None when it agrees with everything it can be compared with."""
    names = dict(contest.candidates)
    comparisons: dict[str, list[VoteChange]] = {}
    if recap.all_reported:
        comparisons["stations"] = vote_changes(recap.votes, recap.station_votes)
    if recap.children_total and len(children) >= recap.children_total:
        comparisons["recaps_below"] = vote_changes(recap.votes, children_sum(children, len(recap.votes)))
    comparisons = {k: [c for c in v if abs(c.difference) > tolerance] for k, v in comparisons.items()}
    comparisons = {k: v for k, v in comparisons.items() if v}
    if not comparisons:
        return None
    against = {"stations": "the station forms below it", "recaps_below": "the recaps one level down"}
    message = "; ".join(f"the {recap.level} recap differs from {against[k]}: {describe(v, names)}"
                        for k, v in comparisons.items())
    worst = max(abs(c.difference) for changes in comparisons.values() for c in changes)
    grown = any(c.difference > 0 for changes in comparisons.values() for c in changes)
    severity: Severity = "critical" if grown else "warning"
    evidence = {
        "recap": {"votes": list(recap.votes), "submitted_at": recap.submitted_at.isoformat(), "source": recap.source},
        "station_votes": list(recap.station_votes),
        "progress": {"reported": recap.stations_reported, "total": recap.stations_total},
        **{k: [c.to_dict() for c in v] for k, v in comparisons.items()},
    }
    return Finding(NAME, recap.region_code, contest.code, severity, message, evidence, SUGGESTION, float(worst))


@hookimpl
def pilkada_detectors() -> list[DetectorInfo]:
    return [DetectorInfo(
        NAME,
        "A recap (district, regency, province) differs from the station forms or the recaps below it.",
        defaults={"tolerance": 0},
        reference="UU 10/2016 art. 98-101 (rekapitulasi berjenjang); PKPU 18/2024, Model D.Hasil",
        next_step=SUGGESTION,
        checks="region",
    )]


@hookimpl
def pilkada_check_region(contest: ContestView, recaps: RegionRecaps, settings: DetectorSettings) -> list[Finding]:
    config = settings.of(NAME)
    if config is None:
        return []
    tolerance = int(config.get("tolerance", 0))
    findings = [check_recap(r, recaps.children_of(r.region_code), contest, tolerance) for r in recaps.recaps]
    return [f for f in findings if f is not None]
