"""The three queries a desk screen needs, and how to check their answers against a bundle."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pilkada_graph.db import make_engine
from pilkada_graph.models import Contest, CurrentTally, Issue, IssueEvent, Station
from tests.graphql.conftest import Server, current_rows, expected_results, read_csv

PROVINCE_RESULTS = """
query ($contest: String!) {
  region(code: "62") {
    code name level
    results(contest: $contest) {
      stationsTotal stationsReported registered voters turnout invalidVotes
      candidates { number name votes share }
    }
    children { code level results(contest: $contest) { stationsTotal stationsReported registered voters
                                                       invalidVotes candidates { number votes share } } }
  }
}"""

CRITICAL_ISSUES = """
query ($after: String) {
  issues(where: { status: { _eq: OPEN }, severity: { _eq: CRITICAL } }, first: 5, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id detector severity status message evidence
      station { code } region { code } contest { code }
      tally { submissionId voters validVotes votes { number votes } failedChecks { rule } }
      history { action toStatus } } }
  }
}"""

STATION_REVISIONS = """
query ($code: String!, $contest: String!) {
  station(code: $code) {
    code registered village { code }
    tally(contest: $contest) { submissionId submittedAt source voters validVotes votes { number votes } }
    revisions(contest: $contest) { submissionId submittedAt receivedAt source actor voters }
  }
}"""


def check_province_results(server: Server, contest: str = "gub-62") -> None:
    region = server.query(PROVINCE_RESULTS, {"contest": contest})["region"]
    for area in [region, *region["children"]]:
        expected = expected_results(server.bundle, area["code"], contest)
        results = area["results"]
        assert {k: results[k] for k in ("stationsReported", "registered", "voters", "invalidVotes")} == {
            k: expected[k] for k in ("stationsReported", "registered", "voters", "invalidVotes")
        }, area["code"]
        assert [c["votes"] for c in results["candidates"]] == expected["votes"], area["code"]
        assert abs(sum(c["share"] for c in results["candidates"]) - 1) < 1e-9
    stations = read_csv(server.bundle / "stations.csv")
    assert region["results"]["stationsTotal"] == len(stations)
    per_regency = Counter(".".join(s["code"].split(".")[:2]) for s in stations)
    assert {c["code"]: c["results"]["stationsTotal"] for c in region["children"]} == per_regency
    assert abs(region["results"]["turnout"] - region["results"]["voters"] / region["results"]["registered"]) < 1e-12


def insert_probe_issues(database_url: str, count: int, contest_code: str = "gub-62") -> list[str]:
    """``count`` open critical issues (and a few others the filter must skip) on current tallies."""
    engine = make_engine(database_url)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        contest_id = connection.execute(select(Contest.id).where(Contest.code == contest_code)).scalar_one()
        rows = connection.execute(
            select(Station.id, Station.code, Station.village_id, CurrentTally.tally_id)
            .join(CurrentTally, CurrentTally.station_id == Station.id)
            .where(CurrentTally.contest_id == contest_id).order_by(Station.code).limit(count + 3)
        ).all()
        for index, row in enumerate(rows):
            severity, status = ("critical", "open") if index < count else [
                ("warning", "open"), ("critical", "resolved"), ("info", "open")][index - count]
            issue_id = connection.execute(Issue.__table__.insert().returning(Issue.id), {  # type: ignore[attr-defined]
                "detector": "probe", "subject_key": f"station:{row.code}:{contest_code}",
                "contest_id": contest_id, "region_id": row.village_id, "station_id": row.id,
                "subject_code": row.code, "tally_id": row.tally_id, "severity": severity, "status": status,
                "message": f"probe {index}", "suggestion": None, "evidence": {"index": index, "ratio": 0.5},
                "score": float(index), "active": True, "created_at": now, "updated_at": now,
            }).scalar_one()
            connection.execute(IssueEvent.__table__.insert(), {  # type: ignore[attr-defined]
                "issue_id": issue_id, "at": now, "action": "flagged", "from_status": None, "to_status": status,
                "actor": "test", "token_id": None, "note": None,
            })
    engine.dispose()
    return [row.code for row in rows[:count]]


def check_critical_issues(server: Server, codes: list[str]) -> None:
    current = current_rows(server.bundle)
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = server.query(CRITICAL_ISSUES, {"after": after})["issues"]
        assert page["totalCount"] == len(codes)
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(node["station"]["code"] for node in seen) == sorted(codes)
    for node in seen:
        assert (node["severity"], node["status"], node["contest"]["code"]) == ("CRITICAL", "OPEN", "gub-62")
        assert node["region"]["code"] == node["station"]["code"].rsplit(".", 1)[0]
        assert node["evidence"]["ratio"] == 0.5
        assert node["history"] == [{"action": "flagged", "toStatus": "OPEN"}]
        row = current[(node["station"]["code"], "gub-62")]
        assert node["tally"]["submissionId"] == row["submission_id"]
        assert node["tally"]["voters"] == int(row["voters"])


def station_with_most_revisions(bundle: Path) -> tuple[str, str, list[dict[str, str]]]:
    by_pair: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in read_csv(bundle / "tallies.csv"):
        by_pair.setdefault((row["station_code"], row["contest_code"]), []).append(row)
    (station, contest), rows = max(by_pair.items(), key=lambda item: (len(item[1]), item[0]))
    return station, contest, sorted(rows, key=lambda r: (datetime.fromisoformat(r["submitted_at"]),
                                                         r["submission_id"]))


def check_station_revisions(server: Server) -> None:
    code, contest, rows = station_with_most_revisions(server.bundle)
    station = server.query(STATION_REVISIONS, {"code": code, "contest": contest})["station"]
    revisions = station["revisions"]
    assert [r["submissionId"] for r in revisions] == [r["submission_id"] for r in rows]
    assert [datetime.fromisoformat(r["submittedAt"]) for r in revisions] == [
        datetime.fromisoformat(r["submitted_at"]) for r in rows]
    assert [r["voters"] for r in revisions] == [int(r["voters"]) if r["voters"] else None for r in rows]
    assert all(r["actor"] and r["receivedAt"] for r in revisions)
    assert station["tally"]["submissionId"] == rows[-1]["submission_id"]
    assert station["village"]["code"] == code.rsplit(".", 1)[0]
