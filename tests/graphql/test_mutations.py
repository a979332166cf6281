"""submitTally and reviewIssue as the GraphQL contract writes them, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pilkada_graph.schema import schema
from pilkada_graph.schema.context import Context
from pilkada_graph.service import Desk
from tests.graphql.desk_queries import insert_probe_issues
from tests.tokens import ADMIN

SUBMIT = """
mutation ($id: String!, $voters: Int) {
  submitTally(input: {
    submissionId: $id, stationCode: "62.71.01.1001.002", contestCode: "gub-62",
    submittedAt: "2024-11-27T18:42:10+07:00", source: "desk",
    dpt: 300, dptb: 0, dpk: 0, voters: $voters, votes: [{ number: 1, votes: 90 }, { number: 2, votes: 100 }],
    validVotes: 190, invalidVotes: 10, totalVotes: 200
  }) {
    __typename
    ... on TallyAccepted { repeat tally { submissionId source actor voters failedChecks { rule } } issues { id } }
    ... on TallyRejected { errors { field message rule } }
  }
}"""

RESULTS = '{ region(code: "62") { results(contest: "gub-62") { stationsReported voters candidates { votes } } } }'

REVIEW = """
mutation ($id: ID!, $action: ReviewAction!) {
  reviewIssue(input: { id: $id, action: $action, note: "photo checked" }) {
    __typename
    ... on IssueReviewed { issue { id status history { action fromStatus toStatus note } } }
    ... on ReviewRejected { message }
  }
}"""


async def run(desk: Desk, query: str, **variables: Any) -> dict[str, Any]:
    result = await schema.execute(query, variable_values=variables, context_value=Context(desk, viewer=ADMIN))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def test_submitted_tally_is_stored_once_and_counted(engine: Engine, mini_bundle: Path) -> None:
    desk = Desk(engine)
    assert desk.import_bundle(mini_bundle).ok
    before = (await run(desk, RESULTS))["region"]["results"]
    first = (await run(desk, SUBMIT, id="desk-1", voters=200))["submitTally"]
    assert first["__typename"] == "TallyAccepted" and first["repeat"] is False
    assert first["tally"] == {"submissionId": "desk-1", "source": "desk", "actor": "graphql:test-admin",
                              "voters": 200, "failedChecks": []}
    again = (await run(desk, SUBMIT, id="desk-1", voters=200))["submitTally"]
    assert again["repeat"] is True
    after = (await run(desk, RESULTS))["region"]["results"]
    assert after["stationsReported"] == before["stationsReported"] + 1
    assert after["voters"] == before["voters"] + 200
    assert [c["votes"] for c in after["candidates"]] == [before["candidates"][0]["votes"] + 90,
                                                          before["candidates"][1]["votes"] + 100]


async def test_tally_breaking_form_rules_is_stored_with_its_failed_checks(engine: Engine, mini_bundle: Path) -> None:
    desk = Desk(engine)
    assert desk.import_bundle(mini_bundle).ok
    data = (await run(desk, SUBMIT, id="desk-2", voters=250))["submitTally"]
    assert data["__typename"] == "TallyAccepted"
    assert {c["rule"] for c in data["tally"]["failedChecks"]} == {"votes-total"}


async def test_unstorable_tally_is_rejected_field_by_field(engine: Engine, mini_bundle: Path) -> None:
    desk = Desk(engine)
    assert desk.import_bundle(mini_bundle).ok
    data = (await run(desk, SUBMIT, id="desk-3", voters=-1))["submitTally"]
    assert data["__typename"] == "TallyRejected"
    assert [(e["field"], e["rule"]) for e in data["errors"]] == [("voters", "negative-count")]
    unknown = await run(desk, SUBMIT.replace("62.71.01.1001.002", "62.71.01.1001.999"), id="desk-4", voters=1)
    assert [(e["field"], e["rule"]) for e in unknown["submitTally"]["errors"]] == [("stationCode", "unknown-station")]


async def test_review_moves_an_issue_and_refuses_invalid_transitions(
    engine: Engine, small_bundle: Path, database_url: str
) -> None:
    desk = Desk(engine)
    assert desk.import_bundle(small_bundle).ok
    insert_probe_issues(database_url, 1)
    page = await run(desk, "{ issues(where: {severity: {_eq: CRITICAL}, status: {_eq: OPEN}}) "
                           "{ edges { node { id } } } }")
    issue_id = page["issues"]["edges"][0]["node"]["id"]
    resolved = (await run(desk, REVIEW, id=issue_id, action="RESOLVE"))["reviewIssue"]
    assert resolved["__typename"] == "IssueReviewed"
    assert resolved["issue"]["status"] == "RESOLVED"
    assert resolved["issue"]["history"][-1] == {"action": "resolve", "fromStatus": "OPEN", "toStatus": "RESOLVED",
                                                "note": "photo checked"}
    refused = (await run(desk, REVIEW, id=issue_id, action="ACKNOWLEDGE"))["reviewIssue"]
    assert refused["__typename"] == "ReviewRejected" and "resolved" in refused["message"]
    missing = (await run(desk, REVIEW, id="SXNzdWU6OTk5OTk5", action="RESOLVE"))["reviewIssue"]
    assert missing == {"__typename": "ReviewRejected", "message": "no issue 999999"}
