"""The columnar road: a clean chunk of a bundle's tallies.csv, checked and stored whole columns at a time.

The row road (:func:`pilkada_graph.ingest.parse_tally_row`, :func:`~pilkada_graph.ingest.validate_tally`,
:func:`~pilkada_graph.store.store_tallies`) builds a form per row and names every problem of every
row; at a few microseconds per step and row, that Python is most of a bulk import. Most chunks of a
first load need none of its generality: every count is plain digits, every time is written
``2024-11-27T13:54:30+07:00``, every reference is valid, every submission id is new and no
(station, contest) has a stored revision yet. Such a chunk takes this road: the same rules,
checked on whole columns, and the same rows written (revisions, current pointers, region sums),
with ordering, pointers and region sums computed on arrays (the sums added to the importer's
:class:`~pilkada_graph.store.PendingSums`, as the row road's are). A chunk read as plain lines (no
quoting, see :func:`pilkada_graph.bundle.read_chunks`) is parsed from its bytes, without cutting a
string per cell (:func:`_parse_plain_lines`); anything it cannot be sure of is read from the cells.

Any chunk that is not all of that takes the row road, which is also the only road of
``submitTally`` and of the Sirekap import; in a clean chunk, the forms that have a stored revision
(corrections of forms in an earlier chunk) or a repeated submission id are left to the row road,
all rows of a form on one road. So this road never decides what is valid: it only recognises rows
where nothing needs deciding.
``tests/ingest/test_columnar_road.py`` checks that both roads write the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from itertools import compress, repeat
from operator import is_not
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection

from pilkada_graph import bundle
from pilkada_graph.bundle import COUNT_FIELDS, CellChunk
from pilkada_graph.ingest import SAFE_COUNT_DIGITS, Catalog, ContestRef, StationRef
from pilkada_graph.store import (
    TALLY_COLUMNS,
    PendingSums,
    RawSQL,
    StoredTally,
    existing_submissions,
    json_int_lists,
    lock_stations,
    write_current_pointers,
)

#: The one layout of ``submitted_at`` this road reads itself (any other goes the row road).
_TIME_LAYOUT = "YYYY-MM-DDTHH:MM:SS+HH:MM"
_SUBMISSION_ID_MAX, _SOURCE_MAX = 200, 40


class TallyColumns(NamedTuple):
    """A chunk's rows as columns, converted: what the row road's forms would hold."""

    submission_ids: list[str]
    station_codes: list[str]
    contest_codes: list[str]
    #: ``submitted_at`` in UTC (``datetime64[us]``) and the sender's UTC offset in minutes.
    utc: np.ndarray
    offsets: list[int]
    sources: list[str | None]
    counts: dict[str, list[int | None]]
    #: Per ballot number in the header, the column of its votes (None where empty).
    votes: dict[int, list[int | None]]


class Stored(NamedTuple):
    """What the columnar road stored of a chunk, and the rows (indices) it left to the row road."""

    tallies: list[StoredTally]
    left: list[int]


def store_clean_chunk(connection: Connection, chunk: CellChunk, catalog: Catalog, actor: str | None,
                      sums: PendingSums) -> Stored | None:
    """Store the clean part of ``chunk`` (see the module's doc) and say which rows are left: the forms
    (station and contest) with a stored revision, or with a submission id repeated or already stored.
    None, and nothing stored, when the chunk is not clean or every form is left: the row road takes it all.
    The changes to the region aggregates are added to ``sums``, for the importer to write."""
    columns = parse_columns(chunk)
    if columns is None:
        return None
    references = _references(columns, catalog)
    if references is None:
        return None
    raw = RawSQL(connection)
    lock_stations(raw, {station.id for station in references.stations if station.id is not None})
    left = _rows_for_the_row_road(raw, columns, references)
    if len(left) == len(columns.submission_ids):
        return None
    if left:
        columns, references = _without(columns, references, set(left))
    return Stored(_store(raw, columns, references, actor, sums), left)


# --------------------------------------------------------------------------- parsing


def parse_columns(chunk: CellChunk) -> TallyColumns | None:
    """The chunk converted column by column, or None when any cell needs the row road's parser."""
    if chunk.source_lines is not None:
        parsed = _parse_plain_lines(chunk.header, chunk.source_lines)
        if parsed is not None:
            return parsed
    return _parse_cells(chunk)


def _parse_cells(chunk: CellChunk) -> TallyColumns | None:
    columns = dict(zip(chunk.header, zip(*chunk.cells, strict=False), strict=False))
    n = len(chunk.cells)
    if not n or any(name not in columns for name in bundle.REQUIRED_COLUMNS[bundle.TALLIES]):
        return None
    empty = ("",) * n
    submission_ids, station_codes, contest_codes, times = (
        [value.strip() for value in columns[name]] for name in bundle.REQUIRED_COLUMNS[bundle.TALLIES])
    if not all(map(all, (submission_ids, station_codes, contest_codes, times))):
        return None
    counts = {name: plain_counts(columns.get(name, empty)) for name in COUNT_FIELDS}
    votes = {number: plain_counts(columns[name]) for name in columns
             if (number := bundle.candidate_number_of(name)) is not None}
    utc_and_offsets = utc_times(times)
    if utc_and_offsets is None or any(c is None for c in counts.values()) or any(v is None for v in votes.values()):
        return None
    sources = [value.strip() or None for value in columns.get("source", empty)]
    return TallyColumns(submission_ids, station_codes, contest_codes, *utc_and_offsets, sources,
                        counts, votes)  # type: ignore[arg-type]


def _parse_plain_lines(header: list[str], lines: list[str]) -> TallyColumns | None:
    """:func:`_parse_cells` of the chunk these plain lines make (see ``bundle.read_chunks``), read
    from their bytes without cutting a cell that is not text: commas and line ends found at once,
    counts and times read from their digits. None whenever it cannot be sure of reading what
    :func:`_parse_cells` reads (any non-ASCII character or lone carriage return, a row of another width,
    a cell with space at an end, a count of more than ``SAFE_COUNT_DIGITS`` or anything but
    digits): that then reads the cells."""
    at = {name: i for i, name in enumerate(header)}
    text = "".join(lines)
    if any(name not in at for name in bundle.REQUIRED_COLUMNS[bundle.TALLIES]) or not text.isascii():
        return None
    if "\r" in text:  # line ends written CR LF (as a spreadsheet saves a file) read as LF; a lone CR is not
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    data = np.frombuffer((text if text.endswith("\n") else text + "\n").encode("ascii"), dtype=np.uint8)
    n, width = len(lines), len(header)
    separators = np.flatnonzero((data == ord(",")) | (data == ord("\n")))
    if len(separators) != n * width:
        return None
    ends = separators.reshape(n, width)
    if not (data[ends[:, -1]] == ord("\n")).all():  # each row's last cell ends its line: each row is `width` wide
        return None
    starts = np.empty_like(ends)
    starts[0, 0], starts[1:, 0], starts[:, 1:] = 0, ends[:-1, -1] + 1, ends[:, :-1] + 1
    lengths = ends - starts
    required = [at[name] for name in bundle.REQUIRED_COLUMNS[bundle.TALLIES]]
    if not (lengths[:, required] > 0).all():
        return None
    texts = [*required, *([at["source"]] if "source" in at else [])]
    filled = lengths[:, texts] > 0  # (counts and times are read digit by digit: a space there is refused)
    if _SPACES[data[starts[:, texts][filled]]].any() or _SPACES[data[ends[:, texts][filled] - 1]].any():
        return None  # a cell to strip: the cells' reading strips it

    def cut(name: str) -> list[str]:
        j = at[name]
        return list(map(text.__getitem__, map(slice, starts[:, j].tolist(), ends[:, j].tolist())))

    time_column = at["submitted_at"]
    if not (lengths[:, time_column] == len(_TIME_LAYOUT)).all():
        return None
    times = _utc_of_characters(data[starts[:, time_column, None] + np.arange(len(_TIME_LAYOUT))])
    count_columns = {name: at[name] for name in COUNT_FIELDS if name in at}
    vote_columns = {number: at[name] for name in dict.fromkeys(header)
                    if (number := bundle.candidate_number_of(name)) is not None}
    counts = _counts_of(data, starts, lengths, [*count_columns.values(), *vote_columns.values()])
    if times is None or counts is None:
        return None
    nothing: list[int | None] = [None] * n
    return TallyColumns(
        cut("submission_id"), cut("station_code"), cut("contest_code"), *times,
        [cell or None for cell in cut("source")] if "source" in at else [None] * n,
        {name: counts[count_columns[name]] if name in count_columns else nothing for name in COUNT_FIELDS},
        {number: counts[j] for number, j in vote_columns.items()},
    )


#: Which bytes ``str.strip`` takes away (the ASCII ones ``str.isspace`` counts).
_SPACES = np.array([chr(byte).isspace() for byte in range(256)])


def _counts_of(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, columns: list[int]
               ) -> dict[int, list[int | None]] | None:
    """Column index -> its counts (None where empty), read from the digits of the cells; None when a
    cell is neither empty nor at most ``SAFE_COUNT_DIGITS`` plain digits (as :func:`plain_counts`)."""
    starts, lengths = starts[:, columns], lengths[:, columns]
    longest = int(lengths.max(initial=0))
    if longest > SAFE_COUNT_DIGITS:
        return None
    values = np.zeros(starts.shape, dtype=np.int32)  # below 10 ** SAFE_COUNT_DIGITS
    for place in range(longest):
        inside = lengths > place
        digits = data[np.where(inside, starts + place, 0)] - np.uint8(ord("0"))  # not a digit: above 9
        if (inside & (digits > 9)).any():
            return None
        values = np.where(inside, values * 10 + digits, values)
    empty = lengths == 0
    found: dict[int, list[int | None]] = {}
    for k, column in enumerate(columns):
        found[column] = values[:, k].tolist()
        if empty[:, k].any():
            found[column] = [None if blank else value for value, blank in
                             zip(found[column], empty[:, k].tolist(), strict=True)]
    return found


def plain_counts(cells: Sequence[str]) -> list[int | None] | None:
    """A column of counts (None where empty) when every cell is empty or at most
    ``SAFE_COUNT_DIGITS`` plain digits, else None: the same test as the row road's short road, made
    once on the column's concatenation (a longer cell may be out of range: the row road checks it).

    Each distinct cell is read once (``int``, as the row road reads it): a column of counts
    repeats its values (a station's DPT is a few hundred; the DPTb is mostly 0 to 5), so this is
    a third faster than the JSON parser reading the whole column in one call.
    """
    joined = "".join(cells)
    if not joined:
        return [None] * len(cells)
    if not joined.isdecimal():
        return None
    distinct = set(cells)
    if max(map(len, distinct)) > SAFE_COUNT_DIGITS:
        return None
    value_of = {cell: int(cell) if cell else None for cell in distinct}
    return list(map(value_of.__getitem__, cells))


def utc_times(texts: Sequence[str]) -> tuple[np.ndarray, list[int]] | None:
    """Times written exactly as ``_TIME_LAYOUT`` -> (UTC as ``datetime64[us]``, offsets in minutes).

    Read as one array of characters, column by column: the separators, then the digits of each
    field, which must be in the ranges ``datetime.fromisoformat`` holds them to (a day within its
    month, leap years counted; an offset below 24 hours). None for any other layout or range, or a
    time whose UTC is outside the years 1 to 9999: the row road reads (or refuses) those.
    """
    width = len(_TIME_LAYOUT)
    whole = np.array(texts)
    if whole.dtype.itemsize != 4 * width or np.strings.str_len(whole).min() != width:
        return None
    return _utc_of_characters(whole.view(np.uint32).reshape(len(whole), width))  # one code point per cell


def _utc_of_characters(characters: np.ndarray) -> tuple[np.ndarray, list[int]] | None:
    """:func:`utc_times` of times given as a matrix of character codes, a row each."""
    sign = characters[:, 19]
    if not (characters[:, _SEPARATOR_PLACES] == _SEPARATORS).all():
        return None
    if not ((sign == ord("+")) | (sign == ord("-"))).all():
        return None
    digits = characters[:, _DIGIT_PLACES].astype(np.int64) - ord("0")
    if not ((digits >= 0) & (digits <= 9)).all():
        return None
    year, month, day, hour, minute, second, offset_hours, offset_minutes = (digits @ _FIELDS).T
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if not ((year >= 1).all() and ((month >= 1) & (month <= 12)).all() and (day >= 1).all()
            and (day <= _MONTH_DAYS[month] + ((month == 2) & leap)).all()
            and (hour < 24).all() and (minute < 60).all() and (second < 60).all()
            and (offset_hours < 24).all() and (offset_minutes < 60).all()):
        return None
    offsets = np.where(sign == ord("-"), -1, 1) * (offset_hours * 60 + offset_minutes)
    days = ((year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)).astype("datetime64[D]") + (
        day - 1)
    utc = days.astype("datetime64[us]") + ((hour * 60 + minute - offsets) * 60 + second) * 1_000_000
    if utc.min() < _FIRST_UTC or utc.max() >= _PAST_LAST_UTC:
        return None  # the row road refuses it (``parse_timestamp``)
    return utc, offsets.tolist()


#: Where ``_TIME_LAYOUT`` has its separators (the offset's sign apart) and its digits.
_SEPARATOR_PLACES = [i for i, c in enumerate(_TIME_LAYOUT) if c in "-T:" and i != 19]
_SEPARATORS = np.array([ord(_TIME_LAYOUT[i]) for i in _SEPARATOR_PLACES], dtype=np.uint32)
_DIGIT_PLACES = [i for i, c in enumerate(_TIME_LAYOUT) if c in "YMDHS"]


def _field_weights(widths: Sequence[int]) -> np.ndarray:
    """The matrix that turns a row of digits into the numbers of its fields, of ``widths`` digits each."""
    weights = np.zeros((sum(widths), len(widths)), dtype=np.int64)
    for field, (start, width) in enumerate(zip(np.cumsum([0, *widths[:-1]]).tolist(), widths, strict=True)):
        weights[start:start + width, field] = 10 ** np.arange(width - 1, -1, -1)
    return weights


#: The digits (in ``_DIGIT_PLACES`` order) times this: year, month, day, hour, minute, second, and
#: the offset's hours and minutes.
_FIELDS = _field_weights([4, 2, 2, 2, 2, 2, 2, 2])
#: Days per month (February 28; index 0 unused).
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)

