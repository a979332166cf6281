"""The plain data detectors see and return: frozen dataclasses and numpy arrays, never a session.

A detector is a function of these values and its settings; that is what makes it easy to
write, to test with hand-made values, and to run in a worker thread with a time budget (see
:mod:`pilkada_graph.detect`). The hooks that receive them are in :mod:`pilkada_graph.hookspecs`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from operator import index
from typing import Any, Literal, SupportsIndex

import numpy as np
import numpy.typing as npt

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.rules import CheckFailure, rows_breaking_rules, zero_where_nan

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

# --------------------------------------------------------------------------- declaring detectors


@dataclass(frozen=True)
class DetectorInfo:
    """What a plugin declares about one detector (from ``pilkada_detectors``).

    :param name: unique, short, kebab-case (``form-arithmetic``); the key of ``[detectors.NAME]``
        in the config file and the ``detector`` of its issues.
    :param description: one sentence: what it flags and why that matters to a reviewer.
    :param defaults: default settings (thresholds); the config file's values are merged over them.
    :param reference: where the method comes from (a regulation, a paper, a URL), or None.
    :param next_step: what a reviewer should usually do about its issues.
    :param enabled: whether it runs when the config file says nothing about it.
    :param checks: ``"tally"`` when its findings come from ``pilkada_check_tally`` (one revision at a
        time), ``"region"`` when from ``pilkada_check_region``; the runner clears only the issues of
        the detectors of the hook that ran, so one detector name belongs to one hook.
    """

    name: str
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    reference: str | None = None
    next_step: str | None = None
    enabled: bool = True
    checks: Literal["tally", "region"] = "tally"

    def __post_init__(self) -> None:
        if self.checks not in ("tally", "region"):
            raise ValueError(f"checks must be 'tally' or 'region', not {self.checks!r}")


class DetectorSettings(Mapping[str, Mapping[str, Any]]):
    """Settings in force for the enabled detectors: ``settings["name"]["threshold"]``.

    Only enabled detectors are present, so a plugin that declares several detectors checks
    ``if "my-detector" in settings`` (or uses :meth:`of`) before doing the work.
    """

    def __init__(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        self._values = {name: dict(v) for name, v in values.items()}

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def of(self, name: str) -> Mapping[str, Any] | None:
        """The detector's settings, or None when it is disabled (or unknown)."""
        return self._values.get(name)

    def __repr__(self) -> str:
        return f"DetectorSettings({self._values!r})"


# --------------------------------------------------------------------------- what detectors see


@dataclass(frozen=True)
class ContestView:
    """A contest: its code, name, the region whose head it elects, and its candidates by number."""

    code: str
    name: str
    region_code: str | None
    candidates: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TallyView:
    """One stored revision of a station's result form, with where the station is.

    Counts are ``None`` where the field was not read. ``votes[k-1]`` is candidate number k.
    """

    tally_id: int
    submission_id: str
    station_code: str
    contest_code: str
    village_code: str
    district_code: str
    regency_code: str
    province_code: str
    submitted_at: datetime
    received_at: datetime
    source: str | None
    dpt: int | None
    dptb: int | None
    dpk: int | None
    voters: int | None
    ballots_received: int | None
    ballots_spoiled: int | None
    ballots_unused: int | None
    ballots_used: int | None
    votes: tuple[int | None, ...]
    valid_votes: int | None
    invalid_votes: int | None
    total_votes: int | None
    #: DPT + DPTb + DPK from the form, else the station's registered voters, else None.
    registered: int | None
    #: The form's own arithmetic rules this revision breaks (:func:`pilkada_graph.rules.failed_checks`).
    failed_checks: tuple[CheckFailure, ...] = ()
    #: Whether it is the station's current revision (the latest ``submitted_at``).
    is_current: bool = True
    extra: Mapping[str, Any] | None = None

    @property
    def turnout(self) -> float | None:
        """Voters / registered (0..1, above 1 on an inflated form), or None when either is missing."""
        if self.voters is None or not self.registered:
            return None
        return self.voters / self.registered

    @property
    def invalid_share(self) -> float | None:
        """Invalid votes / (valid + invalid), or None."""
        if self.invalid_votes is None or self.valid_votes is None:
            return None
        cast = self.valid_votes + self.invalid_votes
        return self.invalid_votes / cast if cast else None


