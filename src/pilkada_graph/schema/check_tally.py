"""``checkTally``: the form's own rules on a form not yet sent, for screens that check as you type.

There is one set of form rules (:mod:`pilkada_graph.rules`). A client that re-implemented them in
JavaScript would drift from the API; instead the desk console's entry screen sends the unsaved
form here on every pause in typing and shows what comes back. The input is the one
``submitTally`` takes, parsed by the same function, so a form that checks clean here fails no
form rule when it is sent. Nothing is stored and no detector runs. Whether the station and the
contest exist is ``submitTally``'s to say (clients look the station up with ``station(code)``).
"""

from __future__ import annotations

import strawberry

from pilkada_graph.rules import CheckFailure, failed_checks
from pilkada_graph.schema.context import Info
from pilkada_graph.schema.mutations.submit_tally import FieldError, SubmitTallyInput, field_error, form_of
from pilkada_graph.schema.tallies import FormCheck


@strawberry.type(description="What the form's rules say about an unsaved form.")
class TallyCheck:
    failed_checks: list[FormCheck] = strawberry.field(
        description="The form's own rules that the filled fields break; empty when all hold."
    )
    errors: list[FieldError] = strawberry.field(
        description="Fields that could not be read at all (a negative count, a bad time); no rule is judged then."
    )


async def candidate_count(info: Info, contest_code: str, numbers: list[int]) -> int:
    """How many candidates the contest has (or the highest number typed, for an unknown contest)."""
    contest = await info.context.loaders.contest_by_code.load(contest_code)
    listed = len(await info.context.loaders.candidates.load(contest.id)) if contest else 0
    return max([listed, *numbers])


def form_check(check: CheckFailure) -> FormCheck:
    return FormCheck(rule=check.rule, fields=list(check.fields), expected=check.expected, actual=check.actual,
                     difference=check.difference, message=check.message)


@strawberry.type
class CheckTallyQuery:
    @strawberry.field(description="The form rules an unsaved `submitTally` input breaks; stores nothing.")
    async def check_tally(self, info: Info, input: SubmitTallyInput) -> TallyCheck:
        form, problems = form_of(input, info.context.viewer)
        if form is None:
            return TallyCheck(failed_checks=[], errors=[field_error(p) for p in problems])
        candidates = await candidate_count(info, form.contest_code, list(form.votes))
        checks = failed_checks(form.values(candidates))
        return TallyCheck(failed_checks=[form_check(c) for c in checks], errors=[])