#: The range of times a ``datetime`` holds, so the column can store (and read back).
_FIRST_UTC, _PAST_LAST_UTC = np.datetime64("0001-01-01", "us"), np.datetime64("10000-01-01", "us")


# --------------------------------------------------------------------------- references


class _References(NamedTuple):
    stations: list[StationRef]
    contests: list[ContestRef]


def _references(columns: TallyColumns, catalog: Catalog) -> _References | None:
    """Every row's station and contest when every rule of :func:`~pilkada_graph.ingest.validate_tally`
    holds for every row; None otherwise (the row road then names the problems)."""
    if max(map(len, columns.submission_ids)) > _SUBMISSION_ID_MAX:
        return None
    if max(map(len, filter(None, columns.sources)), default=0) > _SOURCE_MAX:
        return None
    catalog.prefetch_stations(columns.station_codes)
    contest_codes = set(columns.contest_codes)
    if any(catalog.stations.get(code) is None for code in set(columns.station_codes)) or any(
            catalog.contests.get(code) is None for code in contest_codes):
        return None
    checked = _References(list(map(catalog.stations.__getitem__, columns.station_codes)),  # type: ignore[arg-type]
                          list(map(catalog.contests.__getitem__, columns.contest_codes)))
    distinct = {code: catalog.contests[code] for code in contest_codes}
    if not _stations_inside_their_contests(columns, distinct) or not _votes_within_candidates(columns, distinct):
        return None
    return checked


