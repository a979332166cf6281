"""The migrations and the models describe the same schema."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from pilkada_graph.models import Base


def test_migrations_at_head_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_init_database_is_idempotent(engine: Engine) -> None:
    from pilkada_graph.db import init_database

    init_database(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    from pilkada_graph.db import init_database, make_engine

    engine = make_engine(sqlite_url)
    init_database(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_upgrading_a_database_that_holds_an_election_keeps_every_row(engine: Engine, mini_bundle: Path) -> None:
    """The last migration rebuilds tables that others refer to (on SQLite): nothing may be lost."""
    from pilkada_graph.ingest import import_bundle
    from pilkada_graph.migrations import downgrade, upgrade
    from tests.ingest.helpers import database_snapshot

    import_bundle(engine, mini_bundle)
    before = database_snapshot(engine)
    downgrade(engine, "-1")
    upgrade(engine)
    assert database_snapshot(engine) == before


def test_sqlite_stores_each_keyed_table_in_its_primary_key_alone(sqlite_url: str, mini_bundle: Path) -> None:
    """current_tallies and the region sums are WITHOUT ROWID on SQLite (one B-tree each, written per
    import row), also after the migration that made them so is undone and done again with data."""
    from pilkada_graph.db import init_database, make_engine
    from pilkada_graph.ingest import import_bundle
    from pilkada_graph.migrations import downgrade, upgrade

    engine = make_engine(sqlite_url)
    init_database(engine)
    keyed = ("current_tallies", "region_results", "region_result_votes")

    def without_rowid() -> dict[str, bool]:
        with engine.connect() as connection:
            return {table: connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).scalar_one().rstrip().upper().endswith("WITHOUT ROWID") for table in keyed}

    assert without_rowid() == dict.fromkeys(keyed, True)
    import_bundle(engine, mini_bundle)
    downgrade(engine, "-1")
    assert without_rowid() == dict.fromkeys(keyed, False)
    upgrade(engine)
    assert without_rowid() == dict.fromkeys(keyed, True)
