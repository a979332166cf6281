"""append-only tallies and issue events

The database itself refuses to change or remove a stored tally revision or a history entry,
whatever path the statement comes from (the API, a script, a psql session without superuser
tricks): UPDATE and DELETE raise, and on PostgreSQL so does TRUNCATE. Corrections are new
revisions; see docs/security.md.

Revision ID: 74305f29d7d3
Revises: faa6ba9deb6d
Create Date: 2026-11-28 01:17:11.000000
"""

from __future__ import annotations

from alembic import op

revision = '74305f29d7d3'
down_revision = 'faa6ba9deb6d'
branch_labels = None
depends_on = None

APPEND_ONLY = ("tallies", "issue_events")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION pilkada_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION pilkada_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION pilkada_append_only()")
        return
    for table in APPEND_ONLY:
        for operation in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, 'append-only: {operation} on {table} is not allowed'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS pilkada_append_only()")
        return
    for table in APPEND_ONLY:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
