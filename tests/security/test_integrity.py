"""Nothing stored is ever rewritten, retries are answered once, acknowledged writes are durable."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from tests.security.conftest import STATION_08, Secured, submit_query


@pytest.mark.parametrize("statement", [
    "UPDATE tallies SET voters = voters + 1",
    "DELETE FROM tallies",
    "UPDATE issue_events SET note = 'rewritten'",
    "DELETE FROM issue_events",
])
def test_the_database_refuses_to_rewrite_revisions_or_review_history(engine: Engine, mini_bundle,
                                                                     statement: str) -> None:
    from pilkada_graph.service import Desk
    from tests.security.conftest import probe_issues

    assert Desk(engine).import_bundle(mini_bundle).ok
    probe_issues_in(engine)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from tallies")).scalar() > 0
        assert connection.execute(text("select count(*) from issue_events")).scalar() > 0
    del probe_issues


def probe_issues_in(engine: Engine) -> None:
    from pilkada_graph.detect_types import Finding
    from pilkada_graph.lifecycle import Scope, upsert_findings

    finding = Finding(detector="probe", subject="62.71.01.1001.001", contest="gub-62", severity="info", message="p")
    with engine.begin() as connection:
        upsert_findings(connection, "probe", [finding], scope=Scope())


def test_postgres_refuses_truncate_of_tallies(postgres_url: str) -> None:
    from pilkada_graph.db import init_database, make_engine

    engine = make_engine(postgres_url)
    init_database(engine)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("TRUNCATE tallies CASCADE"))
    engine.dispose()


def test_a_retry_gets_the_first_answer_and_a_different_form_under_the_same_id_is_a_conflict(
        secured: Secured) -> None:
    first = secured.answer(submit_query("retry-1", STATION_08, voters=250), token="clerk-08")["data"]["submitTally"]
    again = secured.answer(submit_query("retry-1", STATION_08, voters=250), token="clerk-08")["data"]["submitTally"]
    assert first["__typename"] == again["__typename"] == "TallyAccepted"
    assert (again["repeat"], again["tally"], again["issues"]) == (True, first["tally"], first["issues"])
    changed = secured.answer(submit_query("retry-1", STATION_08, voters=251), token="clerk-08")["data"]["submitTally"]
    assert changed["__typename"] == "TallyRejected"
    assert [(e["field"], e["rule"]) for e in changed["errors"]] == [("submissionId", "submission-conflict")]
    assert "voters" in changed["errors"][0]["message"]
    assert secured.scalar("select count(*) from tallies where submission_id = 'retry-1'") == 1
    assert secured.scalar("select voters from tallies where submission_id = 'retry-1'") == 250


def test_acknowledged_writes_are_durable_on_both_backends(engine: Engine) -> None:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        else:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "30s"
