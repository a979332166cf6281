"""The hooks a detector plugin can implement: the whole public surface of the plugin system.

A plugin is a module (or class instance) with functions named after these specs and marked
``@hookimpl``. Hooks are called with keyword arguments only, and an implementation names
only the arguments it needs, in any order::

    from pilkada_graph.hookspecs import hookimpl
    from pilkada_graph.detect_types import DetectorInfo, Finding

    @hookimpl
    def pilkada_detectors():
        return [DetectorInfo("zero-invalid", "a station with no invalid vote at all", {"min_voters": 300})]

    @hookimpl
    def pilkada_check_tally(tally, settings):
        ...

The built-in detectors in the repository's ``plugins/`` folder use exactly these hooks. Every
hook here is documented with its signature in ``docs/plugins.md`` and has a
``test_hook_<name>`` test; ``tests/plugins/test_hookspecs_documented.py`` fails otherwise.

Detectors receive plain data (:mod:`pilkada_graph.detect_types`), never a database session,
and run in a worker thread with a time budget: they must not keep state between calls that
another thread could be changing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from pilkada_graph.detect_types import (
    ContestView,
    DetectorInfo,
    DetectorSettings,
    Finding,
    RegionSummary,
    RegionTallies,
    StationContext,
    TallyBatch,
    TallyView,
)
from pilkada_graph.recaps import RegionRecaps

PROJECT = "pilkada_graph"
#: The setuptools entry point group through which installed packages register plugins.
ENTRY_POINT_GROUP = "pilkada_graph"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# Declaring detectors
# -------------------------------------------------------------------------


@hookspec
def pilkada_detectors() -> Sequence[DetectorInfo]:
    """Declare the detectors this plugin provides: names, descriptions, default settings.

    Called once when the plugin manager starts. The names are the keys of ``[detectors.NAME]``
    in the config file and the ``detector`` of the issues; a finding whose detector was not
    declared is discarded (and recorded as a detector failure).

    :return: one :class:`~pilkada_graph.detect_types.DetectorInfo` per detector.
    """


# -------------------------------------------------------------------------
# Checking one tally as it arrives
# -------------------------------------------------------------------------


@hookspec
def pilkada_check_tally(
    tally: TallyView,
    previous: TallyView | None,
    station: StationContext,
    contest: ContestView,
    settings: DetectorSettings,
) -> Sequence[Finding] | None:
    """Check one stored revision of a station's form as it is stored.

    Runs on every revision, from every feed (bundle import, Sirekap, ``submitTally``): after an
    import's transaction committed; for a submission, while its transaction commits (on values
    read in it; the findings are stored once it committed). So it must be cheap: no peers
    beyond what ``station`` carries. Findings must be about the tally's station and contest;
    returning none for a station that had an issue clears it.

    :param tally: the revision to judge, with the form's failed arithmetic checks.
    :param previous: the revision it replaces (the station's current one before it), or None.
    :param station: the station and the sums of its village and district for this contest.
    :param contest: the contest and its candidates.
    :param settings: settings in force of the *enabled* detectors, by name; a detector that is
        not in it is disabled and must not report.
    :return: findings (``Finding.subject`` = ``tally.station_code``), or None for none.
    """


@hookspec
def pilkada_check_tallies(tallies: TallyBatch, settings: DetectorSettings) -> Sequence[Finding] | None:
    """Check a batch of stored revisions at once, as columns: the same judgement as
    :func:`pilkada_check_tally`, for a detector that can screen whole columns with numpy.

    Called where ``pilkada_check_tally`` is (every revision from every feed: a bundle import
    hands over up to ``[detection] batch_size`` revisions at a time, ``submitTally`` one), with
    every revision that is current once the batch is in. Screen the rows on the arrays, then build
    :meth:`~pilkada_graph.detect_types.TallyBatch.view` (and ``previous``, ``contest``) only for
    the few rows worth a closer look: building a view per revision is most of what a per-revision
    check costs, so a plugin written this way adds next to nothing to an import. Implement one of
    the two hooks for a detector, not both (each would be called). A raise fails the whole batch
    for this plugin (recorded once, the batch's issues left as they were).

    :param tallies: the revisions, row ``i`` one revision: ``station_codes``, ``contest_codes``,
        ``tally_ids``, ``counts`` (every count field, float, ``nan`` where not read), the ``votes``
        matrix and each row's ``widths``, ``registered``, ``turnout``, ``breaks_rules`` (the form
        breaks its own arithmetic), ``has_previous`` and ``previous_votes``.
    :param settings: settings in force of the *enabled* detectors, by name.
    :return: findings, each about one row's station and contest, or None for none. A row's station
        that had an issue of the detector and gets no finding is cleared, as with ``pilkada_check_tally``.
    """


# -------------------------------------------------------------------------
# Checking a region as a whole
# -------------------------------------------------------------------------


@hookspec
def pilkada_check_region(
    region: RegionSummary,
    contest: ContestView,
    tallies: RegionTallies,
    recaps: RegionRecaps,
    settings: DetectorSettings,
) -> Sequence[Finding] | None:
    """Check the current tallies of one region for one contest together (statistics over peers).

    Called for the regions touched by new revisions, debounced, once enough of their stations
    have reported (``[detection] region_min_reported``) and again as more report. Findings may
    be about any station in ``tallies`` or about the region itself; those the detector had
    raised before in this region and contest and does not return again are cleared.

    :param region: the region's sums for the contest (code, level, stations reported ...).
    :param contest: the contest and its candidates.
    :param tallies: the current revision of every reporting station below the region, as arrays.
    :param recaps: the current recaps (district, regency, province) of the contest at and below the
        region, each beside the sums of the station forms below it
        (:class:`~pilkada_graph.recaps.RegionRecaps`); empty when none was received.
    :param settings: settings in force of the *enabled* detectors, by name.
    :return: findings, or None for none.
    """
