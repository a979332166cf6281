"""Issues: storing what detectors find, and the review lifecycle, with every change in history.

Two writers change an issue, and both append an :class:`~pilkada_graph.models.IssueEvent`:

* **Detectors** (through the runner, :func:`upsert_findings` / :func:`upsert_runs`). There is one issue per detector and
  subject (``contest/station`` or ``contest/region``): a detector that runs again updates it
  instead of adding a duplicate. When a detector looks at a subject again and no longer sees the
  problem (a corrected revision), the issue becomes ``active = False`` (event ``cleared``) and is
  closed automatically (``resolved`` by actor ``system``) if nobody has taken it; an
  ``acknowledged`` issue stays with its reviewer, who sees that it cleared. When the problem
  comes back, the issue is ``active`` again and, if it was closed, reopened (event ``reopened``).
  A ``resolved`` issue whose problem persists on a *newer* revision is reopened too: the
  correction did not fix it. A ``dismissed`` issue whose problem simply persists stays dismissed:
  a reviewer already judged that problem.

* **Reviewers** (:func:`review`), along these transitions::

      open ──acknowledge──> acknowledged ──resolve|dismiss──> resolved | dismissed
      open ──resolve|dismiss──> resolved | dismissed      (a reviewer may settle it at once)
      resolved | dismissed ──reopen──> open

  Anything else (acknowledging twice, resolving a dismissed issue, ...) raises
  :class:`ReviewRejected`; so does an unknown issue id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update

from pilkada_graph.detect_types import SEVERITY_RANK, Finding
from pilkada_graph.ingest import descendant_range, is_below
from pilkada_graph.models import Contest, Issue, IssueEvent, Region, Station

SYSTEM_ACTOR = "system"

#: action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "resolve": (frozenset({"open", "acknowledged"}), "resolved"),
    "dismiss": (frozenset({"open", "acknowledged"}), "dismissed"),
    "reopen": (frozenset({"resolved", "dismissed"}), "open"),
}
CLOSED = frozenset({"resolved", "dismissed"})


class ReviewRejected(Exception):  # noqa: N818 - the GraphQL contract names the error type so
    """A review the lifecycle refuses: unknown issue, unknown action, or a transition not allowed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def utc_now() -> datetime:
    """UTC, naive, as every time column is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------- reviews


def review(
    engine: Engine,
    issue_id: int,
    action: str,
    *,
    actor: str | None,
    token_id: int | None,
    note: str | None,
) -> None:
    """Apply a reviewer's ``action`` (acknowledge, resolve, dismiss, reopen) to an issue, with history."""
    if action not in TRANSITIONS:
        raise ReviewRejected(f"unknown action {action!r}: use one of {', '.join(TRANSITIONS)}")
    allowed_from, to_status = TRANSITIONS[action]
    with engine.begin() as connection:
        status = _locked_status(connection, issue_id)
        if status is None:
            raise ReviewRejected(f"no issue {issue_id}")
        if status not in allowed_from:
            raise ReviewRejected(
                f"issue {issue_id} is {status}; {action} applies only to "
                f"{' or '.join(sorted(allowed_from))} issues"
            )
        now = utc_now()
        connection.execute(update(Issue).where(Issue.id == issue_id).values(status=to_status, updated_at=now))
        _append_events(connection, [_event(issue_id, now, action, status, to_status, actor, note, token_id)])


