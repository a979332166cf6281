"""The detection runner: feeds stored revisions to the detector plugins and stores their issues.

After a transaction that stored revisions commits, :meth:`DetectionRunner.tallies_stored`
(for a submission, the reading and the hand-over of step 1 happen before, in the transaction
storing it, by :meth:`DetectionRunner.begin_checks`, so that the detectors run while it commits):

1. judges, with every ``pilkada_check_tallies`` and ``pilkada_check_tally`` implementation, the
   revisions that are current once the batch is in (an older revision arriving late, or one
   superseded in the same batch, does not change the judgement of the current one), loading
   them for the whole batch in a few queries as a :class:`~pilkada_graph.detect_types.TallyBatch`
   of columns; a :class:`~pilkada_graph.detect_types.TallyView` per revision is built only when an
   enabled plugin implements ``pilkada_check_tally`` (the built-ins screen the columns and build
   views of the few rows they look at closer);
2. stores the findings as issues (:func:`pilkada_graph.lifecycle.upsert_runs`), one
   transaction and a few statements for all detectors, then tells ``on_issues_changed`` which issues changed;
   a batch that found nothing where no issue of these detectors is active stores nothing (no
   transaction: most submissions);
3. asks for the region checks of the (region, contest) pairs the batch touched. Requests are
   coalesced for ``debounce`` seconds by a timer thread (a quiet period's burst of
   ``submitTally`` calls makes one run), and a region runs only once ``region_min_reported``
   stations have reported (or all of a smaller region's; a contest whose regions at
   ``region_level`` mostly have fewer than ``region_min_stations`` is checked one level up,
   pooled), again when that number grew by ``region_growth``, and whenever a
   station's form was corrected (a new revision replacing one). Bulk imports call
   :meth:`flush` to run them at once.

A detector never stops ingestion. Each plugin's call runs in a worker thread (one reused
worker per calling thread) awaited with a time budget (``tally_budget`` per batch,
``region_budget`` per region): one that raises, runs too long or returns nonsense is recorded
in ``detector_failures`` and skipped, and the others run. Threads, not processes: detectors
get plain read-only values, so nothing needs pickling, a call costs a queue hand-over instead
of a process round-trip, and plugins loaded from folders or entry points need no re-import in
a child. The price: a hung call cannot be killed, so its worker is abandoned (daemon, its late
result discarded; the caller gets a new worker) and its plugin is skipped, recorded as
``busy``, until that call ends.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert

from pilkada_graph import detect_data
from pilkada_graph.detect_types import (
    ContestView,
    DetectorSettings,
    Finding,
    StationContext,
    TallyBatch,
    TallyView,
    subject_key,
)
from pilkada_graph.ingest import Catalog, Progress, is_below
from pilkada_graph.issues import active_issue_keys, active_issues_judging, active_subject_keys
from pilkada_graph.lifecycle import DetectorRun, Scope, upsert_runs, utc_now
from pilkada_graph.models import DetectorFailure
from pilkada_graph.plugins import PluginHost
from pilkada_graph.recaps import load_region_recaps
from pilkada_graph.store import RawSQL, StoredTally, chunked, lock_stations, replaced_revisions

if TYPE_CHECKING:
    from pilkada_graph.service import Desk

log = logging.getLogger(__name__)
IssuesChanged = Callable[[list[int]], None]
#: What a per-tally hook judges: (tally, previous revision, station context, contest).
_TallyItem = tuple[TallyView, TallyView | None, StationContext | None, ContestView]


@dataclass(frozen=True)
class RunnerOptions:
    """The runner's settings: ``[detection]`` in the config file."""

    #: Seconds one plugin may take over one batch of revisions.
    tally_budget: float = 2.0
    #: Seconds one plugin may take over one region and contest.
    region_budget: float = 30.0
    #: The level whose regions the region hooks judge (each for each contest that covers it).
    region_level: str = "regency"
    #: Stations that must have reported before region statistics mean anything.
    region_min_reported: int = 20
    #: A contest whose regions at ``region_level`` mostly have fewer stations than this is checked
    #: one level up, pooled: peer statistics and their calibration need about a hundred stations
    #: (the Russian territorial commissions, 35 stations each, are checked per oblast).
    region_min_stations: int = 100
    #: Run a region again once its reported stations grew by this fraction since the last run.
    region_growth: float = 0.10
    #: Seconds to coalesce region requests; 0 runs them at once.
    debounce: float = 2.0
    #: Revisions judged per batch (and per ``tally_budget``).
    batch_size: int = 2000

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RunnerOptions:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown [detection] setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
        options = cls(**values)
        if options.region_level not in detect_data.LEVEL_DEPTH:
            raise ValueError(f"[detection] region_level must be one of {', '.join(detect_data.LEVEL_DEPTH)}")
        return options


@dataclass(frozen=True)
class Failure:
    """A detector's fault, before it is stored in ``detector_failures``."""

    detector: str
    subject: str
    kind: str  # error | timeout | invalid | busy
    error: str