def _stations_inside_their_contests(columns: TallyColumns, contests: dict[str, ContestRef]) -> bool:
    """Every row's station lies below its contest's region (:func:`~pilkada_graph.ingest.is_below`,
    one ``startswith`` per row; a station whose code *is* the region's is left to the row road)."""
    prefix = {code: f"{contest.region_code}." if contest.region_code else "" for code, contest in contests.items()}
    return all(map(str.startswith, columns.station_codes, map(prefix.__getitem__, columns.contest_codes)))


def _votes_within_candidates(columns: TallyColumns, contests: dict[str, ContestRef]) -> bool:
    """No row has votes for a ballot number its contest does not have (only the columns of numbers
    that some contest lacks are read: the contests of their rows that hold a count)."""
    for number, votes in columns.votes.items():
        lacking = {code for code, contest in contests.items() if number not in contest.candidates}
        if lacking and not lacking.isdisjoint(compress(columns.contest_codes, map(is_not, votes, repeat(None)))):
            return False
    return True


def _rows_for_the_row_road(raw: RawSQL, columns: TallyColumns, references: _References) -> list[int]:
    """Every row of a form (station and contest) that has a stored revision, or that has a row whose
    submission id is repeated or already stored: the row road handles what a revision replaces, and
    repeats. A form's rows all take one road, so its revisions keep their order."""
    ids = columns.submission_ids
    forms = [(s.id, c.id) for s, c in zip(references.stations, references.contests, strict=True)]
    seen = Counter(ids)
    stored_ids = existing_submissions(raw.connection, ids)
    left_forms = {form for form, submission in zip(forms, ids, strict=True)
                  if seen[submission] > 1 or submission in stored_ids}
    found = raw.fetchall_in("SELECT station_id, contest_id FROM current_tallies WHERE station_id IN ({values})",
                            sorted({station_id for station_id, _ in forms}))  # type: ignore[type-var]
    left_forms.update(tuple(pair) for pair in found)
    return [i for i, form in enumerate(forms) if form in left_forms]