@dataclass(frozen=True)
class RegionSummary:
    """Sums over the stations of one region that reported for one contest (cheap: an aggregate row)."""

    code: str
    level: str
    stations_total: int
    stations_reported: int
    registered: int
    voters: int
    valid_votes: int
    invalid_votes: int

    @property
    def turnout(self) -> float | None:
        return self.voters / self.registered if self.registered else None

    @property
    def invalid_share(self) -> float | None:
        cast = self.valid_votes + self.invalid_votes
        return self.invalid_votes / cast if cast else None


@dataclass(frozen=True)
class StationContext:
    """The station a tally belongs to and the sums of its peers (village and district, same contest)."""

    code: str
    number: int | None
    registered: int | None
    village: RegionSummary | None = None
    district: RegionSummary | None = None


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]
BoolArray = npt.NDArray[np.bool_]


def as_floats(values: Sequence[int | None]) -> FloatArray:
    """A column with ``nan`` for NULL (numpy turns None into nan in a float array)."""
    return np.array(values, dtype=np.float64).reshape(len(values))


def float_columns(names: Sequence[str], columns: Sequence[Sequence[int | None]]) -> dict[str, FloatArray]:
    """Each column of the same length as :func:`as_floats`, by name: one numpy call for them all (a
    call per column was most of loading a one-row batch)."""
    rows = len(columns[0]) if columns else 0
    return dict(zip(names, np.array(columns, dtype=np.float64).reshape(len(columns), rows), strict=True))


def registered_column(dpt: FloatArray, dptb: FloatArray, dpk: FloatArray, station: FloatArray) -> FloatArray:
    """DPT + DPTb + DPK where the DPT was read, else the station list's figure (as the aggregates count it)."""
    from_form = dpt + zero_where_nan(dptb) + zero_where_nan(dpk)
    return np.where(np.isnan(dpt), station, from_form)


def parse_json_lists(texts: Sequence[str | None]) -> list[list[int | None] | None]:
    """The ``votes`` JSON of every row in one ``json.loads``: a call per row costs four times more."""
    return json.loads("[" + ",".join(t if t is not None else "null" for t in texts) + "]")  # type: ignore[no-any-return]


def vote_matrix(votes: Sequence[Sequence[int | None] | None], width: int) -> FloatArray:
    """Stations x candidates, ``nan`` where a count was not read (or beyond a shorter row): one numpy
    call per row length. Padding every row to ``width`` first cost twice as much, and a column of
    rows with no votes at all (the replaced revisions of an import) twenty times as much."""
    matrix = np.full((len(votes), width), np.nan)
    by_length: dict[int, list[int]] = {}
    for i, row in enumerate(votes):
        if row:
            by_length.setdefault(len(row), []).append(i)
    for length, rows in by_length.items():
        block = np.array([votes[i] for i in rows], dtype=np.float64).reshape(len(rows), length)
        matrix[rows, :min(length, width)] = block[:, :width]  # numpy reads None as nan in a float array
    return matrix


def turnout_of(voters: FloatArray, registered: FloatArray) -> FloatArray:
    """Voters / registered per row (nan where unknown)."""
    return np.divide(voters, registered, out=np.full(voters.shape, np.nan), where=registered > 0)


#: A batch of at most this many rows is looked at row by row (:meth:`TallyBatch.rows_where`).
FEW_ROWS = 4


