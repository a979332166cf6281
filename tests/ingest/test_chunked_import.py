"""A bundle bigger than one chunk: every chunk is stored in the one transaction of the import."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from pilkada_graph import ingest, store
from pilkada_graph.ingest import import_bundle
from pilkada_graph.models import Contest, CurrentTally, Region, RegionResult, Tally
from tests.ingest.helpers import read_csv


def test_import_in_many_chunks_stores_every_row_and_keeps_aggregates_true(
    engine: Engine, mini_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 1 row, each through COPY staging tables on PostgreSQL, as a national import does."""
    monkeypatch.setattr(ingest, "CHUNK", 1)
    monkeypatch.setattr(store, "COPY_THRESHOLD", 1)
    report = import_bundle(engine, mini_bundle)
    assert report.ok and report.committed, report.problems[:3]
    submissions = {row["submission_id"] for row in read_csv(mini_bundle / "tallies.csv")}
    with engine.connect() as connection:
        assert len(connection.execute(select(Tally.id)).all()) == len(submissions) > 1
        summed = dict(connection.execute(
            select(CurrentTally.contest_id, func.sum(Tally.voters))
            .join(Tally, Tally.id == CurrentTally.tally_id).group_by(CurrentTally.contest_id)).all())
        at_the_top = dict(connection.execute(
            select(RegionResult.contest_id, RegionResult.voters)
            .join(Region, Region.id == RegionResult.region_id)
            .join(Contest, Contest.id == RegionResult.contest_id)
            .where(Region.id == Contest.region_id)).all())
    assert at_the_top == summed
