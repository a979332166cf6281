"""Bad input gets a clear GraphQL error (or a typed rejection), never a 500 or a traceback."""

from __future__ import annotations

import httpx
import pytest

from tests.graphql.conftest import Server


def errors_of(response: httpx.Response) -> list[str]:
    """The error messages of a refused request, after checking it did not crash the server."""
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    body = response.json()
    assert body.get("errors"), body
    return [error["message"] for error in body["errors"]]


@pytest.mark.parametrize(
    "query",
    ["{ region(code: ", "{ region(code: 62) { code } }", "query { nosuchfield }", "{ region { code } }",
     "mutation { submitTally(input: {}) { __typename } }", ""],
)
def test_malformed_query_is_a_graphql_error(small_server: Server, query: str) -> None:
    assert errors_of(small_server.post(query))


def test_body_that_is_not_json_is_refused_without_a_traceback(small_server: Server) -> None:
    response = httpx.post(f"{small_server.url}/graphql", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert errors_of(response)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{ region(code: "99") { code } }', "no region '99'"),
        ('{ station(code: "62.99.01.1001.001") { code } }', "no station '62.99.01.1001.001'"),
        ('{ contest(code: "gub-99") { code } }', "no contest 'gub-99'"),
        ('{ region(code: "62") { results(contest: "gub-99") { voters } } }', "no contest 'gub-99'"),
        ('{ regions(parent: "99") { totalCount } }', "no region '99'"),
    ],
)
def test_unknown_code_is_named_in_the_error(small_server: Server, query: str, message: str) -> None:
    assert message in errors_of(small_server.post(query))


def test_unknown_global_id_is_null(small_server: Server) -> None:
    assert small_server.query('{ node(id: "SXNzdWU6OTk5OTk5") { id } }') == {"node": None}


def test_negative_count_is_a_typed_rejection_naming_the_field(small_server: Server) -> None:
    data = small_server.query("""mutation { submitTally(input: {
        submissionId: "neg-1", stationCode: "62.08.01.1003.001", contestCode: "gub-62",
        submittedAt: "2024-11-27T15:42:10+07:00", voters: -5, votes: [{number: 1, votes: -1}] }) {
      __typename ... on TallyRejected { errors { field rule } } } }""")["submitTally"]
    assert data == {"__typename": "TallyRejected", "errors": [
        {"field": "voters", "rule": "negative-count"}, {"field": "votes[1]", "rule": "negative-count"}]}


def test_query_deeper_than_ten_levels_is_refused(small_server: Server) -> None:
    query = "{ region(code: \"62\") " + "{ parent " * 11 + "{ code }" + " }" * 11 + " }"
    assert any("exceeds maximum operation depth" in m for m in errors_of(small_server.post(query)))


def test_fifty_aliases_are_refused(small_server: Server) -> None:
    query = "{ " + " ".join(f'a{i}: region(code: "62") {{ code }}' for i in range(50)) + " }"
    assert any("aliases" in m for m in errors_of(small_server.post(query)))


def test_huge_query_is_refused_by_the_token_limit(small_server: Server) -> None:
    query = "{ contests { " + "code " * 3000 + "} }"
    assert any("token" in m.lower() for m in errors_of(small_server.post(query)))


@pytest.mark.parametrize("first", [100000, 101, -1])
def test_page_larger_than_a_hundred_is_refused(small_server: Server, first: int) -> None:
    messages = errors_of(small_server.post(f"{{ stations(first: {first}) {{ totalCount }} }}"))
    assert messages == [f"first must be between 0 and 100, got {first}"]


def test_tampered_cursor_is_refused(small_server: Server) -> None:
    messages = errors_of(small_server.post('{ stations(first: 2, after: "bm9wZQ==") { totalCount } }'))
    assert messages == ["'bm9wZQ==' is not a cursor of this list"]


def test_malformed_global_id_is_a_graphql_error(small_server: Server) -> None:
    assert errors_of(small_server.post('{ node(id: "not-base64!") { id } }'))