class TallyBatch:
    """Stored revisions judged together, as columns: what ``pilkada_check_tallies`` receives.

    Row ``i`` of every array is one revision, each the current one of its station and contest: up to
    ``[detection] batch_size`` of them from an import, one from ``submitTally``. Counts are float64 with
    ``nan`` where the field was not read, as in :class:`RegionTallies`. Screen the rows on whole
    columns, then look closer only at the few worth it: :meth:`view` builds row ``i``'s
    :class:`TallyView` when first asked (building one per revision is most of what checking each
    revision on its own costs), :meth:`previous` the revision it replaced.
    """

    def __init__(self, *, station_codes: Sequence[str], contest_codes: Sequence[str], tally_ids: Sequence[int],
                 counts: Mapping[str, FloatArray], votes: FloatArray, widths: Sequence[int],
                 station_registered: FloatArray, contests: Sequence[ContestView],
                 view: Callable[[int], TallyView], has_previous: Sequence[bool] | None = None,
                 previous_votes: FloatArray | None = None,
                 previous: Callable[[int], TallyView | None] | None = None) -> None:
        n = len(tally_ids)
        self.station_codes: StrArray = np.array(station_codes, dtype=np.str_).reshape(n)
        self.contest_codes: StrArray = np.array(contest_codes, dtype=np.str_).reshape(n)
        self.tally_ids: IntArray = np.array(tally_ids, dtype=np.int64).reshape(n)
        #: Every count field of the form (``bundle.COUNT_FIELDS``) by name: ``counts["voters"]``, ...
        self.counts: Mapping[str, FloatArray] = {name: counts[name] if name in counts else np.full(n, np.nan)
                                                 for name in COUNT_FIELDS}
        #: Column ``k-1`` is ballot number k; ``nan`` where not read or beyond the row's own ballot numbers.
        self.votes: FloatArray = votes
        #: How many ballot numbers each row's form has.
        self.widths: IntArray = np.array(widths, dtype=np.int64).reshape(n)
        self._station_registered = station_registered
        #: The votes of the revision each row replaced (all ``nan`` where it replaced none).
        self.previous_votes: FloatArray = (np.full((n, 0), np.nan) if previous_votes is None else previous_votes)
        #: Whether each row replaced an earlier revision.
        self.has_previous: BoolArray = np.array(has_previous if has_previous is not None else [False] * n,
                                                dtype=np.bool_).reshape(n)
        self._contests = list(contests)
        self._view = view
        self._previous = previous
        self._views: dict[int, TallyView] = {}

    @classmethod
    def of_views(cls, views: Sequence[TallyView], contests: Sequence[ContestView],
                 previous: Sequence[TallyView | None] | None = None) -> TallyBatch:
        """A batch of views already built (and the revisions they replaced): for tests, and any caller
        holding views. ``contests[i]`` is row ``i``'s contest."""
        replaced = list(previous) if previous is not None else [None] * len(views)
        width = max((len(v.votes) for v in [*views, *replaced] if v is not None), default=0)
        return cls(
            station_codes=[v.station_code for v in views], contest_codes=[v.contest_code for v in views],
            tally_ids=[v.tally_id for v in views],
            counts=float_columns(COUNT_FIELDS, [[getattr(v, name) for v in views] for name in COUNT_FIELDS]),
            votes=vote_matrix([v.votes for v in views], width), widths=[len(v.votes) for v in views],
            # A view's ``registered`` is its form's when the DPT was read: the same column either way.
            station_registered=as_floats([v.registered for v in views]), contests=contests,
            view=views.__getitem__, has_previous=[p is not None for p in replaced],
            previous_votes=vote_matrix([p.votes if p else None for p in replaced], width),
            previous=replaced.__getitem__)

    def __len__(self) -> int:
        return len(self.tally_ids)

    @property
    def voters(self) -> FloatArray:
        return self.counts["voters"]

    @cached_property
    def registered(self) -> FloatArray:
        """The form's DPT + DPTb + DPK, else the station list's figure (``nan`` where neither)."""
        return registered_column(self.counts["dpt"], self.counts["dptb"], self.counts["dpk"], self._station_registered)

    @cached_property
    def breaks_rules(self) -> BoolArray:
        """Whether each form breaks a rule of its own arithmetic (``TallyView.failed_checks`` not empty)."""
        return rows_breaking_rules(self.counts, self.votes, self.widths)

    @cached_property
    def turnout(self) -> FloatArray:
        """Voters / registered per row (nan where unknown)."""
        return turnout_of(self.voters, self.registered)

    def rows_where(self, screen: Callable[[TallyBatch], BoolArray]) -> list[int]:
        """The rows ``screen`` picks for a closer look; in a batch of a few rows, every row.

        numpy's cost per call, not per row, is what a screen costs on the one-row batch of a
        submission: more than building the row's view and looking at it closely, which decides
        anyway. Derived columns (``registered``, ``turnout``, ``breaks_rules``) are computed when
        first read, so such a batch never computes them.
        """
        if len(self) <= FEW_ROWS:
            return list(range(len(self)))
        return np.flatnonzero(screen(self)).tolist()  # type: ignore[no-any-return]

    def view(self, i: SupportsIndex) -> TallyView:
        """Row ``i`` (an int, or an item of ``np.flatnonzero``) as a :class:`TallyView`, built when first asked."""
        row = index(i)
        found = self._views.get(row)
        if found is None:
            found = self._views[row] = self._view(row)
        return found

    def previous(self, i: SupportsIndex) -> TallyView | None:
        """The revision row ``i`` replaced, or None."""
        return self._previous(index(i)) if self._previous is not None else None

    def contest(self, i: SupportsIndex) -> ContestView:
        """Row ``i``'s contest and its candidates."""
        return self._contests[index(i)]


