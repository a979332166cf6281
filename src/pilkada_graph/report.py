"""The desk's report (``pilkada-graph report``): progress, results, issues and plots, for the governor.

In Bahasa Indonesia by default (``--lang en`` for English). Three formats from one set of
figures (:class:`ReportData`, read once from the store):

* ``md``: plain text for a chat message or an e-mail;
* ``html``: one self-contained file, plots embedded as base64 PNG (``string.Template``, no Jinja);
* ``pdf``: matplotlib's ``PdfPages``: a text page and one page per plot. Chosen over a headless
  browser's ``--print-to-pdf`` because it needs nothing beyond matplotlib, which the forensics
  already use, and so renders the same on a laptop and in CI; the HTML is the richer version.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import aliased

from pilkada_graph.detect_types import SEVERITY_RANK
from pilkada_graph.ingest import is_below
from pilkada_graph.issues import list_issues
from pilkada_graph.models import (
    Candidate,
    Contest,
    CurrentTally,
    IssueEvent,
    Region,
    RegionResult,
    RegionResultVotes,
    Station,
    Tally,
)

FORMATS = ("html", "pdf", "md")
TOP_ISSUES = 10

LABELS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Laporan Desk Pilkada", "generated": "Dibuat", "contest": "Pemilihan",
        "progress": "Kemajuan penghitungan per wilayah", "region": "Wilayah", "reported": "TPS masuk",
        "total": "Jumlah TPS", "percent": "Persen", "results": "Hasil sementara", "number": "No",
        "candidate": "Pasangan calon", "votes": "Suara", "share": "Persentase",
        "valid": "Suara sah", "invalid": "Suara tidak sah", "turnout": "Partisipasi",
        "issues": "Temuan", "by_status": "Menurut status", "by_severity": "Menurut tingkat",
        "by_detector": "Menurut detektor", "open_top": "Temuan terbuka paling serius",
        "subject": "Subjek", "message": "Keterangan", "evidence": "Bukti", "next_step": "Langkah berikut",
        "resolved": "Temuan yang diselesaikan", "how": "Bagaimana", "by": "Oleh", "none": "Tidak ada.",
        "plots": "Grafik", "plot_turnout": "Sebaran partisipasi per TPS",
        "plot_fingerprint": "Sidik jari pemilu: partisipasi vs. suara pemenang",
        "plot_regions": "Hasil per wilayah", "stations": "TPS", "winner_share": "Suara pemenang",
        "open": "terbuka", "acknowledged": "diakui", "dismissed": "ditolak",
        "info": "info", "warning": "peringatan", "critical": "kritis",
        "summary": "Ringkasan",
    },
    "en": {
        "title": "Pilkada Desk Report", "generated": "Generated", "contest": "Contest",
        "progress": "Count progress by region", "region": "Region", "reported": "Stations in",
        "total": "Stations", "percent": "Percent", "results": "Provisional results", "number": "No",
        "candidate": "Candidate pair", "votes": "Votes", "share": "Share",
        "valid": "Valid votes", "invalid": "Invalid votes", "turnout": "Turnout",
        "issues": "Issues", "by_status": "By status", "by_severity": "By severity",
        "by_detector": "By detector", "open_top": "Most serious open issues",
        "subject": "Subject", "message": "What", "evidence": "Evidence", "next_step": "Next step",
        "resolved": "Resolved issues", "how": "How", "by": "By", "none": "None.",
        "plots": "Plots", "plot_turnout": "Turnout per station",
        "plot_fingerprint": "Election fingerprint: turnout vs. winner's share",
        "plot_regions": "Results by region", "stations": "stations", "winner_share": "Winner's share",
        "open": "open", "acknowledged": "acknowledged", "dismissed": "dismissed",
        "info": "info", "warning": "warning", "critical": "critical",
        "summary": "Summary",
    },
}
LABELS["id"]["resolved_status"] = "diselesaikan"
LABELS["en"]["resolved_status"] = "resolved"


# --------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class ProgressRow:
    code: str
    name: str
    reported: int
    total: int
    votes: tuple[int, ...] = ()

    @property
    def percent(self) -> float:
        return 100.0 * self.reported / self.total if self.total else 0.0


@dataclass(frozen=True)
class CandidateRow:
    number: int
    name: str
    votes: int
    share: float


@dataclass
class ReportData:
    """Everything the report shows, read once; the renderers only format it."""

    region_code: str
    region_name: str
    contest_code: str
    contest_name: str
    generated_at: datetime
    progress: list[ProgressRow]
    stations_reported: int
    stations_total: int
    candidates: list[CandidateRow]
    valid_votes: int
    invalid_votes: int
    voters: int
    registered: int
    issues_by_status: dict[str, int]
    issues_by_severity: dict[str, int]
    issues_by_detector: dict[str, int]
    top_open: list[dict[str, Any]]
    resolved: list[dict[str, Any]]
    station_turnout: np.ndarray = field(default_factory=lambda: np.zeros(0))
    station_winner_share: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def turnout(self) -> float | None:
        return self.voters / self.registered if self.registered else None


def choose_contest(connection: Connection, region_code: str, contest_code: str | None) -> Any:
    """The given contest, else the one elected in the region, else the first the region votes in."""
    rows = connection.execute(
        select(Contest.id, Contest.code, Contest.name, Region.code.label("region_code"))
        .outerjoin(Region, Region.id == Contest.region_id).order_by(Contest.id)).all()
    if contest_code is not None:
        found = [r for r in rows if r.code == contest_code]
        if not found:
            raise ValueError(f"no contest {contest_code!r}")
        return found[0]
    exact = [r for r in rows if r.region_code == region_code]
    covering = [r for r in rows if is_below(region_code, r.region_code) or is_below(r.region_code or "", region_code)]
    if not (exact or covering):
        raise ValueError(f"no contest is voted in region {region_code}")
    return (exact or covering)[0]


def build_report(engine: Engine, region_code: str, contest_code: str | None = None) -> ReportData:
    """Read the report's figures for a region and contest."""
    with engine.connect() as connection:
        region = connection.execute(select(Region).where(Region.code == region_code)).first()
        if region is None:
            raise ValueError(f"no region {region_code!r}")
        contest = choose_contest(connection, region_code, contest_code)
        names = dict(connection.execute(
            select(Candidate.number, Candidate.name).where(Candidate.contest_id == contest.id)).all())
        totals, votes = _results(connection, [region.id], contest.id)
        children = connection.execute(select(Region.id, Region.code, Region.name, Region.stations_total)
                                      .where(Region.parent_id == region.id).order_by(Region.code)).all()
        child_totals, child_votes = _results(connection, [c.id for c in children], contest.id)
        progress = [ProgressRow(c.code, c.name, child_totals.get(c.id, (0, 0, 0, 0, 0))[0], c.stations_total,
                                tuple(child_votes.get(c.id, {}).get(n, 0) for n in sorted(names)))
                    for c in children if c.stations_total]
        turnout, winner_share = _station_arrays(connection, region_code, contest.id)
        issues = [i for i in list_issues(connection) if _issue_in(i, region_code, contest.code)]
        resolved = _resolved(connection, issues)
    reported, registered, voters, valid, invalid = totals.get(region.id, (0, 0, 0, 0, 0))
    region_votes = votes.get(region.id, {})
    all_votes = sum(region_votes.values())
    candidates = [CandidateRow(n, names[n], region_votes.get(n, 0), _share(region_votes.get(n, 0), all_votes))
                  for n in sorted(names)]
    return ReportData(
        region_code, region.name, contest.code, contest.name, datetime.now(UTC), progress, reported,
        region.stations_total, candidates, valid, invalid, voters, registered,
        dict(Counter(i["status"] for i in issues)), dict(Counter(i["severity"] for i in issues)),
        dict(Counter(i["detector"] for i in issues)), _top_open(issues), resolved, turnout, winner_share,
    )


