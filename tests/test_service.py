"""The Desk: what happens after a submission's transaction commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from pilkada_graph.config import Settings
from pilkada_graph.ingest import Progress, StoredTally, TallyForm, import_bundle
from pilkada_graph.models import Tally
from pilkada_graph.service import Desk


class BrokenDetection:
    """A runner whose storage fails after the revision was committed (e.g. a database hiccup)."""

    def begin_checks(self, connection: Any, stored: Sequence[StoredTally]) -> None:
        return None

    def tallies_stored(self, stored: Sequence[StoredTally], *, progress: Progress | None = None,
                       begun: Any = None) -> list[int]:
        raise RuntimeError("issue store unavailable")

    def issues_for_tally(self, tally_id: int) -> list[int]:
        return []

    def flush(self, *, progress: Progress | None = None) -> None:
        return None


def test_a_failure_after_commit_does_not_turn_an_accepted_submission_into_an_error(
        engine: Engine, mini_bundle: Path) -> None:
    assert import_bundle(engine, mini_bundle).committed
    desk = Desk(engine, Settings(database_url="unused"), detection=BrokenDetection())
    form = TallyForm("late-1", "62.71.01.1001.002", "gub-62",
                     datetime(2024, 11, 27, 18, 0, tzinfo=timezone(timedelta(hours=7))),
                     counts={"voters": 200}, votes={1: 100, 2: 90})
    outcome = desk.submit_tally(form)
    assert outcome.accepted and outcome.issue_ids == []
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(Tally).where(
            Tally.submission_id == "late-1")).scalar_one()
    assert stored == 1


def test_a_bulk_import_reports_progress_through_storing_and_both_kinds_of_checks(
        tmp_path: Path, small_bundle: Path) -> None:
    seen: dict[str, tuple[int, int | None]] = {}

    def progress(phase: str, done: int, total: int | None) -> None:
        seen[phase] = (done, total)

    desk = Desk.open(Settings(database_url=f"sqlite:///{tmp_path / 'desk.db'}",
                              detection={"region_min_reported": 5, "region_min_stations": 5}))
    report = desk.import_bundle(small_bundle, progress=progress)
    assert report.committed
    stored = report.stored["tallies.csv"]
    assert seen["tallies"] == (stored, stored)
    done, total = seen["per-tally checks"]
    assert done == total and 0 < total <= stored
    done, total = seen["region checks"]
    assert done == total and total and total > 0
