"""region sums as BIGINT: a sum of 32-bit counts must not overflow where its counts fit

Revision ID: b4e1c9a27f30
Revises: d6a75ef063cd
Create Date: 2026-12-01 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b4e1c9a27f30'
down_revision = 'd6a75ef063cd'
branch_labels = None
depends_on = None

SUMS = {
    'regions': ('stations_total', 'registered_total'),
    'region_results': ('stations_reported', 'registered', 'voters', 'valid_votes', 'invalid_votes'),
    'region_result_votes': ('votes',),
}


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return  # SQLite's INTEGER already holds 64 bits (models.SUM): no table is rebuilt
    for table, columns in SUMS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