def _locked_status(connection: Connection, issue_id: int) -> str | None:
    """The issue's status, locking its row on PostgreSQL so two reviewers take turns."""
    query = select(Issue.status).where(Issue.id == issue_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return connection.execute(query).scalar_one_or_none()


def issue_history(connection: Connection, issue_id: int) -> list[dict[str, Any]]:
    """The issue's events, oldest first."""
    rows = connection.execute(select(IssueEvent).where(IssueEvent.issue_id == issue_id).order_by(IssueEvent.id))
    return [dict(r._mapping) for r in rows]


def _event(issue_id: int, at: datetime, action: str, from_status: str | None, to_status: str,
           actor: str | None, note: str | None = None, token_id: int | None = None) -> dict[str, Any]:
    return {"issue_id": issue_id, "at": at, "action": action, "from_status": from_status,
            "to_status": to_status, "actor": actor, "token_id": token_id, "note": note}


def _append_events(connection: Connection, events: Sequence[dict[str, Any]]) -> None:
    if events:
        connection.execute(insert(IssueEvent), list(events))


# --------------------------------------------------------------------------- findings -> issues


@dataclass(frozen=True)
class Scope:
    """What a detector looked at in one run: every issue of it in scope that it did not find again clears.

    ``subject_keys`` are the subjects checked one by one (per-tally runs); ``contest`` with
    ``region`` covers every subject of that contest at or below that region (region runs).
    """

    subject_keys: frozenset[str] = frozenset()
    contest: str | None = None
    region: str | None = None


@dataclass
class _Subject:
    contest_id: int | None
    region_id: int | None
    station_id: int | None
    code: str


@dataclass
class _Resolver:
    """Codes -> ids for the subjects of a batch of findings, a few queries per batch."""

    connection: Connection
    contests: dict[str, int] = field(default_factory=dict)

    def subjects(self, findings: Iterable[Finding]) -> dict[tuple[str, str | None], _Subject]:
        findings = list(findings)
        codes = sorted({f.subject for f in findings})
        stations = self._stations(codes)
        regions = self._regions([c for c in codes if c not in stations])
        self._load_contests({f.contest for f in findings if f.contest})
        resolved: dict[tuple[str, str | None], _Subject] = {}
        for f in findings:
            contest_id = self.contests.get(f.contest) if f.contest else None
            if f.contest and contest_id is None:
                continue
            if f.subject in stations:
                station_id, village_id = stations[f.subject]
                resolved[(f.subject, f.contest)] = _Subject(contest_id, village_id, station_id, f.subject)
            elif f.subject in regions:
                resolved[(f.subject, f.contest)] = _Subject(contest_id, regions[f.subject], None, f.subject)
        return resolved

    def contest_id(self, code: str) -> int | None:
        self._load_contests({code})
        return self.contests.get(code)

    def _load_contests(self, codes: set[str]) -> None:
        missing = sorted(codes - self.contests.keys())
        if missing:
            rows = self.connection.execute(select(Contest.code, Contest.id).where(Contest.code.in_(missing)))
            self.contests.update({r.code: r.id for r in rows})

    def _stations(self, codes: Sequence[str]) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(codes):
            rows = self.connection.execute(
                select(Station.code, Station.id, Station.village_id).where(Station.code.in_(chunk)))
            found.update({r.code: (r.id, r.village_id) for r in rows})
        return found

    def _regions(self, codes: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(codes):
            rows = self.connection.execute(select(Region.code, Region.id).where(Region.code.in_(chunk)))
            found.update({r.code: r.id for r in rows})
        return found


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def strongest(findings: Iterable[Finding]) -> dict[str, Finding]:
    """One finding per subject key: the most severe (then highest score) wins."""
    best: dict[str, Finding] = {}
    for f in findings:
        current = best.get(f.subject_key)
        if current is None or _strength(f) > _strength(current):
            best[f.subject_key] = f
    return best


def _strength(f: Finding) -> tuple[int, float]:
    return SEVERITY_RANK[f.severity], f.score if f.score is not None else float("-inf")


def upsert_findings(
    connection: Connection,
    detector: str,
    findings: Sequence[Finding],
    *,
    scope: Scope,
    tally_ids: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Store one detector's findings of one run; clear its issues in ``scope`` it no longer finds.

    ``tally_ids`` maps a subject key to the revision judged (kept on the issue). Runs in the
    caller's transaction. Returns the ids of the issues created or changed, in id order.
    """
    return upsert_runs(connection, [DetectorRun(detector, findings, scope, tally_ids)], now=now)


@dataclass(frozen=True)
class DetectorRun:
    """One detector's findings of one run, with what it looked at (see :func:`upsert_findings`)."""

    detector: str
    findings: Sequence[Finding]
    scope: Scope
    tally_ids: Mapping[str, int] | None = None


def upsert_runs(connection: Connection, runs: Sequence[DetectorRun], *, now: datetime | None = None) -> list[int]:
    """:func:`upsert_findings` for several detectors' runs at once, in a few statements per batch.

    The runner stores a batch of revisions judged by a dozen detectors, or a region checked by
    as many, in one go: existing issues are read with one query per chunk of subjects for all
    detectors, new ones inserted in one statement, changed and cleared ones updated with one
    executemany each, and their events appended in one more.
    """
    now = now or utc_now()
    resolver = _Resolver(connection)
    wanted = {run.detector: strongest(f for f in run.findings if f.detector == run.detector) for run in runs}
    existing = _existing_issues_of_runs(connection, runs, wanted, resolver)
    subjects = resolver.subjects(f for found in wanted.values() for f in found.values())
    changed: list[int] = []
    events: list[dict[str, Any]] = []
    new_rows: list[dict[str, Any]] = []
    refreshed: list[dict[str, Any]] = []
    cleared: list[dict[str, Any]] = []
    for run in runs:
        tally_ids = run.tally_ids or {}
        mine = existing.get(run.detector, {})
        for key, finding in wanted[run.detector].items():
            subject = subjects.get((finding.subject, finding.contest))
            if subject is None:
                continue  # the subject vanished or was never stored: nothing to attach an issue to
            row = _issue_values(finding, subject, tally_ids.get(key), now)
            issue = mine.get(key)
            if issue is None:
                new_rows.append({**row, "detector": run.detector, "subject_key": key, "status": "open",
                                 "created_at": now})
            elif (update_row := _refresh(issue, row, now, events)) is not None:
                refreshed.append(update_row)
                changed.append(issue.id)
        for key, issue in mine.items():
            if key not in wanted[run.detector] and issue.active:
                cleared.append(_clear(issue, now, events))
                changed.append(issue.id)
    _update_issues(connection, refreshed)
    _update_issues(connection, cleared)
    created = _insert_issues(connection, new_rows)
    events.extend(_event(i, now, "flagged", None, "open", SYSTEM_ACTOR) for i in created)
    _append_events(connection, events)
    return sorted(set(changed) | set(created))


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity made null and numpy scalars made plain numbers.

    Evidence is whatever a plugin computed; JSON (and PostgreSQL's json type) has no NaN, and one
    plugin's NaN must not stop its issue, or the other detectors', from being stored.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _issue_values(finding: Finding, subject: _Subject, tally_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "contest_id": subject.contest_id,
        "region_id": subject.region_id,
        "station_id": subject.station_id,
        "subject_code": subject.code,
        "tally_id": tally_id,
        "severity": finding.severity,
        "message": finding.message,
        "suggestion": finding.suggestion,
        "evidence": json_safe(dict(finding.evidence)),
        "score": finding.score if finding.score is None or math.isfinite(finding.score) else None,
        "active": True,
        "updated_at": now,
    }


_COMPARED = ("tally_id", "severity", "message", "suggestion", "evidence", "score", "active")


def _refresh(issue: Row[Any], row: dict[str, Any], now: datetime,
             events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The update of an issue the detector found again (reopened when the problem came back); None if unchanged."""
    if all(getattr(issue, name) == row[name] for name in _COMPARED):
        return None
    came_back = not issue.active
    newer_revision = row["tally_id"] is not None and row["tally_id"] != issue.tally_id
    reopen = issue.status in CLOSED and (came_back or (issue.status == "resolved" and newer_revision))
    status = "open" if reopen else issue.status
    action = "reopened" if came_back or reopen else "updated"
    events.append(_event(issue.id, now, action, issue.status, status, SYSTEM_ACTOR))
    return {**row, "status": status, "issue_id": issue.id}


def _clear(issue: Row[Any], now: datetime, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The detector no longer sees the problem: say so, and close the issue unless a reviewer holds it."""
    status = "resolved" if issue.status == "open" else issue.status
    events.append(_event(issue.id, now, "cleared", issue.status, status, SYSTEM_ACTOR,
                         "the detector no longer sees the problem"))
    return {"active": False, "status": status, "updated_at": now, "issue_id": issue.id}


def _update_issues(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """One executemany for rows that set the same columns (``issue_id`` says which issue)."""
    if not rows:
        return
    columns = Issue.__table__.c
    values = {name: bindparam(f"new_{name}", type_=columns[name].type) for name in rows[0] if name != "issue_id"}
    statement = update(Issue).where(Issue.id == bindparam("issue_id")).values(values)
    connection.execute(statement, [{("issue_id" if k == "issue_id" else f"new_{k}"): v for k, v in row.items()}
                                   for row in rows])


def _insert_issues(connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    statement = insert(Issue).returning(Issue.id, sort_by_parameter_order=True)
    return [r.id for r in connection.execute(statement, rows)]


def _existing_issues_of_runs(connection: Connection, runs: Sequence[DetectorRun],
                             wanted: Mapping[str, Mapping[str, Finding]],
                             resolver: _Resolver) -> dict[str, dict[str, Row[Any]]]:
    """detector -> subject key -> its issue that this run may update or clear."""
    columns = [Issue.id, Issue.detector, Issue.subject_key, Issue.subject_code, Issue.status, Issue.active,
               *(getattr(Issue, n) for n in _COMPARED[:-1])]
    relevant = {run.detector: set(wanted[run.detector]) | run.scope.subject_keys for run in runs}
    found: dict[str, dict[str, Row[Any]]] = {run.detector: {} for run in runs}
    base = select(*columns).where(Issue.detector.in_(sorted(relevant)))
    for chunk in _chunks(sorted(set().union(*relevant.values()))):
        for r in connection.execute(base.where(Issue.subject_key.in_(chunk))):
            if r.subject_key in relevant[r.detector]:
                found[r.detector][r.subject_key] = r
    by_region: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        if run.scope.contest is not None and run.scope.region is not None:
            by_region.setdefault((run.scope.contest, run.scope.region), []).append(run.detector)
    for (contest, region), detectors in by_region.items():
        contest_id = resolver.contest_id(contest)
        if contest_id is None:
            continue
        _, high = descendant_range(region)
        # One range of the subject_code index covers the region and everything below it. The
        # contest and detector are matched as expressions (``+ 0``, ``|| ''``) so that no planner
        # scans every issue of a contest or a detector instead, once per region checked.
        query = select(*columns).where(Issue.subject_code >= region, Issue.subject_code < high,
                                       (Issue.contest_id + 0) == contest_id,
                                       Issue.detector.concat("").in_(detectors))
        for r in connection.execute(query):
            if is_below(r.subject_code, region):
                found[r.detector][r.subject_key] = r
    return found
