"""A deterministic, honest demo election: the data the detectors are judged against.

The demo is built so that a detector that fires on it fires on noise. Everything a real count
shows on election night is there: the real Kalteng region tree and candidate pairs, stations of
realistic size spread over villages, turnout and preferences that vary by regency, district,
village and station around the real per-district results, counts drawn binomially and
multinomially (so last digits, ratios and sums behave like real counts), forms that obey the
arithmetic of Model C.Hasil, arrivals spread over election night, and about one form in a hundred
misread once and corrected by the desk.

Generation is vectorised with numpy and keeps the stations and tallies as columns, so the
national scale (435,000 stations, 870,000 tallies) fits in a few hundred megabytes and writes in
seconds; rows are materialised as dictionaries only while streaming them to the CSV writer.
The same seed always gives byte-identical files: every random draw comes from its own stream,
named by the seed, the stage and (for contests) the contest's index.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit, ndtr, ndtri

from pilkada_graph import bundle as bundle_files
from pilkada_graph.bundle import (
    CANDIDATES,
    CONTESTS,
    COUNT_FIELDS,
    REGIONS,
    STATIONS,
    TALLIES,
    format_timestamp,
    tally_columns,
)

ProgressCallback = Callable[[str, int, int], None]
DemoRow = dict[str, int | str | None]
RowT = TypeVar("RowT")

SCALES = ("small", "kalteng", "national")
#: The two regencies of the ``small`` scale: Sukamara and Lamandau, 279 stations together.
SMALL_REGENCIES = ("62.08", "62.09")
KOLOM_KOSONG = "KOLOM KOSONG"

WIB = timezone(timedelta(hours=7))
POLLS_CLOSE = datetime(2024, 11, 27, 13, 0, 0, tzinfo=WIB)
#: Sirekap uploads of election night end before midnight; desk corrections may run a day later.
NIGHT_END_SECONDS = int((datetime(2024, 11, 27, 23, 59, 59, tzinfo=WIB) - POLLS_CLOSE).total_seconds())
DESK_END_SECONDS = int((datetime(2024, 11, 28, 23, 59, 59, tzinfo=WIB) - POLLS_CLOSE).total_seconds())

#: How a tired eye or the OCR misreads a handwritten digit; never as 0, so no leading zero appears.
MISREAD_DIGIT = np.array([8, 7, 7, 8, 9, 6, 8, 1, 3, 4])

#: The real final result of the Kalteng governor race (KPU Kalteng), for checking the demo.
KALTENG_GOVERNOR_VALID_VOTES = (279_426, 468_925, 484_754, 67_385)
KALTENG_GOVERNOR_INVALID_VOTES = 63_980
KALTENG_STATIONS_PER_VILLAGE = 4446 / 1571

#: The shape of the 2024 national Pilkada, which the synthetic national tree imitates.
NATIONAL_PROVINCE_CODES = (
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53,
    61, 62, 63, 64, 65, 71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96,
)  # fmt: skip
NATIONAL_STATIONS = 435_000
NATIONAL_REGENCIES = 508
NATIONAL_CITY_SHARE = 93 / 508
NATIONAL_DISTRICTS = 7_000
NATIONAL_VILLAGES = 83_000
#: Share of contests with 1 (against the empty column), 2, 3, 4, 5 and 6 pairs.
PAIR_COUNT_SHARES = {1: 0.068, 2: 0.40, 3: 0.30, 4: 0.15, 5: 0.06, 6: 0.022}

PACKAGE_DATA = Path(__file__).resolve().parent / "data"

# Random streams: one per stage, so that changing one stage never shifts another's draws.
_TREE, _STATIONS, _VOTERS, _CONTEST, _ARRIVALS, _REVISIONS, _NAMES = range(1, 8)


@dataclass(frozen=True)
class EffectSigmas:
    """Standard deviations of the random effects at each level, on the logit (log-share) scale.

    Variation is split over the region tree because real results cluster: neighbouring
    stations resemble each other more than stations of another regency do, and detectors
    that compare a station with its neighbours need that structure to be fair.
    """

    regency: float
    district: float
    village: float
    station: float

    @property
    def total(self) -> float:
        """The standard deviation of the sum of all four effects."""
        return math.sqrt(self.regency**2 + self.district**2 + self.village**2 + self.station**2)


@dataclass(frozen=True)
class DemoParameters:
    """The honest voting model's knobs; the defaults reproduce Kalteng's Pilkada 2024.

    Change them to generate elections with other turnout, fragmentation or heterogeneity, e.g.
    ``DemoParameters(turnout=0.8, revision_share=0.05)``.
    """

    mean_registered: float = 441.0
    max_registered: int = 600
    min_registered: int = 30
    #: Spread of a village's station size around its district's, on the logit scale between
    #: min and max: the KPU splits a village's voters evenly, so villages differ, stations barely.
    village_size_sigma: float = 0.6
    station_size_spread: float = 0.03
    dptb_rate: float = 0.003
    dptb_turnout: float = 0.85
    dpk_rate: float = 0.008
    ballot_reserve_per_mille: int = 25
    spoiled_mean: float = 0.6
    #: Voters over registered (DPT), the additional lists' voters included.
    turnout: float = 0.70
    turnout_sigmas: EffectSigmas = EffectSigmas(regency=0.15, district=0.15, village=0.2, station=0.1)
    invalid_share: float = 0.047
    invalid_sigmas: EffectSigmas = EffectSigmas(regency=0.15, district=0.15, village=0.2, station=0.25)
    #: Preference effects; regency and district ones apply only where no real result exists.
    preference_sigmas: EffectSigmas = EffectSigmas(regency=0.3, district=0.25, village=0.3, station=0.12)
    candidate_strength_sigma: float = 0.7
    kolom_kosong_strength: float = -1.2
    arrival_median_hours: float = 4.0
    arrival_sigma: float = 0.4
    first_arrival_hours: float = 0.75
    last_arrival_hours: float = 10.0
    regency_arrival_sigma: float = 0.12
    second_form_minutes: tuple[float, float] = (5.0, 59.0)
    revision_share: float = 0.01
    correction_median_hours: float = 3.0

    @classmethod
    def for_scale(cls, scale: str) -> DemoParameters:
        """Defaults for a scale: the nation's stations are a little larger and more often corrected."""
        check_scale(scale)
        if scale == "national":
            return cls(mean_registered=467.0, revision_share=0.03)
        return cls()


