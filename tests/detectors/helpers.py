"""Hand-made inputs for the built-in detectors: tally views, region arrays, the plugins' defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import numpy as np

from pilkada_graph.bundle import COUNT_FIELDS
from pilkada_graph.detect_types import ContestView, DetectorSettings, Finding, RegionTallies, TallyBatch, TallyView
from pilkada_graph.plugins import builtin_plugins_dir, load_module
from pilkada_graph.rules import FormValues, failed_checks, registered_of

STATION = "62.71.01.1001.001"
CONTEST = ContestView("gub-62", "Gubernur", "62", {1: "A - B", 2: "C - D", 3: "E - F"})


def plugin(name: str) -> ModuleType:
    """A built-in plugin module, loaded the way the plugin manager loads it."""
    return load_module(builtin_plugins_dir() / f"{name}.py", f"pilkada_plugins.{name}")


def settings_of(module: ModuleType, **overrides: Any) -> DetectorSettings:
    """Every detector of ``module`` enabled with its defaults; ``overrides`` apply to all of them."""
    return DetectorSettings({info.name: {**info.defaults, **overrides} for info in module.pilkada_detectors()})


def judge(module: ModuleType, view: TallyView, settings: DetectorSettings, *,
          previous: TallyView | None = None) -> Sequence[Finding] | None:
    """What ``module``'s ``pilkada_check_tallies`` finds in a batch of this one revision (of ``CONTEST``)."""
    return module.pilkada_check_tallies(tallies=TallyBatch.of_views([view], [CONTEST], [previous]),  # type: ignore[no-any-return]
                                        settings=settings)


def form_counts(votes: Sequence[int], invalid: int = 10, dpt: int = 400, dptb: int = 0, dpk: int = 0,
                spoiled: int = 1) -> dict[str, int]:
    """A consistent form for these votes (ballots: DPT + 2.5% received)."""
    valid = sum(votes)
    voters = valid + invalid
    received = dpt + -(-dpt * 25 // 1000)
    return {"dpt": dpt, "dptb": dptb, "dpk": dpk, "voters": voters, "ballots_received": received,
            "ballots_spoiled": spoiled, "ballots_unused": received - voters - spoiled, "ballots_used": voters,
            "valid_votes": valid, "invalid_votes": invalid, "total_votes": voters}


def tally(votes: Sequence[int | None] = (120, 100, 50), *, station: str = STATION, tally_id: int = 1,
          source: str = "sirekap", **counts: int | None) -> TallyView:
    """A :class:`TallyView` of a consistent form, with ``counts`` overriding fields (None = unread)."""
    filled = [v for v in votes if v is not None]
    values: dict[str, int | None] = {**form_counts(filled), **counts}
    form = FormValues({name: values.get(name) for name in COUNT_FIELDS}, tuple(votes))
    parts = station.split(".")
    return TallyView(
        tally_id=tally_id, submission_id=f"s-{tally_id}", station_code=station, contest_code=CONTEST.code,
        village_code=".".join(parts[:4]), district_code=".".join(parts[:3]), regency_code=".".join(parts[:2]),
        province_code=parts[0], submitted_at=datetime(2024, 11, 27, 8, tzinfo=UTC),
        received_at=datetime(2024, 11, 27, 8, tzinfo=UTC), source=source, votes=tuple(votes),
        registered=registered_of(form), failed_checks=tuple(failed_checks(form)),
        **{name: values.get(name) for name in COUNT_FIELDS},
    )


def region(stations: Sequence[Mapping[str, Any]], contest: str = "gub-62", code: str = "62.71") -> RegionTallies:
    """Region arrays from dicts with ``code``, ``registered``, ``votes``, ``invalid`` and ``other_voters``
    (the voters on the station's form of another contest); None = unread."""

    def floats(values: Sequence[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    codes = [s["code"] for s in stations]
    votes = np.array([[np.nan if v is None else v for v in s["votes"]] for s in stations], dtype=np.float64)
    valid = np.where(np.isnan(votes).any(axis=1), np.nan, np.nansum(votes, axis=1))
    invalid = floats([s.get("invalid", 5) for s in stations])
    return RegionTallies(
        region_code=code, region_level="regency", contest_code=contest,
        candidates=tuple(range(1, votes.shape[1] + 1)), stations_total=len(stations),
        station_codes=np.array(codes, dtype=np.str_), tally_ids=np.arange(1, len(codes) + 1, dtype=np.int64),
        village_codes=np.array([c.rsplit(".", 1)[0] for c in codes], dtype=np.str_),
        district_codes=np.array([".".join(c.split(".")[:3]) for c in codes], dtype=np.str_),
        registered=floats([s["registered"] for s in stations]), voters=valid + invalid,
        valid_votes=valid, invalid_votes=invalid, votes=votes,
        other_voters=floats([s.get("other_voters") for s in stations]),
    )


def honest_region(seed: int = 0, districts: int = 4, villages: int = 6, per_village: int = 3,
                  shares: Sequence[float] = (0.45, 0.35, 0.20), turnout: float = 0.72,
                  size: int = 400) -> list[dict[str, Any]]:
    """Stations drawn binomially/multinomially around village effects: what an honest count looks like."""
    rng = np.random.default_rng(seed)
    stations = []
    for d in range(1, districts + 1):
        for v in range(1, villages + 1):
            village_shift = rng.normal(0, 0.15, len(shares))
            village_turnout = turnout + rng.normal(0, 0.03)
            for n in range(1, per_village + 1):
                registered = int(size + rng.integers(-30, 30))
                voters = int(rng.binomial(registered, min(village_turnout, 0.95)))
                invalid = int(rng.binomial(voters, 0.03))
                p = np.exp(np.log(shares) + village_shift + rng.normal(0, 0.05, len(shares)))
                votes = rng.multinomial(voters - invalid, p / p.sum()).tolist()
                stations.append({"code": f"62.71.{d:02d}.{1000 + v}.{n:03d}", "registered": registered,
                                 "votes": votes, "invalid": invalid})
    return stations


def raised(findings: Sequence[Finding] | None) -> list[Finding]:
    """The findings of severity warning or critical."""
    return [f for f in findings or () if f.severity in ("warning", "critical")]
