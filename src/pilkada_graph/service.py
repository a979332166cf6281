"""The application object: one place that owns the database, the detectors and the bus.

Every feed goes through :class:`Desk`: the bundle import, the Sirekap import and the
``submitTally`` mutation all end in :meth:`Desk.after_store`, which runs the detectors on the
stored revisions after their transaction committed, and then publishes events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from pilkada_graph.config import Settings
from pilkada_graph.db import init_database, make_engine
from pilkada_graph.ingest import (
    Catalog,
    ImportReport,
    Problem,
    Progress,
    StoredTally,
    TallyForm,
    ValidTally,
    collector_paused,
    existing_submissions,
    import_bundle,
    store_tallies,
    validate_tally,
)
from pilkada_graph.pubsub import EventBus, issue_events, open_bus, tally_events

logger = logging.getLogger(__name__)


class Detection(Protocol):
    """What the desk needs of the detection runner (see :mod:`pilkada_graph.detect`)."""

    def begin_checks(self, connection: Connection, stored: Sequence[StoredTally]) -> Any | None:
        """Start the per-tally checks of revisions in the transaction storing them (before it commits);
        what it returns goes to :meth:`tallies_stored` as ``begun``. Never raises; None to judge after."""
        ...

    def tallies_stored(self, stored: Sequence[StoredTally], *, progress: Progress | None = None,
                       begun: Any | None = None) -> list[int]:
        """Run per-tally detectors on new revisions; schedule region detectors. Returns issue ids."""
        ...

    def issues_for_tally(self, tally_id: int) -> list[int]:
        """Ids of the issues that judged this revision."""
        ...

    def flush(self, *, progress: Progress | None = None) -> None:
        """Run the region detectors still waiting for their debounce now (after a bulk import)."""
        ...


class NoDetection:
    def begin_checks(self, connection: Connection, stored: Sequence[StoredTally]) -> Any | None:
        return None

    def tallies_stored(self, stored: Sequence[StoredTally], *, progress: Progress | None = None,
                       begun: Any | None = None) -> list[int]:
        return []

    def issues_for_tally(self, tally_id: int) -> list[int]:
        return []

    def flush(self, *, progress: Progress | None = None) -> None:
        return None


@dataclass
class SubmitOutcome:
    """A submission's answer: the stored revision and its issues, or the problems."""

    tally_id: int | None = None
    issue_ids: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    repeat: bool = False

    @property
    def accepted(self) -> bool:
        return self.tally_id is not None