def check_scale(scale: str) -> None:
    """Fail early, naming the scales that exist."""
    if scale not in SCALES:
        raise ValueError(f"unknown demo scale {scale!r}; expected one of {', '.join(SCALES)}")


# --------------------------------------------------------------------------------------------
# The region tree and the plan of the election
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One level of the region tree: codes sorted, so every subtree is a contiguous range."""

    codes: list[str]
    names: list[str]
    parent: np.ndarray  # index into the level above; empty for provinces

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class RegionTree:
    provinces: Level
    regencies: Level
    districts: Level
    villages: Level

    def region_rows(self) -> list[DemoRow]:
        """regions.csv rows in code order, which puts every parent before its children."""
        rows: list[DemoRow] = []
        levels = (
            ("province", self.provinces, None),
            ("regency", self.regencies, self.provinces),
            ("district", self.districts, self.regencies),
            ("village", self.villages, self.districts),
        )
        for name, level, upper in levels:
            parents = [None] * len(level) if upper is None else [upper.codes[i] for i in level.parent.tolist()]
            rows.extend(
                {"code": c, "name": n, "level": name, "parent_code": p}
                for c, n, p in zip(level.codes, level.names, parents, strict=True)
            )
        rows.sort(key=lambda row: str(row["code"]))
        return rows


@dataclass(frozen=True)
class ContestPlan:
    """One contest: who stands, where it is held, and how each district leans."""

    code: str
    name: str
    region_code: str
    level: str  # "province" or "regency"
    region_index: int
    candidates: list[str]
    #: Log-shares of the candidates in each district of the region, in district order.
    district_logits: np.ndarray
    first_district: int


@dataclass(frozen=True)
class ElectionPlan:
    """Everything fixed before voters are drawn: tree, stations per village, district sizes."""

    tree: RegionTree
    village_stations: np.ndarray
    #: Mean registered voters of a station in each district.
    district_size: np.ndarray
    contests: list[ContestPlan]


def default_regions_csv() -> Path:
    """The shared Kalteng tree when present, else the copy shipped in the package."""
    repo = Path(__file__).resolve().parents[2]
    shared = Path(os.environ.get("PILKADA_SHARED", repo.parent / "shared"))
    candidate = shared / "data" / "kalteng" / "regions.csv"
    return candidate if candidate.is_file() else PACKAGE_DATA / "regions.csv"


def read_region_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def keep_regencies(rows: list[dict[str, str]], regencies: Sequence[str]) -> list[dict[str, str]]:
    """The rows of the given regencies' subtrees, with their provinces."""
    provinces = {code.split(".")[0] for code in regencies}
    return [
        row
        for row in rows
        if row["code"] in provinces or any(row["code"] == r or row["code"].startswith(r + ".") for r in regencies)
    ]


def tree_from_rows(rows: Iterable[dict[str, str]]) -> RegionTree:
    """Index a regions.csv by level, sorted by code, with each region's parent's index."""
    by_level: dict[str, list[dict[str, str]]] = {"province": [], "regency": [], "district": [], "village": []}
    for row in rows:
        by_level[row["level"]].append(row)
    levels: list[Level] = []
    upper_index: dict[str, int] = {}
    for name in ("province", "regency", "district", "village"):
        members = sorted(by_level[name], key=lambda row: row["code"])
        parent = np.array([upper_index[row["parent_code"]] for row in members] if levels else [], dtype=np.int64)
        levels.append(Level([row["code"] for row in members], [row["name"] for row in members], parent))
        upper_index = {row["code"]: i for i, row in enumerate(members)}
    return RegionTree(*levels)


def allocate(
    total: int, weights: np.ndarray, rng: np.random.Generator, minimum: int = 0, maximum: int | None = None
) -> np.ndarray:
    """Split ``total`` over bins in proportion to ``weights``, each bin within [minimum, maximum]."""
    counts = np.full(len(weights), minimum, dtype=np.int64)
    rest = total - counts.sum()
    if rest < 0:
        raise ValueError(f"cannot give {len(weights)} bins {minimum} each out of {total}")
    probabilities = weights / weights.sum()
    counts += rng.multinomial(rest, probabilities)
    while maximum is not None and (over := counts > maximum).any():
        excess = int((counts[over] - maximum).sum())
        counts[over] = maximum
        room = counts < maximum
        counts[room] += rng.multinomial(excess, weights[room] / weights[room].sum())
    return counts