@dataclass(frozen=True, eq=False)
class RegionTallies:
    """The current revision of every reporting station of a region, for one contest, as arrays.

    Row ``i`` of every array is one station. Counts are float64 with ``nan`` where the field
    was not read, so that numpy's ``nan``-aware functions do the right thing.
    """

    region_code: str
    region_level: str
    contest_code: str
    #: Candidate numbers: column ``j`` of ``votes`` is candidate ``candidates[j]``.
    candidates: tuple[int, ...]
    stations_total: int
    station_codes: StrArray
    tally_ids: IntArray
    village_codes: StrArray
    district_codes: StrArray
    registered: FloatArray
    voters: FloatArray
    valid_votes: FloatArray
    invalid_votes: FloatArray
    votes: FloatArray
    #: Voters on each station's current forms of the *other* contests it votes in (their median;
    #: at a simultaneous election every voter receives every contest's ballot). ``nan`` where the
    #: station has no other form, or where that form cannot witness this one: its own arithmetic
    #: does not hold (voters != valid + invalid), its DPT differs from this form's, or it is
    #: identical to another station's form of its village (one of them was copied). None when
    #: the caller did not load it.
    other_voters: FloatArray | None = None

    @property
    def stations_reported(self) -> int:
        return len(self.station_codes)

    @property
    def turnout(self) -> FloatArray:
        """Voters / registered per station (nan where unknown)."""
        return turnout_of(self.voters, self.registered)

    @property
    def invalid_share(self) -> FloatArray:
        """Invalid / (valid + invalid) per station (nan where unknown)."""
        cast = self.valid_votes + self.invalid_votes
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(cast > 0, self.invalid_votes / cast, np.nan)


# --------------------------------------------------------------------------- what detectors return


@dataclass(frozen=True)
class Finding:
    """A problem a detector sees on its subject. The runner turns it into an issue.

    :param detector: the declared detector name (``DetectorInfo.name``).
    :param subject: a station code (issue about one form) or a region code (about a region).
    :param contest: the contest code, or None for a finding about all contests.
    :param severity: ``info`` (worth a look), ``warning`` (likely wrong), ``critical`` (certainly wrong
        or decisive).
    :param message: what is wrong, in words a reviewer understands, with the figures.
    :param evidence: the figures that made the detector fire (JSON-serialisable).
    :param suggestion: the next step for the reviewer (check the form's photo and correct the entry,
        ask the PPK for its recap, ask the witnesses for their copy, recommend that Bawaslu consider
        a recount or a PSU ...).
    :param score: how strongly it fires (detector-specific, bigger is worse), for ordering; or None.
    """

    detector: str
    subject: str
    contest: str | None
    severity: Severity
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    suggestion: str | None = None
    score: float | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"severity must be info, warning or critical, not {self.severity!r}")

    @property
    def subject_key(self) -> str:
        return subject_key(self.subject, self.contest)


def subject_key(subject: str, contest: str | None) -> str:
    """The issue's identity besides its detector: ``contest/subject`` (``*`` for all contests)."""
    return f"{contest or '*'}/{subject}"
