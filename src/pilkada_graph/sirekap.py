"""KPU Sirekap's public JSON, as published, parsed into the forms and recaps every feed shares.

``shared/spec/sirekap.md`` is the contract. Sirekap differs from the bundle only in parsing:
station files become :class:`~pilkada_graph.ingest.TallyForm` s (and station rows for
stations not stored yet), region files become :class:`~pilkada_graph.recaps.RecapForm` s,
and both go through :class:`~pilkada_graph.ingest.BundleImporter`'s validation and store in
one transaction (:func:`~pilkada_graph.ingest.run_import`).

Sirekap writes "not read yet" as ``null`` (or leaves the key out); both stay empty (None),
never zero, so that a half-read form breaks no arithmetic rule it cannot be judged on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pilkada_graph.bundle import Row
from pilkada_graph.ingest import (
    BundleImporter,
    ImportReport,
    InvalidValue,
    Problem,
    Progress,
    TallyForm,
    parse_count,
    run_import,
)
from pilkada_graph.recaps import RecapForm

SOURCE = "sirekap"
#: Sirekap's times are Western Indonesian Time without an offset.
WIB = timezone(timedelta(hours=7))
#: ``administrasi`` key -> form field (spec: "administrasi").
ADMINISTRASI_FIELDS: dict[str, str] = {
    "pemilih_dpt_j": "dpt",
    "pengguna_dptb_j": "dptb",
    "pengguna_non_dpt_j": "dpk",
    "pengguna_total_j": "voters",
    "suara_sah": "valid_votes",
    "suara_tidak_sah": "invalid_votes",
    "suara_total": "total_votes",
}
#: Top-level keys of a station file kept with the revision beside images and psu.
STATION_EXTRA_KEYS = ("psu", "status_suara", "status_adm", "mode")
STATION_FILE = re.compile(r"^(\d{13})(@[^/]*)?\.json$")
REGION_CODE_PARTS = (2, 2, 2, 4, 3)


class SirekapError(ValueError):
    """A file that cannot be read as Sirekap JSON; carries the :class:`Problem` naming it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


# --------------------------------------------------------------------------- codes


def dotted_code(undotted: str) -> str:
    """Sirekap's undotted code -> ours: ``627101`` -> ``62.71.01``, ``6271011001053`` -> ``62.71.01.1001.053``."""
    parts, rest = [], undotted
    for width in REGION_CODE_PARTS:
        if not rest:
            break
        parts.append(rest[:width])
        rest = rest[width:]
    if rest or not undotted.isdigit() or len(parts[-1]) != REGION_CODE_PARTS[len(parts) - 1]:
        raise ValueError(f"{undotted!r} is not a Sirekap region or TPS code")
    return ".".join(parts)


def station_code_of(path: Path) -> str | None:
    """The dotted station code of a station file's name (``6271011001053@x.json``), else None."""
    match = STATION_FILE.match(path.name)
    return dotted_code(match.group(1)) if match else None


# --------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class Paslon:
    """One Sirekap candidate id: its ballot number and, in a region-keyed file, its region."""

    number: int
    name: str
    region_code: str | None = None


def load_paslon(path: Path) -> dict[str, Paslon]:
    """Read a paslon file, flat (id -> entry) or keyed first by region code (code -> id -> entry)."""
    document = read_json(path)
    if not isinstance(document, dict):
        raise SirekapError(Problem("bad-paslon", "a paslon file is a JSON object", file=path.name))
    paslon: dict[str, Paslon] = {}
    for key, value in document.items():
        if isinstance(value, dict) and "nomor_urut" in value:
            paslon[key] = _paslon_entry(value, None, path)
        elif isinstance(value, dict):
            region = dotted_code(key)
            paslon.update({cid: _paslon_entry(entry, region, path) for cid, entry in value.items()})
    return paslon


def _paslon_entry(entry: Mapping[str, Any], region_code: str | None, path: Path) -> Paslon:
    try:
        number = parse_count(entry.get("nomor_urut"), "nomor_urut")
    except InvalidValue as error:
        raise SirekapError(Problem(error.problem.rule, error.problem.message, "nomor_urut", path.name)) from None
    if not number:
        raise SirekapError(Problem("bad-paslon", "every candidate needs a nomor_urut >= 1", "nomor_urut", path.name))
    return Paslon(number, str(entry.get("nama") or ""), region_code)


# --------------------------------------------------------------------------- files


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SirekapError(Problem("bad-json", f"not JSON: {error}", file=str(path.name))) from None


def sirekap_files(path: Path, skip: set[Path]) -> Iterator[Path]:
    """``path`` itself, or every ``*.json`` below it in name order, without ``skip``."""
    files = [path] if path.is_file() else sorted(path.rglob("*.json"))
    yield from (f for f in files if f.resolve() not in skip)


def is_region_document(document: Any) -> bool:
    return isinstance(document, dict) and isinstance((document.get("tungsura") or {}).get("table"), dict)