def proportional_counts(total: int, weights: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Largest-remainder apportionment, so a scaled Kalteng keeps each district's real weight."""
    spare = total - minimum * len(weights)
    if spare < 0:
        raise ValueError(f"{total} stations cannot cover {len(weights)} districts")
    quotas = spare * weights / weights.sum()
    counts = np.floor(quotas).astype(np.int64)
    leftovers = np.argsort(-(quotas - counts), kind="stable")[: spare - counts.sum()]
    counts[leftovers] += 1
    return counts + minimum


def ranges_of(parent: np.ndarray, n_parents: int) -> np.ndarray:
    """Start offsets of each parent's children (children sorted by parent), length n_parents + 1."""
    return np.searchsorted(parent, np.arange(n_parents + 1))


# --------------------------------------------------------------------------------------------
# Kalteng: the real tree, the real pairs, the real per-district results
# --------------------------------------------------------------------------------------------


def load_json(name: str) -> dict:
    return json.loads((PACKAGE_DATA / name).read_text(encoding="utf-8"))


def ballot_names(paslon: dict[str, dict]) -> list[str]:
    """Pair names in ballot order (nomor urut)."""
    return [entry["nama"] for entry in sorted(paslon.values(), key=lambda entry: entry["nomor_urut"])]


def contest_naming(level: str, region_code: str, region_name: str) -> tuple[str, str]:
    """The contest's code and official name, e.g. ``bup-62.01`` / ``Pemilihan Bupati ...``."""
    if level == "province":
        return f"gub-{region_code}", f"Pemilihan Gubernur dan Wakil Gubernur {region_name} 2024"
    if region_name.startswith("Kota "):
        return f"wako-{region_code}", f"Pemilihan Wali Kota dan Wakil Wali Kota {region_name[5:]} 2024"
    place = region_name.removeprefix("Kabupaten ")
    return f"bup-{region_code}", f"Pemilihan Bupati dan Wakil Bupati {place} 2024"


def real_log_shares(votes: Sequence[int] | None, n_candidates: int) -> np.ndarray | None:
    """Log vote shares of a district, smoothed so a candidate with no votes stays possible."""
    if votes is None or len(votes) != n_candidates or sum(votes) <= 0:
        return None
    counts = np.asarray(votes, dtype=float) + 0.5
    return np.log(counts / counts.sum())


def kalteng_plan(
    regions_csv: Path, scale: str, stations: int | None, params: DemoParameters, seed: int
) -> ElectionPlan:
    """The real tree with the real station counts and results, scaled to ``stations`` if given."""
    rows = read_region_rows(regions_csv)
    if scale == "small":
        rows = keep_regencies(rows, SMALL_REGENCIES)
    tree = tree_from_rows(rows)
    results: dict[str, dict] = load_json("kalteng-district-results.json")["districts"]
    district_results = [results.get(code, {}) for code in tree.districts.codes]
    rng = np.random.default_rng([seed, _TREE])
    per_district = real_station_counts(tree, district_results)
    if stations is not None:
        per_district = proportional_counts(stations, per_district.astype(float), minimum=1)
    village_stations = spread_over_villages(tree, per_district, rng)
    district_size = real_district_sizes(district_results, per_district, params)
    real = RealResults(load_json("paslon-pkwkp.json"), load_json("paslon-pkwkk.json"), district_results)
    contests = plan_contests(tree, real, params, seed)
    return ElectionPlan(tree, village_stations, district_size, contests)


def real_station_counts(tree: RegionTree, district_results: list[dict]) -> np.ndarray:
    """Each district's real TPS count; where unknown, the Kalteng average per village."""
    villages_per_district = np.diff(ranges_of(tree.villages.parent, len(tree.districts)))
    fallback = np.maximum(1, np.round(villages_per_district * KALTENG_STATIONS_PER_VILLAGE)).astype(np.int64)
    known = [int(result.get("stations", 0)) for result in district_results]
    return np.where(np.array(known) > 0, np.array(known), fallback)


def spread_over_villages(tree: RegionTree, per_district: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give every village of a district a station when there are enough, more to bigger villages."""
    starts = ranges_of(tree.villages.parent, len(tree.districts))
    village_stations = np.zeros(len(tree.villages), dtype=np.int64)
    for district, total in enumerate(per_district.tolist()):
        lo, hi = int(starts[district]), int(starts[district + 1])
        if hi == lo:
            continue
        weights = rng.lognormal(0.0, 0.6, hi - lo)
        minimum = 1 if total >= hi - lo else 0
        village_stations[lo:hi] = allocate(total, weights, rng, minimum=minimum, maximum=999)
    return village_stations


def real_district_sizes(district_results: list[dict], per_district: np.ndarray, params: DemoParameters) -> np.ndarray:
    """Mean station size per district, following the real valid votes per reporting station.

    Valid votes per station mix size and turnout; following them keeps the districts of big
    stations apart from those of small ones, a contrast a uniform size would erase.
    """
    raw = []
    for result in district_results:
        reported = result.get("governor_reported", 0)
        raw.append(sum(result.get("governor", [])) / reported if reported else np.nan)
    sizes = np.array(raw, dtype=float)
    sizes = np.where(np.isnan(sizes), np.nanmedian(sizes) if np.isfinite(sizes).any() else 1.0, sizes)
    mean = float(np.average(sizes, weights=per_district))
    return clip_size(sizes * params.mean_registered / mean, params)


def clip_size(sizes: np.ndarray, params: DemoParameters) -> np.ndarray:
    """Keep district means strictly inside the legal size range, where the logit is defined."""
    return np.clip(sizes, params.min_registered + 20, params.max_registered - 15)


@dataclass(frozen=True)
class RealResults:
    """What is known of the real races: pairs per province/regency code and results per district."""

    governor_pairs: dict[str, dict]
    regent_pairs: dict[str, dict]  # keyed by regency code without the dot, as Sirekap does
    district_results: list[dict]  # one per district of the tree, empty where unknown

    @classmethod
    def none(cls, tree: RegionTree) -> RealResults:
        return cls({}, {}, [{} for _ in tree.districts.codes])


def plan_contests(tree: RegionTree, real: RealResults, params: DemoParameters, seed: int) -> list[ContestPlan]:
    """Each province's governor race followed by its regencies' races, real where known."""
    contests: list[ContestPlan] = []
    district_starts = ranges_of(tree.districts.parent, len(tree.regencies))
    regency_starts = ranges_of(tree.regencies.parent, len(tree.provinces))
    for p, code in enumerate(tree.provinces.codes):
        lo, hi = int(district_starts[regency_starts[p]]), int(district_starts[regency_starts[p + 1]])
        names = ballot_names(real.governor_pairs[code]) if code in real.governor_pairs else None
        votes = [result.get("governor") for result in real.district_results[lo:hi]]
        contests.append(real_or_synthetic_contest("province", p, tree, lo, hi, names, votes, params, seed))
        for r in range(int(regency_starts[p]), int(regency_starts[p + 1])):
            key = tree.regencies.codes[r].replace(".", "")
            names = ballot_names(real.regent_pairs[key]) if key in real.regent_pairs else None
            lo, hi = int(district_starts[r]), int(district_starts[r + 1])
            votes = [result.get("regent") for result in real.district_results[lo:hi]]
            contests.append(real_or_synthetic_contest("regency", r, tree, lo, hi, names, votes, params, seed))
    return contests


def real_or_synthetic_contest(
    level: str,
    index: int,
    tree: RegionTree,
    lo: int,
    hi: int,
    names: list[str] | None,
    real_votes: list[Sequence[int] | None],
    params: DemoParameters,
    seed: int,
) -> ContestPlan:
    """A contest leaning like the real districts where results exist, like a synthetic one elsewhere."""
    region = tree.provinces if level == "province" else tree.regencies
    code, name = contest_naming(level, region.codes[index], region.names[index])
    rng = np.random.default_rng([seed, _NAMES, 0 if level == "province" else 1, index])
    if names is None:
        names = pair_names(rng, draw_pair_count(rng))
    synthetic = synthetic_district_logits(tree, level, lo, hi, names, params, rng)
    for offset, votes in enumerate(real_votes):
        shares = real_log_shares(votes, len(names))
        if shares is not None:
            synthetic[offset] = shares
    return ContestPlan(code, name, region.codes[index], level, index, names, synthetic, lo)


# --------------------------------------------------------------------------------------------
# National: a synthetic tree of the size of Indonesia
# --------------------------------------------------------------------------------------------

_ONSETS = ("b", "d", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "w", "ng", "s", "k", "t", "b", "m")
_VOWELS = ("a", "a", "a", "i", "u", "u", "e", "o")
_CODAS = ("", "", "", "", "n", "ng", "r", "k", "t", "s", "h", "m")
_DIRECTIONS = ("", "", "", "Barat", "Timur", "Utara", "Selatan", "Tengah")
_VILLAGE_SUFFIXES = ("", "", "", "", "", "Jaya", "Baru", "Hilir", "Hulu", "Raya", "Indah", "Makmur")
_TITLES = ("", "", "", "", "H. ", "Hj. ", "Dr. ", "Ir. ")


def synthetic_words(rng: np.random.Generator, count: int, syllables: tuple[int, int] = (2, 3)) -> list[str]:
    """Pronounceable Indonesian-sounding names, drawn as arrays and joined once."""
    n_syllables = rng.integers(syllables[0], syllables[1] + 1, count)
    onsets = rng.integers(0, len(_ONSETS), (count, syllables[1]))
    vowels = rng.integers(0, len(_VOWELS), (count, syllables[1]))
    codas = rng.integers(0, len(_CODAS), count)
    words = []
    for n, onset, vowel, coda in zip(
        n_syllables.tolist(), onsets.tolist(), vowels.tolist(), codas.tolist(), strict=True
    ):
        body = "".join(_ONSETS[o] + _VOWELS[v] for o, v in zip(onset[:n], vowel[:n], strict=True))
        words.append((body + _CODAS[coda]).capitalize())
    return words


def with_suffixes(rng: np.random.Generator, words: list[str], suffixes: Sequence[str]) -> list[str]:
    picks = rng.integers(0, len(suffixes), len(words)).tolist()
    return [f"{word} {suffixes[i]}".strip() for word, i in zip(words, picks, strict=True)]


def pair_names(rng: np.random.Generator, pairs: int) -> list[str]:
    """``A - B`` pair names in upper case like the KPU's; one pair runs against the empty column."""
    people = synthetic_words(rng, 4 * pairs)
    titles = rng.integers(0, len(_TITLES), 2 * pairs).tolist()
    names = []
    for k in range(pairs):
        head = f"{_TITLES[titles[2 * k]]}{people[4 * k]} {people[4 * k + 1]}".upper()
        deputy = f"{_TITLES[titles[2 * k + 1]]}{people[4 * k + 2]} {people[4 * k + 3]}".upper()
        names.append(f"{head} - {deputy}")
    return names + [KOLOM_KOSONG] if pairs == 1 else names


def draw_pair_count(rng: np.random.Generator) -> int:
    counts = list(PAIR_COUNT_SHARES)
    shares = np.array(list(PAIR_COUNT_SHARES.values()))
    return int(counts[rng.choice(len(counts), p=shares / shares.sum())])


def synthetic_district_logits(
    tree: RegionTree, level: str, lo: int, hi: int, names: list[str], params: DemoParameters, rng: np.random.Generator
) -> np.ndarray:
    """Candidate strengths plus regency (for a governor) and district effects, as log-shares."""
    k = len(names)
    strength = rng.normal(0.0, params.candidate_strength_sigma, k)
    if names[-1] == KOLOM_KOSONG:
        strength[-1] = params.kolom_kosong_strength + rng.normal(0.0, 0.5)
    sigmas = params.preference_sigmas
    logits = strength + rng.normal(0.0, sigmas.district, (hi - lo, k))
    if level == "province":
        regency = tree.districts.parent[lo:hi]
        first = int(regency[0]) if hi > lo else 0
        effects = rng.normal(0.0, sigmas.regency, (int(regency[-1]) - first + 1 if hi > lo else 0, k))
        logits += effects[regency - first]
    return logits


def national_sizes(stations: int) -> tuple[int, int, int]:
    """Regencies, districts and villages for ``stations``: the real ratios, at least one each."""
    if stations < NATIONAL_REGENCIES:
        raise ValueError(f"the national scale needs at least {NATIONAL_REGENCIES} stations, got {stations}")
    ratio = stations / NATIONAL_STATIONS
    districts = max(NATIONAL_REGENCIES, round(NATIONAL_DISTRICTS * ratio))
    villages = min(stations, max(districts, round(NATIONAL_VILLAGES * ratio)))
    return NATIONAL_REGENCIES, districts, villages


def national_tree(stations: int, seed: int) -> tuple[RegionTree, np.ndarray, np.ndarray]:
    """A synthetic Indonesia: 38 provinces, 508 regencies, villages and stations in real ratios.

    Returns the tree, the cities among the regencies (a mask) and the stations of each village.
    """
    rng = np.random.default_rng([seed, _TREE])
    n_regencies, n_districts, n_villages = national_sizes(stations)
    n_provinces = len(NATIONAL_PROVINCE_CODES)
    province_regencies = allocate(n_regencies, rng.lognormal(0, 0.5, n_provinces), rng, minimum=3, maximum=60)
    regency_province = np.repeat(np.arange(n_provinces), province_regencies)
    is_city = rng.random(n_regencies) < NATIONAL_CITY_SHARE
    is_city[ranges_of(regency_province, n_provinces)[:-1]] = False  # every province has a kabupaten
    district_weights = rng.lognormal(0, 0.4, n_regencies) * np.where(is_city, 0.4, 1.0)
    regency_districts = allocate(n_districts, district_weights, rng, minimum=1, maximum=99)
    district_regency = np.repeat(np.arange(n_regencies), regency_districts)
    village_weights = rng.lognormal(0, 0.5, n_districts)
    district_villages = allocate(n_villages, village_weights, rng, minimum=1, maximum=999)
    village_district = np.repeat(np.arange(n_districts), district_villages)
    village_stations = allocate(stations, rng.lognormal(0, 0.6, n_villages), rng, minimum=1, maximum=999)

    province_codes = [f"{code:02d}" for code in NATIONAL_PROVINCE_CODES]
    regency_codes = regency_code_list(province_codes, regency_province, is_city)
    district_codes = child_codes(regency_codes, district_regency, lambda i: f"{i + 1:02d}")
    city_district = is_city[district_regency]
    village_codes = village_code_list(district_codes, village_district, city_district, rng)
    names = np.random.default_rng([seed, _NAMES])
    tree = RegionTree(
        Level(province_codes, with_suffixes(names, synthetic_words(names, n_provinces), _DIRECTIONS), np.array([])),
        Level(regency_codes, regency_names(names, is_city), regency_province),
        Level(district_codes, synthetic_words(names, n_districts), district_regency),
        Level(
            village_codes, with_suffixes(names, synthetic_words(names, n_villages), _VILLAGE_SUFFIXES), village_district
        ),
    )
    return tree, is_city, village_stations


def regency_code_list(province_codes: list[str], regency_province: np.ndarray, is_city: np.ndarray) -> list[str]:
    """Kabupaten numbered 01.., cities 71.., as Kemendagri does; kabupaten come first in code order."""
    codes: list[str] = []
    counters: dict[tuple[int, bool], int] = {}
    for province, city in zip(regency_province.tolist(), is_city.tolist(), strict=True):
        number = counters.get((province, city), 71 if city else 1)
        counters[(province, city)] = number + 1
        codes.append(f"{province_codes[province]}.{number:02d}")
    if any(number > (99 if city else 70) for (_, city), number in counters.items()):
        raise ValueError("too many kabupaten or cities in one province for two-digit codes")
    return codes


def child_codes(parent_codes: list[str], parent: np.ndarray, part: Callable[[int], str]) -> list[str]:
    """Codes of children sorted by parent: the parent's code, a dot, the child's rank formatted."""
    starts = ranges_of(parent, len(parent_codes))
    ranks = np.arange(len(parent)) - starts[parent]
    return [f"{parent_codes[p]}.{part(r)}" for p, r in zip(parent.tolist(), ranks.tolist(), strict=True)]


def village_code_list(
    district_codes: list[str], village_district: np.ndarray, city_district: np.ndarray, rng: np.random.Generator
) -> list[str]:
    """Kelurahan (1xxx) first, then desa (2xxx); a city has only kelurahan, a kabupaten some."""
    starts = ranges_of(village_district, len(district_codes))
    counts = np.diff(starts)
    kelurahan = np.where(city_district, counts, rng.binomial(counts, 0.08))
    ranks = np.arange(len(village_district)) - starts[village_district]
    urban = ranks < kelurahan[village_district]
    numbers = np.where(urban, 1001 + ranks, 2001 + ranks - kelurahan[village_district])
    return [f"{district_codes[d]}.{n}" for d, n in zip(village_district.tolist(), numbers.tolist(), strict=True)]


def regency_names(rng: np.random.Generator, is_city: np.ndarray) -> list[str]:
    words = with_suffixes(rng, synthetic_words(rng, len(is_city)), _DIRECTIONS)
    return [f"{'Kota' if city else 'Kabupaten'} {word}" for word, city in zip(words, is_city.tolist(), strict=True)]


def national_plan(stations: int | None, params: DemoParameters, seed: int) -> ElectionPlan:
    """The synthetic national election: every governor and every regent/mayor race."""
    tree, is_city, village_stations = national_tree(stations or NATIONAL_STATIONS, seed)
    rng = np.random.default_rng([seed, _TREE, 1])
    urban = is_city[tree.districts.parent]
    sizes = params.mean_registered * rng.lognormal(0.0, 0.12, len(tree.districts)) * np.where(urban, 1.08, 0.97)
    contests = plan_contests(tree, RealResults.none(tree), params, seed)
    return ElectionPlan(tree, village_stations, clip_size(sizes, params), contests)


# --------------------------------------------------------------------------------------------
# Stations and their voters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StationTable:
    """stations.csv as columns, in code order, with each station's place in the tree."""

    codes: list[str]
    village: np.ndarray
    number: np.ndarray
    registered: np.ndarray
    district: np.ndarray
    regency: np.ndarray
    province: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)


def draw_stations(plan: ElectionPlan, params: DemoParameters, seed: int) -> StationTable:
    """Stations numbered 001.. per village; a village's voters split evenly over its stations."""
    rng = np.random.default_rng([seed, _STATIONS])
    tree = plan.tree
    village = np.repeat(np.arange(len(tree.villages)), plan.village_stations)
    starts = np.concatenate([[0], np.cumsum(plan.village_stations)])
    number = np.arange(len(village)) - starts[village] + 1
    district = tree.villages.parent[village] if len(village) else np.zeros(0, dtype=np.int64)
    regency = tree.districts.parent[district]
    province = tree.regencies.parent[regency]
    village_size = draw_village_sizes(plan, params, rng)
    spread = 1.0 + rng.normal(0.0, params.station_size_spread, len(village))
    registered = np.clip(np.round(village_size[village] * spread), params.min_registered, params.max_registered)
    codes = [f"{tree.villages.codes[v]}.{n:03d}" for v, n in zip(village.tolist(), number.tolist(), strict=True)]
    return StationTable(codes, village, number, registered.astype(np.int64), district, regency, province)


def draw_village_sizes(plan: ElectionPlan, params: DemoParameters, rng: np.random.Generator) -> np.ndarray:
    """Logit-normal between the legal bounds around the district's mean: no village over 600.

    The bounds pull the mean towards the middle, so one shift for all villages brings the
    average station back to ``mean_registered``.
    """
    lo, hi = params.min_registered, params.max_registered
    centre = logit((plan.district_size[plan.tree.villages.parent] - lo) / (hi - lo))
    centre = centre + rng.normal(0.0, params.village_size_sigma, len(plan.tree.villages))
    stations = plan.village_stations
    if stations.sum() == 0:
        return lo + (hi - lo) * expit(centre)

    def mean_gap(shift: float) -> float:
        return float(np.average(lo + (hi - lo) * expit(centre + shift), weights=stations)) - params.mean_registered

    target = min(max(params.mean_registered, lo + 1.0), hi - 1.0)
    shift = brentq(mean_gap, -20.0, 20.0) if lo < target < hi else 0.0
    return lo + (hi - lo) * expit(centre + shift)


def calibrated_intercept(target: float, sigma: float) -> float:
    """The logit-scale centre whose logit-normal mean equals ``target`` (random effects skew it)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(41)
    weights = weights / weights.sum()

    def mean_gap(centre: float) -> float:
        return float(np.sum(weights * expit(centre + sigma * nodes))) - target

    return float(brentq(mean_gap, -20.0, 20.0))


def hierarchical_logits(
    stations: StationTable, sigmas: EffectSigmas, centre: float, rng: np.random.Generator, n: tuple[int, int, int]
) -> np.ndarray:
    """centre + regency + district + village + station effects, one value per station.

    Each level's effects are centred over the stations, so that a province with only 14
    regencies still lands on the requested level; the effects only say who differs, not how much
    the whole election does.
    """
    n_regencies, n_districts, n_villages = n
    total = centre + rng.normal(0.0, sigmas.station, len(stations))
    for sigma, count, unit in (
        (sigmas.regency, n_regencies, stations.regency),
        (sigmas.district, n_districts, stations.district),
        (sigmas.village, n_villages, stations.village),
    ):
        effects = rng.normal(0.0, sigma, count)[unit]
        total += effects - (effects.mean() if len(effects) else 0.0)
    return total


@dataclass(frozen=True)
class StationVoting:
    """What both of a station's forms share: its lists, its voters and its ballots."""

    dpt: np.ndarray
    dptb: np.ndarray
    dpk: np.ndarray
    voters: np.ndarray
    ballots_received: np.ndarray
    invalid_logit: np.ndarray


def draw_voting(plan: ElectionPlan, stations: StationTable, params: DemoParameters, seed: int) -> StationVoting:
    """Turnout and list sizes per station; every voter receives both ballots, so both forms agree."""
    rng = np.random.default_rng([seed, _VOTERS])
    sizes = (len(plan.tree.regencies), len(plan.tree.districts), len(plan.tree.villages))
    dpt = stations.registered
    dptb = rng.poisson(dpt * params.dptb_rate)
    dpk = rng.poisson(dpt * params.dpk_rate)
    dptb_voters = rng.binomial(dptb, params.dptb_turnout)
    extra = params.dptb_rate * params.dptb_turnout + params.dpk_rate
    centre = calibrated_intercept(params.turnout - extra, params.turnout_sigmas.total)
    turnout = expit(hierarchical_logits(stations, params.turnout_sigmas, centre, rng, sizes))
    dpt_voters = rng.binomial(dpt, turnout)
    received = dpt + (dpt * params.ballot_reserve_per_mille + 999) // 1000
    dpk = np.minimum(dpk, received - dpt_voters - dptb_voters)  # the reserve is all there is
    voters = dpt_voters + dptb_voters + dpk
    shared_sigmas = EffectSigmas(
        params.invalid_sigmas.regency, params.invalid_sigmas.district, params.invalid_sigmas.village, 0.0
    )
    centre = calibrated_intercept(params.invalid_share, params.invalid_sigmas.total)
    invalid_logit = hierarchical_logits(stations, shared_sigmas, centre, rng, sizes)
    return StationVoting(dpt, dptb, dpk, voters, received, invalid_logit)


# --------------------------------------------------------------------------------------------
# Tallies: one form per station and contest, a few misread and corrected
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TallyTable:
    """tallies.csv as columns, in arrival order; ``votes`` is -1 where a contest has no such pair."""

    station: np.ndarray
    contest: np.ndarray
    revision: np.ndarray
    seconds: np.ndarray  # after the polls closed at 13:00 WIB
    counts: dict[str, np.ndarray]
    votes: np.ndarray

    def __len__(self) -> int:
        return len(self.station)

    def take(self, order: np.ndarray) -> TallyTable:
        return TallyTable(
            self.station[order],
            self.contest[order],
            self.revision[order],
            self.seconds[order],
            {name: column[order] for name, column in self.counts.items()},
            self.votes[order],
        )


def contest_station_range(contest: ContestPlan, stations: StationTable) -> tuple[int, int]:
    """The contiguous stations under the contest's region (stations are in code order)."""
    owner = stations.province if contest.level == "province" else stations.regency
    return int(np.searchsorted(owner, contest.region_index)), int(
        np.searchsorted(owner, contest.region_index, side="right")
    )


def draw_contest_tallies(
    contest: ContestPlan,
    stations: StationTable,
    voting: StationVoting,
    params: DemoParameters,
    rng: np.random.Generator,
    max_candidates: int,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The honest forms of one contest: station indices, form counts and votes per pair."""
    lo, hi = contest_station_range(contest, stations)
    n, k = hi - lo, len(contest.candidates)
    voters = voting.voters[lo:hi]
    invalid_noise = rng.normal(0.0, params.invalid_sigmas.station, n)
    invalid = rng.binomial(voters, expit(voting.invalid_logit[lo:hi] + invalid_noise))
    valid = voters - invalid
    shares = station_shares(contest, stations, lo, hi, params, rng)
    votes = np.full((n, max_candidates), -1, dtype=np.int32)
    votes[:, :k] = rng.multinomial(valid, shares)
    received = voting.ballots_received[lo:hi]
    spoiled = np.minimum(rng.poisson(params.spoiled_mean, n), received - voters)
    counts = {
        "dpt": voting.dpt[lo:hi],
        "dptb": voting.dptb[lo:hi],
        "dpk": voting.dpk[lo:hi],
        "voters": voters,
        "ballots_received": received,
        "ballots_spoiled": spoiled,
        "ballots_unused": received - voters - spoiled,
        "ballots_used": voters,
        "valid_votes": valid,
        "invalid_votes": invalid,
        "total_votes": voters,
    }
    return np.arange(lo, hi, dtype=np.int32), {name: c.astype(np.int32) for name, c in counts.items()}, votes


def station_shares(
    contest: ContestPlan, stations: StationTable, lo: int, hi: int, params: DemoParameters, rng: np.random.Generator
) -> np.ndarray:
    """District log-shares plus village and station effects, through a softmax."""
    k = len(contest.candidates)
    district = stations.district[lo:hi]
    village = stations.village[lo:hi]
    first_village = int(village[0]) if hi > lo else 0
    n_villages = int(village[-1]) - first_village + 1 if hi > lo else 0
    village_effects = rng.normal(0.0, params.preference_sigmas.village, (n_villages, k))
    logits = (
        contest.district_logits[district - contest.first_district]
        + village_effects[village - first_village]
        + rng.normal(0.0, params.preference_sigmas.station, (hi - lo, k))
    )
    logits -= logits.max(axis=1, keepdims=True)
    shares = np.exp(logits)
    return shares / shares.sum(axis=1, keepdims=True)


def truncated_lognormal(
    rng: np.random.Generator, median: np.ndarray, sigma: float, low: float | np.ndarray, high: float | np.ndarray
) -> np.ndarray:
    """Draw by inverting the CDF, so bounds cut the tails without piling values at the edges."""
    lower = ndtr((np.log(low) - np.log(median)) / sigma)
    upper = ndtr((np.log(high) - np.log(median)) / sigma)
    u = lower + (upper - lower) * rng.random(len(median))
    return median * np.exp(sigma * ndtri(u))


def draw_arrivals(stations: StationTable, n_regencies: int, params: DemoParameters, seed: int) -> np.ndarray:
    """Seconds after 13:00 at which each station uploads its two forms (governor first).

    Counting starts when the polls close; uploads rise after two hours, peak around five in the
    evening and thin out towards midnight; remote regencies come in later as a whole.
    """
    rng = np.random.default_rng([seed, _ARRIVALS])
    regency_delay = rng.lognormal(0.0, params.regency_arrival_sigma, n_regencies)[stations.regency]
    median = params.arrival_median_hours * 3600.0 * regency_delay
    first = truncated_lognormal(
        rng, median, params.arrival_sigma, params.first_arrival_hours * 3600.0, params.last_arrival_hours * 3600.0
    )
    low, high = params.second_form_minutes
    second = first + rng.uniform(low * 60.0, high * 60.0, len(stations))
    arrivals = np.stack([first, second], axis=1).astype(np.int32)
    return np.minimum(arrivals, NIGHT_END_SECONDS)


def draw_tallies(
    plan: ElectionPlan,
    stations: StationTable,
    params: DemoParameters,
    seed: int,
    progress: ProgressCallback,
) -> TallyTable:
    """Every station's form for each of its contests, then the desk's corrections, by arrival."""
    voting = draw_voting(plan, stations, params, seed)
    arrivals = draw_arrivals(stations, len(plan.tree.regencies), params, seed)
    max_candidates = max(len(contest.candidates) for contest in plan.contests)
    parts = []
    for index, contest in enumerate(plan.contests):
        rng = np.random.default_rng([seed, _CONTEST, index])
        station, counts, votes = draw_contest_tallies(contest, stations, voting, params, rng, max_candidates)
        form = 0 if contest.level == "province" else 1
        contest_index = np.full(len(station), index, dtype=np.int32)
        parts.append(TallyTable(station, contest_index, np.ones(len(station), np.int8),
                                arrivals[station, form], counts, votes))  # fmt: skip
        progress("tallies", index + 1, len(plan.contests))
    honest = concatenate_tallies(parts)
    candidates_per_contest = np.array([len(contest.candidates) for contest in plan.contests])
    tallies = with_corrections(honest, candidates_per_contest, params, seed)
    order = np.lexsort((tallies.revision, tallies.contest, tallies.station, tallies.seconds))
    return tallies.take(order)


def concatenate_tallies(parts: list[TallyTable]) -> TallyTable:
    return TallyTable(
        np.concatenate([part.station for part in parts]),
        np.concatenate([part.contest for part in parts]),
        np.concatenate([part.revision for part in parts]),
        np.concatenate([part.seconds for part in parts]),
        {name: np.concatenate([part.counts[name] for part in parts]) for name in COUNT_FIELDS},
        np.concatenate([part.votes for part in parts]),
    )


def misread(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each value with one digit misread (3 -> 8, 1 -> 7, ...), as a form's reader slips."""
    digits = np.floor(np.log10(np.maximum(values, 1))).astype(np.int64) + 1
    place = 10 ** np.floor(rng.random(len(values)) * digits).astype(np.int64)
    digit = values // place % 10
    return values + (MISREAD_DIGIT[digit] - digit) * place


def with_corrections(
    honest: TallyTable, candidates_per_contest: np.ndarray, params: DemoParameters, seed: int
) -> TallyTable:
    """Misread one pair's count on a few first revisions and add the desk's corrected second one."""
    rng = np.random.default_rng([seed, _REVISIONS])
    n_corrected = round(params.revision_share * len(honest))
    chosen = np.sort(rng.choice(len(honest), n_corrected, replace=False))
    corrected = honest.take(chosen)
    pair = np.floor(rng.random(n_corrected) * candidates_per_contest[corrected.contest]).astype(np.int64)
    misread_votes = honest.votes.copy()
    misread_votes[chosen, pair] = misread(honest.votes[chosen, pair], rng)
    earliest = corrected.seconds + 600.0
    median = np.full(n_corrected, params.correction_median_hours * 3600.0)
    delay = truncated_lognormal(rng, median, 0.6, 1.0, DESK_END_SECONDS - earliest)
    later = (earliest + delay).astype(np.int32)
    second = TallyTable(corrected.station, corrected.contest, np.full(n_corrected, 2, np.int8),
                        later, corrected.counts, corrected.votes)  # fmt: skip
    first = TallyTable(honest.station, honest.contest, honest.revision, honest.seconds, honest.counts, misread_votes)
    return concatenate_tallies([first, second])


# --------------------------------------------------------------------------------------------
# The election and its bundle
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class DemoElection:
    """A generated election: rows for the five bundle files, keyed by the bundle's column names.

    ``regions``, ``contests`` and ``candidates`` are lists of rows; ``stations`` and ``tallies``
    are built from the column tables on first access (at national scale prefer
    :meth:`iter_tallies`, which streams).
    """

    seed: int
    scale: str
    parameters: DemoParameters
    regions: list[DemoRow]
    contests: list[DemoRow]
    candidates: list[DemoRow]
    station_table: StationTable = field(repr=False)
    tally_table: TallyTable = field(repr=False)
    contest_codes: list[str] = field(repr=False)

    @property
    def max_candidates(self) -> int:
        return int(self.tally_table.votes.shape[1])

    @cached_property
    def stations(self) -> list[DemoRow]:
        return list(self.iter_stations())

    @cached_property
    def tallies(self) -> list[DemoRow]:
        return list(self.iter_tallies())

    def iter_stations(self) -> Iterator[DemoRow]:
        table = self.station_table
        villages = [code.rpartition(".")[0] for code in table.codes]
        for code, village, number, registered in zip(
            table.codes, villages, table.number.tolist(), table.registered.tolist(), strict=True
        ):
            yield {"code": code, "village_code": village, "number": number, "registered": registered}

    def iter_tallies(self, chunk_size: int = 50_000) -> Iterator[DemoRow]:
        """Rows in arrival order, converted from the columns a chunk at a time."""
        columns = tally_columns(self.max_candidates)
        table = self.tally_table
        stamps = timestamp_lookup(table.seconds)
        for start in range(0, len(table), chunk_size):
            part = slice(start, start + chunk_size)
            yield from (
                dict(zip(columns, values, strict=True)) for values in zip(*self._tally_cells(part, stamps), strict=True)
            )

    def _tally_cells(self, part: slice, stamps: dict[int, str]) -> list[list[object]]:
        table = self.tally_table
        stations = [self.station_table.codes[i] for i in table.station[part].tolist()]
        contests = [self.contest_codes[i] for i in table.contest[part].tolist()]
        revisions = table.revision[part].tolist()
        cells: list[list[object]] = [
            [f"demo-{s}-{c}-r{r}" for s, c, r in zip(stations, contests, revisions, strict=True)],
            stations,
            contests,
            [stamps[s] for s in table.seconds[part].tolist()],
            ["sirekap" if r == 1 else "desk" for r in revisions],
        ]
        cells.extend(table.counts[name][part].tolist() for name in COUNT_FIELDS[:8])
        for k in range(self.max_candidates):
            column = table.votes[part, k].tolist()
            cells.append([None if v < 0 else v for v in column])
        cells.extend(table.counts[name][part].tolist() for name in COUNT_FIELDS[8:])
        return cells


def timestamp_lookup(seconds: np.ndarray) -> dict[int, str]:
    """Each distinct arrival second formatted once by the bundle's own formatter."""
    return {s: format_timestamp(POLLS_CLOSE + timedelta(seconds=s)) for s in np.unique(seconds).tolist()}


def contest_rows(plan: ElectionPlan) -> tuple[list[DemoRow], list[DemoRow]]:
    contests: list[DemoRow] = []
    candidates: list[DemoRow] = []
    for contest in plan.contests:
        contests.append({"code": contest.code, "name": contest.name, "region_code": contest.region_code})
        candidates.extend(
            {"contest_code": contest.code, "number": number, "name": name}
            for number, name in enumerate(contest.candidates, start=1)
        )
    return contests, candidates


def _silent(phase: str, done: int, total: int) -> None:
    """The progress callback of a caller who did not ask for progress."""


def generate(
    seed: int = 2024,
    scale: str = "kalteng",
    regions_csv: Path | None = None,
    *,
    stations: int | None = None,
    parameters: DemoParameters | None = None,
    progress: ProgressCallback | None = None,
) -> DemoElection:
    """Generate the demo election; the same arguments always give the same election.

    ``scale`` is ``small`` (two Kalteng regencies), ``kalteng`` (the real province) or
    ``national`` (a synthetic Indonesia); ``stations`` rescales any of them; ``regions_csv``
    replaces the Kalteng tree (ignored at national scale).
    """
    check_scale(scale)
    params = parameters or DemoParameters.for_scale(scale)
    report = progress or _silent
    report("plan", 0, 3)
    if scale == "national":
        plan = national_plan(stations, params, seed)
    else:
        plan = kalteng_plan(regions_csv or default_regions_csv(), scale, stations, params, seed)
    report("plan", 1, 3)
    station_table = draw_stations(plan, params, seed)
    report("plan", 2, 3)
    tally_table = draw_tallies(plan, station_table, params, seed, report)
    report("plan", 3, 3)
    contests, candidates = contest_rows(plan)
    return DemoElection(
        seed=seed,
        scale=scale,
        parameters=params,
        regions=plan.tree.region_rows(),
        contests=contests,
        candidates=candidates,
        station_table=station_table,
        tally_table=tally_table,
        contest_codes=[contest.code for contest in plan.contests],
    )


def reporting(rows: Iterable[RowT], phase: str, total: int, progress: ProgressCallback) -> Iterator[RowT]:
    """Pass rows through, telling ``progress`` every 50,000 rows and at the end."""
    done = 0
    for done, row in enumerate(rows, start=1):
        if done % 50_000 == 0:
            progress(phase, done, total)
        yield row
    progress(phase, done, total)


def write_bundle(election: DemoElection, folder: Path, progress: ProgressCallback | None = None) -> dict[str, int]:
    """Write the five bundle files with every column; returns rows written per file."""
    report = progress or _silent
    totals = {REGIONS: len(election.regions), CONTESTS: len(election.contests), CANDIDATES: len(election.candidates),
              STATIONS: len(election.station_table), TALLIES: len(election.tally_table)}
    return bundle_files.write_bundle(
        folder, regions=election.regions, contests=election.contests, candidates=election.candidates,
        stations=election.iter_stations(), tallies=election.iter_tallies(), max_candidates=election.max_candidates,
        wrap=lambda name, rows: reporting(rows, f"write {name}", totals[name], report),
    )


def write_demo_bundle(
    folder: Path,
    seed: int = 2024,
    scale: str = "kalteng",
    progress: ProgressCallback | None = None,
    *,
    stations: int | None = None,
    parameters: DemoParameters | None = None,
    regions_csv: Path | None = None,
) -> dict[str, int]:
    """Generate and write a demo bundle in one call (what the CLI and the bench use)."""
    election = generate(seed, scale, regions_csv, stations=stations, parameters=parameters, progress=progress)
    return write_bundle(election, folder, progress)


__all__ = [
    "DemoElection",
    "DemoParameters",
    "EffectSigmas",
    "KOLOM_KOSONG",
    "SCALES",
    "generate",
    "write_bundle",
    "write_demo_bundle",
]
