"""Scoring detectors against injected anomalies: recall per kind, precision, and a plain baseline.

Used by ``bench/bench_detection.py`` and ``tests/detectors/test_detection_quality.py``; the
truth comes from :mod:`pilkada_graph.anomalies`. The rules of the count, from the detection
issue:

* an anomaly is **found** when an issue of severity warning or critical names its station and
  contest; a fabricated district is found by an issue about the district, a region inside it,
  or one of its stations;
* **precision** is over all station-level issues of severity warning or critical (active ones:
  an issue a later revision cleared is no longer in the reviewers' queue): the share whose
  station and contest were tampered with (a copied form's source and the stations of a
  fabricated district count as tampered);
* the **baseline** is a plain IsolationForest on every current form's turnout, shares, invalid
  share and size, per contest, given as many flags as the detectors raised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import IsolationForest
from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from pilkada_graph.anomalies import KINDS, Anomaly, TamperedElection
from pilkada_graph.models import Contest, Issue, Station

RAISED = frozenset({"warning", "critical"})


@dataclass(frozen=True)
class IssueRow:
    detector: str
    severity: str
    contest_code: str | None
    station_code: str | None
    subject_code: str
    active: bool


def load_issue_rows(engine: Engine) -> list[IssueRow]:
    """Every issue with its contest and station codes (one query)."""
    station = aliased(Station)
    query = (select(Issue.detector, Issue.severity, Contest.code, station.code, Issue.subject_code, Issue.active)
             .outerjoin(Contest, Contest.id == Issue.contest_id).outerjoin(station, station.id == Issue.station_id))
    with engine.connect() as connection:
        return [IssueRow(*row) for row in connection.execute(query)]


@dataclass
class Score:
    """Recall per kind and overall, precision of station-level raised issues, and what was missed."""

    found: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    station_issues: int = 0
    true_station_issues: int = 0
    flagged_pairs: int = 0
    by_detector: Counter[str] = field(default_factory=Counter)
    false_by_detector: Counter[str] = field(default_factory=Counter)
    missed: list[Anomaly] = field(default_factory=list)

    def recall(self, kind: str | None = None) -> float:
        found = sum(self.found.values()) if kind is None else self.found[kind]
        injected = sum(self.injected.values()) if kind is None else self.injected[kind]
        return found / injected if injected else float("nan")

    @property
    def precision(self) -> float:
        return self.true_station_issues / self.station_issues if self.station_issues else float("nan")


def score_issues(tampered: TamperedElection, issues: Iterable[IssueRow]) -> Score:
    raised = [i for i in issues if i.active and i.severity in RAISED]
    pairs = {(i.station_code, i.contest_code) for i in raised if i.station_code}
    regions = {(i.subject_code, i.contest_code) for i in raised}
    tampered_pairs = tampered.injected_pairs | tampered.involved
    result = Score()
    for anomaly in tampered.anomalies:
        result.injected[anomaly.kind] += 1
        if is_found(anomaly, pairs, regions):
            result.found[anomaly.kind] += 1
        else:
            result.missed.append(anomaly)
    for issue in raised:
        if issue.station_code is None:
            continue
        result.station_issues += 1
        result.by_detector[issue.detector] += 1
        if (issue.station_code, issue.contest_code) in tampered_pairs:
            result.true_station_issues += 1
        else:
            result.false_by_detector[issue.detector] += 1
    result.flagged_pairs = len(pairs)
    return result


def is_found(anomaly: Anomaly, pairs: Set[tuple[str | None, str | None]],
             regions: set[tuple[str, str | None]]) -> bool:
    if anomaly.station_code is not None:
        return (anomaly.station_code, anomaly.contest_code) in pairs
    district = anomaly.region_code or ""
    return any(contest == anomaly.contest_code and (code == district or code.startswith(district + "."))
               for code, contest in regions)


def baseline_flags(tampered: TamperedElection, n_flags: int, seed: int = 0) -> list[tuple[IssueRow, float]]:
    """A plain IsolationForest per contest over every current form; the ``n_flags`` most anomalous."""
    current = _current_rows(tampered.tallies)
    scored: list[tuple[float, str, str]] = []
    by_contest: dict[str, list[Mapping[str, object]]] = {}
    for row in current:
        by_contest.setdefault(str(row["contest_code"]), []).append(row)
    for contest, rows in sorted(by_contest.items()):
        x = _features(rows)
        forest = IsolationForest(n_estimators=100, random_state=seed).fit(x)
        scored += [(float(s), str(r["station_code"]), contest) for s, r in zip(-forest.score_samples(x), rows,
                                                                               strict=True)]
    scored.sort(reverse=True)
    return [(IssueRow("isolation-forest", "warning", contest, station, station, True), s)
            for s, station, contest in scored[:n_flags]]


def _current_rows(tallies: Sequence[Mapping[str, object]]) -> list[Mapping[str, object]]:
    latest: dict[tuple[object, object], Mapping[str, object]] = {}
    for row in tallies:
        key = (row["station_code"], row["contest_code"])
        if key not in latest or str(row["submitted_at"]) >= str(latest[key]["submitted_at"]):
            latest[key] = row
    return list(latest.values())


def _features(rows: Sequence[Mapping[str, object]]) -> np.ndarray:
    def column(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in (None, "") else 0.0 for r in rows])  # type: ignore[arg-type]

    k = 1
    while f"votes_{k + 1}" in rows[0] and rows[0][f"votes_{k + 1}"] not in (None, ""):
        k += 1
    registered = column("dpt") + column("dptb") + column("dpk")
    voters, valid, invalid = column("voters"), column("valid_votes"), column("invalid_votes")
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = [voters / np.maximum(registered, 1), invalid / np.maximum(valid + invalid, 1), np.log1p(registered)]
        parts += [column(f"votes_{j}") / np.maximum(valid, 1) for j in range(1, k + 1)]
    return np.nan_to_num(np.column_stack(parts))


__all__ = ["KINDS", "IssueRow", "Score", "baseline_flags", "load_issue_rows", "score_issues"]
