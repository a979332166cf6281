"""The issue lifecycle: one issue per detector and subject, history, clearing and review transitions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from pilkada_graph.detect_types import Finding, subject_key
from pilkada_graph.ingest import import_bundle
from pilkada_graph.lifecycle import ReviewRejected, Scope, issue_history, review, upsert_findings
from pilkada_graph.models import Issue

STATION = "62.71.01.1001.001"
CONTEST = "gub-62"
KEY = subject_key(STATION, CONTEST)


def finding(severity: str = "warning", message: str = "votes do not add up") -> Finding:
    return Finding("demo", STATION, CONTEST, severity, message, {"difference": 3})  # type: ignore[arg-type]


def run(engine: Engine, findings: list[Finding], tally_id: int | None = None) -> list[int]:
    with engine.begin() as connection:
        return upsert_findings(connection, "demo", findings, scope=Scope(frozenset({KEY})),
                               tally_ids={KEY: tally_id} if tally_id else None)


def issue(engine: Engine, issue_id: int) -> Issue:
    with engine.connect() as connection:
        return connection.execute(select(Issue).where(Issue.id == issue_id)).one()


@pytest.fixture
def loaded(engine: Engine, mini_bundle: Path) -> Engine:
    assert import_bundle(engine, mini_bundle).committed
    return engine


def test_running_again_updates_the_issue_instead_of_adding_one(loaded: Engine) -> None:
    first = run(loaded, [finding()])
    again = run(loaded, [finding()])
    changed = run(loaded, [finding("critical", "votes are 3 over the valid votes")])
    with loaded.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Issue)).scalar() == 1
        actions = [e["action"] for e in issue_history(connection, first[0])]
    assert again == [] and changed == first
    assert actions == ["flagged", "updated"]
    assert issue(loaded, first[0]).severity == "critical"


def test_a_cleared_problem_closes_an_open_issue_and_a_returning_one_reopens_it(loaded: Engine) -> None:
    [issue_id] = run(loaded, [finding()])
    run(loaded, [])
    cleared = issue(loaded, issue_id)
    assert (cleared.active, cleared.status) == (False, "resolved")
    run(loaded, [finding()])
    back = issue(loaded, issue_id)
    assert (back.active, back.status) == (True, "open")
    with loaded.connect() as connection:
        history = issue_history(connection, issue_id)
    assert [(e["action"], e["from_status"], e["to_status"], e["actor"]) for e in history] == [
        ("flagged", None, "open", "system"),
        ("cleared", "open", "resolved", "system"),
        ("reopened", "resolved", "open", "system"),
    ]


def test_a_cleared_problem_leaves_an_acknowledged_issue_with_its_reviewer(loaded: Engine) -> None:
    [issue_id] = run(loaded, [finding()])
    review(loaded, issue_id, "acknowledge", actor="rina", token_id=None, note="looking at the photo")
    run(loaded, [])
    cleared = issue(loaded, issue_id)
    assert (cleared.active, cleared.status) == (False, "acknowledged")


def test_review_records_who_when_and_why(loaded: Engine) -> None:
    [issue_id] = run(loaded, [finding()])
    review(loaded, issue_id, "acknowledge", actor="rina", token_id=7, note="mine")
    review(loaded, issue_id, "resolve", actor="rina", token_id=7, note="photo checked, entry corrected")
    review(loaded, issue_id, "reopen", actor="budi", token_id=None, note="the photo is of another station")
    with loaded.connect() as connection:
        history = issue_history(connection, issue_id)[1:]
    assert [(e["action"], e["from_status"], e["to_status"], e["actor"], e["token_id"]) for e in history] == [
        ("acknowledge", "open", "acknowledged", "rina", 7),
        ("resolve", "acknowledged", "resolved", "rina", 7),
        ("reopen", "resolved", "open", "budi", None),
    ]
    assert history[1]["note"] == "photo checked, entry corrected" and history[1]["at"] is not None


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], "reopen"),
        (["acknowledge"], "acknowledge"),
        (["dismiss"], "resolve"),
        (["resolve"], "acknowledge"),
        (["resolve"], "dismiss"),
        ([], "escalate"),
    ],
)
def test_the_lifecycle_refuses_invalid_transitions(loaded: Engine, path: list[str], refused: str) -> None:
    [issue_id] = run(loaded, [finding()])
    for action in path:
        review(loaded, issue_id, action, actor="rina", token_id=None, note=None)
    before = issue(loaded, issue_id).status
    with pytest.raises(ReviewRejected):
        review(loaded, issue_id, refused, actor="rina", token_id=None, note=None)
    assert issue(loaded, issue_id).status == before


def test_reviewing_an_unknown_issue_is_refused(loaded: Engine) -> None:
    with pytest.raises(ReviewRejected, match="no issue 999"):
        review(loaded, 999, "acknowledge", actor="rina", token_id=None, note=None)
