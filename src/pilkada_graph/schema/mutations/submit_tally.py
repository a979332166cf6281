"""``submitTally``: one result form from the desk, through the same door as a tallies.csv row.

The input is parsed with the bundle's own :func:`~pilkada_graph.ingest.parse_count` and
:func:`~pilkada_graph.ingest.parse_timestamp`, then handed to :meth:`Desk.submit_tally`, which
validates, stores (idempotent on ``submissionId``) and runs the per-tally detectors. What cannot
be stored comes back as a typed :class:`TallyRejected` listing every field at fault, never as an
exception.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.utils.str_converters import to_camel_case

from pilkada_graph.bundle import COUNT_FIELDS, candidate_number_of
from pilkada_graph.ingest import InvalidValue, Problem, TallyForm, parse_count, parse_timestamp
from pilkada_graph.schema.context import Info, Viewer
from pilkada_graph.schema.errors import NotAllowed
from pilkada_graph.schema.issues import Issue, issue_by_id
from pilkada_graph.schema.tallies import Tally, tally_by_id

#: No count on one station's form comes near this (a TPS serves at most ~600 voters); the bound keeps
#: a typo or a forged form from overflowing the region aggregates (32-bit on PostgreSQL).
MAX_FORM_COUNT = 10_000


@strawberry.input(description="The valid votes read for one candidate.")
class VoteInput:
    number: int = strawberry.field(description="Ballot number.")
    votes: int | None = strawberry.field(default=None, description="Valid votes; null when not read.")


@strawberry.input(description="One submission of a station's result form; every count may be left out.")
class SubmitTallyInput:
    submission_id: str = strawberry.field(description="Your unique id of this submission (repeats are no-ops).")
    station_code: str = strawberry.field(description="The station, e.g. `62.71.01.1001.001`.")
    contest_code: str = strawberry.field(description="The contest, e.g. `gub-62`.")
    submitted_at: str = strawberry.field(description="ISO 8601 time with its offset, e.g. `2024-11-27T15:42:10+07:00`.")
    source: str | None = strawberry.field(default=None, description="Who sent it: `desk`, `witness`...")
    dpt: int | None = strawberry.field(default=None, description="Voters on the final list, DPT (I.A.1).")
    dptb: int | None = strawberry.field(default=None, description="Voters on the additional list, DPTb (I.A.2).")
    dpk: int | None = strawberry.field(default=None, description="Voters added with ID card, DPK (I.A.3).")
    voters: int | None = strawberry.field(default=None, description="Voters who used their right (I.B.4).")
    ballots_received: int | None = strawberry.field(default=None, description="Ballots received (II.1).")
    ballots_spoiled: int | None = strawberry.field(default=None, description="Ballots spoiled (II.2).")
    ballots_unused: int | None = strawberry.field(default=None, description="Ballots not used (II.3).")
    ballots_used: int | None = strawberry.field(default=None, description="Ballots used (II.4).")
    votes: list[VoteInput] | None = strawberry.field(default=None, description="Votes of the candidates read (IV).")
    valid_votes: int | None = strawberry.field(default=None, description="Total valid votes (V.1).")
    invalid_votes: int | None = strawberry.field(default=None, description="Invalid votes (V.2).")
    total_votes: int | None = strawberry.field(default=None, description="Valid and invalid votes (V.3).")


@strawberry.type(description="Why one field of a submission cannot be stored.")
class FieldError:
    field: str = strawberry.field(description="The input field at fault (`votes[3]` for candidate 3's votes).")
    message: str = strawberry.field(description="What is wrong, in words.")
    rule: str = strawberry.field(description="The rule broken, e.g. `negative-count`, `unknown-station`.")


@strawberry.type(description="The form was stored (or had been: the same submissionId is stored once).")
class TallyAccepted:
    tally: Tally = strawberry.field(description="The stored revision.")
    issues: list[Issue] = strawberry.field(description="Issues the per-tally detectors raised on this revision.")
    repeat: bool = strawberry.field(description="True when this submissionId had already been stored.")


@strawberry.type(description="The form was not stored; nothing changed.")
class TallyRejected:
    errors: list[FieldError] = strawberry.field(description="Every problem found, one per field and rule.")


SubmitTallyResult = Annotated[
    TallyAccepted | TallyRejected,
    strawberry.union("SubmitTallyResult", description="A stored tally with its issues, or why it was refused."),
]


def input_field_of(column: str | None) -> str:
    """A ingest column name (``station_code``, ``votes_3``) as the input names it."""
    if not column:
        return "input"
    number = candidate_number_of(column)
    return f"votes[{number}]" if number is not None else to_camel_case(column)


def field_error(problem: Problem) -> FieldError:
    return FieldError(field=input_field_of(problem.column), message=problem.message, rule=problem.rule)


def form_of(data: SubmitTallyInput, viewer: Viewer) -> tuple[TallyForm | None, list[Problem]]:
    """Parse the input exactly as a tallies.csv row is parsed."""
    problems: list[Problem] = []

    def count(value: int | None, column: str) -> int | None:
        try:
            parsed = parse_count(value, column)
        except InvalidValue as error:
            problems.append(error.problem)
            return None
        if parsed is not None and parsed > MAX_FORM_COUNT:
            problems.append(Problem("implausible-count", f"a station's count is at most {MAX_FORM_COUNT}, "
                                    f"got {parsed}", column))
            return None
        return parsed

    counts = {name: count(getattr(data, name), name) for name in COUNT_FIELDS}
    votes: dict[int, int | None] = {}
    for vote in data.votes or []:
        if vote.number in votes:
            problems.append(Problem("duplicate-candidate", f"candidate {vote.number} is listed twice",
                                    f"votes_{vote.number}"))
        votes[vote.number] = count(vote.votes, f"votes_{vote.number}")
    try:
        submitted_at = parse_timestamp(data.submitted_at)
    except InvalidValue as error:
        problems.append(error.problem)
    if problems:
        return None, problems
    form = TallyForm(
        submission_id=data.submission_id, station_code=data.station_code, contest_code=data.contest_code,
        submitted_at=submitted_at, source=data.source, counts=counts, votes=votes,
        actor=viewer.actor_name, token_id=viewer.token_id,
    )
    return form, []


@strawberry.type
class SubmitTallyMutation:
    @strawberry.mutation(description="Store one result form (idempotent on submissionId) and judge it.")
    async def submit_tally(self, info: Info, input: SubmitTallyInput) -> SubmitTallyResult:
        viewer = info.context.viewer
        if not viewer.can_submit():
            raise NotAllowed("this needs a clerk's or an admin's token")
        if not viewer.can_submit(input.station_code):
            raise NotAllowed(f"this token may not submit for station {input.station_code!r} (outside its regions)")
        form, problems = form_of(input, viewer)
        if form is None:
            return TallyRejected(errors=[field_error(p) for p in problems])
        outcome = await run_in_threadpool(info.context.desk.submit_tally, form)
        if not outcome.accepted:
            return TallyRejected(errors=[field_error(p) for p in outcome.problems])
        tally = await tally_by_id(info, outcome.tally_id)
        assert tally is not None
        issues = [issue for issue_id in outcome.issue_ids if (issue := await issue_by_id(info, issue_id))]
        return TallyAccepted(tally=tally, issues=issues, repeat=outcome.repeat)
