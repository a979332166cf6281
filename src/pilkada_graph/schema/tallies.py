"""Tallies: revisions of a station's result form (Model C.Hasil), with the checks they fail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row
from strawberry import relay

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.ingest import from_utc_naive
from pilkada_graph.rules import FormValues, failed_checks, registered_of
from pilkada_graph.schema.contests import Contest, contest_by_id
from pilkada_graph.schema.context import Info, require_private
from pilkada_graph.schema.loaders import load_many

if TYPE_CHECKING:
    from pilkada_graph.schema.issues import Issue
    from pilkada_graph.schema.stations import Station

StationRef = Annotated["Station", strawberry.lazy("pilkada_graph.schema.stations")]
IssueRef = Annotated["Issue", strawberry.lazy("pilkada_graph.schema.issues")]


@strawberry.type(description="The valid votes one candidate got on one form.")
class CandidateVotes:
    number: int = strawberry.field(description="Ballot number.")
    votes: int | None = strawberry.field(description="Valid votes; null when this part of the form was not read.")


@strawberry.type(description="A rule of the form that its filled fields break (see the bundle spec).")
class FormCheck:
    rule: str = strawberry.field(description="The rule, e.g. `votes-sum`, `ballots-balance`.")
    fields: list[str] = strawberry.field(description="The form fields involved (tallies.csv column names).")
    expected: int = strawberry.field(description="What the rule expects.")
    actual: int = strawberry.field(description="What the form says.")
    difference: int = strawberry.field(description="actual - expected.")
    message: str = strawberry.field(description="The failure in words.")


@strawberry.type(description="One submitted revision of a station's result form for one contest. Never changes.")
class Tally(relay.Node):
    submission_id: str = strawberry.field(description="The sender's unique id of this submission.")
    submitted_at: datetime = strawberry.field(description="When it was submitted, in the sender's UTC offset.")
    received_at: datetime = strawberry.field(description="When the server stored it (UTC).")
    source: str | None = strawberry.field(description="Who sent it: `sirekap`, `desk`, `witness`, `recap`...")
    dpt: int | None = strawberry.field(description="Voters on the final list, DPT (I.A.1).")
    dptb: int | None = strawberry.field(description="Voters on the additional list, DPTb (I.A.2).")
    dpk: int | None = strawberry.field(description="Voters added on the day with ID card, DPK (I.A.3).")
    voters: int | None = strawberry.field(description="Voters who used their right, all lists (I.B.4).")
    ballots_received: int | None = strawberry.field(description="Ballots received, reserve included (II.1).")
    ballots_spoiled: int | None = strawberry.field(description="Ballots returned damaged or mis-marked (II.2).")
    ballots_unused: int | None = strawberry.field(description="Ballots not used (II.3).")
    ballots_used: int | None = strawberry.field(description="Ballots used (II.4).")
    votes: list[CandidateVotes] = strawberry.field(description="Valid votes per candidate, in ballot order (IV).")
    valid_votes: int | None = strawberry.field(description="Total valid votes as written (V.1).")
    invalid_votes: int | None = strawberry.field(description="Invalid votes (V.2).")
    total_votes: int | None = strawberry.field(description="Valid and invalid votes as written (V.3).")
    registered: int | None = strawberry.field(description="DPT + DPTb + DPK; null when the DPT was not read.")
    turnout: float | None = strawberry.field(description="voters / registered (0..1); null when either is unread.")
    row_id: strawberry.Private[int]
    actor_name: strawberry.Private[str | None]
    token: strawberry.Private[int | None]
    station_id: strawberry.Private[int]
    contest_id: strawberry.Private[int]
    counts: strawberry.Private[dict[str, int | None]]
    vote_list: strawberry.Private[list[int | None]]

    @classmethod
    def from_row(cls, row: Row) -> Tally:
        counts = {name: getattr(row, name) for name in COUNT_FIELDS}
        registered = registered_of(FormValues(counts))
        voters = counts["voters"]
        return cls(
            submission_id=row.submission_id,
            submitted_at=from_utc_naive(row.submitted_at, row.submitted_offset),
            received_at=row.received_at.replace(tzinfo=UTC),
            source=row.source,
            actor_name=row.actor,
            token=row.token_id,
            votes=[CandidateVotes(number=n, votes=v) for n, v in enumerate(row.votes or [], start=1)],
            registered=registered,
            turnout=voters / registered if voters is not None and registered else None,
            row_id=row.id,
            station_id=row.station_id,
            contest_id=row.contest_id,
            counts=counts,
            vote_list=list(row.votes or []),
            **counts,
        )

    @classmethod
    def resolve_id(cls, root: Tally, *, info: Info) -> str:
        return str(root.row_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        ids = [int(i) if i.isdigit() else -1 for i in node_ids]
        rows = await load_many(info.context.loaders.tally_by_id, ids)
        return [cls.from_row(row) if row else None for row in rows]

    @strawberry.field(description="Who stored it: the token's name, or the importing user or process. Private: "
                      "needs a token reaching the station.")
    async def actor(self, info: Info) -> str | None:
        await self._require_private(info)
        return self.actor_name

    @strawberry.field(description="The id of the API token that stored it; null for imports. Private, like `actor`.")
    async def token_id(self, info: Info) -> int | None:
        await self._require_private(info)
        return self.token

    async def _require_private(self, info: Info) -> None:
        station = await info.context.loaders.station_by_id.load(self.station_id)
        require_private(info, station.code if station else None)

    @strawberry.field(description="The form's own rules that the filled fields break; empty when all hold.")
    def failed_checks(self) -> list[FormCheck]:
        return [
            FormCheck(rule=f.rule, fields=list(f.fields), expected=f.expected, actual=f.actual,
                      difference=f.difference, message=f.message)
            for f in failed_checks(FormValues(self.counts, self.vote_list))
        ]

    @strawberry.field(description="The station whose form this is.")
    async def station(self, info: Info) -> StationRef:
        from pilkada_graph.schema.stations import station_by_id

        station = await station_by_id(info, self.station_id)
        assert station is not None
        return station

    @strawberry.field(description="The contest counted.")
    async def contest(self, info: Info) -> Contest:
        contest = await contest_by_id(info, self.contest_id)
        assert contest is not None
        return contest

    @strawberry.field(description="Issues the detectors raised on this revision.")
    async def issues(self, info: Info) -> list[IssueRef]:
        from pilkada_graph.schema.issues import Issue

        return [Issue.from_row(row) for row in await info.context.loaders.issues_of_tally.load(self.row_id)]


async def tally_by_id(info: Info, tally_id: int | None) -> Tally | None:
    if tally_id is None:
        return None
    row = await info.context.loaders.tally_by_id.load(tally_id)
    return Tally.from_row(row) if row else None
