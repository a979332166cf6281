"""Who may do what, over HTTP against a real server: roles, regions, tokens, private fields, audit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from strawberry.relay import GlobalID

from tests.security.conftest import STATION_08, STATION_09, Secured, codes, submit_query

PRIVATE_OF_STATION = """query ($code: String!) { station(code: $code) {
  tally(contest: "gub-62") { voters actor tokenId }
  revisions(contest: "gub-62") { submissionId actor }
} }"""
ISSUE_HISTORY = "query ($id: ID!) { node(id: $id) { ... on Issue { severity status history { actor note } } } }"
REVIEW = """mutation ($id: ID!) { reviewIssue(input: { id: $id, action: ACKNOWLEDGE, note: "checked the photo" }) {
  __typename ... on IssueReviewed { issue { status } } ... on ReviewRejected { message } } }"""


def tallies(server: Secured) -> int:
    return int(server.scalar("select count(*) from tallies"))


def test_anonymous_reads_public_results_and_issues_but_cannot_submit_or_review(secured: Secured) -> None:
    public = secured.answer('{ region(code: "62") { results(contest: "gub-62") { stationsReported } } '
                            'issues(first: 5) { totalCount nodes { severity status } } }')
    assert "errors" not in public and public["data"]["issues"]["totalCount"] >= 2
    before = tallies(secured)
    refused = secured.answer(submit_query("anon-1", STATION_08))
    assert codes(refused) == ["FORBIDDEN"] and refused["data"] is None
    assert codes(secured.answer(REVIEW, {"id": secured.issues["62.08"]})) == ["FORBIDDEN"]
    assert tallies(secured) == before


def test_unknown_revoked_expired_or_malformed_tokens_get_401_not_anonymous_access(secured: Secured) -> None:
    for token in ("pk_not-a-real-token", secured.tokens["revoked"], secured.tokens["expired"]):
        response = secured.post("{ contests { code } }", token=token)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    basic = secured.post("{ contests { code } }", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert basic.status_code == 401


def test_clerk_submits_only_for_stations_in_its_regency(secured: Secured) -> None:
    own = secured.answer(submit_query("clerk08-own", STATION_08), token="clerk-08")
    assert own["data"]["submitTally"]["__typename"] == "TallyAccepted"
    before = tallies(secured)
    other = secured.answer(submit_query("clerk08-other", STATION_09), token="clerk-08")
    assert codes(other) == ["FORBIDDEN"] and "62.09" in other["errors"][0]["message"]
    assert tallies(secured) == before
    for role in ("viewer", "reviewer-08"):
        assert codes(secured.answer(submit_query(f"{role}-1", STATION_08), token=role)) == ["FORBIDDEN"]
    assert tallies(secured) == before


def test_reviewer_reviews_only_issues_of_its_regency_and_clerks_not_at_all(secured: Secured) -> None:
    assert codes(secured.answer(REVIEW, {"id": secured.issues["62.09"]}, token="reviewer-08")) == ["FORBIDDEN"]
    assert codes(secured.answer(REVIEW, {"id": secured.issues["62.08"]}, token="clerk-08")) == ["FORBIDDEN"]
    assert secured.scalar("select count(*) from issue_events where action = 'acknowledge'") == 0
    done = secured.answer(REVIEW, {"id": secured.issues["62.08"]}, token="reviewer-08")
    assert done["data"]["reviewIssue"] == {"__typename": "IssueReviewed", "issue": {"status": "ACKNOWLEDGED"}}


def test_who_sent_a_form_is_private_to_tokens_reaching_its_station(secured: Secured) -> None:
    latest = "2024-12-01T10:00:00+07:00"  # after every form of the bundle: this revision is the current one
    secured.answer(submit_query("audit-08", STATION_08, voters=201, submitted_at=latest), token="clerk-08")
    anonymous = secured.answer(PRIVATE_OF_STATION, {"code": STATION_08})
    assert set(codes(anonymous)) == {"FORBIDDEN"}
    assert anonymous["data"]["station"]["tally"]["actor"] is None
    assert anonymous["data"]["station"]["tally"]["voters"] == 201  # the numbers themselves are public
    stranger = secured.answer(PRIVATE_OF_STATION, {"code": STATION_08}, token="clerk-09")
    assert set(codes(stranger)) == {"FORBIDDEN"}
    own = secured.answer(PRIVATE_OF_STATION, {"code": STATION_08}, token="viewer-08")
    assert "errors" not in own and own["data"]["station"]["tally"]["actor"] == "clerk-sukamara"


def test_private_data_stays_private_through_node_and_nested_paths(secured: Secured) -> None:
    tally_id = secured.answer(submit_query("nested-08", STATION_08, voters=202), token="clerk-08")[
        "data"]["submitTally"]["tally"]["id"]
    paths = [
        ("query ($id: ID!) { node(id: $id) { ... on Tally { actor } } }", {"id": tally_id}),
        (ISSUE_HISTORY, {"id": secured.issues["62.08"]}),
        ('{ issues(first: 10, where: { detector: { _eq: "probe" } }) { nodes { history { note } } } }', {}),
        ('{ region(code: "62.08") { issues(first: 5) { nodes { station { tally(contest: "gub-62") { actor } } } } } }',
         {}),
        ('query ($id: ID!) { node(id: $id) { ... on Tally { station { revisions(contest: "gub-62") { tokenId } } } } }',
         {"id": tally_id}),
        ('{ stations(first: 1, where: { within: "62.08.01.2001" }) { nodes { issues { history { actor } } } } }', {}),
    ]
    for query, variables in paths:
        body = secured.answer(query, variables, token="clerk-09")
        assert codes(body) and set(codes(body)) == {"FORBIDDEN"}, (query, body)
        assert "clerk-sukamara" not in str(body["data"]) and "checked the photo" not in str(body["data"])
        assert "errors" not in secured.answer(query, variables, token="admin"), query


def test_every_change_records_who_when_and_which_token(secured: Secured) -> None:
    secured.answer(submit_query("who-08", STATION_08, voters=203), token="clerk-08")
    clerk_id = secured.scalar("select id from api_tokens where actor = 'clerk-sukamara'")
    assert secured.scalar("select actor from tallies where submission_id = 'who-08'") == "clerk-sukamara"
    assert secured.scalar("select token_id from tallies where submission_id = 'who-08'") == clerk_id
    assert secured.scalar("select received_at from tallies where submission_id = 'who-08'") is not None
    issue_id = int(GlobalID.from_id(secured.issues["62.09"]).node_id)
    secured.answer(REVIEW, {"id": secured.issues["62.09"]}, token="admin")
    admin_id = secured.scalar("select id from api_tokens where actor = 'admin-ani'")
    event = f"select {{}} from issue_events where issue_id = {issue_id} and action = 'acknowledge'"
    assert secured.scalar(event.format("actor")) == "admin-ani"
    assert secured.scalar(event.format("token_id")) == admin_id
    assert secured.scalar(event.format("at")) is not None
    assert secured.scalar(f"select last_used_at from api_tokens where id = {admin_id}") is not None


def test_detector_settings_are_for_reviewers_and_admins(secured: Secured) -> None:
    query = "{ detectors { name settings } }"
    assert set(codes(secured.answer(query, token="clerk-08"))) == {"FORBIDDEN"}
    assert "errors" not in secured.answer(query, token="reviewer-08")
    assert "errors" not in secured.answer("{ detectors { name } }")


def test_token_cli_prints_the_secret_alone_on_its_last_line_and_stores_only_its_hash(secured: Secured) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pilkada_graph.cli", "token", *args, "--database-url",
                               secured.database_url], capture_output=True, text=True, check=True)

    created = cli("create", "--role", "clerk", "--region", "62.08", "--expires", "7d", "--name", "cli-clerk")
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("pk_") and " " not in secret and len(secret) > 40
    assert secured.scalar("select count(*) from api_tokens where secret_hash = :s", s=secret) == 0
    accepted = secured.answer(submit_query("cli-08", STATION_08, voters=204), token=secret)
    assert accepted["data"]["submitTally"]["__typename"] == "TallyAccepted"
    token_id = secured.scalar("select id from api_tokens where actor = 'cli-clerk'")
    assert "cli-clerk" in cli("list").stdout and secret not in cli("list").stdout
    cli("revoke", str(token_id))
    assert secured.post("{ contests { code } }", token=secret).status_code == 401


def test_server_without_anonymous_access_refuses_requests_without_a_token(serve_with, sqlite_url: str,
                                                                          small_bundle: Path) -> None:
    server = serve_with(sqlite_url, small_bundle, config="anonymous = false\nproduction = true\n")
    response = server.post("{ contests { code } }")
    assert response.status_code == 401 and response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert server.post("{ contests { code } }", token="viewer").status_code == 200