@dataclass(frozen=True)
class TallyChecks:
    """What checking one batch of revisions did."""

    #: Issues flagged, updated or cleared.
    changed: list[int]
    #: The active issues that judged the batch's revisions, after the checks.
    active: list[int]
    #: The contests the batch was read with (reused for the next batch and the region requests).
    contests: Mapping[int, ContestView]


@dataclass(frozen=True)
class _Call:
    """One plugin's call on a batch: whose, for which detectors, on what, and which hook."""

    plugin: str
    names: set[str]
    where: str
    function: Callable[[], Any]
    #: ``pilkada_check_tallies`` (the whole batch), else ``pilkada_check_tally`` (each revision).
    whole: bool

    @property
    def label(self) -> str:
        return ",".join(sorted(self.names))


@dataclass
class Judging:
    """A batch whose calls are handed over to the worker (:meth:`DetectionRunner.begin_checks`),
    and what finishing it needs."""

    stored: Sequence[StoredTally]
    contests: Mapping[int, ContestView]
    items: list[_TallyItem]
    findings: _Findings
    #: Detector -> the batch's subjects with an active issue of it before it was judged; None
    #: when not read (then read after judging, only if the batch found nothing).
    active_before: Mapping[str, frozenset[str]] | None
    calls: list[_Call] = field(default_factory=list)
    handed: HandedOver | None = None
    failures: list[Failure] = field(default_factory=list)


@dataclass
class DetectSummary:
    """What a run of :meth:`DetectionRunner.detect_all` did."""

    tallies: int = 0
    regions: int = 0
    issue_ids: set[int] = field(default_factory=set)
    failures: int = 0


# --------------------------------------------------------------------------- time budgets


@dataclass
class _Outcome:
    result: Any = None
    error: BaseException | None = None
    #: The call that overran its budget, still running (or stuck) in its abandoned worker.
    pending: Future[Any] | None = None

    @property
    def timed_out(self) -> bool:
        return self.pending is not None


class _Worker:
    """A daemon thread running detector calls one at a time for one calling thread.

    Starting a thread per call cost more than a per-tally check itself (a submission runs
    four or five); a worker is reused until a call overruns its budget, then retired: it
    finishes (or stays stuck in) that call and exits, and the caller gets a fresh worker.
    """

    def __init__(self) -> None:
        self.tasks: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="detector worker", daemon=True).start()

    def submit(self, function: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self.tasks.put((function, future))
        return future

    def retire(self) -> None:
        self.tasks.put(None)

    def _serve(self) -> None:
        while (task := self.tasks.get()) is not None:
            function, future = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function())
            except BaseException as error:  # noqa: BLE001 - a plugin's fault of any kind is recorded
                future.set_exception(error)


_workers = threading.local()


def call_with_budget(function: Callable[[], Any], budget: float) -> _Outcome:
    """Run ``function`` in this thread's detector worker; give up on it after ``budget`` seconds."""
    return calls_with_budget([function], budget)[0]


def calls_with_budget(functions: Sequence[Callable[[], Any]], budget: float) -> list[_Outcome]:
    """Run ``functions`` one after the other in this thread's detector worker, each with ``budget`` seconds.

    All are handed over at once (one hand-over and one wake-up instead of one per function: a
    submission runs four or five); each one's budget starts when the one before it ended, when
    it can start. After one overruns, the worker is retired with it and the rest run in a new one.
    """
    return HandedOver(functions).outcomes(budget)


class HandedOver:
    """Functions handed to this thread's detector worker, running while the caller goes on
    (:meth:`DetectionRunner.begin_checks` commits meanwhile); :meth:`outcomes` awaits them."""

    def __init__(self, functions: Sequence[Callable[[], Any]]) -> None:
        self.functions = functions
        if not functions:
            self.worker, self.futures = None, []
            return
        worker: _Worker | None = getattr(_workers, "worker", None)
        if worker is None:
            worker = _workers.worker = _Worker()
        self.worker, self.futures = worker, [worker.submit(function) for function in functions]

    def outcomes(self, budget: float) -> list[_Outcome]:
        """Each function's outcome, waiting at most ``budget`` seconds for each (see :func:`calls_with_budget`)."""
        outcomes: list[_Outcome] = []
        for n, future in enumerate(self.futures):
            try:
                outcomes.append(_Outcome(result=future.result(timeout=budget)))
            except FutureTimeout:
                assert self.worker is not None
                self.worker.retire()  # it may never come back: the rest go to a new worker
                if getattr(_workers, "worker", None) is self.worker:
                    _workers.worker = None
                for queued in self.futures[n + 1:]:
                    queued.cancel()
                outcomes.append(_Outcome(pending=future))  # abandoned: whatever it returns later is not read
                return outcomes + calls_with_budget(self.functions[n + 1:], budget)
            except BaseException as error:  # noqa: BLE001 - the plugin's own exception
                outcomes.append(_Outcome(error=error))
        return outcomes



