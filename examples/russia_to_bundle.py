"""Convert Shpilkin's Russian station-level results into an election bundle (docs: spec/bundle.md).

Usage::

    python examples/russia_to_bundle.py /work/shared/data/russia/russia_2011_duma_uik.csv.gz OUT_DIR [--limit N]

The input has one row per polling station (UIK): ``region, tik, uik, registered, ballots_given,
ballots_invalid, ballots_valid, ballots_cast`` and one column of votes per party or candidate.

Region tree (Russia has no kecamatan or desa, so the four levels are borrowed):

- province = Russian region; code = its 1-based index in name order, two digits (``07``);
- regency = territorial commission (TIK); code = parent, dot, index of the TIK in name order
  within the region, zero-padded to the widest index (``07.05``; Moscow has 125 TIKs, so three
  digits are used everywhere when needed);
- district = one per TIK, always ``.01`` (``07.05.01``);
- village = one per UIK, the UIK number padded to four digits (``07.05.01.1234``);
- station = ``001`` in its village (``07.05.01.1234.001``).

One contest per file (``duma-2011`` or ``pres-2012``) with an empty ``region_code``: a nationwide
contest in which every station votes. Candidates are numbered in column order.

How the Russian protocol maps onto the Indonesian form (C.Hasil):

=================== ============================ =============================================
bundle column        Russian field                why
=================== ============================ =============================================
``dpt``              ``registered``               voters on the list (also stations.registered)
``voters``           ``ballots_given``            ballots issued = voters who used their right
``ballots_used``     ``ballots_cast``             ballots found in the boxes (valid + invalid)
``valid_votes``      ``ballots_valid``
``invalid_votes``    ``ballots_invalid``
``total_votes``      ``ballots_cast``             valid + invalid, as on the protocol
``votes_K``          K-th party/candidate column
=================== ============================ =============================================

``dptb``, ``dpk``, ``ballots_received``, ``ballots_spoiled`` and ``ballots_unused`` are not in the
data and are left out (the bundle treats a missing column as empty). Where ballots issued and
ballots in the boxes differ, the form rule ``total_votes = voters`` is broken on purpose: that
is what the station reported, and a detector may flag it. ``submitted_at`` is election night
(Moscow time) and ``source`` is ``cik`` (the Central Election Commission).

:func:`load_contest_arrays` reads the same file straight into
:class:`pilkada_graph.forensics.ContestArrays`, for tests and benchmarks that need no database.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pilkada_graph.forensics import ContestArrays

FIXED_COLUMNS = ("region", "tik", "uik", "registered", "ballots_given", "ballots_invalid", "ballots_valid",
                 "ballots_cast")


@dataclass(frozen=True)
class Election:
    """What the bundle needs to know about one of the two source files."""

    contest_code: str
    name: str
    submitted_at: str


ELECTIONS = {
    "2011": Election("duma-2011", "Выборы депутатов Государственной Думы 2011", "2011-12-04T20:00:00+03:00"),
    "2012": Election("pres-2012", "Выборы Президента Российской Федерации 2012", "2012-03-04T20:00:00+03:00"),
}


def election_for(path: Path) -> Election:
    """Pick the contest from the year in the file name (``russia_2011_...`` or ``russia_2012_...``)."""
    for year, election in ELECTIONS.items():
        if year in path.name:
            return election
    raise ValueError(f"cannot tell the election from the file name {path.name!r} (expected 2011 or 2012)")


def read_rows(path: Path, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the (optionally gzipped) CSV, at most ``limit`` rows."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if tuple(header[: len(FIXED_COLUMNS)]) != FIXED_COLUMNS:
            raise ValueError(f"{path}: expected the columns {', '.join(FIXED_COLUMNS)} first")
        rows = [row for _, row in zip(range(limit if limit is not None else sys.maxsize), reader, strict=False)]
    return header, rows


@dataclass(frozen=True)
class Codes:
    """Region-tree codes of every row, and the name tables they came from."""

    regions: list[str]  # province code -> region name, by index
    tiks: dict[tuple[str, str], str]  # (region, tik) -> regency code
    station_codes: list[str]
    village_codes: list[str]


def assign_codes(rows: list[list[str]]) -> Codes:
    """Dotted hierarchical codes: sorted indexes for regions and TIKs, UIK numbers for villages."""
    regions = sorted({row[0] for row in rows})
    region_code = {name: f"{i + 1:02d}" for i, name in enumerate(regions)}
    tiks_by_region: dict[str, list[str]] = {}
    for region, tik in sorted({(row[0], row[1]) for row in rows}):
        tiks_by_region.setdefault(region, []).append(tik)
    width = max(2, len(str(max((len(t) for t in tiks_by_region.values()), default=1))))
    tiks = {
        (region, tik): f"{region_code[region]}.{i + 1:0{width}d}"
        for region, names in tiks_by_region.items()
        for i, tik in enumerate(names)
    }
    village_codes = [f"{tiks[(row[0], row[1])]}.01.{int(row[2]):04d}" for row in rows]
    if len(set(village_codes)) != len(village_codes):
        raise ValueError("two polling stations of one TIK share a UIK number")
    return Codes(regions, tiks, [f"{v}.001" for v in village_codes], village_codes)


def write_csv(path: Path, header: list[str], rows: Iterator[list[object]] | list[list[object]]) -> None:
    """One bundle file: UTF-8, comma-separated, one header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def region_rows(rows: list[list[str]], codes: Codes) -> Iterator[list[object]]:
    """Provinces, regencies, districts and villages, parents before children."""
    for i, name in enumerate(codes.regions):
        yield [f"{i + 1:02d}", name, "province", ""]
    for (_, tik), code in sorted(codes.tiks.items(), key=lambda item: item[1]):
        yield [code, tik, "regency", code.rsplit(".", 1)[0]]
    for (_, tik), code in sorted(codes.tiks.items(), key=lambda item: item[1]):
        yield [f"{code}.01", tik, "district", code]
    for row, village in zip(rows, codes.village_codes, strict=True):
        yield [village, f"УИК №{int(row[2])}", "village", village.rsplit(".", 1)[0]]


