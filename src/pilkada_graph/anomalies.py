"""Injected anomalies: the demo election with known frauds and errors, for judging detectors.

:func:`inject` takes an honest :class:`~pilkada_graph.demo.DemoElection` and tampers with a
share of its station-contest pairs, returning the tampered rows and the ground truth: which
kind of anomaly went where. The detection benchmark (``bench/bench_detection.py``) imports the
result through the desk and scores the issues against that truth; the simulator may replay it.

The kinds, each the way it shows on a real form (Indonesia 2024 saw all of them):

``ballot-stuffing``
    Extra ballots for one candidate, raising turnout; the form's arithmetic stays consistent
    and the ballots stuffed never exceed the ballots the station received.
``extreme-fraud``
    Turnout and one candidate's share both near 100%.
``vote-flipping``
    Votes moved from the other candidates to one; turnout unchanged.
``form-misread``
    One count with a digit misread (3 -> 8, 2 -> 7 ...) or doubled (45 -> 445), so the
    arithmetic breaks.
``over-voting``
    More voters than registered (DPT + DPTb + DPK).
``recap-markup``
    A later revision (source ``recap``) adds tens to a hundred-odd votes to one candidate,
    consistently (valid, total and voters raised too).
``copied-form``
    A station's counts copied onto another station of the same village.
``fabricated-district``
    Every form of a whole district invented: counts rounded to 5 or 10, arithmetic consistent.

Only pairs with a single honest revision are tampered (the demo's own misread-and-corrected
pairs stay as they are), and no pair is tampered twice, so the truth is unambiguous.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from pilkada_graph.bundle import format_timestamp, write_bundle
from pilkada_graph.demo import DemoElection, DemoRow

STATION_KINDS = (
    "ballot-stuffing",
    "extreme-fraud",
    "vote-flipping",
    "form-misread",
    "over-voting",
    "recap-markup",
    "copied-form",
)
REGION_KINDS = ("fabricated-district",)
KINDS = STATION_KINDS + REGION_KINDS

#: Digits a hand or an OCR confuses, both ways (never to 0, so no leading zero appears).
CONFUSED = {0: (8, 6), 1: (7, 4), 2: (7,), 3: (8,), 4: (9, 1), 5: (6,), 6: (5, 8), 7: (1, 2), 8: (3, 6), 9: (4,)}
MISREAD_FIELDS = ("votes", "valid_votes", "invalid_votes", "total_votes", "voters")

Pair = tuple[str, str]


@dataclass(frozen=True)
class Anomaly:
    """One injected anomaly: its kind, the station (or the district) and contest, and what was done."""

    kind: str
    contest_code: str
    station_code: str | None = None
    region_code: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TamperedElection:
    """The election's rows after tampering, with the ground truth."""

    election: DemoElection
    tallies: list[DemoRow]
    anomalies: list[Anomaly]
    #: Pairs that took part without being counted as an anomaly of their own (a copied form's
    #: source, the stations of a fabricated district): flagging them is not a false alarm.
    involved: set[Pair]

    @property
    def injected_pairs(self) -> set[Pair]:
        return {(a.station_code, a.contest_code) for a in self.anomalies if a.station_code is not None}


