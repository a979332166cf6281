"""The election data model (SQLAlchemy 2).

Tables and why they look the way they do:

* ``regions`` hold the four-level tree (province > regency > district > village). Codes are
  hierarchical (``62.71.01.1001``), so "everything below region R" is the key range
  ``code = R or R. <= code < R/`` on an ordinary index: no recursive query is needed.
* ``tallies`` are append-only: every revision of a station's result form is a row that is
  never updated. ``current_tallies`` points at the current revision of each (station,
  contest): the one with the latest ``submitted_at``.
* ``region_results`` and ``region_result_votes`` are the aggregates over the current revision
  of every station below a region, kept up to date by :mod:`pilkada_graph.ingest` in the
  transaction that stores the tallies, so that results never need a scan.
* ``issues`` are anomalies raised by detectors, one per detector and subject, with their
  review history in ``issue_events``; ``detector_failures`` records detectors that crashed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LEVELS = ("province", "regency", "district", "village")
SEVERITIES = ("info", "warning", "critical")
STATUSES = ("open", "acknowledged", "resolved", "dismissed")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


#: The type of every sum over stations: BIGINT, as a sum of 32-bit counts must not overflow where its
#: counts fit (SQLite's INTEGER already holds 64 bits: declared as such there, no table rebuilt).
SUM = BigInteger().with_variant(Integer(), "sqlite")


class Region(Base):
    __tablename__ = "regions"
    __table_args__ = (CheckConstraint("level in ('province','regency','district','village')", name="level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    #: Sums over the stations below (:data:`SUM`).
    stations_total: Mapped[int] = mapped_column(SUM, default=0)
    registered_total: Mapped[int] = mapped_column(SUM, default=0)


class Contest(Base):
    __tablename__ = "contests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    #: The province or regency whose head is elected; None for a nationwide contest.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("contest_id", "number", name="uq_candidates_contest_number"),
        CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))


class Station(Base):
    __tablename__ = "stations"
    __table_args__ = (CheckConstraint("registered is null or registered >= 0", name="registered"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    number: Mapped[int | None] = mapped_column(Integer)
    registered: Mapped[int | None] = mapped_column(Integer)


class Tally(Base):
    """One submitted revision of a station's result form for one contest. Never updated."""

    __tablename__ = "tallies"
    __table_args__ = (
        #: A form's revisions (a handful: sorted by time as they are read).
        Index("ix_tallies_station_contest", "station_id", "contest_id"),
        *(
            CheckConstraint(f"{field} is null or {field} >= 0", name=f"{field}_nonnegative")
            for field in (
                "dpt", "dptb", "dpk", "voters", "ballots_received", "ballots_spoiled",
                "ballots_unused", "ballots_used", "valid_votes", "invalid_votes", "total_votes",
            )
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[str] = mapped_column(String(200), unique=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    #: Not indexed alone: revisions are read by id, submission id, or station and contest.
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"))
    #: UTC, naive; ``submitted_offset`` keeps the sender's offset in minutes for export.
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    submitted_offset: Mapped[int] = mapped_column(SmallInteger, default=0)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    source: Mapped[str | None] = mapped_column(String(40))
    dpt: Mapped[int | None] = mapped_column(Integer)
    dptb: Mapped[int | None] = mapped_column(Integer)
    dpk: Mapped[int | None] = mapped_column(Integer)
    voters: Mapped[int | None] = mapped_column(Integer)
    ballots_received: Mapped[int | None] = mapped_column(Integer)
    ballots_spoiled: Mapped[int | None] = mapped_column(Integer)
    ballots_unused: Mapped[int | None] = mapped_column(Integer)
    ballots_used: Mapped[int | None] = mapped_column(Integer)
    #: Valid votes per candidate, index 0 = ballot number 1; None where not read.
    votes: Mapped[list[Any]] = mapped_column(JSON)
    valid_votes: Mapped[int | None] = mapped_column(Integer)
    invalid_votes: Mapped[int | None] = mapped_column(Integer)
    total_votes: Mapped[int | None] = mapped_column(Integer)
    #: What the feed sent beside the form (Sirekap's photo links, psu, ...).
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Who sent it: the token's actor name, or the importing user/process.
    actor: Mapped[str | None] = mapped_column(String(120))
    token_id: Mapped[int | None] = mapped_column(Integer)


class CurrentTally(Base):
    """Pointer to the current revision (latest ``submitted_at``) of a station's form."""

    __tablename__ = "current_tallies"
    #: One B-tree, the primary key's, on SQLite: a pointer is rewritten with every new revision.
    __table_args__ = {"sqlite_with_rowid": False}

    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), primary_key=True)
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), primary_key=True, index=True)
    tally_id: Mapped[int] = mapped_column(ForeignKey("tallies.id"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime)


class RegionResult(Base):
    """Sums over the current revision of every station below a region, for one contest.

    The sums are :data:`SUM`: a count is at most ``ingest.MAX_COUNT`` (a 32-bit INTEGER), and a sum of
    many must not overflow where its counts fit (a misread count of two billion is stored as reported)."""

    __tablename__ = "region_results"
    __table_args__ = {"sqlite_with_rowid": False}

    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), primary_key=True)
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), primary_key=True)
    stations_reported: Mapped[int] = mapped_column(SUM, default=0)
    registered: Mapped[int] = mapped_column(SUM, default=0)
    voters: Mapped[int] = mapped_column(SUM, default=0)
    valid_votes: Mapped[int] = mapped_column(SUM, default=0)
    invalid_votes: Mapped[int] = mapped_column(SUM, default=0)


