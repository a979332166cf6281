"""Forensic fixtures without a database: demo elections as ContestArrays and RegionTallies, the plugin module."""

from __future__ import annotations

from functools import cache
from types import ModuleType

import numpy as np

from pilkada_graph import demo
from pilkada_graph import forensics as F
from pilkada_graph.detect_types import ContestView, RegionSummary, RegionTallies
from pilkada_graph.plugins import builtin_plugins_dir, load_module

GOVERNOR = "gub-62"


@cache
def forensics_plugin() -> ModuleType:
    """plugins/forensics.py under the name the plugin host gives it."""
    return load_module(builtin_plugins_dir() / "forensics.py", "pilkada_plugins.forensics")


def demo_arrays(seed: int, contest: str = GOVERNOR, scale: str = "small") -> F.ContestArrays:
    """The current (latest) revision of every station's form of ``contest`` in a generated demo election.

    The generator misreads a few first revisions and corrects them in a second; the second is what
    the desk ends up with, so that is what the tests judge.
    """
    election = demo.generate(seed, scale=scale)
    table = election.tally_table
    index = election.contest_codes.index(contest)
    rows = np.flatnonzero(table.contest == index)
    rows = rows[np.lexsort((table.revision[rows], table.station[rows]))]
    stations = table.station[rows]
    rows = rows[np.r_[stations[1:] != stations[:-1], True]]
    counts = table.counts
    width = int((table.votes[rows] >= 0).all(axis=0).sum())
    names = tuple(f"{c['number']} {c['name']}" for c in election.candidates if c["contest_code"] == contest)
    return F.ContestArrays(
        registered=(counts["dpt"] + counts["dptb"] + counts["dpk"])[rows].astype(np.int64),
        voters=counts["voters"][rows].astype(np.int64), valid=counts["valid_votes"][rows].astype(np.int64),
        invalid=counts["invalid_votes"][rows].astype(np.int64), votes=table.votes[rows, :width].astype(np.int64),
        candidate_names=names, station_codes=tuple(election.station_table.codes[i] for i in table.station[rows]),
    )


def region_input(arrays: F.ContestArrays, region_code: str, contest: str = GOVERNOR
                 ) -> tuple[RegionSummary, ContestView, RegionTallies]:
    """What the runner hands ``pilkada_check_region`` for these stations."""
    codes = np.array(arrays.station_codes, dtype=np.str_)
    level = ("province", "regency", "district", "village")[region_code.count(".")]
    summary = RegionSummary(region_code, level, len(codes), len(codes), int(arrays.registered.sum()),
                            int(arrays.voters.sum()), int(arrays.valid.sum()), int(arrays.invalid.sum()))
    view = ContestView(contest, contest, None, {k + 1: n for k, n in enumerate(arrays.candidate_names)})
    tallies = RegionTallies(
        region_code=region_code, region_level=level, contest_code=contest,
        candidates=tuple(range(1, len(arrays.candidate_names) + 1)), stations_total=len(codes), station_codes=codes,
        tally_ids=np.arange(len(codes), dtype=np.int64),
        village_codes=np.array([c.rsplit(".", 1)[0] for c in codes], dtype=np.str_),
        district_codes=np.array([".".join(c.split(".")[:3]) for c in codes], dtype=np.str_),
        registered=arrays.registered.astype(np.float64), voters=arrays.voters.astype(np.float64),
        valid_votes=arrays.valid.astype(np.float64), invalid_votes=arrays.invalid.astype(np.float64),
        votes=arrays.votes.astype(np.float64),
    )
    return summary, view, tallies


def whole_percent_registered(voters: int) -> int:
    """A list size that makes ``voters`` a whole-number turnout: what a desk inventing turnout writes."""
    for percent in (80, 75, 70, 85, 90, 65, 60):
        if 100 * voters % percent == 0:
            return 100 * voters // percent
    return 2 * voters  # 50%: always whole


def fabricate_turnout(arrays: F.ContestArrays, prefix: str) -> F.ContestArrays:
    """The same election with every station below ``prefix`` given a whole-number turnout."""
    registered = arrays.registered.copy()
    for i, code in enumerate(arrays.station_codes):
        if code.startswith(prefix + "."):
            registered[i] = whole_percent_registered(int(arrays.voters[i]))
    return F.ContestArrays(registered, arrays.voters, arrays.valid, arrays.invalid, arrays.votes,
                           arrays.candidate_names, arrays.station_codes)
