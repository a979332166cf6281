"""The runner: plugins from folders and entry points, faults isolated, no duplicates, corrections."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pilkada_graph.config import Settings
from pilkada_graph.detect_types import DetectorInfo, Finding, TallyView
from pilkada_graph.hookspecs import hookimpl
from pilkada_graph.models import DetectorFailure, Issue, IssueEvent, Tally
from pilkada_graph.service import Desk, NoDetection
from pilkada_graph.store import StoredTally
from tests.plugins.conftest import CONTEST, OUTLIER, DeskFactory, count, failures, form, issues_of

#: The runner's tests judge the runner: one built-in whose issues they predict (the others, such as
#: revision-change on a resubmitted form or round-numbers on the tiny hand-made election, would
#: add issues of their own).
ARITHMETIC_ONLY = ("form_arithmetic",)

FOLDER_PLUGIN = '''
from pilkada_graph.detect_types import DetectorInfo, Finding
from pilkada_graph.hookspecs import hookimpl

__version__ = "2.1"


@hookimpl
def pilkada_detectors():
    return [DetectorInfo("many-invalid", "more invalid votes than a threshold", {"threshold": 50})]


@hookimpl
def pilkada_check_tally(tally, settings):
    config = settings.of("many-invalid")
    if config and (tally.invalid_votes or 0) > config["threshold"]:
        return [Finding("many-invalid", tally.station_code, tally.contest_code, "info",
                        f"{tally.invalid_votes} invalid votes", {"invalid_votes": tally.invalid_votes})]
    return []
'''


def test_a_plugin_from_a_folder_and_one_from_an_entry_point_are_loaded_and_their_issues_stored(
        make_desk: DeskFactory, engine: Engine, election: Path, tmp_path: Path, installed_example: str) -> None:
    folder = tmp_path / "detectors"
    folder.mkdir()
    (folder / "many_invalid.py").write_text(FOLDER_PLUGIN)
    desk = make_desk(settings=Settings(plugins_dirs=[folder]), builtins=(), entry_points=True)
    sources = {p.name: (p.source, p.version) for p in desk.detection.host.plugins()}  # type: ignore[attr-defined]
    assert sources["many_invalid"] == (f"folder {folder}", "2.1")
    assert sources["invalid_votes"] == (f"entry point of {installed_example}", "0.1.0")
    desk.import_bundle(election)
    assert [i.subject_code for i in issues_of(engine, "many-invalid")] == [OUTLIER]
    [flagged] = issues_of(engine, "invalid-votes-share")
    assert (flagged.subject_code, flagged.severity, flagged.evidence["district"]) == (OUTLIER, "warning", "62.71.01")
    assert flagged.tally_id is not None


class Crashing:
    @hookimpl
    def pilkada_detectors(self) -> list[DetectorInfo]:
        return [DetectorInfo("crashing", "raises on every form")]

    @hookimpl
    def pilkada_check_tally(self, tally: TallyView) -> list[Finding]:
        raise ZeroDivisionError(f"cannot judge {tally.station_code}")


class Hanging:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def pilkada_detectors(self) -> list[DetectorInfo]:
        return [DetectorInfo("hanging", "never answers")]

    @hookimpl
    def pilkada_check_tally(self, tally: TallyView) -> list[Finding]:
        self.release.wait(30)
        return [Finding("hanging", tally.station_code, tally.contest_code, "critical", "too late")]


def test_a_crashing_detector_and_a_hanging_one_do_not_stop_ingestion_and_are_reported(
        make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    hanging = Hanging()
    desk = make_desk(Crashing(), hanging, builtins=ARITHMETIC_ONLY)
    try:
        report = desk.import_bundle(election)
        outcome = desk.submit_tally(form("bad-1", OUTLIER, votes=(100, 90), valid=180))
    finally:
        hanging.release.set()
    assert report.committed and outcome.accepted
    assert count(engine, Tally) == 17
    [arithmetic] = issues_of(engine, "form-arithmetic")  # the other detector still ran
    assert outcome.issue_ids == [arithmetic.id]
    recorded = {(f.detector, f.kind) for f in failures(engine)}
    assert {("crashing", "error"), ("hanging", "timeout"), ("hanging", "busy")} <= recorded
    crash = next(f for f in failures(engine) if f.detector == "crashing")
    assert "ZeroDivisionError: cannot judge" in crash.error and crash.subject.startswith("tally ")
    assert issues_of(engine, "hanging") == [] and issues_of(engine, "crashing") == []


def test_re_running_detection_creates_no_duplicates(
        make_desk: DeskFactory, engine: Engine, election: Path, installed_example: str) -> None:
    desk = make_desk(entry_points=True, builtins=ARITHMETIC_ONLY)
    desk.import_bundle(election)
    desk.submit_tally(form("bad-1", "62.71.02.1001.001", valid=150))
    before = (count(engine, Issue), count(engine, IssueEvent))
    assert before[0] == 2
    for _ in range(2):
        summary = desk.detection.detect_all()  # type: ignore[attr-defined]
        assert (summary.tallies, summary.regions) == (16, 1)
    assert (count(engine, Issue), count(engine, IssueEvent)) == before


def test_a_corrected_revision_closes_its_issue(make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    desk = make_desk(builtins=ARITHMETIC_ONLY)
    desk.import_bundle(election)
    wrong = desk.submit_tally(form("desk-1", "62.71.02.1001.004", minutes=60, valid=200))
    [issue] = issues_of(engine, "form-arithmetic")
    assert wrong.issue_ids == [issue.id] and (issue.status, issue.severity, issue.active) == ("open", "critical", True)
    assert issue.evidence["failed_checks"][0]["rule"] == "votes-sum"
    corrected = desk.submit_tally(form("desk-2", "62.71.02.1001.004", minutes=90))
    [closed] = issues_of(engine, "form-arithmetic")
    assert corrected.issue_ids == []
    assert (closed.id, closed.status, closed.active) == (issue.id, "resolved", False)
    late = desk.submit_tally(form("desk-0", "62.71.02.1001.004", minutes=30, valid=1))  # older: not current
    assert late.accepted and late.issue_ids == [] and issues_of(engine, "form-arithmetic")[0].status == "resolved"


def test_region_checks_wait_for_enough_stations_and_run_again_as_more_report(
        make_desk: DeskFactory, engine: Engine, tmp_path: Path) -> None:
    from pilkada_graph.detect import RunnerOptions
    from tests.plugins.conftest import station_codes, write_election

    calls: list[int] = []

    class Counting:
        @hookimpl
        def pilkada_detectors(self) -> list[DetectorInfo]:
            return [DetectorInfo("counting", "counts its calls", checks="region")]

        @hookimpl
        def pilkada_check_region(self, tallies: Any) -> list[Finding]:
            calls.append(tallies.stations_reported)
            return []

    desk = make_desk(Counting(), builtins=(), options=RunnerOptions(debounce=0, region_min_reported=4,
                                                                     region_min_stations=4, region_growth=0.5))
    folder = write_election(tmp_path / "e", per_district=3)
    (folder / "tallies.csv").write_text("submission_id,station_code,contest_code,submitted_at\n")
    desk.import_bundle(folder)
    for n, code in enumerate(station_codes(3)):
        desk.submit_tally(form(f"s{n}", code))
    assert calls == [4, 6]


def test_region_requests_are_coalesced_until_the_debounce_ends(
        make_desk: DeskFactory, engine: Engine, election: Path, installed_example: str) -> None:
    from pilkada_graph.detect import RunnerOptions

    desk = make_desk(entry_points=True, options=RunnerOptions(debounce=1.0, region_min_reported=5,
                                                                             region_min_stations=5))
    report = desk.import_bundle(election)  # import flushes at once
    assert report.committed and len(issues_of(engine, "invalid-votes-share")) == 1
    desk.submit_tally(form("fix", OUTLIER, invalid=9))
    assert issues_of(engine, "invalid-votes-share")[0].active  # not yet: waiting for the debounce
    deadline = time.monotonic() + 10
    while issues_of(engine, "invalid-votes-share")[0].active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not issues_of(engine, "invalid-votes-share")[0].active


def test_a_detector_disabled_in_the_config_does_not_run(
        make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    desk = make_desk(settings=Settings(detectors={"form-arithmetic": {"enabled": False}}), builtins=ARITHMETIC_ONLY)
    desk.import_bundle(election)
    assert desk.submit_tally(form("bad", OUTLIER, valid=1)).issue_ids == []
    assert issues_of(engine, "form-arithmetic") == []


class NotANumber:
    @hookimpl
    def pilkada_detectors(self) -> list[DetectorInfo]:
        return [DetectorInfo("nan-evidence", "evidence with figures that are not numbers")]

    @hookimpl
    def pilkada_check_tally(self, tally: TallyView) -> list[Finding]:
        return [Finding("nan-evidence", tally.station_code, tally.contest_code, "warning", "odd figures",
                        {"turnout": float("nan"), "ratio": float("inf"), "nested": [float("-inf"), 1.5]},
                        score=float("nan"))]


def test_evidence_that_is_not_a_number_is_stored_as_null_on_both_backends(
        make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    desk = make_desk(NotANumber())
    assert desk.import_bundle(election).committed
    stored = issues_of(engine, "nan-evidence")
    assert stored, "the plugin's issues were not stored"
    assert all(i.evidence == {"turnout": None, "ratio": None, "nested": [None, 1.5]} for i in stored)
    assert all(i.score is None for i in stored)
    assert failures(engine) == []  # nothing was recorded as a detector failure


def test_a_batch_of_calls_runs_in_turn_and_one_that_overruns_its_budget_leaves_the_rest_to_a_new_worker() -> None:
    from pilkada_graph.detect import calls_with_budget

    release = threading.Event()
    ran_in: list[str] = []

    def quick(answer: int) -> int:
        ran_in.append(threading.current_thread().name + str(id(threading.current_thread())))
        return answer

    try:
        first, stuck, after, failing = calls_with_budget(
            [lambda: quick(1), lambda: release.wait(30), lambda: quick(3), lambda: 1 // 0], 0.2)
    finally:
        release.set()
    assert (first.result, first.timed_out, after.result, after.timed_out) == (1, False, 3, False)
    assert stuck.timed_out and stuck.pending is not None
    assert isinstance(failing.error, ZeroDivisionError)
    assert ran_in[0] != ran_in[1]  # the one after the overrun ran in a fresh worker
    assert calls_with_budget([], 0.2) == []


def test_only_the_active_issues_of_the_judged_subjects_and_detectors_are_read_for_clearing(
        make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    from pilkada_graph.issues import active_issue_keys
    from pilkada_graph.lifecycle import DetectorRun, Scope

    desk = make_desk(builtins=ARITHMETIC_ONLY)
    desk.import_bundle(election)
    desk.submit_tally(form("bad-1", "62.71.02.1001.001", valid=150))
    desk.submit_tally(form("bad-2", "62.71.02.1001.002", valid=150))
    desk.submit_tally(form("fixed-2", "62.71.02.1001.002", minutes=90))  # its issue cleared: inactive
    keys = frozenset(f"{CONTEST}/62.71.02.1001.00{n}" for n in (1, 2, 3))
    runs = [DetectorRun("form-arithmetic", [], Scope(keys)), DetectorRun("other", [], Scope(keys)),
            DetectorRun("form-arithmetic", [], Scope(contest=CONTEST, region="62.71"))]
    with engine.connect() as connection:
        assert active_issue_keys(connection, runs) == {"form-arithmetic": frozenset({f"{CONTEST}/62.71.02.1001.001"})}
        assert active_issue_keys(connection, runs[2:]) == {}


class _Unfinished(NoDetection):
    """A desk whose checks have not finished yet: it keeps what it was asked to judge."""

    def __init__(self) -> None:
        self.asked: list[StoredTally] = []

    def tallies_stored(self, stored: Sequence[StoredTally], *, progress: Any = None, begun: Any = None) -> list[int]:
        self.asked.extend(stored)
        return []


def test_a_check_that_ends_after_its_form_was_replaced_neither_opens_nor_clears_an_issue(
        make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    """Two clerks, two server processes: the check of a form may end after a newer form of the same
    station was stored and judged. The newer form's judgement stands."""
    desk = make_desk(builtins=ARITHMETIC_ONLY)
    desk.import_bundle(election)
    slow = _Unfinished()
    other_process = Desk(engine, Settings(database_url="unused"), slow)
    code = "62.71.02.1001.004"
    other_process.submit_tally(form("wrong-1", code, minutes=60, valid=200))  # its check is still running
    assert desk.submit_tally(form("right-1", code, minutes=90)).issue_ids == []
    desk.detection.tallies_stored(slow.asked)  # the wrong form's check ends now
    assert issues_of(engine, "form-arithmetic") == []
    slow.asked.clear()
    other_process.submit_tally(form("right-2", code, minutes=100))  # its check is still running
    wrong = desk.submit_tally(form("wrong-2", code, minutes=120, valid=200))
    desk.detection.tallies_stored(slow.asked)  # the clean form's check ends now
    [issue] = issues_of(engine, "form-arithmetic")
    assert wrong.issue_ids == [issue.id] and (issue.status, issue.active) == ("open", True)