def _without(columns: TallyColumns, references: _References, left: set[int]) -> tuple[TallyColumns, _References]:
    """The columns and references of the rows not in ``left``."""
    keep = [i for i in range(len(columns.submission_ids)) if i not in left]

    def taken(values: Sequence[Any]) -> list[Any]:
        return [values[i] for i in keep]

    return TallyColumns(
        taken(columns.submission_ids), taken(columns.station_codes), taken(columns.contest_codes),
        columns.utc[keep], taken(columns.offsets), taken(columns.sources),
        {name: taken(values) for name, values in columns.counts.items()},
        {number: taken(values) for number, values in columns.votes.items()},
    ), _References(taken(references.stations), taken(references.contests))


# --------------------------------------------------------------------------- storing


def _store(raw: RawSQL, columns: TallyColumns, references: _References, actor: str | None,
           sums: PendingSums) -> list[StoredTally]:
    """Insert the revisions in submission order, point each pair at its latest, add to the region sums."""
    n = len(columns.submission_ids)
    keys = list(zip(columns.utc.astype(np.int64).tolist(), columns.submission_ids, strict=True))
    order = sorted(range(n), key=keys.__getitem__)
    taken = None if order == list(range(n)) else order  # a feed's file is usually written in time order
    ids = raw.reserve_ids("tallies", n)
    times = _column_times(raw, columns.utc)
    station_ids = [s.id for s in references.stations]
    contest_ids = [c.id for c in references.contests]
    _insert_revisions(raw, columns, order=taken, ids=ids, times=times, station_ids=station_ids,
                      contest_ids=contest_ids, votes=_vote_rows(columns, references.contests), actor=actor)
    latest: dict[tuple[int, int], tuple[int, int]] = {}  # pair -> (tally id, row)
    previous_ids: list[int | None] = []
    for tally_id, i in zip(ids, order, strict=True):
        pair = (station_ids[i], contest_ids[i])
        previous = latest.get(pair)  # type: ignore[arg-type]
        previous_ids.append(previous[0] if previous else None)
        latest[pair] = (tally_id, i)  # type: ignore[index]
    stored = list(map(StoredTally, ids, *(_in_order(values, taken) for values in (
        columns.submission_ids, station_ids, contest_ids, columns.station_codes, columns.contest_codes)),
        repeat(True), previous_ids))
    write_current_pointers(raw, [(s, c, tally_id, times[i]) for (s, c), (tally_id, i) in latest.items()])
    for village, delta in _village_sums(columns, references, [i for _, i in latest.values()]).items():
        sums.add(village, delta)
    return stored


