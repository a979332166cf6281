"""``me``: who the API thinks is asking, so a client can show only what its viewer may do.

The desk console hides the review buttons from a viewer and shows the entry screen to a clerk;
it learns which from here rather than guessing from the token. Everything is read off the
:class:`~pilkada_graph.schema.context.Viewer`, the one place where authorization is decided, so
this stays right whatever the security layer puts behind it.
"""

from __future__ import annotations

import strawberry

from pilkada_graph.schema.context import Info, Viewer

#: Roles from the least to the most allowed; the highest a viewer holds is its ``role``.
ROLE_ORDER = ("viewer", "clerk", "reviewer", "admin")


@strawberry.type(description="Who is asking, and what the API lets them do.")
class Me:
    anonymous: bool = strawberry.field(description="True when the request carried no token.")
    actor: str = strawberry.field(description="The name stored with what this viewer writes.")
    role: str | None = strawberry.field(
        description="The highest role held: `viewer`, `clerk`, `reviewer` or `admin`; null without a token."
    )
    roles: list[str] = strawberry.field(description="Every role held.")
    regions: list[str] = strawberry.field(description="The region codes the token is limited to; empty: all.")
    can_read_private: bool = strawberry.field(description="May read issues, revisions and who sent them.")
    can_submit: bool = strawberry.field(description="May send result forms (`submitTally`).")
    can_review: bool = strawberry.field(description="May acknowledge, resolve, dismiss or reopen issues.")


def highest_role(roles: frozenset[str]) -> str | None:
    ranked = [role for role in ROLE_ORDER if role in roles]
    return ranked[-1] if ranked else (min(roles) if roles else None)


def me_of(viewer: Viewer) -> Me:
    roles = frozenset(getattr(viewer, "roles", frozenset()))
    return Me(
        anonymous=viewer.anonymous,
        actor=viewer.actor_name,
        role=getattr(viewer, "role", None) or highest_role(roles),
        roles=sorted(roles),
        regions=sorted(getattr(viewer, "regions", ()) or ()),
        can_read_private=viewer.can_read_private(),
        can_submit=viewer.can_submit(),
        can_review=viewer.can_review(),
    )


@strawberry.type
class MeQuery:
    @strawberry.field(description="Who is asking (from the request's token), and what they may do.")
    def me(self, info: Info) -> Me:
        return me_of(info.context.viewer)
