"""Fuzzing the API with hypothesis: random submitTally inputs and random queries over HTTP.

Whatever comes in: never a 5xx, never an internal leaking into the answer, and a rejected
submission leaves nothing stored.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import LEAKS, STATION_08, STATION_09, Secured

SUBMIT = """mutation ($input: SubmitTallyInput!) { submitTally(input: $input) {
  __typename ... on TallyAccepted { repeat tally { submissionId } issues { id } }
  ... on TallyRejected { errors { field rule message } } } }"""
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

counts = st.one_of(st.none(), st.integers(0, 700), st.integers(-5, 20_000), st.integers(-(2**40), 2**40))
codes = st.one_of(st.sampled_from([STATION_08, STATION_09, "62.08.01.2001", "62", ""]),
                  st.text(max_size=40))
times = st.one_of(st.sampled_from(["2024-11-27T15:42:10+07:00", "2024-11-27T15:42:10", "yesterday", ""]),
                  st.datetimes().map(lambda d: d.isoformat() + "+07:00"), st.text(max_size=30))
COUNT_NAMES = ["dpt", "dptb", "dpk", "voters", "ballotsReceived", "ballotsSpoiled", "ballotsUnused", "ballotsUsed",
               "validVotes", "invalidVotes", "totalVotes"]


@st.composite
def submissions(draw: st.DrawFn) -> dict[str, Any]:
    form: dict[str, Any] = {
        "submissionId": draw(st.one_of(st.text(min_size=0, max_size=250), st.uuids().map(lambda u: f"fuzz-{u}"))),
        "stationCode": draw(codes),
        "contestCode": draw(st.one_of(st.sampled_from(["gub-62", "bup-62.08", "bup-62.09"]), st.text(max_size=20))),
        "submittedAt": draw(times),
        "source": draw(st.one_of(st.none(), st.text(max_size=60))),
        "votes": draw(st.one_of(st.none(), st.lists(
            st.fixed_dictionaries({"number": st.integers(-3, 8), "votes": counts}), max_size=6))),
    }
    for name in draw(st.lists(st.sampled_from(COUNT_NAMES), unique=True)):
        form[name] = draw(counts)
    if draw(st.booleans()):
        form[draw(st.sampled_from(["bogus", "actor", "tokenId"]))] = draw(st.text(max_size=5))
    return form


def leak_free(response: Any) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    assert not any(word in response.text for word in LEAKS), response.text
    return dict(response.json())


@FUZZ
@given(form=submissions())
def test_fuzzed_submissions_never_fail_the_server_and_rejections_store_nothing(secured: Secured,
                                                                              form: dict[str, Any]) -> None:
    before = secured.scalar("select count(*) from tallies")
    body = leak_free(secured.post(SUBMIT, {"input": form}, token="admin"))
    answer = (body.get("data") or {}).get("submitTally")
    stored = secured.scalar("select count(*) from tallies where submission_id = :s", s=form["submissionId"])
    if answer is None or answer["__typename"] == "TallyRejected":
        assert body.get("errors") or answer["errors"]
        assert secured.scalar("select count(*) from tallies") == before
    else:
        assert stored == 1


ROOTS = [
    "region(code: {s}) {{ code name results(contest: {s}) {{ voters candidates {{ votes share }} }} }}",
    "station(code: {s}) {{ code tally(contest: {s}) {{ voters failedChecks {{ rule }} }} }}",
    "stations(first: {i}, after: {s}) {{ totalCount nodes {{ code }} }}",
    "issues(first: {i}, after: {s}, where: {{ subjectCode: {{ _eq: {s} }} }}) {{ totalCount nodes {{ id severity }} }}",
    "regions(first: {i}, parent: {s}) {{ nodes {{ code children {{ code }} }} }}",
    "node(id: {s}) {{ id ... on Station {{ code }} ... on Issue {{ history {{ note }} }} }}",
    "contest(code: {s}) {{ code candidates {{ number name }} }}",
]


@st.composite
def queries(draw: st.DrawFn) -> str:
    picked = draw(st.lists(st.sampled_from(ROOTS), min_size=1, max_size=3))
    parts = []
    for n, root in enumerate(picked):
        text = json.dumps(draw(st.one_of(st.sampled_from(["62", "62.08", "gub-62", STATION_08, "SXNzdWU6MQ=="]),
                                         st.text(max_size=20))))
        first = draw(st.one_of(st.integers(-5, 150), st.integers(-(2**31), 2**31 - 1)))
        parts.append(f"q{n}: " + root.format(s=text, i=first))
    query = "{ " + " ".join(parts) + " }"
    if draw(st.booleans()):  # break it somewhere
        cut = draw(st.integers(0, len(query)))
        query = query[:cut] + draw(st.text(max_size=3)) + query[cut:]
    return query


@FUZZ
@given(query=queries())
def test_fuzzed_queries_never_fail_the_server_or_leak_internals(secured: Secured, query: str) -> None:
    before = secured.scalar("select count(*) from tallies")
    body = leak_free(secured.post(query, token="viewer"))
    assert "data" in body or "errors" in body
    assert secured.scalar("select count(*) from tallies") == before
