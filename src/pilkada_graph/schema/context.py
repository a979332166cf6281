"""What every resolver can reach: the desk, the per-request loaders and who is asking.

Authorization is decided in one place, :class:`Viewer`: resolvers ask it (``can_read_private``,
``can_submit``, ``can_review``) and never look at tokens themselves, so the security layer can
replace the anonymous viewer without touching the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from strawberry.types import Info as StrawberryInfo

from pilkada_graph.schema.loaders import Loaders
from pilkada_graph.service import Desk


@dataclass(frozen=True)
class Viewer:
    """Who is asking. Anonymous and allowed everything until tokens and roles arrive."""

    actor: str | None = None
    token_id: int | None = None
    roles: frozenset[str] = frozenset()

    @property
    def anonymous(self) -> bool:
        return self.token_id is None

    @property
    def actor_name(self) -> str:
        """The name stored with what this viewer writes (tally revisions, review notes)."""
        return self.actor or "graphql:anonymous"

    def can_read_private(self) -> bool:
        """Issues, revisions and who sent them: the desk's working data, not public results."""
        return True

    def can_submit(self) -> bool:
        return True

    def can_review(self) -> bool:
        return True


ANONYMOUS = Viewer()


@dataclass
class Context:
    """The per-request context: built fresh for each HTTP request or WebSocket connection."""

    desk: Desk
    viewer: Viewer = ANONYMOUS
    loaders: Loaders = field(init=False)
    request: Any = None
    response: Any = None

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.desk.engine)

    @property
    def engine(self) -> Engine:
        return self.desk.engine


Info = StrawberryInfo[Context, None]


def require_private(info: Info) -> None:
    """Refuse the desk's working data (issues, revisions) to viewers who may not read it."""
    from pilkada_graph.schema.errors import NotAllowed

    if not info.context.viewer.can_read_private():
        raise NotAllowed("this needs a token that may read the desk's working data")
