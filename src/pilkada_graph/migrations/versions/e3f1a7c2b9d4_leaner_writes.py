"""leaner writes: smaller tally indexes; the keyed tables WITHOUT ROWID on SQLite

Every tally revision, current pointer and region sum is written once per import row, so each
index and B-tree they keep is paid for on every write:

* ``ix_tallies_contest_id`` is dropped. No query reads revisions by contest alone (they are read
  by id, by submission id, or by station and contest), and revisions are never deleted
  (append-only triggers), so no foreign key check needs it either.
* ``ix_tallies_station_contest_time`` becomes ``ix_tallies_station_contest``: the time at its end
  ordered nothing (the revisions of many stations are read together and sorted by time, and a
  form has a handful), and it was 26 of each entry's bytes.
* On SQLite, ``current_tallies``, ``region_results`` and ``region_result_votes`` become
  ``WITHOUT ROWID`` tables: their composite primary key is the table's one B-tree, instead of a
  rowid table plus a key index written beside it. (PostgreSQL has no rowid: nothing changes there.)

Measured on the Kalteng demo import (docs/performance.md, 2026-12-05, later).

Revision ID: e3f1a7c2b9d4
Revises: b4e1c9a27f30
Create Date: 2026-12-05 10:30:00
"""

from __future__ import annotations

from alembic import op

revision = 'e3f1a7c2b9d4'
down_revision = 'b4e1c9a27f30'
branch_labels = None
depends_on = None

#: The tables whose primary key is composite (and nothing refers to): one B-tree each on SQLite.
KEYED_TABLES = ('current_tallies', 'region_results', 'region_result_votes')


def _rebuild_keyed_tables(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in KEYED_TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}):
            pass


def upgrade() -> None:
    with op.batch_alter_table('tallies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tallies_contest_id'))
        batch_op.drop_index('ix_tallies_station_contest_time')
        batch_op.create_index('ix_tallies_station_contest', ['station_id', 'contest_id'], unique=False)
    _rebuild_keyed_tables(with_rowid=False)


def downgrade() -> None:
    _rebuild_keyed_tables(with_rowid=True)
    with op.batch_alter_table('tallies', schema=None) as batch_op:
        batch_op.drop_index('ix_tallies_station_contest')
        batch_op.create_index('ix_tallies_station_contest_time', ['station_id', 'contest_id', 'submitted_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_tallies_contest_id'), ['contest_id'], unique=False)