class Desk:
    def __init__(self, engine: Engine, settings: Settings | None = None, detection: Detection | None = None,
                 bus: EventBus | None = None) -> None:
        self.engine = engine
        self.settings = settings or Settings()
        self.detection: Detection = detection or NoDetection()
        #: Where committed changes are told (``--event-bus``); see :mod:`pilkada_graph.pubsub`.
        self.bus: EventBus = bus or open_bus(self.settings.event_bus, self.settings.database_url)
        #: Regions and contests as last loaded, with the stamp they were loaded at (see ``_catalog``).
        self._reference: tuple[tuple[object, ...], Catalog] | None = None

    @classmethod
    def open(cls, settings: Settings, *, with_detection: bool = True) -> Desk:
        """Connect to the settings' database (creating or upgrading its schema)."""
        engine = make_engine(settings.database_url)
        init_database(engine)
        desk = cls(engine, settings)
        if with_detection:
            desk.detection = _default_detection(desk)
        return desk

    def import_bundle(self, folder: Path, *, skip_invalid: bool = False, actor: str | None = None,
                      progress: Progress | None = None) -> ImportReport:
        report = import_bundle(self.engine, folder, skip_invalid=skip_invalid, actor=actor, progress=progress)
        return self._judge_import(report, progress)

    def import_sirekap(self, path: Path, *, paslon: Path, contest_code: str | None = None,
                       skip_invalid: bool = False, actor: str | None = None,
                       progress: Progress | None = None) -> ImportReport:
        """Sirekap JSON (``shared/spec/sirekap.md``): another parser in front of the same door."""
        from pilkada_graph.sirekap import import_sirekap

        report = import_sirekap(self.engine, path, paslon=paslon, contest_code=contest_code,
                                skip_invalid=skip_invalid, actor=actor, progress=progress)
        return self._judge_import(report, progress)

    def _judge_import(self, report: ImportReport, progress: Progress | None) -> ImportReport:
        """After a committed bulk import: events and detection, regions included, before returning."""
        if report.committed:
            with collector_paused():
                self.after_store(report.tallies, progress=progress)
                self.detection.flush(progress=progress)
        return report

    def submit_tally(self, form: TallyForm, *, retried: bool = False) -> SubmitOutcome:
        """Store one form (idempotent on its submission id) and judge it.

        The same id again with the same content is answered as the first time (``repeat``); with
        different content it is a conflict (see :mod:`pilkada_graph.integrity`).
        """
        from sqlalchemy.exc import IntegrityError

        from pilkada_graph.integrity import conflict, differing_fields

        try:
            with self.engine.begin() as connection:
                known = existing_submissions(connection, [form.submission_id])
                if form.submission_id in known:
                    differing = differing_fields(connection, form, known[form.submission_id])
                else:
                    stored, problems = self._store_one(connection, form, self._catalog(connection))
                    begun = self.detection.begin_checks(connection, stored) if stored else None
        except IntegrityError:
            if retried:
                raise
            return self.submit_tally(form, retried=True)  # the same id stored concurrently: answer as a repeat
        if form.submission_id in known:
            if differing:
                return SubmitOutcome(problems=[conflict(form, differing)])
            tally_id = known[form.submission_id]
            return SubmitOutcome(tally_id, self.detection.issues_for_tally(tally_id), repeat=True)
        if problems:
            return SubmitOutcome(problems=problems)
        return SubmitOutcome(stored[0].id, self.after_store(stored, begun=begun))

    def _catalog(self, connection: Connection) -> Catalog:
        """A catalog for one submission, sharing the regions and contests loaded by an earlier one
        for as long as nothing was added to them (by this process or another)."""
        stamp = Catalog.reference_stamp(connection)
        cached = self._reference
        if cached is None or cached[0] != stamp:
            cached = self._reference = (stamp, Catalog(connection))
        return Catalog(connection, reference=cached[1])

    @staticmethod
    def _store_one(connection: Connection, form: TallyForm,
                   catalog: Catalog) -> tuple[list[StoredTally], list[Problem]]:
        station, contest, problems = validate_tally(form, catalog)
        if problems or station is None or contest is None:
            return [], problems
        return store_tallies(connection, [ValidTally(form, station, contest)], catalog), []

    def after_store(self, stored: Sequence[StoredTally], *, progress: Progress | None = None,
                    begun: Any | None = None) -> list[int]:
        """After commit: tally events, then detection (which publishes issue events; ``begun``: the
        checks :meth:`Detection.begin_checks` started before the commit). Never raises."""
        if not stored:
            return []
        if self.bus.has_listeners:  # a bulk import with nobody subscribed skips building ~1 event per revision
            self.bus.publish_many(tally_events(stored))
        try:
            return self.detection.tallies_stored(stored, progress=progress, begun=begun)
        except Exception:  # noqa: BLE001 - the revisions are committed: a failure here must not undo the answer
            logger.exception("detection after storing %d revision(s) failed; `pilkada-graph detect` re-runs it",
                             len(stored))
            return []

    def publish_issue_changes(self, issue_ids: Sequence[int], status: str | None = None) -> None:
        """Tell subscribers that these issues were flagged, updated or reviewed (call after commit)."""
        if issue_ids:
            self.bus.publish_many(issue_events(issue_ids, status))


def _default_detection(desk: Desk) -> Detection:
    from pilkada_graph.detect import DetectionRunner  # imported late: it loads the plugins

    return DetectionRunner.for_desk(desk)