def describe_error(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))[-4000:]


# --------------------------------------------------------------------------- the runner


class DetectionRunner:
    """Runs the plugins' check hooks on stored revisions and regions, and stores their issues."""

    def __init__(self, engine: Engine, host: PluginHost, options: RunnerOptions | None = None, *,
                 on_issues_changed: IssuesChanged | None = None) -> None:
        self.engine = engine
        #: For reads: on SQLite a plain BEGIN, not the writers' BEGIN IMMEDIATE (see :mod:`pilkada_graph.db`).
        self._reader = engine.execution_options(read_only=True)
        self.host = host
        self.options = options or RunnerOptions()
        self.on_issues_changed = on_issues_changed
        #: (region, contest) -> whether to run even if no more stations reported (a correction came)
        self._pending: dict[tuple[str, str], bool] = {}
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._region_lock = threading.Lock()
        self._last_reported: dict[tuple[str, str], int] = {}
        self._hung: dict[str, Future[Any]] = {}
        self._depths: dict[str, int] = {}
        self._contests_cache: tuple[tuple[Any, ...], dict[int, ContestView]] | None = None
        #: Seconds spent so far in per-tally checks and in region checks (loading, detectors, storing).
        self.seconds: dict[str, float] = {"tally": 0.0, "region": 0.0}

    @classmethod
    def for_desk(cls, desk: Desk, *, on_issues_changed: IssuesChanged | None = None) -> DetectionRunner:
        """The runner of a desk: its settings' plugins and options; changes go to its event bus."""
        host = PluginHost.from_settings(desk.settings)
        options = RunnerOptions.from_mapping(desk.settings.detection)
        notify = on_issues_changed or getattr(desk, "publish_issue_changes", None)
        return cls(desk.engine, host, options, on_issues_changed=notify)

    # -- the Detection protocol of service.Desk

    def tallies_stored(self, stored: Sequence[StoredTally], *, progress: Progress | None = None,
                       begun: Judging | None = None) -> list[int]:
        """Judge the batch's current revisions, schedule region checks; the revisions' active issue ids.

        ``begun``: their checks, started by :meth:`begin_checks` in the transaction that stored them.

        No step holds a pooled connection while it checks out another: under a burst of submissions,
        each request thread holding one while waiting for a second emptied the pool (every thread
        then waited for the pool's timeout)."""
        judged = effective_revisions(stored)
        if not judged:
            return []
        try:
            all_checks = [self.finish_checks(begun)] if begun is not None else self._check_in_batches(judged, progress)
            contests = all_checks[-1].contests
            corrected = self._region_pairs(((s.station_code, s.contest_id) for s in judged if s.previous_id),
                                           contests)
            self.request_regions(self._region_pairs(((s.station_code, s.contest_id) for s in judged), contests),
                                 corrected=corrected)
            return sorted(issue_id for checks in all_checks for issue_id in checks.active)
        except Exception:  # the revisions are stored whatever happens here
            log.exception("detection failed after storing %d revision(s)", len(stored))
            return []

    def _check_in_batches(self, judged: Sequence[StoredTally], progress: Progress | None) -> list[TallyChecks]:
        all_checks: list[TallyChecks] = []
        contests: Mapping[int, ContestView] | None = None
        done = 0
        for chunk in chunked(judged, self.options.batch_size):
            all_checks.append(checks := self.check_tallies(chunk, contests))
            contests, done = checks.contests, done + len(chunk)
            if progress:
                progress("per-tally checks", done, len(judged))
        return all_checks

    def issues_for_tally(self, tally_id: int) -> list[int]:
        """Active issues that judged this revision."""
        with self._reader.connect() as connection:
            return active_issues_judging(connection, [tally_id])

    # -- per-tally hooks

    def begin_checks(self, connection: Connection, stored: Sequence[StoredTally]) -> Judging | None:
        """Start judging revisions in the transaction that is storing them, before it commits: their
        rows are read through ``connection`` and the detectors run in the worker while the caller
        commits (a commit and a hand-over to the worker each cost about as much as the checks of a
        submission). :meth:`tallies_stored` with ``begun`` finishes, after the commit: issues are
        stored only then (a transaction that rolls back leaves the judgement unread).

        None when the revisions are more than a batch (they are judged after the commit, batch by
        batch) or reading failed. A failed read never spoils the transaction storing the
        revisions: on PostgreSQL, where a failed statement aborts its transaction, the reads run in
        a savepoint; on SQLite, where a statement fails alone, they don't (a savepoint cost 0.2 ms
        there, as much as the reads)."""
        judged = effective_revisions(stored)
        if not judged or len(judged) > self.options.batch_size:
            return None
        try:
            with _confined(connection):
                return self._begin(connection, judged, None, read_active=True)
        except Exception:  # noqa: BLE001 - judged after the commit instead
            log.exception("could not start the checks of %d revision(s) before commit", len(judged))
            return None

    def check_tallies(self, stored: Sequence[StoredTally],
                      contests: Mapping[int, ContestView] | None = None) -> TallyChecks:
        """Run every ``pilkada_check_tallies`` and ``pilkada_check_tally`` on these (current) revisions;
        store issues and failures. The batch's columns are loaded once; the views that
        ``pilkada_check_tally`` takes are built only when an enabled plugin implements it.

        Everything read before judging (the contests when ``None`` is given and they changed, the
        batch, the issues active on its subjects) is read through one connection: a submission
        checked out four, which cost about as much as its detectors. ``TallyChecks.active`` is
        meant for newly stored revisions (when nothing was found in them, no issue judged them);
        :meth:`detect_all`, re-judging stored ones, reads only ``changed``."""
        with self._reader.connect() as reading:
            judging = self._begin(reading, stored, contests, read_active=False)
        return self.finish_checks(judging)

    def _begin(self, connection: Connection, stored: Sequence[StoredTally],
               contests: Mapping[int, ContestView] | None, *, read_active: bool) -> Judging:
        """Read the batch and hand its calls over to the worker; with ``read_active``, also the issues
        active on its subjects (a submission's, in its transaction: no connection after the commit
        when it finds nothing). An import's batches nearly always find something, and read them
        under the write lock anyway."""
        with _timed(self.seconds, "tally"):
            settings = self.host.enabled_settings()
            hook = self.host.manager.hook
            judges = self._judges(hook.pilkada_check_tally.get_hookimpls(), settings)
            batch_judges = self._judges(hook.pilkada_check_tallies.get_hookimpls(), settings)
            asked = {name for impl, _ in judges for name in impl.argnames}
            contests = self._contests(connection) if contests is None else contests
            batch = detect_data.load_tally_batch(connection, stored, contests,
                                                 with_previous=bool(batch_judges) or "previous" in asked)
            items = _tally_items(connection, batch, contests, asked) if judges else []
            findings = _Findings(batch)
            detectors = {name for _, names in [*judges, *batch_judges] for name in names}
            active = active_subject_keys(connection, detectors, findings.subject_keys) if read_active else None
            judging = Judging(stored, contests, items, findings, active)
            if len(batch):
                where = (f"{len(batch)} revision(s) from tally {batch.tally_ids[0]} "
                         f"({batch.station_codes[0]} {batch.contest_codes[0]})")
                calls = [_Call(impl.plugin_name, names, where, partial(_judge_all, impl, items, settings), False)
                         for impl, names in judges]
                calls += [_Call(impl.plugin_name, names, where, partial(_judge_batch, impl, batch, settings), True)
                          for impl, names in batch_judges]
                judging.calls = [c for c in calls if not self._busy(c.plugin, c.label, where, judging.failures)]
                judging.handed = HandedOver([c.function for c in judging.calls])
            return judging

    def finish_checks(self, judging: Judging) -> TallyChecks:
        """Await the calls handed over by :meth:`_begin`, then store their issues and failures."""
        with _timed(self.seconds, "tally"):
            findings, failures = judging.findings, judging.failures
            outcomes = judging.handed.outcomes(self.options.tally_budget) if judging.handed else []
            for call, outcome in zip(judging.calls, outcomes, strict=True):
                judged = self._settle(call.plugin, call.label, call.where, self.options.tally_budget, failures,
                                      outcome)
                if judged is None:
                    continue
                if call.whole:
                    _collect_batch(call.names, call.label, call.where, judged, findings, failures)
                else:
                    _collect(call.names, call.label, judging.items, judged, findings, failures)
            pairs = {s.id: (s.station_id, s.contest_id) for s in judging.stored}
            judged_keys = {key: (*pairs[tally_id], tally_id) for key, tally_id in findings.tally_ids.items()}
            tally_ids = [s.id for s in judging.stored]
            changed, active = self._store_tally_runs(findings.runs, failures, judged_keys, judging.active_before,
                                                     tally_ids)
            self._notify(changed)
            return TallyChecks(changed, active, judging.contests)

    def _judges(self, impls: Sequence[Any], settings: DetectorSettings) -> list[tuple[Any, set[str]]]:
        """The implementations with an enabled per-tally detector, and those detectors' names."""
        return [(impl, names) for impl in impls if (names := self._detectors_of(impl.plugin_name, "tally", settings))]

    def _store_tally_runs(self, runs: Sequence[DetectorRun], failures: Sequence[Failure],
                          judged: Mapping[str, tuple[int, int, int]],
                          active_before: Mapping[str, frozenset[str]] | None,
                          tally_ids: Sequence[int]) -> tuple[list[int], list[int]]:
        """Store a batch's findings: (the issues changed, the active issues that judged ``tally_ids``).

        Nothing at all (no write transaction) when the batch found nothing, failed nowhere and no
        issue of these detectors was active on its subjects before it was judged
        (``active_before``, read now if None): most batches of a submission. No issue then judged these new
        revisions (the per-tally detectors found nothing in them). Otherwise each run's scope is
        trimmed to the subjects with an active issue (read again under the write lock): only those
        can clear, and ``upsert_runs`` then reads only the issues that can change.

        A subject whose revision was replaced while it was judged (``judged``: key -> station id,
        contest id, tally id; a newer form stored by another process) is left out altogether: the
        newer form's judgement stands, neither opened nor cleared by the older one's. Only the
        subjects an issue may be written for (a finding, or an active issue that may clear) are
        looked at: of an import's 2,000 a batch, a few dozen. On PostgreSQL their stations stay
        locked ``FOR SHARE`` until the issues are stored, so a newer form waits for them and its
        own check then sees them; a subject with neither writes nothing, whatever its revision."""
        if not failures and not any(run.findings for run in runs):
            if active_before is None:
                with self._reader.connect() as reading:
                    active_before = active_issue_keys(reading, runs)
            if not active_before:
                return [], []
        with self.engine.begin() as connection:
            raw = RawSQL(connection)
            active = active_issue_keys(connection, runs)
            touched = {f.subject_key for run in runs for f in run.findings}.union(*active.values())
            written = {key: judged[key] for key in touched if key in judged}
            lock_stations(raw, {station_id for station_id, _, _ in written.values()}, share=True)
            replaced = replaced_revisions(raw, written)
            trimmed = [DetectorRun(run.detector, [f for f in run.findings if f.subject_key not in replaced],
                                   Scope((run.scope.subject_keys & active.get(run.detector, frozenset())) - replaced),
                                   run.tally_ids) for run in runs]
            changed = upsert_runs(connection, [run for run in trimmed if run.findings or run.scope.subject_keys])
            record_failures(connection, failures)
            return changed, active_issues_judging(connection, tally_ids)

    # -- region hooks

    def request_regions(self, pairs: Iterable[tuple[str, str]], *, corrected: Iterable[tuple[str, str]] = ()) -> None:
        """Ask for region checks; coalesced for ``debounce`` seconds (at once when 0).

        A region runs when enough more stations reported since its last run, or, for the
        ``corrected`` pairs, because a station's form was corrected (its issues may clear).
        """
        with self._lock:
            for pair in pairs:
                self._pending.setdefault(pair, False)
            for pair in corrected:
                self._pending[pair] = True
            if not self._pending:
                return
            if self.options.debounce > 0:
                if self._timer is None:
                    self._timer = threading.Timer(self.options.debounce, self._run_pending_safely)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.flush()

    def flush(self, *, progress: Progress | None = None) -> None:
        """Run the pending region checks now, in the caller's thread."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            pending, self._pending = self._pending, {}
        if not pending:
            return
        with self._region_lock:
            contests = self._contests()  # once per flush, not once per region: ~1,000 pairs nationally
            for done, ((region_code, contest_code), force) in enumerate(sorted(pending.items()), start=1):
                self._notify(self.check_region(region_code, contest_code, force=force, contests=contests))
                if progress:
                    progress("region checks", done, len(pending))

    def close(self) -> None:
        """Run what is pending and stop the timer (at shutdown)."""
        self.flush()

    def _run_pending_safely(self) -> None:
        try:
            with self._lock:
                self._timer = None
            self.flush()
        except Exception:  # a background thread must log, not die silently
            log.exception("region detection failed")

    def check_region(self, region_code: str, contest_code: str, *, force: bool = False,
                     contests: Mapping[int, ContestView] | None = None) -> list[int]:
        """Run every ``pilkada_check_region`` on one region and contest, if enough stations reported."""
        with _timed(self.seconds, "region"):
            return self._check_region(region_code, contest_code, force=force, contests=contests)

    def _check_region(self, region_code: str, contest_code: str, *, force: bool,
                      contests: Mapping[int, ContestView] | None) -> list[int]:
        if contests is None:
            contests = self._contests()
        with self.engine.connect() as connection:
            contest_id = next((cid for cid, c in contests.items() if c.code == contest_code), None)
            summary = detect_data.region_summary(connection, region_code, contest_id) if contest_id else None
            if summary is None or contest_id is None or not self._worth_running(summary, contest_code, force):
                return []
            tallies = detect_data.load_region_tallies(connection, summary, contests[contest_id], contest_id)
            recaps = load_region_recaps(connection, region_code, contest_code)
        self._last_reported[(region_code, contest_code)] = summary.stations_reported
        settings = self.host.enabled_settings()
        runs: list[tuple[str, list[Finding], Scope, dict[str, int]]] = []
        failures: list[Failure] = []
        tally_of = {subject_key(str(code), contest_code): int(tally_id)
                    for code, tally_id in zip(tallies.station_codes, tallies.tally_ids, strict=True)}
        kwargs = {"region": summary, "contest": contests[contest_id], "tallies": tallies, "recaps": recaps,
                  "settings": settings}
        for impl in self.host.manager.hook.pilkada_check_region.get_hookimpls():
            names = self._detectors_of(impl.plugin_name, "region", settings)
            if not names:
                continue
            label = ",".join(sorted(names))
            outcome = self._call(impl.plugin_name, label, f"region {region_code} {contest_code}",
                                 self.options.region_budget, failures,
                                 partial(_call_region_hook, impl, kwargs))
            if outcome is None:
                continue
            valid, invalid = _validate_region_findings(outcome, region_code, contest_code, names)
            failures.extend(Failure(label, f"region {region_code} {contest_code}", "invalid", m) for m in invalid)
            scope = Scope(contest=contest_code, region=region_code)
            runs += [(name, [f for f in valid if f.detector == name], scope, tally_of) for name in sorted(names)]
        return self._store(runs, failures)

    def _worth_running(self, summary: Any, contest_code: str, force: bool) -> bool:
        reported = summary.stations_reported
        if reported < self.minimum_reported(summary.stations_total):
            return False
        last = self._last_reported.get((summary.code, contest_code))
        return force or last is None or reported >= last * (1 + self.options.region_growth)

    def minimum_reported(self, stations_total: int) -> int:
        """Stations that must have reported: ``region_min_reported``, or all of a smaller region's.

        A regency of twelve stations never reaches twenty; once all of them are in, its checks
        run with the peers there are (the detectors' own minimums still apply).
        """
        if stations_total <= 0:
            return self.options.region_min_reported
        return min(self.options.region_min_reported, stations_total)

    def _region_pairs(self, stations: Iterable[tuple[str, int]],
                      contests: Mapping[int, ContestView]) -> set[tuple[str, str]]:
        """(region, contest) pairs to check for these (station code, contest id): the depth once per
        contest, then each station's ancestor at it."""
        stations = list(stations)
        contest_ids = {cid for _, cid in stations}
        depths = self._check_depths(contest_ids, contests)
        at = {cid: pair_depth(contests[cid], self.options.region_level, depths.get(contests[cid].code))
              for cid in contest_ids}
        return {(".".join(code.split(".", at[cid])[:at[cid]]), contests[cid].code) for code, cid in stations}

    def _check_depths(self, contest_ids: Iterable[int], contests: Mapping[int, ContestView]) -> dict[str, int]:
        """The depth at which each contest's regions are checked (cached: regions rarely change)."""
        missing = [contests[cid] for cid in contest_ids if contests[cid].code not in self._depths]
        if missing:
            with self.engine.connect() as connection:
                self._depths.update(detect_data.check_depths(
                    connection, missing, self.options.region_level, self.options.region_min_stations))
        return self._depths

    # -- on demand

    def detect_all(self, *, contest: str | None = None, region: str | None = None) -> DetectSummary:
        """Re-run every detector on the current revisions (optionally one contest and/or region)."""
        summary = DetectSummary()
        contests = self._contests()
        with self.engine.connect() as connection:
            contest_id = next((cid for cid, c in contests.items() if c.code == contest), None)
            if contest is not None and contest_id is None:
                raise ValueError(f"no contest {contest!r}")
            current = detect_data.current_tallies(connection, contest_id=contest_id, region_code=region)
        for chunk in chunked(current, self.options.batch_size):
            stored = [StoredTally(tally_id, "", station_id, contest_id, code, contests[contest_id].code, True, None)
                      for tally_id, code, contest_id, station_id in chunk]
            summary.issue_ids.update(self.check_tallies(stored, contests).changed)
        summary.tallies = len(current)
        for region_code, contest_code in sorted(self._region_pairs(((c, i) for _, c, i, _ in current), contests)):
            summary.issue_ids.update(self._notify(self.check_region(region_code, contest_code, force=True,
                                                                    contests=contests)))
            summary.regions += 1
        return summary

    # -- shared

    def _contests(self, reading: Connection | None = None) -> dict[int, ContestView]:
        """Every contest with its candidates, reloaded only when one was added (by any process):
        a submission's checks would otherwise read them all each time. Read through ``reading``
        when given, else through a connection of its own."""
        if reading is None:
            with self._reader.connect() as connection:
                return self._contests(connection)
        stamp = Catalog.reference_stamp(reading)
        if self._contests_cache is None or self._contests_cache[0] != stamp:
            self._contests_cache = (stamp, detect_data.load_contests(reading))
        return self._contests_cache[1]

    def _detectors_of(self, plugin: str, checks: str, settings: DetectorSettings) -> set[str]:
        return {name for name, d in self.host.detectors().items()
                if d.plugin == plugin and d.info.checks == checks and name in settings}

    def _call(self, plugin: str, label: str, where: str, budget: float, failures: list[Failure],
              function: Callable[[], Any]) -> Any | None:
        """The function's result, or None after recording why there is none."""
        if self._busy(plugin, label, where, failures):
            return None
        return self._settle(plugin, label, where, budget, failures, call_with_budget(function, budget))

    def _busy(self, plugin: str, label: str, where: str, failures: list[Failure]) -> bool:
        """Whether the plugin's previous call is still running (recorded as ``busy``): it is skipped."""
        hung = self._hung.get(plugin)
        if hung is not None and not hung.done():
            failures.append(Failure(label, where, "busy", "skipped: its previous call is still running"))
            return True
        return False

    def _settle(self, plugin: str, label: str, where: str, budget: float, failures: list[Failure],
                outcome: _Outcome) -> Any | None:
        """The call's result, or None after recording why there is none."""
        if outcome.timed_out:
            self._hung[plugin] = outcome.pending  # type: ignore[assignment]
            failures.append(Failure(label, where, "timeout", f"ran longer than {budget:g} s; result discarded"))
            return None
        if outcome.error is not None:
            failures.append(Failure(label, where, "error", describe_error(outcome.error)))
            return None
        return outcome.result

    def _store(self, runs: Sequence[tuple[str, list[Finding], Scope, Mapping[str, int]]],
               failures: Sequence[Failure]) -> list[int]:
        changed: set[int] = set()
        with self.engine.begin() as connection:
            changed.update(upsert_runs(connection, [DetectorRun(*run) for run in runs]))
            record_failures(connection, failures)
        return sorted(changed)

    def _notify(self, issue_ids: list[int]) -> list[int]:
        if issue_ids and self.on_issues_changed is not None:
            try:
                self.on_issues_changed(issue_ids)
            except Exception:  # subscribers' trouble is not the detectors'
                log.exception("on_issues_changed failed")
        return issue_ids


def _tally_items(reading: Connection, batch: TallyBatch, contests: Mapping[int, ContestView],
                 asked: set[str]) -> list[_TallyItem]:
    """(tally, previous, station, contest) per row of the batch, for ``pilkada_check_tally``: every
    row's view, the previous revisions' and the station contexts only when a hook asks for them
    (None otherwise)."""
    views = [batch.view(i) for i in range(len(batch))]
    contexts = detect_data.load_station_contexts(
        reading, views, {c.code: cid for cid, c in contests.items()}) if "station" in asked else {}
    return [(view, batch.previous(i) if "previous" in asked else None,
             contexts.get((view.station_code, view.contest_code)), batch.contest(i))
            for i, view in enumerate(views)]


def _collect(names: set[str], label: str, items: Sequence[_TallyItem],
             judged: Sequence[tuple[Any, BaseException | None]], findings: _Findings,
             failures: list[Failure]) -> None:
    """One ``pilkada_check_tally`` plugin's answers on the batch: its valid findings, and what it
    judged (or failed on)."""
    keys: list[str] = []
    for (view, *_), key, (found, error) in zip(items, findings.subject_keys, judged, strict=True):
        if error is not None:
            failures.append(Failure(label, _tally_label(view), "error", describe_error(error)))
            continue
        keys.append(key)
        if found:  # most revisions are clean: nothing to validate
            valid, invalid = _validate_tally_findings(found, view, names)
            failures.extend(Failure(label, _tally_label(view), "invalid", message) for message in invalid)
            findings.found(valid)
    findings.judged(names, keys)


def _collect_batch(names: set[str], label: str, where: str, returned: Any, findings: _Findings,
                   failures: list[Failure]) -> None:
    """One ``pilkada_check_tallies`` plugin's answer: its valid findings; it judged every row."""
    subjects = set(findings.subject_keys)
    valid, problems = _validate_findings(returned, names, lambda f: f.subject_key in subjects,
                                         "a tally check may report only on its revisions' stations and contests, not")
    failures.extend(Failure(label, where, "invalid", message) for message in problems)
    findings.found(valid)
    findings.judged(names, findings.subject_keys)


class _Findings:
    """Findings on one batch of revisions, per detector, with the subjects each detector judged."""

    def __init__(self, batch: TallyBatch) -> None:
        self.findings: dict[str, list[Finding]] = {}
        self.keys: dict[str, set[str]] = {}
        self.subject_keys = [subject_key(station, contest)
                             for station, contest in zip(batch.station_codes.tolist(), batch.contest_codes.tolist(),
                                                         strict=True)]
        self.tally_ids = dict(zip(self.subject_keys, batch.tally_ids.tolist(), strict=True))

    def judged(self, names: Iterable[str], keys: Sequence[str]) -> None:
        """These detectors judged these subjects (issues of theirs not found again may clear)."""
        for name in names:
            self.keys.setdefault(name, set()).update(keys)

    def found(self, findings: Iterable[Finding]) -> None:
        for finding in findings:
            self.findings.setdefault(finding.detector, []).append(finding)

    @property
    def runs(self) -> list[DetectorRun]:
        return [DetectorRun(name, self.findings.get(name, []), Scope(frozenset(keys)), self.tally_ids)
                for name, keys in sorted(self.keys.items())]


def _confined(connection: Connection) -> AbstractContextManager[Any]:
    """A savepoint on PostgreSQL, where a failed statement aborts the whole transaction; nothing on
    SQLite, where it fails alone."""
    return connection.begin_nested() if connection.dialect.name == "postgresql" else nullcontext()


@contextmanager
def _timed(seconds: dict[str, float], what: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[what] += time.perf_counter() - started


def _call_region_hook(impl: Any, available: Mapping[str, Any]) -> Any:
    """The implementation with only the arguments it asks for, as pluggy itself would pass them."""
    return impl.function(**{name: available[name] for name in impl.argnames})


#: Where each argument of ``pilkada_check_tally`` is in ``(*item, settings)``.
_TALLY_ARGUMENTS = {"tally": 0, "previous": 1, "station": 2, "contest": 3, "settings": 4}


def _judge_all(impl: Any, items: Sequence[_TallyItem], settings: DetectorSettings
               ) -> list[tuple[Any, BaseException | None]]:
    """One plugin's hook on every item: (its findings, None) or (None, the exception it raised).

    Positional arguments, only those the implementation asks for, as pluggy itself passes them.
    """
    function, at = impl.function, [_TALLY_ARGUMENTS[name] for name in impl.argnames]
    judged: list[tuple[Any, BaseException | None]] = []
    for item in items:
        available = (*item, settings)
        try:
            judged.append((function(*[available[i] for i in at]), None))
        except Exception as error:  # noqa: BLE001 - recorded against this one revision
            judged.append((None, error))
    return judged


def _judge_batch(impl: Any, batch: TallyBatch, settings: DetectorSettings) -> Any:
    """One plugin's ``pilkada_check_tallies`` on the batch, with only the arguments it asks for."""
    available = {"tallies": batch, "settings": settings}
    return impl.function(*[available[name] for name in impl.argnames])


def _tally_label(view: TallyView) -> str:
    return f"tally {view.tally_id} ({view.station_code} {view.contest_code})"


def _as_findings(returned: Any) -> tuple[list[Finding], list[str]]:
    if returned is None:
        return [], []
    if isinstance(returned, Finding) or not isinstance(returned, Iterable):
        return [], [f"returned {type(returned).__name__}, not a list of Finding"]
    findings = [f for f in returned if isinstance(f, Finding)]
    others = [f"returned {type(f).__name__} among its findings" for f in returned if not isinstance(f, Finding)]
    return findings, others


def _validate_findings(returned: Any, names: set[str], may_report_on: Callable[[Finding], bool],
                       refusal: str) -> tuple[list[Finding], list[str]]:
    """A hook's answer split into valid findings and problems: a finding must be of one of the plugin's
    enabled detectors (``names``) and about a subject ``may_report_on`` allows (``refusal``, followed
    by the subject, says why not)."""
    findings, problems = _as_findings(returned)
    valid = []
    for f in findings:
        if f.detector not in names:
            problems.append(f"finding of undeclared or disabled detector {f.detector!r}")
        elif not may_report_on(f):
            problems.append(f"{refusal} {f.subject_key}")
        else:
            valid.append(f)
    return valid, problems


def _validate_tally_findings(returned: Any, view: TallyView, names: set[str]) -> tuple[list[Finding], list[str]]:
    key = subject_key(view.station_code, view.contest_code)
    return _validate_findings(returned, names, lambda f: f.subject_key == key,
                              "a tally check may report only on its station and contest, not")


def _validate_region_findings(returned: Any, region: str, contest: str,
                              names: set[str]) -> tuple[list[Finding], list[str]]:
    return _validate_findings(returned, names, lambda f: f.contest == contest and is_below(f.subject, region),
                              f"a region check of {region} {contest} cannot report on")


def effective_revisions(stored: Sequence[StoredTally]) -> list[StoredTally]:
    """The revisions that are current once the batch is in: the last current one per station and contest."""
    latest: dict[tuple[int, int], StoredTally] = {}
    for s in stored:
        if s.is_current:
            latest[(s.station_id, s.contest_id)] = s
    return sorted(latest.values(), key=lambda s: s.id)


def pair_depth(contest: ContestView, level: str, depth: int | None = None) -> int:
    """The depth of the region whose check covers a station of this contest: ``level``'s (or
    ``depth``, see :func:`pilkada_graph.detect_data.check_depths`), or the contest's own region's
    when that is deeper (a city's mayoral race checked as a whole)."""
    depth = depth or detect_data.LEVEL_DEPTH[level]
    if contest.region_code:
        depth = max(depth, detect_data.depth_of(contest.region_code))
    return depth


def record_failures(connection: Connection, failures: Sequence[Failure]) -> None:
    if failures:
        now = utc_now()
        connection.execute(insert(DetectorFailure), [
            {"detector": f.detector[:80], "subject": f.subject[:200], "kind": f.kind, "error": f.error, "at": now}
            for f in failures
        ])
        for f in failures:
            log.warning("detector %s failed (%s) on %s: %s", f.detector, f.kind, f.subject, f.error.splitlines()[-1:])
