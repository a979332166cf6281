// The result form (Model C.Hasil) as the API names its fields: shared by the issue, station and
// entry screens. Columns are the bundle's (tallies.csv) names, which is what failedChecks.fields use.
import { h, num } from "./dom.js";

const COUNT_SECTIONS = [
  { title: "section.voters", fields: [["dpt", "I.A.1"], ["dptb", "I.A.2"], ["dpk", "I.A.3"], ["voters", "I.B.4"]] },
  { title: "section.ballots", fields: [["ballots_received", "II.1"], ["ballots_spoiled", "II.2"],
    ["ballots_unused", "II.3"], ["ballots_used", "II.4"]] },
  { title: "section.votes", fields: [] },
  { title: "section.totals", fields: [["valid_votes", "V.1"], ["invalid_votes", "V.2"], ["total_votes", "V.3"]] },
];

/** The GraphQL fields of a tally's form, for a selection set. */
export const FORM_FIELDS = `dpt dptb dpk voters ballotsReceived ballotsSpoiled ballotsUnused ballotsUsed
  votes { number votes } validVotes invalidVotes totalVotes`;

/** "ballots_received" -> "ballotsReceived" (the API's input and output name). */
export function camel(column) {
  return column.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

/** The form's sections, with one field per candidate of the contest. */
export function sections(candidates) {
  return COUNT_SECTIONS.map((section) => ({
    title: section.title,
    fields: section.title === "section.votes"
      ? candidates.map((c) => ({ column: `votes_${c.number}`, ref: `IV.${c.number}`, candidate: c }))
      : section.fields.map(([column, ref]) => ({ column, ref })),
  }));
}

export function fieldLabel(t, field) {
  return field.candidate ? `${t("candidate")} ${field.candidate.number}` : t(`field.${field.column}`);
}

/** A field's value on a tally as the API returns it (null when unread). */
export function valueOf(tally, column) {
  if (!tally) return null;
  const match = /^votes_(\d+)$/.exec(column);
  if (match) {
    const vote = (tally.votes || []).find((v) => v.number === Number(match[1]));
    return vote ? vote.votes : null;
  }
  const value = tally[camel(column)];
  return value === undefined ? null : value;
}

/** The columns named by any failed check. */
export function failedColumns(checks) {
  return new Set((checks || []).flatMap((check) => check.fields));
}

/** What changed from one revision to the next: [{column, from, to}]. */
export function changes(previous, current, candidates) {
  return sections(candidates).flatMap((s) => s.fields)
    .map((field) => ({ field, from: valueOf(previous, field.column), to: valueOf(current, field.column) }))
    .filter((change) => change.from !== change.to);
}

/** The form read-only, its failed fields marked, as the paper form is laid out. */
export function formView(t, tally, candidates, checks) {
  const failed = failedColumns(checks);
  return h("div.form-grid", {},
    sections(candidates).map((section) => h("section.form-section", {},
      h("h4", {}, t(section.title)),
      h("table.form", {}, h("tbody", {}, section.fields.map((field) => {
        const bad = failed.has(field.column);
        return h("tr", { class: bad ? "failed" : "", dataset: { column: field.column } },
          h("th", { scope: "row", title: field.candidate ? field.candidate.name : "" },
            h("span.ref", {}, field.ref), fieldLabel(t, field)),
          h("td.num", {}, num(valueOf(tally, field.column))));
      }))))));
}

/** The failed checks in words, each naming its rule and the difference. */
export function checksList(t, checks) {
  if (!checks || !checks.length) return h("p.ok", {}, "✓ ", t("checks.none"));
  return h("ul.checks", {}, checks.map((check) => h("li.check", {},
    h("strong", {}, t(`rule.${check.rule}`)), " — ", check.message,
    h("span.muted", {}, ` (${t("difference")} ${check.difference > 0 ? "+" : ""}${num(check.difference)})`))));
}
