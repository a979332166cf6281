"""What every resolver can reach: the desk, the per-request loaders and who is asking.

Authorization is decided in one place, :class:`Viewer`: resolvers ask it (``can_read_private``,
``can_submit``, ``can_review``, each about the code of what is at stake) and never look at
tokens themselves. Which token is asking is found in :mod:`pilkada_graph.schema.asgi`; what each
role may do is documented in ``docs/security.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from strawberry.types import Info as StrawberryInfo

from pilkada_graph.ingest import is_below
from pilkada_graph.schema.loaders import Loaders
from pilkada_graph.schema.store import READ_TIMEOUT
from pilkada_graph.service import Desk
from pilkada_graph.tokens import TokenInfo


@dataclass(frozen=True)
class Viewer:
    """Who is asking: anonymous (no token) or a token's role, name and regions.

    Every right is "may this viewer do X *about this code*": a station's or an issue's subject
    code is inside the viewer's reach when it is at or below one of the token's regions (a
    token without regions reaches everywhere). Anonymous viewers read public data only.
    """

    actor: str | None = None
    token_id: int | None = None
    roles: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()

    @classmethod
    def of_token(cls, token: TokenInfo) -> Viewer:
        return cls(actor=token.actor, token_id=token.id, roles=frozenset({token.role}),
                   regions=frozenset(token.regions))

    @property
    def anonymous(self) -> bool:
        return not self.roles

    @property
    def role(self) -> str | None:
        return next(iter(self.roles), None)

    @property
    def actor_name(self) -> str:
        """The name stored with what this viewer writes (tally revisions, review notes)."""
        return self.actor or "graphql:anonymous"

    def reaches(self, code: str | None) -> bool:
        """Whether ``code`` (a station's or region's) is at or below one of the token's regions."""
        if not self.regions:
            return True
        return code is not None and any(is_below(code, region) for region in self.regions)

    def can_read_private(self, code: str | None = None) -> bool:
        """Revision authors, review history and notes (about ``code``): any token, within its regions."""
        return not self.anonymous and (code is None or self.reaches(code))

    def can_submit(self, station_code: str | None = None) -> bool:
        """Send result forms (for the station ``station_code``): clerks and admins, within their regions."""
        return bool(self.roles & SUBMITTERS) and (station_code is None or self.reaches(station_code))

    def can_review(self, subject_code: str | None = None) -> bool:
        """Review issues (about ``subject_code``): reviewers and admins, within their regions."""
        return bool(self.roles & REVIEWERS) and (subject_code is None or self.reaches(subject_code))

    def can_read_settings(self) -> bool:
        """Detector settings in force: thresholds a fraudster would calibrate against, so reviewers and admins."""
        return bool(self.roles & REVIEWERS)


SUBMITTERS = frozenset({"clerk", "admin"})
REVIEWERS = frozenset({"reviewer", "admin"})


ANONYMOUS = Viewer()


@dataclass
class Context:
    """The per-request context: built fresh for each HTTP request or WebSocket connection."""

    desk: Desk
    viewer: Viewer = ANONYMOUS
    loaders: Loaders = field(init=False)
    request: Any = None
    response: Any = None
    #: The WebSocket ``connection_init`` payload (strawberry sets it; the token is read from it).
    connection_params: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        limits = getattr(self.desk.settings, "limits", None) or {}
        self.loaders = Loaders(self.desk.engine, float(limits.get("statement_timeout", READ_TIMEOUT)))

    @property
    def engine(self) -> Engine:
        return self.desk.engine


Info = StrawberryInfo[Context, None]


def require_private(info: Info, code: str | None = None) -> None:
    """Refuse the desk's private data (about ``code``) to viewers who may not read it."""
    from pilkada_graph.schema.errors import NotAllowed

    if not info.context.viewer.can_read_private(code):
        raise NotAllowed("this needs a token that may read the desk's private data here")
