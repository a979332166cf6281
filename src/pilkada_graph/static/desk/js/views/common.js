// Pieces several screens share: result bars, progress bars, severity and status badges.
import { h, num, pct } from "../dom.js";

export const RESULTS_FIELDS = `stationsTotal stationsReported registered voters turnout validVotes invalidVotes
  candidates { number name votes share }`;

export const ISSUE_ROW_FIELDS = `id detector severity status message createdAt updatedAt subjectCode score
  station { code } region { code name } contest { code }`;

export const SEVERITIES = ["CRITICAL", "WARNING", "INFO"];
export const STATUSES = ["OPEN", "ACKNOWLEDGED", "RESOLVED", "DISMISSED"];

export function candidateColor(number) {
  return `var(--cand-${((number - 1) % 6) + 1})`;
}

export function severityBadge(t, severity) {
  return h("span.badge.severity", { class: severity.toLowerCase() }, t(`severity.${severity}`));
}

export function statusBadge(t, status) {
  return h("span.badge.status", { class: status.toLowerCase(), "data-testid": "status" }, t(`status.${status}`));
}

/** "123 / 279" with a bar: how many stations have reported. */
export function reportedBar(t, results) {
  if (!results) return h("span.muted", {}, "–");
  const share = results.stationsTotal ? results.stationsReported / results.stationsTotal : 0;
  return h("div.reported", { title: pct(share) },
    h("div.bar", {}, h("div.fill", { style: `width:${(share * 100).toFixed(1)}%` })),
    h("span.figure", {}, `${num(results.stationsReported)} / ${num(results.stationsTotal)}`));
}

/** Every candidate's share as one stacked bar (for table rows). */
export function sharesBar(results) {
  if (!results) return null;
  return h("div.stack", {}, results.candidates.map((c) => h("div", {
    style: `width:${((c.share || 0) * 100).toFixed(2)}%;background:${candidateColor(c.number)}`,
    title: `${c.number}. ${c.name}: ${pct(c.share)}`,
  })));
}

/** The candidates, one bar each with share and votes (for the headline card). */
export function candidateBars(t, results) {
  const leader = Math.max(...results.candidates.map((c) => c.votes));
  return h("ol.candidates", {}, results.candidates.map((c) => h("li", { class: c.votes === leader && leader > 0 ? "leading" : "" },
    h("span.number", { style: `background:${candidateColor(c.number)}` }, c.number),
    h("span.name", {}, c.name),
    h("div.bar", {}, h("div.fill", { style: `width:${((c.share || 0) * 100).toFixed(2)}%;background:${candidateColor(c.number)}` })),
    h("span.share", {}, pct(c.share)),
    h("span.votes.muted", {}, `${num(c.votes)} ${t("votes")}`))));
}

export function figures(t, results) {
  return h("dl.figures", {},
    [["registeredReported", num(results.registered)], ["voters", num(results.voters)],
      ["turnout", pct(results.turnout)], ["validVotes", num(results.validVotes)],
      ["invalidVotes", num(results.invalidVotes)]]
      .map(([key, value]) => h("div", {}, h("dt", {}, t(`fig.${key}`)), h("dd", {}, value))));
}

/** The contest picker; `onchange(code)`. */
export function contestSelect(t, contests, current, onchange) {
  return h("label.field", {}, h("span", {}, t("contest")),
    h("select", { name: "contest", onchange: (e) => onchange(e.target.value) },
      contests.map((c) => h("option", { value: c.code, selected: c.code === current }, c.name))));
}

/** The contest that covers the most: a province's (gub-*) before a regency's. */
export function defaultContest(contests) {
  const rank = (c) => (c.region ? { PROVINCE: 0, REGENCY: 1 }[c.region.level] ?? 2 : -1);
  return [...contests].sort((a, b) => rank(a) - rank(b) || a.code.localeCompare(b.code))[0];
}

/** Contests whose region covers `code` (a region or station code). */
export function contestsCovering(contests, code) {
  return contests.filter((c) => !c.region || code === c.region.code || code.startsWith(c.region.code + "."));
}

/** Mark an element as just changed (a short highlight). */
export function flash(el) {
  if (!el) return;
  el.classList.remove("flash");
  void el.offsetWidth;
  el.classList.add("flash");
}