def submitted_at_of(text: Any, file: str) -> datetime:
    """Sirekap's ``ts`` (``YYYY-MM-DD HH:MM:SS``, WIB) as an aware time."""
    try:
        return datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIB)
    except ValueError:
        raise SirekapError(Problem("bad-timestamp", f"ts {text!r} is not YYYY-MM-DD HH:MM:SS", "ts", file)) from None


def votes_of(chart: Mapping[str, Any] | None, paslon: Mapping[str, Paslon], file: str,
             where: str = "chart") -> dict[int, int | None]:
    """A ``chart`` (candidate id -> votes) -> ballot number -> votes.

    Only numeric keys are candidate ids: ``"null"``, ``progres``, ``psu`` and ``status_progress``
    sit beside the votes and are not votes.
    """
    votes: dict[int, int | None] = {}
    for key, value in (chart or {}).items():
        if not key.isdigit():
            continue
        candidate = paslon.get(key)
        if candidate is None:
            raise SirekapError(Problem("unknown-candidate", f"candidate id {key} is not in the paslon file",
                                       f"{where}.{key}", file))
        votes[candidate.number] = _count(value, f"{where}.{key}", file)
    return votes


def _count(value: Any, column: str, file: str) -> int | None:
    try:
        return parse_count(value, column)
    except InvalidValue as error:
        raise SirekapError(Problem(error.problem.rule, error.problem.message, column, file)) from None


# --------------------------------------------------------------------------- station files


def submission_id(station_code: str, contest_code: str, submitted_at: datetime) -> str:
    """Derived from station, contest and ``ts``: the same snapshot twice is one revision."""
    return f"sirekap:{contest_code}:{station_code}:{submitted_at.isoformat(timespec='seconds')}"


def parse_station(path: Path, document: Any, contest_code: str, paslon: Mapping[str, Paslon]) -> TallyForm:
    """One station file (Pilpres shape at top level, Pilkada shape under ``tungsura``) -> a form."""
    file = path.name
    station_code = station_code_of(path)
    if station_code is None or not isinstance(document, dict):
        raise SirekapError(Problem("not-sirekap", "neither a station file (13-digit TPS code) nor a region file",
                                   file=file))
    part = _object_at(document, "tungsura", otherwise=document)
    submitted_at = submitted_at_of(document.get("ts", part.get("ts")), file)
    administrasi = part.get("administrasi") or {}
    counts = {name: _count(administrasi.get(key), key, file) for key, name in ADMINISTRASI_FIELDS.items()}
    return TallyForm(
        submission_id=submission_id(station_code, contest_code, submitted_at),
        station_code=station_code,
        contest_code=contest_code,
        submitted_at=submitted_at,
        source=SOURCE,
        counts=counts,
        votes=votes_of(part.get("chart"), paslon, file),
        extra=station_extra(document, part, administrasi, file),
    )


def station_extra(document: Mapping[str, Any], part: Mapping[str, Any], administrasi: Mapping[str, Any],
                  file: str) -> dict[str, Any]:
    """What the form does not hold but the desk needs as evidence: photos, psu, the l/p splits."""
    extra: dict[str, Any] = {"file": file, "images": part.get("images", document.get("images"))}
    present = [key for key in STATION_EXTRA_KEYS if key in part or key in document]
    extra.update({key: part.get(key, document.get(key)) for key in present})
    evidence = {k: v for k, v in administrasi.items() if k not in ADMINISTRASI_FIELDS}
    if evidence:
        extra["administrasi"] = evidence
    return extra


def station_row(form: TallyForm, row: Row) -> Row:
    """The stations.csv-shaped row that creates a station first seen in Sirekap."""
    village_code, _, number = form.station_code.rpartition(".")
    registered = form.counts.get("dpt")
    values = {"code": form.station_code, "village_code": village_code, "number": str(int(number)),
              "registered": "" if registered is None else str(registered)}
    return Row(row.file, row.line, values)


# --------------------------------------------------------------------------- region files


def parse_region(path: Path, document: Mapping[str, Any], contest_code: str | None,
                 paslon: Mapping[str, Paslon]) -> list[RecapForm]:
    """A region aggregate -> its own recap (``chart``) and one recap per ``table`` entry."""
    file = path.name
    submitted_at = submitted_at_of(document.get("ts"), file)
    stem = path.name.split("@")[0].removesuffix(".json")
    own_code = dotted_code(stem) if stem.isdigit() else None
    tungsura = document["tungsura"]
    entries: list[tuple[str, str, Mapping[str, Any]]] = []
    if own_code is not None:
        entries.append((own_code, "chart", {**(tungsura.get("chart") or {}), "psu": document.get("psu")}))
    entries += [(dotted_code(code), f"table.{code}", entry) for code, entry in tungsura["table"].items()]
    recaps = []
    for code, where, entry in entries:
        votes = votes_of(entry, paslon, file, where)
        if not votes:  # a multi-contest province file has progress but no votes of its own
            continue
        contest = contest_code or contest_of_candidates(entry, paslon, file)
        recaps.append(_region_recap(code, contest, submitted_at, votes, entry, file))
    return recaps


