"""Convert the Sirekap station results of Bener Meriah (Pilpres 2024) into an election bundle.

Usage::

    python examples/bener_meriah_to_bundle.py /work/shared/data/indonesia/pilpres2024_bener_meriah_tps.csv OUT_DIR

The input has one row per polling station (TPS), as scraped from KPU's Sirekap site:
``tps_code`` (13 digits, sometimes missing), ``kecamatan`` (``01-pintu-rime-gayo``), ``desa``
(``2001-blang-rakal``), ``tps`` (``001-tps``), the three pairs' votes, the administration section
(``dpt_total``, ``users_dpt``, ``users_dptb``, ``users_dpk``, ``users_total``), ``valid_votes``,
``invalid_votes``, ``total_votes`` and ``sirekap_ts``.

Regions: province ``11`` (Aceh), regency ``11.17`` (Bener Meriah), districts ``11.17.NN`` and
villages ``11.17.NN.VVVV`` from the numbers that lead the kecamatan and desa slugs (the same
digits as the TPS code, which is used to check them when present), named from the rest of the slug.

One contest ``ppwp-2024`` with region ``11``; candidates 1 Anies - Muhaimin, 2 Prabowo - Gibran,
3 Ganjar - Mahfud. The form maps as the Sirekap importer maps it (``shared/spec/sirekap.md``):
``dpt_total`` -> ``dpt``, ``users_dptb`` -> ``dptb``, ``users_dpk`` -> ``dpk``, ``users_total`` ->
``voters``; ``users_dpt`` is kept as an extra column (ignored on import). An empty cell means the
field was not (yet) read and stays empty: never zero. ``sirekap_ts`` is WIB (UTC+7).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pilkada_graph.bundle import format_timestamp, write_bundle

PROVINCE, REGENCY = "11", "11.17"
CONTEST = "ppwp-2024"
PAIRS = ("ANIES BASWEDAN - MUHAIMIN ISKANDAR", "PRABOWO SUBIANTO - GIBRAN RAKABUMING RAKA",
         "GANJAR PRANOWO - MAHFUD MD")
VOTE_COLUMNS = ("votes_01_anies", "votes_02_prabowo", "votes_03_ganjar")
#: bundle column <- Sirekap column
FORM_COLUMNS = {"dpt": "dpt_total", "dptb": "users_dptb", "dpk": "users_dpk", "voters": "users_total",
                "valid_votes": "valid_votes", "invalid_votes": "invalid_votes", "total_votes": "total_votes"}
WIB = timezone(timedelta(hours=7))

Row = dict[str, object]


def slug_parts(slug: str) -> tuple[str, str]:
    """``01-pintu-rime-gayo`` -> (``01``, ``PINTU RIME GAYO``)."""
    number, _, name = slug.partition("-")
    return number, name.replace("-", " ").upper()


def station_code(row: Mapping[str, str]) -> str:
    """The dotted station code, from the slugs; checked against ``tps_code`` when that is present."""
    district, _ = slug_parts(row["kecamatan"])
    village, _ = slug_parts(row["desa"])
    tps, _ = slug_parts(row["tps"])
    code = f"{REGENCY}.{district}.{village}.{tps}"
    given = row.get("tps_code", "")
    if given and given != code.replace(".", ""):
        raise ValueError(f"tps_code {given} does not match kecamatan/desa/tps {code}")
    return code


def count(value: str) -> int | None:
    """A filled cell as a whole number; an empty one as None (not read, not zero)."""
    value = value.strip()
    return int(value) if value else None


def region_rows(rows: Iterable[Mapping[str, str]]) -> list[Row]:
    regions: dict[str, Row] = {
        PROVINCE: {"code": PROVINCE, "name": "ACEH", "level": "province", "parent_code": None},
        REGENCY: {"code": REGENCY, "name": "BENER MERIAH", "level": "regency", "parent_code": PROVINCE},
    }
    for row in rows:
        district, district_name = slug_parts(row["kecamatan"])
        village, village_name = slug_parts(row["desa"])
        district_code = f"{REGENCY}.{district}"
        regions.setdefault(district_code, {"code": district_code, "name": district_name, "level": "district",
                                           "parent_code": REGENCY})
        village_code = f"{district_code}.{village}"
        regions.setdefault(village_code, {"code": village_code, "name": village_name, "level": "village",
                                          "parent_code": district_code})
    return sorted(regions.values(), key=lambda r: str(r["code"]))


def submitted_at(value: str) -> str:
    return format_timestamp(datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIB))


def tally_row(row: Mapping[str, str], code: str) -> Row:
    tally: Row = {"submission_id": f"sirekap-{code}-{row['sirekap_ts'].replace(' ', 'T')}", "station_code": code,
                  "contest_code": CONTEST, "submitted_at": submitted_at(row["sirekap_ts"]), "source": "sirekap"}
    tally.update({column: count(row[source]) for column, source in FORM_COLUMNS.items()})
    tally.update({f"votes_{k}": count(row[column]) for k, column in enumerate(VOTE_COLUMNS, start=1)})
    return tally


def convert(source: Path, out: Path) -> dict[str, int]:
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    codes = [station_code(row) for row in rows]
    if len(set(codes)) != len(codes):
        raise ValueError("two rows name the same station")
    stations = [{"code": c, "village_code": c.rsplit(".", 1)[0], "number": int(c.rsplit(".", 1)[1]),
                 "registered": count(row["dpt_total"])} for c, row in zip(codes, rows, strict=True)]
    tallies = [tally_row(row, c) for c, row in zip(codes, rows, strict=True)]
    return write_bundle(
        out, regions=region_rows(rows),
        contests=[{"code": CONTEST, "name": "Pemilihan Presiden dan Wakil Presiden 2024", "region_code": PROVINCE}],
        candidates=[{"contest_code": CONTEST, "number": k, "name": name} for k, name in enumerate(PAIRS, start=1)],
        stations=stations, tallies=tallies, max_candidates=len(PAIRS),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    for name, written in convert(args.source, args.out).items():
        print(f"{name}: {written} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
