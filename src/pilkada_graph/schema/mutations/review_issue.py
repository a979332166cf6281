"""``reviewIssue``: acknowledge, resolve, dismiss or reopen an issue, with a note.

The transition rules and the history live in :func:`pilkada_graph.lifecycle.review`; an
invalid transition (or an id that names no issue) is a typed :class:`ReviewRejected`.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry import relay

from pilkada_graph import lifecycle
from pilkada_graph.schema.context import Info
from pilkada_graph.schema.enums import ReviewAction
from pilkada_graph.schema.errors import NotAllowed
from pilkada_graph.schema.issues import Issue, issue_by_id


@strawberry.input(description="A reviewer's decision on one issue.")
class ReviewIssueInput:
    id: strawberry.ID = strawberry.field(description="The issue's global id (its `id` field).")
    action: ReviewAction = strawberry.field(description="What to do with it.")
    note: str | None = strawberry.field(default=None, description="Why: kept in the issue's history.")


@strawberry.type(description="The review was applied.")
class IssueReviewed:
    issue: Issue = strawberry.field(description="The issue, with its new status and history.")


@strawberry.type(description="The review was refused; the issue is unchanged.")
class ReviewRejected:
    message: str = strawberry.field(description="Why, e.g. the transition is not allowed from the issue's status.")


ReviewIssueResult = Annotated[
    IssueReviewed | ReviewRejected,
    strawberry.union("ReviewIssueResult", description="The reviewed issue, or why the review was refused."),
]


def issue_id_of(global_id: str) -> int | None:
    """The row id in an Issue's global id; None for anything else."""
    try:
        decoded = relay.GlobalID.from_id(global_id)
    except Exception:  # noqa: BLE001 - any malformed id is simply "not an issue"
        return None
    if decoded.type_name != "Issue" or not decoded.node_id.isdigit():
        return None
    return int(decoded.node_id)


@strawberry.type
class ReviewIssueMutation:
    @strawberry.mutation(description="Acknowledge, resolve, dismiss or reopen an issue; recorded in its history.")
    async def review_issue(self, info: Info, input: ReviewIssueInput) -> ReviewIssueResult:
        viewer = info.context.viewer
        if not viewer.can_review():
            raise NotAllowed("this needs a reviewer's or an admin's token")
        issue_id = issue_id_of(str(input.id))
        if issue_id is None:
            return ReviewRejected(message=f"{input.id!s} is not the id of an issue")
        row = await info.context.loaders.issue_by_id.load(issue_id)
        if row is not None and not viewer.can_review(row.subject_code):
            raise NotAllowed(f"this token may not review issues about {row.subject_code} (outside its regions)")
        try:
            await run_in_threadpool(
                lambda: lifecycle.review(info.context.engine, issue_id, input.action.value, actor=viewer.actor_name,
                                         token_id=viewer.token_id, note=input.note)
            )
        except lifecycle.ReviewRejected as rejected:
            return ReviewRejected(message=rejected.message)
        info.context.loaders.forget_issue(issue_id)
        info.context.desk.publish_issue_changes([issue_id])  # after commit: issueFlagged subscribers
        issue = await issue_by_id(info, issue_id)
        assert issue is not None
        return IssueReviewed(issue=issue)