def contest_of_candidates(entry: Mapping[str, Any], paslon: Mapping[str, Paslon], file: str) -> str:
    """Without ``--contest``: the region key of the paslon file names the contest (``region:62.01``)."""
    regions = {paslon[key].region_code for key in entry if key in paslon}
    if len(regions) != 1 or None in regions:
        raise SirekapError(Problem("no-contest", "give --contest: the paslon file does not tie these candidates "
                                   "to one region", file=file))
    return f"region:{regions.pop()}"


def _object_at(document: Mapping[str, Any], key: str, *, otherwise: Mapping[str, Any]) -> Mapping[str, Any]:
    """``document[key]`` when it is a JSON object, else ``otherwise``."""
    value = document.get(key)
    return value if isinstance(value, dict) else otherwise


def _region_recap(code: str, contest: str, submitted_at: datetime, votes: dict[int, int | None],
                  entry: Mapping[str, Any], file: str) -> RecapForm:
    progress = _object_at(entry, "progres", otherwise={})
    counts = {
        "stations_reported": _count(progress.get("progres"), "progres.progres", file),
        "stations_total": _count(progress.get("total"), "progres.total", file),
    }
    extra = {"file": file, "psu": entry.get("psu"), "persen": progress.get("persen"),
             "status_progress": entry.get("status_progress")}
    return RecapForm(code, contest, submitted_at, SOURCE, votes, counts,
                     {k: v for k, v in extra.items() if v is not None})


# --------------------------------------------------------------------------- the import


@dataclass
class SirekapImport:
    """One ``import --format sirekap``: a file or folder, the contest, and the candidates."""

    path: Path
    paslon_path: Path
    contest_code: str | None = None

    def run(self, importer: BundleImporter) -> ImportReport:
        try:
            paslon = load_paslon(self.paslon_path)
        except SirekapError as error:
            importer.report.problems.append(error.problem)
            return importer.report
        forms: list[tuple[Row, TallyForm]] = []
        recaps: list[tuple[Row, RecapForm]] = []
        for path in sirekap_files(self.path, {self.paslon_path.resolve()}):
            row = Row(str(path.name), 0, {})
            try:
                self._parse_file(path, paslon, row, forms, recaps)
            except SirekapError as error:
                importer.report.reject(row, [error.problem])
        self._resolve_region_contests(importer, recaps)
        importer.import_stations(iter(self._new_station_rows(importer, forms)))
        importer.import_forms(forms)
        importer.import_recap_forms(recaps)
        return importer.report

    def _parse_file(self, path: Path, paslon: Mapping[str, Paslon], row: Row,
                    forms: list[tuple[Row, TallyForm]], recaps: list[tuple[Row, RecapForm]]) -> None:
        document = read_json(path)
        if is_region_document(document):
            recaps += [(row, recap) for recap in parse_region(path, document, self.contest_code, paslon)]
            return
        if self.contest_code is None:
            raise SirekapError(Problem("no-contest", "station files need --contest", file=path.name))
        forms.append((row, parse_station(path, document, self.contest_code, paslon)))

    @staticmethod
    def _resolve_region_contests(importer: BundleImporter, recaps: list[tuple[Row, RecapForm]]) -> None:
        """``region:62.01`` -> the one stored contest elected in region 62.01."""
        by_region: dict[str, list[str]] = {}
        for code, contest in importer.catalog.contests.items():
            by_region.setdefault(contest.region_code or "", []).append(code)
        for _, recap in recaps:
            if recap.contest_code.startswith("region:"):
                region = recap.contest_code.removeprefix("region:")
                found = by_region.get(region, [])
                recap.contest_code = found[0] if len(found) == 1 else f"(no single contest of region {region})"

    @staticmethod
    def _new_station_rows(importer: BundleImporter, forms: list[tuple[Row, TallyForm]]) -> list[Row]:
        importer.catalog.prefetch_stations(form.station_code for _, form in forms)
        rows: dict[str, Row] = {}
        for row, form in sorted(forms, key=lambda item: item[1].counts.get("dpt") is None):
            if importer.catalog.stations.get(form.station_code) is None:
                rows.setdefault(form.station_code, station_row(form, row))
        return list(rows.values())


def import_sirekap(
    engine: Engine,
    path: Path,
    *,
    paslon: Path,
    contest_code: str | None = None,
    skip_invalid: bool = False,
    actor: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import Sirekap station and region JSON all-or-nothing (see ``shared/spec/sirekap.md``)."""
    job = SirekapImport(path, paslon, contest_code)
    return run_import(engine, job.run, skip_invalid=skip_invalid, actor=actor, progress=progress)
