"""The same-run baseline for ``bench_graphql.py``: a plain Starlette JSON app, no GraphQL.

It answers the three desk queries with hand-written SQL on the same tables (and the same
read-only SQLAlchemy engine, run in the thread pool), so the ratio printed next to it is what
the GraphQL layer (parsing, validation, resolvers, DataLoaders) costs. Not part of the app.

    uvicorn --factory graphql_baseline:create_baseline   (PILKADA_DATABASE_URL names the database)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pilkada_graph.db import database_url, make_engine
from pilkada_graph.models import (
    Candidate,
    Contest,
    CurrentTally,
    Issue,
    Region,
    RegionResult,
    RegionResultVotes,
    Station,
    Tally,
)


def province_results(connection: Connection, code: str, contest_code: str) -> dict[str, Any]:
    contest = connection.execute(select(Contest.id).where(Contest.code == contest_code)).one()
    province = connection.execute(select(Region.__table__).where(Region.code == code)).one()
    regions = [province, *connection.execute(select(Region.__table__).where(Region.parent_id == province.id))]
    ids = [r.id for r in regions]
    totals = {r.region_id: r for r in connection.execute(
        select(RegionResult.__table__).where(RegionResult.contest_id == contest.id, RegionResult.region_id.in_(ids)))}
    votes: dict[int, dict[int, int]] = {}
    for row in connection.execute(select(RegionResultVotes.__table__).where(
            RegionResultVotes.contest_id == contest.id, RegionResultVotes.region_id.in_(ids))):
        votes.setdefault(row.region_id, {})[row.number] = row.votes
    names = connection.execute(select(Candidate.number, Candidate.name).where(Candidate.contest_id == contest.id)
                               .order_by(Candidate.number)).all()

    def result(region: Any) -> dict[str, Any]:
        total, counted = totals.get(region.id), votes.get(region.id, {})
        all_votes = sum(counted.values())
        return {
            "code": region.code, "stationsTotal": region.stations_total,
            "stationsReported": total.stations_reported if total else 0,
            "registered": total.registered if total else 0, "voters": total.voters if total else 0,
            "turnout": total.voters / total.registered if total and total.registered else None,
            "invalidVotes": total.invalid_votes if total else 0,
            "candidates": [{"number": n, "name": name, "votes": counted.get(n, 0),
                            "share": counted.get(n, 0) / all_votes if all_votes else None} for n, name in names],
        }

    return {"region": result(province), "children": [result(r) for r in regions[1:]]}


def critical_issues(connection: Connection, first: int) -> dict[str, Any]:
    where = (Issue.status == "open", Issue.severity == "critical")
    rows = connection.execute(
        select(Issue.id, Issue.detector, Issue.message, Issue.evidence, Station.code, Region.code, Contest.code,
               Tally.submission_id, Tally.voters, Tally.votes)
        .outerjoin(Station, Station.id == Issue.station_id).outerjoin(Region, Region.id == Issue.region_id)
        .outerjoin(Contest, Contest.id == Issue.contest_id).outerjoin(Tally, Tally.id == Issue.tally_id)
        .where(*where).order_by(Issue.created_at.desc(), Issue.id.desc()).limit(first + 1)
    ).all()
    from sqlalchemy import func

    count = connection.execute(select(func.count()).select_from(Issue).where(*where)).scalar_one()
    return {"totalCount": count, "hasNextPage": len(rows) > first, "nodes": [
        {"id": issue_id, "detector": detector, "message": message, "evidence": evidence,
         "station": station, "region": region, "contest": contest,
         "tally": {"submissionId": submission, "voters": voters, "votes": votes}}
        for issue_id, detector, message, evidence, station, region, contest, submission, voters, votes
        in rows[:first]
    ]}


def station_revisions(connection: Connection, code: str, contest_code: str) -> dict[str, Any]:
    station = connection.execute(select(Station.__table__).where(Station.code == code)).one()
    contest_id = connection.execute(select(Contest.id).where(Contest.code == contest_code)).scalar_one()
    current = connection.execute(select(CurrentTally.tally_id).where(
        CurrentTally.station_id == station.id, CurrentTally.contest_id == contest_id)).scalar_one_or_none()
    revisions = connection.execute(select(Tally.__table__).where(Tally.station_id == station.id,
                                                                 Tally.contest_id == contest_id)
                                   .order_by(Tally.submitted_at, Tally.id)).all()
    return {"code": station.code, "registered": station.registered, "current": current, "revisions": [
        {"submissionId": t.submission_id, "submittedAt": t.submitted_at.isoformat(), "source": t.source,
         "actor": t.actor, "voters": t.voters, "votes": t.votes} for t in revisions]}


def create_baseline() -> Starlette:
    engine: Engine = make_engine(database_url()).execution_options(read_only=True)

    def endpoint(work: Any) -> Any:
        async def handle(request: Request) -> JSONResponse:
            params = dict(request.query_params)

            def run() -> Any:
                with engine.connect() as connection:
                    return work(connection, **params)

            return JSONResponse(await run_in_threadpool(run))

        return handle

    return Starlette(routes=[
        Route("/province", endpoint(lambda c, code, contest: province_results(c, code, contest))),
        Route("/issues", endpoint(lambda c, first: critical_issues(c, int(first)))),
        Route("/station", endpoint(lambda c, code, contest: station_revisions(c, code, contest))),
    ])