def _column_times(raw: RawSQL, utc: np.ndarray) -> list[Any]:
    """UTC times as the ``submitted_at`` column takes them (:meth:`RawSQL.timestamp`, for a column)."""
    if raw.postgres:
        return utc.astype("datetime64[us]").tolist()  # type: ignore[no-any-return]
    texts = np.datetime_as_string(utc, unit="us")  # YYYY-MM-DDTHH:MM:SS.ffffff: years 1-9999 (utc_times)
    texts.view(np.uint32).reshape(len(texts), -1)[:, 10] = ord(" ")  # one code point per cell: T -> space
    return texts.tolist()  # type: ignore[no-any-return]


def _insert_revisions(raw: RawSQL, columns: TallyColumns, *, order: Sequence[int] | None, ids: Sequence[int],
                      times: Sequence[Any], station_ids: Sequence[Any], contest_ids: Sequence[Any],
                      votes: Sequence[Sequence[int | None]], actor: str | None) -> None:
    """One row per revision (``TALLY_COLUMNS``), built column by column: the rows taken in submission
    ``order`` (None: as they are) get ``ids``; ``times``, ``station_ids``, ``contest_ids`` and ``votes``
    are per row."""
    ordered = partial(_in_order, order=order)
    received_at = raw.timestamp(datetime.now(UTC).replace(tzinfo=None))
    raw.insert_many("tallies", TALLY_COLUMNS, list(zip(
        ids, ordered(columns.submission_ids), ordered(station_ids), ordered(contest_ids), ordered(times),
        ordered(columns.offsets), repeat(received_at), ordered(columns.sources),
        *(ordered(columns.counts[name]) for name in COUNT_FIELDS), ordered(json_int_lists(votes)),
        repeat(None), repeat(actor), repeat(None),
    )))