def test_a_submission_and_its_checks_need_one_pooled_connection_at_a_time(election: Path, tmp_path: Path) -> None:
    """With a burst of submissions, every request thread holding a connection while it waited for a
    second one emptied the pool, and all of them waited for its timeout: one connection must do."""
    from pilkada_graph.db import init_database, make_engine
    from pilkada_graph.detect import DetectionRunner
    from pilkada_graph.plugins import PluginHost
    from tests.plugins.conftest import TEST_OPTIONS

    engine = make_engine(f"sqlite:///{tmp_path / 'one-connection.db'}", pool_size=1, max_overflow=0, pool_timeout=2)
    init_database(engine)
    settings = Settings(database_url="unused")
    host = PluginHost.from_settings(settings, builtins=ARITHMETIC_ONLY, entry_points=False)
    desk = Desk(engine, settings, DetectionRunner(engine, host, TEST_OPTIONS))
    desk.import_bundle(election)
    outcome = desk.submit_tally(form("desk-1", "62.71.02.1001.004", minutes=60, valid=200))
    [issue] = issues_of(engine, "form-arithmetic")
    assert outcome.issue_ids == [issue.id]
    assert count(engine, DetectorFailure) == 0


def test_a_submission_is_read_for_its_checks_in_the_transaction_that_stores_it(
        make_desk: DeskFactory, engine: Engine, election: Path) -> None:
    """A submission's checks read the contests, the form and the active issues in the transaction
    storing it, and run while it commits; a form with nothing to flag or clear needs no other
    connection, one with a finding one more to store its issue. (Region checks wait for their
    debounce, as in the server.)"""
    from dataclasses import replace

    from sqlalchemy import event

    from tests.plugins.conftest import TEST_OPTIONS

    desk = make_desk(builtins=ARITHMETIC_ONLY, options=replace(TEST_OPTIONS, debounce=3600))
    desk.import_bundle(election)
    checkouts: list[int] = []
    event.listen(engine, "checkout", lambda *_: checkouts.append(1))
    clean = desk.submit_tally(form("clean-1", "62.71.02.1001.004", minutes=60))
    assert (clean.issue_ids, len(checkouts)) == ([], 1)
    checkouts.clear()
    wrong = desk.submit_tally(form("wrong-1", "62.71.02.1001.004", minutes=90, valid=200))
    assert len(checkouts) == 2
    [issue] = issues_of(engine, "form-arithmetic")
    assert wrong.issue_ids == [issue.id] and issue.tally_id == wrong.tally_id


def test_a_read_that_fails_while_the_checks_begin_does_not_spoil_the_transaction_storing_the_form(
        make_desk: DeskFactory, engine: Engine, election: Path, monkeypatch: Any) -> None:
    """The checks begin inside the transaction that stores the form; a database error there (on
    PostgreSQL it would abort that transaction) is confined to a savepoint: the form is stored."""
    from sqlalchemy import text

    from pilkada_graph import detect_data

    def broken_read(connection: Any, *args: Any, **kwargs: Any) -> Any:
        return connection.execute(text("SELECT * FROM no_such_table"))

    desk = make_desk(builtins=ARITHMETIC_ONLY)
    desk.import_bundle(election)
    before = count(engine, Tally)
    monkeypatch.setattr(detect_data, "load_tally_batch", broken_read)
    outcome = desk.submit_tally(form("read-fails-1", "62.71.02.1001.004", minutes=60, valid=200))
    assert outcome.accepted and outcome.issue_ids == []  # judged after the commit instead, which fails too
    assert count(engine, Tally) == before + 1
    monkeypatch.undo()
    assert desk.detection.detect_all().issue_ids  # `pilkada-graph detect` judges it later
