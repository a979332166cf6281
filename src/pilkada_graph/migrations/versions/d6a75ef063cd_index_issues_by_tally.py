"""index issues by tally: the runner and GraphQL read the issues of a batch of revisions

Revision ID: d6a75ef063cd
Revises: 74305f29d7d3
Create Date: 2026-11-28 04:30:06.710567
"""

from __future__ import annotations

from alembic import op

revision = 'd6a75ef063cd'
down_revision = '74305f29d7d3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issues_tally_id'), ['tally_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issues_tally_id'))