def inject(election: DemoElection, *, rate: float = 0.01, seed: int = 0,
           kinds: Sequence[str] = KINDS) -> TamperedElection:
    """Tamper with about ``rate`` of the station-contest pairs for each kind in ``kinds``."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown anomaly kind(s) {unknown}; expected some of {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, 0xA11])
    tallies = [dict(row) for row in election.tallies]
    state = _State(election, tallies, rng)
    if "fabricated-district" in kinds:
        state.fabricate_districts(rate)
    per_kind = max(1, round(rate * len(state.pairs)))
    for kind in STATION_KINDS:
        if kind in kinds:
            state.apply(kind, per_kind)
    return TamperedElection(election, state.tallies, state.anomalies, state.involved)


def write_tampered_bundle(tampered: TamperedElection, folder: Path) -> dict[str, int]:
    """Write the tampered election as a bundle (same files and columns as the demo's)."""
    election = tampered.election
    return write_bundle(folder, regions=election.regions, contests=election.contests,
                        candidates=election.candidates, stations=election.iter_stations(),
                        tallies=tampered.tallies, max_candidates=election.max_candidates)


# --------------------------------------------------------------------------- the tampering


class _State:
    """The rows being tampered with, which pairs are still free, and the truth so far."""

    def __init__(self, election: DemoElection, tallies: list[DemoRow], rng: np.random.Generator) -> None:
        self.election = election
        self.tallies = tallies
        self.rng = rng
        self.anomalies: list[Anomaly] = []
        self.involved: set[Pair] = set()
        self.candidates = _candidate_counts(election)
        by_pair: dict[Pair, list[int]] = {}
        for index, row in enumerate(tallies):
            by_pair.setdefault((str(row["station_code"]), str(row["contest_code"])), []).append(index)
        #: honest pairs with one revision -> its row index
        self.pairs = {pair: rows[0] for pair, rows in sorted(by_pair.items()) if len(rows) == 1}
        self.free = set(self.pairs)
        self.favoured = {code: int(rng.integers(1, n + 1)) for code, n in sorted(self.candidates.items())}

    def take(self, pair: Pair) -> DemoRow:
        self.free.discard(pair)
        return self.tallies[self.pairs[pair]]

    def sample(self, count: int, where: Iterable[Pair] | None = None) -> list[Pair]:
        pool = sorted(self.free if where is None else set(where) & self.free)
        if not pool:
            return []
        chosen = self.rng.choice(len(pool), size=min(count, len(pool)), replace=False)
        return [pool[i] for i in sorted(chosen.tolist())]

    def record(self, kind: str, pair: Pair, **detail: Any) -> None:
        self.anomalies.append(Anomaly(kind, pair[1], station_code=pair[0], detail=detail))

    def apply(self, kind: str, count: int) -> None:
        if kind == "copied-form":
            self.copy_forms(count)
            return
        tamper = {
            "ballot-stuffing": self.stuff,
            "extreme-fraud": self.extreme,
            "vote-flipping": self.flip,
            "form-misread": self.misread,
            "over-voting": self.over_vote,
            "recap-markup": self.mark_up,
        }[kind]
        for pair in self.sample(count):
            detail = tamper(pair, self.take(pair))
            self.record(kind, pair, **detail)

    # -- the kinds

    def stuff(self, pair: Pair, row: DemoRow) -> dict[str, Any]:
        k = self.favoured[pair[1]]
        room = max(_ballot_room(row), 0)
        extra = max(1, int(round(room * self.rng.uniform(0.3, 0.9))))
        votes = _votes(row, self.candidates[pair[1]])
        votes[k - 1] += extra
        _set_counts(row, votes, _int(row["invalid_votes"]))
        return {"candidate": k, "extra_ballots": extra}

    def extreme(self, pair: Pair, row: DemoRow) -> dict[str, Any]:
        k = self.favoured[pair[1]]
        n = self.candidates[pair[1]]
        voters = int(math.floor(min(_registered(row), _ballots_available(row)) * self.rng.uniform(0.97, 1.0)))
        invalid = int(self.rng.integers(0, 3))
        valid = max(voters - invalid, 0)
        winner = int(round(valid * self.rng.uniform(0.96, 1.0)))
        votes = [0] * n
        rest = valid - winner
        others = [j for j in range(n) if j != k - 1]
        for i, j in enumerate(others):
            votes[j] = rest // len(others) + (1 if i < rest % len(others) else 0)
        votes[k - 1] = winner if others else valid
        _set_counts(row, votes, invalid)
        return {"candidate": k, "turnout": voters / _registered(row)}

    def flip(self, pair: Pair, row: DemoRow) -> dict[str, Any]:
        k = self.favoured[pair[1]]
        votes = _votes(row, self.candidates[pair[1]])
        fraction = self.rng.uniform(0.3, 0.7)
        moved = 0
        for j in range(len(votes)):
            if j != k - 1:
                take = int(round(votes[j] * fraction))
                votes[j] -= take
                moved += take
        votes[k - 1] += moved
        _set_counts(row, votes, _int(row["invalid_votes"]))
        return {"candidate": k, "moved": moved}

    def misread(self, pair: Pair, row: DemoRow) -> dict[str, Any]:
        name = MISREAD_FIELDS[int(self.rng.integers(len(MISREAD_FIELDS)))]
        if name == "votes":
            name = f"votes_{int(self.rng.integers(1, self.candidates[pair[1]] + 1))}"
        before = _int(row[name])
        after = misread_value(before, self.rng)
        row[name] = after
        return {"field": name, "from": before, "to": after}

    def over_vote(self, pair: Pair, row: DemoRow) -> dict[str, Any]:
        registered = _registered(row)
        target = registered + int(self.rng.integers(1, max(2, registered // 10) + 1))
        votes = _votes(row, self.candidates[pair[1]])
        invalid = _int(row["invalid_votes"])
        extra = target - (sum(votes) + invalid)
        shares = np.array(votes, dtype=float) + 1.0
        votes = (np.array(votes) + self.rng.multinomial(max(extra, 0), shares / shares.sum())).tolist()
        _set_counts(row, votes, invalid)
        return {"voters": target, "registered": registered}

    def mark_up(self, pair: Pair, row: DemoRow) -> dict[str, Any]:
        k = self.favoured[pair[1]]
        added = int(self.rng.integers(20, 151))
        revision = dict(row)
        votes = _votes(revision, self.candidates[pair[1]])
        votes[k - 1] += added
        _set_counts(revision, votes, _int(revision["invalid_votes"]))
        revision["submission_id"] = f"{row['submission_id']}-recap"
        revision["source"] = "recap"
        revision["submitted_at"] = _later(str(row["submitted_at"]), hours=float(self.rng.uniform(12, 48)))
        self.tallies.append(revision)
        return {"candidate": k, "added": added}

    def copy_forms(self, count: int) -> None:
        """Copy a station's counts onto one or two other stations of its village, same contest."""
        by_village: dict[tuple[str, str], list[Pair]] = {}
        for pair in sorted(self.free):
            by_village.setdefault((pair[0].rsplit(".", 1)[0], pair[1]), []).append(pair)
        groups = [pairs for pairs in by_village.values() if len(pairs) >= 2]
        order = self.rng.permutation(len(groups))
        copied = 0
        for g in order.tolist():
            if copied >= count:
                break
            group = [p for p in groups[g] if p in self.free]
            if len(group) < 2:
                continue
            picked = [group[i] for i in self.rng.choice(len(group), size=min(len(group), 3), replace=False)]
            source, targets = picked[0], picked[1:][: count - copied]
            original = self.take(source)
            self.involved.add(source)
            for target in targets:
                row = self.take(target)
                _set_counts(row, _votes(original, self.candidates[target[1]]), _int(original["invalid_votes"]))
                self.record("copied-form", target, source=source[0])
                copied += 1

    def fabricate_districts(self, rate: float) -> None:
        """Invent every form of about ``rate`` of the pairs' worth of whole districts."""
        by_district: dict[str, list[Pair]] = {}
        for pair in self.pairs:
            by_district.setdefault(".".join(pair[0].split(".")[:3]), []).append(pair)
        wanted = rate * len(self.pairs)
        sizeable = [d for d, pairs in sorted(by_district.items()) if len(pairs) >= 20]
        done = 0
        for i in self.rng.permutation(len(sizeable)).tolist():
            if done >= wanted * 0.5:
                break
            district = sizeable[i]
            for pair in by_district[district]:
                self.fabricate(pair, self.take(pair))
                self.involved.add(pair)
            for contest in sorted({p[1] for p in by_district[district]}):
                self.anomalies.append(Anomaly("fabricated-district", contest, region_code=district))
            done += len(by_district[district])

    def fabricate(self, pair: Pair, row: DemoRow) -> None:
        registered = _registered(row)
        turnout = self.rng.uniform(0.6, 0.9)
        voters_guess = registered * turnout
        shares = np.array(_votes(row, self.candidates[pair[1]]), dtype=float) + 1.0
        shares /= shares.sum()
        step = int(self.rng.choice([5, 10]))
        votes = [int(round(voters_guess * 0.97 * s / step)) * step for s in shares]
        invalid = int(round(voters_guess * 0.03 / 5)) * 5
        _set_counts(row, votes, invalid)


# --------------------------------------------------------------------------- form helpers


def misread_value(value: int, rng: np.random.Generator) -> int:
    """The value with one digit confused with a look-alike, or doubled (45 -> 445)."""
    digits = list(str(value))
    place = int(rng.integers(len(digits)))
    if rng.random() < 0.25:
        digits.insert(place, digits[place])
    else:
        options = CONFUSED[int(digits[place])]
        digits[place] = str(options[int(rng.integers(len(options)))])
    return int("".join(digits))


def _int(value: object) -> int:
    return int(value) if value is not None and value != "" else 0  # type: ignore[call-overload]


def _votes(row: Mapping[str, object], candidates: int) -> list[int]:
    return [_int(row.get(f"votes_{k}")) for k in range(1, candidates + 1)]


def _registered(row: Mapping[str, object]) -> int:
    return _int(row["dpt"]) + _int(row["dptb"]) + _int(row["dpk"])


def _ballots_available(row: Mapping[str, object]) -> int:
    return _int(row["ballots_received"]) - _int(row["ballots_spoiled"])


def _ballot_room(row: Mapping[str, object]) -> int:
    """Ballots a stuffer can add without passing the registered voters or the ballots received."""
    return min(_registered(row), _ballots_available(row)) - _int(row["voters"])


def _set_counts(row: DemoRow, votes: Sequence[int], invalid: int) -> None:
    """Write votes and every total that follows from them, keeping the form consistent."""
    for k, v in enumerate(votes, start=1):
        row[f"votes_{k}"] = int(v)
    valid = int(sum(votes))
    voters = valid + invalid
    row.update(valid_votes=valid, invalid_votes=invalid, total_votes=voters, voters=voters, ballots_used=voters)
    received, spoiled = _int(row["ballots_received"]), _int(row["ballots_spoiled"])
    spoiled = min(spoiled, max(received - voters, 0))
    row.update(ballots_spoiled=spoiled, ballots_unused=max(received - voters - spoiled, 0))


def _later(timestamp: str, hours: float) -> str:
    return format_timestamp(datetime.fromisoformat(timestamp) + timedelta(hours=hours))


def _candidate_counts(election: DemoElection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in election.candidates:
        code = str(row["contest_code"])
        counts[code] = counts.get(code, 0) + 1
    return counts


__all__ = ["KINDS", "Anomaly", "TamperedElection", "inject", "misread_value", "write_tampered_bundle"]
