"""Issues as the desk sees them: listing (CLI ``issues --json``) and their shape.

Storing issues (upsert by detector and subject) and their review lifecycle live in
:mod:`pilkada_graph.lifecycle`; this module reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Select, select
from sqlalchemy.orm import aliased

from pilkada_graph.lifecycle import DetectorRun
from pilkada_graph.models import Contest, Issue, Region, Station
from pilkada_graph.store import RawSQL, marks


def issue_listing_query() -> Select[Issue, str, str, str]:
    """Issues with the codes of their contest, region and station, oldest first."""
    region = aliased(Region)
    return (
        select(
            Issue,
            Contest.code.label("contest_code"),
            region.code.label("region_code"),
            Station.code.label("station_code"),
        )
        .outerjoin(Contest, Contest.id == Issue.contest_id)
        .outerjoin(region, region.id == Issue.region_id)
        .outerjoin(Station, Station.id == Issue.station_id)
        .order_by(Issue.id)
    )


def issue_as_dict(issue: Issue, contest_code: str | None, region_code: str | None,
                  station_code: str | None) -> dict[str, Any]:
    """The spec's JSON shape of one issue (``shared/spec/bundle.md``, "issues (CLI output)")."""
    return {
        "id": issue.id,
        "detector": issue.detector,
        "severity": issue.severity,
        "status": issue.status,
        "contest_code": contest_code,
        "region_code": region_code,
        "station_code": station_code,
        "message": issue.message,
        "suggestion": issue.suggestion,
        "evidence": issue.evidence,
        "score": issue.score,
        "active": issue.active,
        "tally_id": issue.tally_id,
        "created_at": issue.created_at.isoformat(timespec="seconds") + "Z",
        "updated_at": issue.updated_at.isoformat(timespec="seconds") + "Z",
    }


def list_issues(connection: Connection, *, status: str | None = None) -> list[dict[str, Any]]:
    from sqlalchemy.orm import Session

    query = issue_listing_query()
    if status:
        query = query.where(Issue.status == status)
    with Session(bind=connection) as session:
        return [issue_as_dict(*row) for row in session.execute(query)]


def active_issue_keys(connection: Connection, runs: Sequence[DetectorRun]) -> dict[str, frozenset[str]]:
    """Detector -> the subject keys of the runs' per-subject scopes that have an active issue of it.

    The only issues a run that no longer finds a problem can clear.
    """
    return active_subject_keys(connection, {run.detector for run in runs if run.scope.subject_keys},
                               {key for run in runs for key in run.scope.subject_keys})


def active_subject_keys(connection: Connection, detectors: Iterable[str],
                        keys: Iterable[str]) -> dict[str, frozenset[str]]:
    """Detector -> those of ``keys`` with an active issue of it, for these ``detectors``: one index
    lookup per (detector, subject) of the unique key, through the DBAPI cursor (a batch has thousands)."""
    detectors, keys = sorted(set(detectors)), sorted(set(keys))
    if not keys or not detectors:
        return {}
    rows = RawSQL(connection).fetchall_in(
        "SELECT detector, subject_key FROM issues WHERE subject_key IN ({values}) "
        f"AND detector IN ({marks(len(detectors))}) AND active = ?", keys, (*detectors, True))
    found: dict[str, set[str]] = {}
    for detector, key in rows:
        found.setdefault(detector, set()).add(key)
    return {detector: frozenset(keys) for detector, keys in found.items()}


def active_issues_judging(connection: Connection, tally_ids: Iterable[int]) -> list[int]:
    """Ids of the active issues that judged these revisions (``issues.tally_id``), ascending."""
    rows = RawSQL(connection).fetchall_in("SELECT id FROM issues WHERE tally_id IN ({values}) AND active = ?",
                                          sorted(set(tally_ids)), (True,))
    return sorted(row[0] for row in rows)