class RegionResultVotes(Base):
    __tablename__ = "region_result_votes"
    __table_args__ = {"sqlite_with_rowid": False}

    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), primary_key=True)
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    votes: Mapped[int] = mapped_column(SUM, default=0)


class Issue(Base):
    """An anomaly raised by a detector: one per detector and subject (station or region, contest)."""

    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("detector", "subject_key", name="uq_issues_detector_subject"),
        CheckConstraint("severity in ('info','warning','critical')", name="severity"),
        CheckConstraint("status in ('open','acknowledged','resolved','dismissed')", name="status"),
        Index("ix_issues_status_severity_created", "status", "severity", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    detector: Mapped[str] = mapped_column(String(80))
    subject_key: Mapped[str] = mapped_column(String(200))
    contest_id: Mapped[int | None] = mapped_column(ForeignKey("contests.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), index=True)
    #: The code of the subject's region or station, for "everything below region R" filters.
    subject_code: Mapped[str] = mapped_column(String(80), index=True)
    #: Indexed: the runner and GraphQL ask for the issues of a batch of revisions.
    tally_id: Mapped[int | None] = mapped_column(ForeignKey("tallies.id"), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(14), default="open")
    message: Mapped[str] = mapped_column(Text)
    suggestion: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    #: True while the detector still sees the problem on the current data.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class IssueEvent(Base):
    """One entry of an issue's history: flagged, updated, cleared, reviewed. Never updated."""

    __tablename__ = "issue_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(14))
    to_status: Mapped[str] = mapped_column(String(14))
    actor: Mapped[str | None] = mapped_column(String(120))
    token_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class DetectorFailure(Base):
    """A detector that raised or ran too long, with what it was given."""

    __tablename__ = "detector_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    detector: Mapped[str] = mapped_column(String(80), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime)


# --------------------------------------------------------------------------- recaps


class Recap(Base):
    """A recapitulation of one region for one contest (Model D.Hasil of a district, regency, province).

    Append-only like ``tallies``: every recap received is a row, and the one with the latest
    ``submitted_at`` is the region's current recap. Recaps are what the levels above the
    station report; comparing them with the station forms below is how inflation between
    levels ("penggelembungan suara") shows.
    """

    __tablename__ = "recaps"
    __table_args__ = (Index("ix_recaps_region_contest_time", "region_id", "contest_id", "submitted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Source, region, contest and time: importing the same recap twice changes nothing.
    recap_key: Mapped[str] = mapped_column(String(200), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    #: UTC, naive; ``submitted_offset`` keeps the sender's offset in minutes for export.
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    submitted_offset: Mapped[int] = mapped_column(SmallInteger, default=0)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    source: Mapped[str | None] = mapped_column(String(40))
    #: Votes per candidate, index 0 = ballot number 1; None where the recap gives none.
    votes: Mapped[list[Any]] = mapped_column(JSON)
    valid_votes: Mapped[int | None] = mapped_column(Integer)
    invalid_votes: Mapped[int | None] = mapped_column(Integer)
    total_votes: Mapped[int | None] = mapped_column(Integer)
    voters: Mapped[int | None] = mapped_column(Integer)
    stations_reported: Mapped[int | None] = mapped_column(Integer)
    stations_total: Mapped[int | None] = mapped_column(Integer)
    #: What the feed sent beside the numbers (Sirekap's psu, progress percentage, file, ...).
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(120))


# --------------------------------------------------------------------------- security


class ApiToken(Base):
    """A bearer token of the API: its role, the regions it is limited to, and only the secret's hash.

    The secret itself is shown once, when ``pilkada-graph token create`` makes it; a stolen
    database therefore holds no usable token. Tokens are revoked (``revoked_at``), never deleted,
    so that ``tallies.token_id`` and ``issue_events.token_id`` always name a known token.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("role in ('viewer','clerk','reviewer','admin')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(10))
    #: Region codes the token is limited to (a station or issue at or below one of them); empty: all.
    regions: Mapped[list[Any]] = mapped_column(JSON)
    #: The name stored with what the token writes (``tallies.actor``, ``issue_events.actor``).
    actor: Mapped[str] = mapped_column(String(120))
    #: sha256 of the secret, hex.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
