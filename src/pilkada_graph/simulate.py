"""Election night, replayed: the demo election's forms sent to a server through ``submitTally``.

``pilkada-graph simulate --url http://127.0.0.1:8000/graphql --rate 20`` generates the demo election
(:mod:`pilkada_graph.demo`, same seed as ``pilkada-graph demo``), takes its tallies in the order
they were submitted (forms arriving from 13:45 to midnight, and the desk's corrections the next
day) and sends them ``rate`` forms a second, so hours of election night pass in minutes. A few forms
are spoiled on the way, the kinds of mistakes and fraud the detectors are there to catch, so that
a newcomer watching ``issueFlagged`` sees issues appear live:

* ``arithmetic``: the valid votes do not add up to the candidates' votes;
* ``over-voting``: more voters than the station has registered;
* ``extreme``: one pair takes every valid vote at a turnout near 100 %.

The server must already hold the regions, contests, candidates and stations (``pilkada-graph
demo --simulate`` loads exactly those, then starts this). Resubmitting is harmless: a
``submissionId`` that is already stored is answered as before and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pilkada_graph.bundle import COUNT_FIELDS, RECAPS, TALLIES, candidate_number_of

ANOMALY_KINDS = ("arithmetic", "over-voting", "extreme")
DEFAULT_ANOMALIES = 12
CONCURRENCY = 16
RETRIES = 5

Row = dict[str, Any]


# --------------------------------------------------------------------------- the night's forms


def night_forms(seed: int = 2024, scale: str = "kalteng") -> list[Row]:
    """Every tally of the demo election, in the order it was submitted."""
    from pilkada_graph.demo import generate

    election = generate(seed, scale)
    rows = list(election.iter_tallies())
    return sorted(rows, key=lambda row: (row["submitted_at"], row["submission_id"]))


def spoil(row: Row, kind: str, rng: random.Random) -> Row:
    """A copy of ``row`` with the mistake ``kind`` written into it."""
    bad = dict(row)
    votes = [c for c in bad if candidate_number_of(c) is not None and bad[c] is not None]
    if kind == "arithmetic":
        bad["valid_votes"] = (bad.get("valid_votes") or 0) + rng.randint(25, 90)
    elif kind == "over-voting":
        registered = sum(bad.get(name) or 0 for name in ("dpt", "dptb", "dpk"))
        extra = max(40, registered // 4)
        bad[votes[0]] = (bad[votes[0]] or 0) + extra
        for name in ("voters", "ballots_used", "valid_votes", "total_votes"):
            bad[name] = (bad.get(name) or 0) + extra
    elif kind == "extreme":
        registered = sum(bad.get(name) or 0 for name in ("dpt", "dptb", "dpk"))
        bad.update({name: 0 for name in votes})
        bad[votes[0]] = registered
        bad.update(voters=registered, ballots_used=registered, valid_votes=registered, invalid_votes=0,
                   total_votes=registered, ballots_spoiled=0)
        bad["ballots_unused"] = max((bad.get("ballots_received") or registered) - registered, 0)
    else:
        raise ValueError(f"unknown anomaly {kind!r}; expected one of {', '.join(ANOMALY_KINDS)}")
    bad["_anomaly"] = kind
    return bad


def with_anomalies(rows: list[Row], count: int, seed: int) -> list[Row]:
    """``rows`` with ``count`` first-revision forms spoiled, spread over the night."""
    rng = random.Random(f"simulate-{seed}")
    candidates = [i for i, row in enumerate(rows) if row.get("source") == "sirekap"]
    chosen = sorted(rng.sample(candidates, min(count, len(candidates))))
    spoiled = list(rows)
    for n, index in enumerate(chosen):
        spoiled[index] = spoil(rows[index], ANOMALY_KINDS[n % len(ANOMALY_KINDS)], rng)
    return spoiled


# --------------------------------------------------------------------------- the mutation


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def graphql_literal(value: Any) -> str:
    """A Python value as a GraphQL input literal (strings JSON-quoted; object keys bare)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {graphql_literal(v)}" for key, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(graphql_literal(v) for v in value) + "]"
    return json.dumps(value)


def submission_input(row: Row) -> dict[str, Any]:
    """A tallies.csv row as ``submitTally``'s input (shared/spec/graphql-contract.md, "Writing")."""
    values: dict[str, Any] = {
        "submissionId": row["submission_id"],
        "stationCode": row["station_code"],
        "contestCode": row["contest_code"],
        "submittedAt": row["submitted_at"],
    }
    if row.get("source"):
        values["source"] = row["source"]
    values.update({camel(name): row[name] for name in COUNT_FIELDS if row.get(name) is not None})
    values["votes"] = [
        {"number": number, "votes": row[column]}
        for column in row
        if (number := candidate_number_of(column)) is not None and row[column] is not None
    ]
    return values


def submit_tally_mutation(row: Row) -> str:
    return (
        "mutation { submitTally(input: " + graphql_literal(submission_input(row)) + ") { __typename "
        "... on TallyAccepted { tally { submissionId } issues { id detector severity } } "
        "... on TallyRejected { errors { field message } } } }"
    )


