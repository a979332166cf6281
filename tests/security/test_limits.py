"""What a query may cost, and the OWASP GraphQL cheat sheet's attacks, against real servers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.security.conftest import LEAKS, STATION_08, Secured, codes, submit_query

WIDE = "{ regions(first: 100) { nodes { stations(first: 100) { nodes { code } } } } }"


def test_cost_is_calculated_before_running_and_reported_in_extensions(secured: Secured) -> None:
    body = secured.answer("query ($n: Int!) { stations(first: $n) { nodes { code tally(contest: \"gub-62\") "
                          "{ voters } } } }", {"n": 40}, token="viewer")
    cost = body["extensions"]["cost"]
    assert cost["requested"] == 40 + 40 and cost["remaining"] > 0 and cost["resetAt"].endswith("Z")
    assert secured.answer(WIDE, token="viewer")["extensions"]["cost"]["requested"] == 100 + 100 * 100


def test_alias_and_field_duplication_is_counted_per_copy_and_refused_over_the_maximum(secured: Secured) -> None:
    five = "{ " + " ".join(f"a{n}: regions(first: 100) {{ nodes {{ stations(first: 100) {{ nodes {{ code }} }} }} }}"
                           for n in range(5)) + " }"
    body = secured.answer(five, token="admin")
    assert codes(body) == ["MAX_COST_EXCEEDED"] and body["data"] is None
    assert body["extensions"]["cost"]["requested"] == 5 * 10_100
    many = "{ " + " ".join(f"a{n}: contests {{ code }}" for n in range(40)) + " }"
    assert any("aliases" in e["message"] for e in secured.answer(many)["errors"])


def test_deep_queries_are_refused(secured: Secured) -> None:
    deep = '{ region(code: "62") { ' + "children { " * 12 + "code" + " }" * 12 + " } }"
    assert any("depth" in e["message"] for e in secured.answer(deep)["errors"])


def test_batched_operations_in_one_post_are_refused(secured: Secured) -> None:
    batch = [{"query": "{ contests { code } }"}] * 50
    response = httpx.post(f"{secured.url}/graphql", content=json.dumps(batch),
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 400 and response.json()["errors"] and response.json()["data"] is None


def test_mutations_over_get_are_refused_and_store_nothing(secured: Secured) -> None:
    before = secured.scalar("select count(*) from tallies")
    response = httpx.get(f"{secured.url}/graphql", params={"query": submit_query("get-1", STATION_08)},
                         headers={"Authorization": f"Bearer {secured.tokens['admin']}"}, timeout=30)
    assert response.status_code in (400, 405) and "GET" in response.json()["errors"][0]["message"]
    assert secured.scalar("select count(*) from tallies") == before


def test_budget_per_token_and_per_anonymous_address_runs_out_within_the_minute(
        serve_with, sqlite_url: str, small_bundle: Path) -> None:
    server = serve_with(sqlite_url, small_bundle,
                        config="[limits]\nbudget_per_minute = 250\nanonymous_budget_per_minute = 150\n")
    query = "{ stations(first: 100) { nodes { code } } }"
    first = server.answer(query, token="viewer")
    assert first["extensions"]["cost"] == {**first["extensions"]["cost"], "requested": 100, "remaining": 150}
    server.answer(query, token="viewer")
    refused = server.answer(query, token="viewer")
    assert codes(refused) == ["RATE_LIMITED"] and refused["data"] is None
    assert "errors" not in server.answer(query, token="admin")  # another token, another budget
    assert "errors" not in server.answer(query)  # anonymous: the address's own budget
    assert codes(server.answer(query)) == ["RATE_LIMITED"]


def test_production_has_no_introspection_and_no_field_suggestions(serve_with, sqlite_url: str,
                                                                  small_bundle: Path) -> None:
    server = serve_with(sqlite_url, small_bundle, config="production = true\n")
    introspection = server.answer("{ __schema { types { name } } }")
    assert introspection["errors"] and not introspection.get("data")
    typo = server.answer('{ regoin(code: "62") { name } }')
    assert typo["errors"] and not any("Did you mean" in e["message"] for e in typo["errors"])
    field_typo = server.answer('{ region(code: "62") { nmae } }')
    assert "nmae" in field_typo["errors"][0]["message"] and "name" not in field_typo["errors"][0]["message"][-12:]
    assert httpx.get(f"{server.url}/graphql", headers={"accept": "text/html"}, timeout=10).status_code != 200


def test_slow_reads_are_interrupted_and_errors_leak_no_internals(serve_with, sqlite_url: str,
                                                                 small_bundle: Path) -> None:
    server = serve_with(sqlite_url, small_bundle, config="[limits]\nstatement_timeout = 0.000001\n")
    slow = server.answer("{ stations(first: 100) { totalCount nodes { revisions(contest: \"gub-62\") { voters } } } }")
    assert codes(slow) == ["TIMEOUT"]
    bad = [
        server.answer('{ stations(first: 2, after: "eyJ4IjoxfQ==") { totalCount } }'),
        server.answer('{ node(id: "VGFsbHk6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ==") { id } }'),
        server.answer("{ stations(first: 1000000) { totalCount } }"),
        httpx.post(f"{server.url}/graphql", content=b'{"query": "{ contests { code }', timeout=10,
                   headers={"content-type": "application/json"}).json(),
        slow,
    ]
    for body in bad:
        assert body["errors"], body
        assert not any(word in json.dumps(body) for word in LEAKS), body
