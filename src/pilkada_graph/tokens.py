"""API tokens: who may do what, and where. Created once, stored as a hash, revocable.

A token is ``pk_`` followed by 32 random bytes (urlsafe base64). Only its sha256 is stored, so
a copy of the database cannot be used to call the API; the secret is printed once, by
``pilkada-graph token create``. A request's token is looked up by its hash (an index lookup)
and compared with :func:`hmac.compare_digest`; an expired or revoked token is refused, never
downgraded to anonymous, so a client learns at once that its token stopped working.

Roles (see ``docs/security.md``):

* ``viewer``: reads, including the desk's private data of its regions;
* ``clerk``: also submits tallies for stations in its regions;
* ``reviewer``: also reviews issues about its regions, and reads detector settings;
* ``admin``: everything, everywhere (tokens are managed from the command line).

A token limited to regions (``--region 62.71``) acts only at or below them; without regions it
acts everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from pilkada_graph.models import ApiToken

ROLES = ("viewer", "clerk", "reviewer", "admin")
PREFIX = "pk_"
#: last_used_at is written at most this often per token: one write per request would serialise readers.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TokenError(ValueError):
    """A token request that cannot be honoured (unknown role, bad expiry, unknown id)."""


@dataclass(frozen=True)
class TokenInfo:
    """What the server knows of a token (never its secret)."""

    id: int
    role: str
    regions: tuple[str, ...]
    actor: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> TokenInfo:
        return cls(id=row.id, role=row.role, regions=tuple(row.regions or ()), actor=row.actor,
                   created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                   last_used_at=row.last_used_at)

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def utc_now() -> datetime:
    """UTC, naive, as every time column is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_expiry(text: str | None, now: datetime) -> datetime | None:
    """``7d``, ``12h``, ``30m``, ``2w`` from now, or an ISO time (UTC when it has no offset)."""
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if match:
        return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TokenError(f"--expires {text!r}: write a duration (7d, 12h, 30m, 2w) or an ISO time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if moment <= now:
        raise TokenError(f"--expires {text!r} is in the past")
    return moment


def create_token(engine: Engine, role: str, *, regions: list[str] | None = None, actor: str | None = None,
                 expires: str | None = None) -> tuple[str, TokenInfo]:
    """A new token: its secret (shown once) and what is stored of it."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    now = utc_now()
    secret = PREFIX + secrets.token_urlsafe(32)
    values = {"role": role, "regions": sorted(set(regions or [])), "secret_hash": hash_secret(secret),
              "created_at": now, "expires_at": parse_expiry(expires, now)}
    with engine.begin() as connection:
        token_id = connection.execute(insert(ApiToken).values(actor="", **values).returning(ApiToken.id)).scalar_one()
        name = actor or f"token:{token_id}:{role}"
        connection.execute(update(ApiToken).where(ApiToken.id == token_id).values(actor=name))
        row = connection.execute(select(ApiToken).where(ApiToken.id == token_id)).one()
    return secret, TokenInfo.of(row)


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as connection:
        return [TokenInfo.of(row) for row in connection.execute(select(ApiToken).order_by(ApiToken.id))]


def revoke_token(engine: Engine, token_id: int) -> TokenInfo:
    """Revoke a token from now on (idempotent: a revoked token keeps its first revocation time)."""
    with engine.begin() as connection:
        connection.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                           .values(revoked_at=utc_now()))
        row = connection.execute(select(ApiToken).where(ApiToken.id == token_id)).one_or_none()
    if row is None:
        raise TokenError(f"no token {token_id}")
    return TokenInfo.of(row)


def authenticate(engine: Engine, secret: str) -> TokenInfo | None:
    """The usable token whose secret this is; None for an unknown, expired or revoked one."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    with engine.execution_options(read_only=True).connect() as connection:
        row = connection.execute(select(ApiToken).where(ApiToken.secret_hash == digest)).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        return None
    token = TokenInfo.of(row)
    now = utc_now()
    if not token.usable(now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        _touch(engine, token.id, now)
    return token


def _touch(engine: Engine, token_id: int, now: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