def _in_order(values: Sequence[Any], order: Sequence[int] | None) -> Sequence[Any]:
    """``values`` taken in ``order``; None means that is their order already."""
    return values if order is None else [values[i] for i in order]


def _vote_rows(columns: TallyColumns, contests: Sequence[ContestRef]) -> list[tuple[int | None, ...]]:
    """Each row's votes for ballot numbers 1..its contest's candidates (None where empty)."""
    widest = max((len(c.candidates) for c in contests), default=0)
    if not widest:
        return [() for _ in contests]
    nones: list[int | None] = [None] * len(contests)
    table = zip(*(columns.votes.get(number, nones) for number in range(1, widest + 1)), strict=True)
    return [row[:len(contest.candidates)] for row, contest in zip(table, contests, strict=True)]


def _village_sums(columns: TallyColumns, references: _References, current: Sequence[int]
                  ) -> dict[tuple[str, int], list[int]]:
    """What the current revisions add per (village, contest): ``RESULT_COLUMNS`` then the votes per
    ballot number, as :class:`~pilkada_graph.store.Contribution` counts them (empty counts add 0; the
    registered voters are DPT + DPTb + DPK, or the station's when the DPT is empty)."""
    rows = np.array(current, dtype=np.int64)

    def counted(values: Sequence[int | None], empty: int = 0) -> np.ndarray:
        return np.array([empty if v is None else v for v in values], dtype=np.int64)[rows]

    dpt = counted(columns.counts["dpt"], -1)
    station_registered = np.array([s.registered or 0 for s in references.stations], dtype=np.int64)[rows]
    registered = np.where(dpt >= 0, dpt + counted(columns.counts["dptb"]) + counted(columns.counts["dpk"]),
                          station_registered)
    widest = max(columns.votes, default=0)
    votes = [counted(columns.votes.get(number, [None] * len(columns.submission_ids)))
             for number in range(1, widest + 1)]
    matrix = np.column_stack([np.ones(len(rows), dtype=np.int64), registered, counted(columns.counts["voters"]),
                              counted(columns.counts["valid_votes"]), counted(columns.counts["invalid_votes"]),
                              *votes])
    keys = [(references.stations[i].village_code, references.contests[i].id) for i in current]
    index = {key: n for n, key in enumerate(dict.fromkeys(keys))}
    sums = np.zeros((len(index), matrix.shape[1]), dtype=np.int64)
    np.add.at(sums, [index[key] for key in keys], matrix)
    return dict(zip(index, sums.tolist(), strict=True))  # type: ignore[arg-type]