def _share(votes: int, total: int) -> float:
    return votes / total if total else 0.0


def _results(connection: Connection, region_ids: Sequence[int], contest_id: int
             ) -> tuple[dict[int, tuple[int, int, int, int, int]], dict[int, dict[int, int]]]:
    if not region_ids:
        return {}, {}
    totals = {r.region_id: (r.stations_reported, r.registered, r.voters, r.valid_votes, r.invalid_votes)
              for r in connection.execute(select(RegionResult).where(
                  RegionResult.contest_id == contest_id, RegionResult.region_id.in_(region_ids)))}
    votes: dict[int, dict[int, int]] = {}
    for r in connection.execute(select(RegionResultVotes).where(
            RegionResultVotes.contest_id == contest_id, RegionResultVotes.region_id.in_(region_ids))):
        votes.setdefault(r.region_id, {})[r.number] = r.votes
    return totals, votes


def _station_arrays(connection: Connection, region_code: str, contest_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Turnout and the overall winner's share per reporting station (for the plots)."""
    village = aliased(Region)
    rows = connection.execute(
        select(Tally.voters, Tally.dpt, Tally.dptb, Tally.dpk, Tally.votes, Station.registered, village.code)
        .join(CurrentTally, CurrentTally.tally_id == Tally.id)
        .join(Station, Station.id == Tally.station_id)
        .join(village, village.id == Station.village_id)
        .where(CurrentTally.contest_id == contest_id)).all()
    rows = [r for r in rows if is_below(r[6], region_code)]
    if not rows:
        return np.zeros(0), np.zeros(0)
    votes = np.array([[v or 0 for v in r.votes] for r in rows], dtype=float)
    registered = np.array([(r.dpt + (r.dptb or 0) + (r.dpk or 0)) if r.dpt is not None else (r.registered or 0)
                           for r in rows], dtype=float)
    voters = np.array([r.voters if r.voters is not None else np.nan for r in rows], dtype=float)
    winner = int(np.argmax(votes.sum(axis=0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        turnout = np.where(registered > 0, voters / registered, np.nan)
        share = np.where(votes.sum(axis=1) > 0, votes[:, winner] / votes.sum(axis=1), np.nan)
    keep = np.isfinite(turnout) & np.isfinite(share)
    return turnout[keep], share[keep]


def _issue_in(issue: dict[str, Any], region_code: str, contest_code: str) -> bool:
    subject = issue["station_code"] or issue["region_code"]
    return (issue["contest_code"] in (contest_code, None)) and subject is not None and (
        is_below(subject, region_code) or is_below(region_code, subject))


def _top_open(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    open_ones = [i for i in issues if i["status"] in ("open", "acknowledged") and i["active"]]
    open_ones.sort(key=lambda i: (-SEVERITY_RANK[i["severity"]], -(i["score"] or 0), i["id"]))
    return open_ones[:TOP_ISSUES]


def _resolved(connection: Connection, issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resolved and dismissed issues with the review that closed them (its note and reviewer)."""
    closed = {i["id"]: i for i in issues if i["status"] in ("resolved", "dismissed")}
    if not closed:
        return []
    events = connection.execute(select(IssueEvent).where(IssueEvent.issue_id.in_(list(closed)),
                                                         IssueEvent.to_status.in_(("resolved", "dismissed")))
                                .order_by(IssueEvent.at)).all()
    last = {e.issue_id: e for e in events}
    return [{**closed[i], "note": last[i].note if i in last else None, "actor": last[i].actor if i in last else None,
             "closed_at": last[i].at if i in last else None} for i in sorted(closed)]


# --------------------------------------------------------------------------- formatting


def number(value: int | float | None, lang: str) -> str:
    """Thousands as Indonesians write them (``1.234.567``) or in English (``1,234,567``)."""
    if value is None:
        return "–"
    text = f"{int(value):,}"
    return text.replace(",", ".") if lang == "id" else text


def percent(value: float | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:.2f}%"
    return text.replace(".", ",") if lang == "id" else text


def evidence_text(evidence: Any, limit: int = 300) -> str:
    text = json.dumps(evidence, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_turnout(data: ReportData, lang: str) -> Any:
    plt, t = _pyplot(), LABELS[lang]
    figure, axes = plt.subplots(figsize=(7, 3.6))
    axes.hist(np.clip(data.station_turnout, 0, 1.2) * 100, bins=60, color="#2f6f9f")
    axes.set(title=t["plot_turnout"], xlabel=f"{t['turnout']} (%)", ylabel=t["stations"])
    figure.tight_layout()
    return figure


def plot_fingerprint(data: ReportData, lang: str) -> Any:
    plt, t = _pyplot(), LABELS[lang]
    figure, axes = plt.subplots(figsize=(5.5, 4.8))
    if len(data.station_turnout):
        axes.hist2d(np.clip(data.station_turnout, 0, 1), data.station_winner_share, bins=50, range=[[0, 1], [0, 1]],
                    cmap="magma_r", cmin=1)
    axes.set(title=t["plot_fingerprint"], xlabel=t["turnout"], ylabel=t["winner_share"], xlim=(0, 1), ylim=(0, 1))
    figure.tight_layout()
    return figure


def plot_regions(data: ReportData, lang: str) -> Any:
    plt, t = _pyplot(), LABELS[lang]
    figure, axes = plt.subplots(figsize=(7, 0.35 * max(len(data.progress), 4) + 1.2))
    left = np.zeros(len(data.progress))
    for k, candidate in enumerate(data.candidates):
        counts = np.array([row.votes[k] if k < len(row.votes) else 0 for row in data.progress], dtype=float)
        totals = np.array([max(sum(row.votes), 1) for row in data.progress], dtype=float)
        axes.barh([row.name for row in data.progress], counts / totals * 100, left=left,
                  label=f"{candidate.number}. {candidate.name[:28]}")
        left += counts / totals * 100
    axes.set(title=t["plot_regions"], xlabel=t["share"] + " (%)", xlim=(0, 100))
    axes.invert_yaxis()
    axes.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=2, frameon=False)
    figure.tight_layout()
    return figure


PLOTS: dict[str, Callable[[ReportData, str], Any]] = {
    "plot_turnout": plot_turnout, "plot_fingerprint": plot_fingerprint, "plot_regions": plot_regions,
}


def png_of(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    _pyplot().close(figure)
    return buffer.getvalue()


# --------------------------------------------------------------------------- text sections (md and pdf)


def markdown(data: ReportData, lang: str = "id") -> str:
    t = LABELS[lang]
    lines = [f"# {t['title']}: {data.region_name} ({data.region_code})", "",
             f"{t['contest']}: {data.contest_name} (`{data.contest_code}`)  ",
             f"{t['generated']}: {data.generated_at:%Y-%m-%d %H:%M} UTC", "", f"## {t['summary']}", "",
             *summary_lines(data, lang), "", f"## {t['progress']}", "",
             f"| {t['region']} | {t['reported']} | {t['total']} | {t['percent']} |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r.name} | {number(r.reported, lang)} | {number(r.total, lang)} | {r.percent:.1f}% |"
              for r in data.progress]
    lines += ["", f"## {t['results']}", "", f"| {t['number']} | {t['candidate']} | {t['votes']} | {t['share']} |",
              "| ---: | --- | ---: | ---: |"]
    lines += [f"| {c.number} | {c.name} | {number(c.votes, lang)} | {percent(c.share, lang)} |"
              for c in data.candidates]
    lines += ["", f"## {t['issues']}", ""]
    for key, counts in (("by_status", data.issues_by_status), ("by_severity", data.issues_by_severity),
                        ("by_detector", data.issues_by_detector)):
        lines.append(f"- {t[key]}: " + (", ".join(f"{t.get(k, k)} {v}" for k, v in sorted(counts.items()))
                                         or t["none"]))
    lines += ["", f"### {t['open_top']}", ""]
    lines += [f"{n}. **{i['severity']}** {i['detector']} {i['station_code'] or i['region_code']}: {i['message']}  \n"
              f"   {t['evidence']}: `{evidence_text(i['evidence'])}`  \n   {t['next_step']}: {i['suggestion'] or '–'}"
              for n, i in enumerate(data.top_open, start=1)] or [t["none"]]
    lines += ["", f"### {t['resolved']}", ""]
    lines += [f"- #{i['id']} {i['detector']} {i['station_code'] or i['region_code']}: {status_label(i['status'], lang)}"
              f" — {i['note'] or '–'} ({t['by']} {i['actor'] or '–'})" for i in data.resolved] or [t["none"]]
    return "\n".join(lines) + "\n"


def status_label(status: str, lang: str) -> str:
    return LABELS[lang]["resolved_status" if status == "resolved" else status]


def summary_lines(data: ReportData, lang: str) -> list[str]:
    t = LABELS[lang]
    return [
        f"- {t['reported']}: {number(data.stations_reported, lang)} / {number(data.stations_total, lang)}",
        f"- {t['valid']}: {number(data.valid_votes, lang)}; {t['invalid']}: {number(data.invalid_votes, lang)}",
        f"- {t['turnout']}: {percent(data.turnout, lang)}",
        f"- {t['issues']}: " + ", ".join(f"{t.get(k, k)} {v}" for k, v in sorted(data.issues_by_status.items())),
    ]


# --------------------------------------------------------------------------- html


HTML = Template("""<!doctype html>
<html lang="$lang"><head><meta charset="utf-8"><title>$title</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1b1b}
h1{border-bottom:3px solid #2f6f9f}table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem}td.n{text-align:right;font-variant-numeric:tabular-nums}
.critical{color:#b00020;font-weight:bold}.warning{color:#a35c00}code{font-size:.8em;word-break:break-all}
img{max-width:100%}
</style></head><body>
<h1>$title</h1>
<p>$contest_label: <b>$contest</b> · $generated_label: $generated</p>
<h2>$summary_label</h2><ul>$summary</ul>
<h2>$results_label</h2>$results
<h2>$progress_label</h2>$progress
<h2>$issues_label</h2>$issue_counts
<h3>$open_label</h3>$open_issues
<h3>$resolved_label</h3>$resolved
<h2>$plots_label</h2>$plots
</body></html>
""")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class=\"n\">{c}</td>" if k in numeric else f"<td>{c}</td>"
                                    for k, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(data: ReportData, lang: str = "id") -> str:
    t, e = LABELS[lang], html.escape
    summary = "".join(f"<li>{e(line[2:])}</li>" for line in summary_lines(data, lang))
    results = _table([t["number"], t["candidate"], t["votes"], t["share"]],
                     [[str(c.number), e(c.name), number(c.votes, lang), percent(c.share, lang)]
                      for c in data.candidates], {0, 2, 3})
    progress = _table([t["region"], t["reported"], t["total"], t["percent"]],
                      [[e(r.name), number(r.reported, lang), number(r.total, lang), f"{r.percent:.1f}%"]
                       for r in data.progress], {1, 2, 3})
    counts = "".join(f"<p><b>{t[k]}</b>: " + (e(", ".join(f"{t.get(s, s)} {n}" for s, n in sorted(c.items())))
                                              or t["none"]) + "</p>"
                     for k, c in (("by_status", data.issues_by_status), ("by_severity", data.issues_by_severity),
                                  ("by_detector", data.issues_by_detector)))
    open_issues = _table(
        ["#", t["subject"], t["message"], t["evidence"], t["next_step"]],
        [[f"<span class=\"{i['severity']}\">{i['id']} {e(t[i['severity']])}</span>",
          e(f"{i['detector']} {i['station_code'] or i['region_code']}"), e(i["message"]),
          f"<code>{e(evidence_text(i['evidence']))}</code>", e(i["suggestion"] or "–")] for i in data.top_open],
        set()) if data.top_open else f"<p>{t['none']}</p>"
    resolved = _table(["#", t["subject"], t["message"], t["how"], t["by"]],
                      [[str(i["id"]), e(f"{i['detector']} {i['station_code'] or i['region_code']}"), e(i["message"]),
                        e(i["note"] or "–"), e(i["actor"] or "–")] for i in data.resolved],
                      set()) if data.resolved else f"<p>{t['none']}</p>"
    plots = "".join(f"<h3>{t[key]}</h3><img alt=\"{e(t[key])}\" src=\"data:image/png;base64,"
                    f"{base64.b64encode(png_of(plot(data, lang))).decode()}\">" for key, plot in PLOTS.items())
    return HTML.substitute(
        lang=lang, title=e(f"{t['title']}: {data.region_name} ({data.region_code})"), contest_label=t["contest"],
        contest=e(f"{data.contest_name} ({data.contest_code})"), generated_label=t["generated"],
        generated=f"{data.generated_at:%Y-%m-%d %H:%M} UTC", summary_label=t["summary"], summary=summary,
        results_label=t["results"], results=results, progress_label=t["progress"], progress=progress,
        issues_label=t["issues"], issue_counts=counts, open_label=t["open_top"], open_issues=open_issues,
        resolved_label=t["resolved"], resolved=resolved, plots_label=t["plots"], plots=plots,
    )


# --------------------------------------------------------------------------- pdf


def first_page(data: ReportData, lang: str = "id") -> Any:
    """The PDF's first page: title, summary, results and progress as an A4 figure of text."""
    plt, t = _pyplot(), LABELS[lang]
    figure = plt.figure(figsize=(8.27, 11.69))
    lines: list[tuple[str, float, str]] = [
        (f"{t['title']}: {data.region_name} ({data.region_code})", 15, "bold"),
        (f"{t['contest']}: {data.contest_name}", 9, "normal"),
        (f"{t['generated']}: {data.generated_at:%Y-%m-%d %H:%M} UTC", 9, "normal"), ("", 6, "normal"),
        (t["summary"], 12, "bold"), *((line, 9, "normal") for line in summary_lines(data, lang)),
        ("", 6, "normal"), (t["results"], 12, "bold")]
    lines += [(f"{c.number}. {c.name[:60]:<60} {number(c.votes, lang):>12} {percent(c.share, lang):>8}", 8.5, "mono")
              for c in data.candidates]
    lines += [("", 6, "normal"), (t["progress"], 12, "bold")]
    lines += [(f"{r.name[:40]:<40} {number(r.reported, lang):>7} / {number(r.total, lang):<7} {r.percent:6.1f}%", 8.5,
               "mono") for r in data.progress]
    lines += [("", 6, "normal"), (t["open_top"], 12, "bold")]
    lines += [(f"#{i['id']} {t[i['severity']]} {i['detector']} {i['station_code'] or i['region_code']}: "
               f"{i['message'][:90]}", 7.5, "normal") for i in data.top_open[:8]] or [(t["none"], 9, "normal")]
    y = 0.95
    for text, size, weight in lines:
        family = "monospace" if weight == "mono" else "sans-serif"
        figure.text(0.07, y, text, fontsize=size, family=family, weight="bold" if weight == "bold" else "normal")
        y -= size / 11.69 / 72 * 1.6 + 0.002
    return figure


def write_pdf(data: ReportData, path: Path, lang: str = "id") -> Path:
    from matplotlib.backends.backend_pdf import PdfPages

    plt = _pyplot()
    with PdfPages(path) as pdf:
        for figure in (first_page(data, lang), *(plot(data, lang) for plot in PLOTS.values())):
            pdf.savefig(figure)
            plt.close(figure)
    return path


def write_first_page_png(data: ReportData, path: Path, lang: str = "id", dpi: int = 90) -> Path:
    """The PDF's first page as a PNG (for the README), drawn by the same code as the PDF."""
    figure = first_page(data, lang)
    figure.savefig(path, dpi=dpi, facecolor="white")
    _pyplot().close(figure)
    return path


def write_report(engine: Engine, region_code: str, *, contest_code: str | None = None, fmt: str = "html",
                 lang: str = "id", out: Path | None = None) -> Path | str:
    """Render the report; returns the file written, or the text itself (md/html) when ``out`` is None."""
    if fmt not in FORMATS or lang not in LABELS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)} and lang one of {', '.join(LABELS)}")
    data = build_report(engine, region_code, contest_code)
    if fmt == "pdf":
        return write_pdf(data, out or Path(f"laporan-{region_code}.pdf"), lang)
    text = markdown(data, lang) if fmt == "md" else render_html(data, lang)
    if out is None:
        return text
    out.write_text(text, encoding="utf-8")
    return out