def tally_rows(rows: list[list[str]], codes: Codes, election: Election) -> Iterator[list[object]]:
    """One submission per station, mapped as in the module docstring."""
    for row, station in zip(rows, codes.station_codes, strict=True):
        registered, given, invalid, valid, cast = row[3:8]
        yield [f"{election.contest_code}:{station}", station, election.contest_code, election.submitted_at, "cik",
               registered, given, cast, *row[8:], valid, invalid, cast]


def convert(source: Path, out_dir: Path, limit: int | None = None) -> dict[str, int]:
    """Write regions, contests, candidates, stations and tallies CSVs; return row counts."""
    election = election_for(source)
    header, rows = read_rows(source, limit)
    candidates = header[len(FIXED_COLUMNS):]
    codes = assign_codes(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    regions = list(region_rows(rows, codes))
    write_csv(out_dir / "regions.csv", ["code", "name", "level", "parent_code"], regions)
    write_csv(out_dir / "contests.csv", ["code", "name", "region_code"], [[election.contest_code, election.name, ""]])
    write_csv(out_dir / "candidates.csv", ["contest_code", "number", "name"],
              [[election.contest_code, k + 1, name] for k, name in enumerate(candidates)])
    write_csv(out_dir / "stations.csv", ["code", "village_code", "number", "registered"],
              [[s, v, 1, row[3]] for s, v, row in zip(codes.station_codes, codes.village_codes, rows, strict=True)])
    tally_header = ["submission_id", "station_code", "contest_code", "submitted_at", "source", "dpt", "voters",
                    "ballots_used", *[f"votes_{k + 1}" for k in range(len(candidates))], "valid_votes",
                    "invalid_votes", "total_votes"]
    write_csv(out_dir / "tallies.csv", tally_header, tally_rows(rows, codes, election))
    return {"regions": len(regions), "contests": 1, "candidates": len(candidates), "stations": len(rows),
            "tallies": len(rows)}


def load_contest_arrays(source: Path | str, limit: int | None = None) -> ContestArrays:
    """Read the Russian CSV straight into ContestArrays (station codes as in the bundle)."""
    path = Path(source)
    header, rows = read_rows(path, limit)
    codes = assign_codes(rows)
    numbers = np.array([row[3:] for row in rows], dtype=np.int64).reshape(len(rows), len(header) - 3)
    return ContestArrays(
        registered=numbers[:, 0], voters=numbers[:, 1], valid=numbers[:, 3], invalid=numbers[:, 2],
        votes=numbers[:, 5:], candidate_names=tuple(header[len(FIXED_COLUMNS):]),
        station_codes=tuple(codes.station_codes),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="russia_2011_duma_uik.csv.gz or russia_2012_president_uik.csv.gz")
    parser.add_argument("out_dir", type=Path, help="bundle folder to write")
    parser.add_argument("--limit", type=int, default=None, help="convert only the first N stations")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = convert(args.source, args.out_dir, args.limit)
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"wrote {args.out_dir}: {summary} in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