# --------------------------------------------------------------------------- sending


@dataclass
class NightReport:
    """What the server answered, form by form, summed up."""

    outcomes: Counter[str] = field(default_factory=Counter)
    issues: Counter[str] = field(default_factory=Counter)
    failures: int = 0

    def line(self) -> str:
        issues = ", ".join(f"{n} {name}" for name, n in self.issues.most_common()) or "none"
        outcomes = ", ".join(f"{n} {name}" for name, n in sorted(self.outcomes.items()))
        return f"{outcomes or 'nothing sent'}; {self.failures} failed; issues raised: {issues}"


Say = Callable[[str], None]


def _print(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Simulator:
    """Sends forms at a steady rate, a few at a time, retrying what the network drops."""

    def __init__(self, url: str, rate: float, token: str | None = None, say: Say = _print) -> None:
        if rate <= 0:
            raise ValueError("--rate must be a positive number of forms per second")
        self.url = url
        self.rate = rate
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.say = say
        self.report = NightReport()

    async def run(self, rows: Iterable[Row]) -> NightReport:
        limit = asyncio.Semaphore(CONCURRENCY)
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=30, headers=self.headers) as client, asyncio.TaskGroup() as group:
            for n, row in enumerate(rows):
                await asyncio.sleep(max(0.0, started + n / self.rate - time.monotonic()))
                await limit.acquire()
                group.create_task(self._send(client, row, limit))
                if n and n % max(1, int(self.rate * 10)) == 0:
                    self.say(f"{n} forms sent: {self.report.line()}")
        return self.report

    async def _send(self, client: httpx.AsyncClient, row: Row, limit: asyncio.Semaphore) -> None:
        try:
            answer = await self._post(client, submit_tally_mutation(row))
            self._record(row, answer)
        except (httpx.HTTPError, ValueError, KeyError) as error:
            self.report.failures += 1
            self.say(f"{row['submission_id']}: not sent ({error})")
        finally:
            limit.release()

    async def _post(self, client: httpx.AsyncClient, query: str) -> dict[str, Any]:
        for attempt in range(RETRIES):
            try:
                response = await client.post(self.url, json={"query": query})
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                if body.get("errors"):
                    raise ValueError("; ".join(e.get("message", "?") for e in body["errors"]))
                return dict(body["data"]["submitTally"])
            except httpx.TransportError:
                if attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def _record(self, row: Row, answer: dict[str, Any]) -> None:
        kind = answer.get("__typename", "?")
        self.report.outcomes[kind] += 1
        issues = answer.get("issues") or []
        for issue in issues:
            self.report.issues[issue["detector"]] += 1
        if row.get("_anomaly"):
            flagged = ", ".join(f"{i['detector']} ({i['severity']})" for i in issues) or "nothing flagged"
            self.say(f"injected {row['_anomaly']} at {row['station_code']} {row['contest_code']}: {flagged}")
        if kind == "TallyRejected":
            errors = "; ".join(f"{e['field']}: {e['message']}" for e in answer.get("errors", []))
            self.say(f"{row['submission_id']} rejected: {errors}")


def simulate_night(url: str, rate: float, *, seed: int = 2024, scale: str = "kalteng", token: str | None = None,
                   anomalies: int = DEFAULT_ANOMALIES, limit: int | None = None, say: Say = _print) -> NightReport:
    """Replay the demo election night against ``url``; returns what the server answered."""
    rows = with_anomalies(night_forms(seed, scale), anomalies, seed)
    if limit is not None:
        rows = rows[:limit]
    hours = _night_hours(rows)
    say(f"replaying {len(rows)} forms ({hours:.1f} h of election night) at {rate:g} forms/s "
        f"to {url}: about {len(rows) / rate / 60:.1f} min")
    report = asyncio.run(Simulator(url, rate, token, say).run(rows))
    say(f"done: {report.line()}")
    return report


def _night_hours(rows: list[Row]) -> float:
    from datetime import datetime

    if not rows:
        return 0.0
    first, last = (datetime.fromisoformat(rows[i]["submitted_at"]) for i in (0, -1))
    return (last - first).total_seconds() / 3600


# --------------------------------------------------------------------------- reference data


def write_reference_bundle(folder: Path, seed: int = 2024, scale: str = "kalteng",
                           progress: Callable[[str, int, int], None] | None = None) -> Path:
    """The demo bundle without its tallies: what a server needs before the night is replayed."""
    from pilkada_graph.demo import write_demo_bundle

    write_demo_bundle(folder, seed=seed, scale=scale, progress=progress)
    for name in (TALLIES, RECAPS):
        (folder / name).unlink(missing_ok=True)
    return folder


def wait_for_server(url: str, timeout: float = 60.0) -> bool:
    """True once ``url`` answers a trivial query (the server started), False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.post(url, json={"query": "{ __typename }"}, timeout=2).status_code < 500:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    return False


__all__ = ["ANOMALY_KINDS", "NightReport", "Simulator", "night_forms", "simulate_night", "spoil",
           "wait_for_server", "with_anomalies", "write_reference_bundle"]
