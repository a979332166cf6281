"""Nested queries cost a bounded number of SQL statements whatever the page size (DataLoaders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from pilkada_graph.schema import schema
from pilkada_graph.schema.context import Context
from pilkada_graph.service import Desk
from tests.graphql.desk_queries import insert_probe_issues
from tests.tokens import ADMIN

STATIONS_PAGE = """
query ($first: Int!) {
  stations(first: $first) {
    edges { node { code village { code parent { code } }
      tally(contest: "gub-62") { submissionId voters votes { number votes } failedChecks { rule }
                                  contest { code candidates { number } } }
      issues { id detector severity tally { submissionId } history { action } } } }
  }
}"""


async def statements_for(engine: Engine, desk: Desk, first: int) -> tuple[int, dict[str, Any]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = await schema.execute(STATIONS_PAGE, variable_values={"first": first},
                                      context_value=Context(desk, viewer=ADMIN))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert result.errors is None, result.errors
    assert result.data is not None
    return len([s for s in statements if s.strip().upper() != "BEGIN"]), result.data


async def test_page_of_100_stations_with_tallies_and_issues_costs_a_few_statements(
    engine: Engine, small_bundle: Path, database_url: str
) -> None:
    desk = Desk(engine)
    assert desk.import_bundle(small_bundle).ok
    insert_probe_issues(database_url, 20)
    small, _ = await statements_for(engine, desk, 10)
    large, data = await statements_for(engine, desk, 100)
    nodes = [edge["node"] for edge in data["stations"]["edges"]]
    assert len(nodes) == 100
    assert sum(1 for node in nodes if node["issues"]) >= 20
    assert large == small
    assert large <= 12
