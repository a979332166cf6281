// Queue: the issues to review, most severe first and newest first within a severity, arriving
// live through `issueFlagged`; filters live in the URL so a filtered queue can be shared.
import { debounce, fill, h, hashOf, loading, time } from "../dom.js";
import { ISSUE_ROW_FIELDS, SEVERITIES, STATUSES, flash, severityBadge, statusBadge } from "./common.js";

const PAGE = 50;
const FILTERS = ["status", "severity", "detector", "contest", "within"];

const QUEUE_QUERY = `query Queue($base: IssueWhere!, $where: IssueWhere!, $first: Int!) {
  ${STATUSES.map((s) => `${s.toLowerCase()}: issues(where: {_and: [$base, {status: {_eq: ${s}}}]}, first: 1) { totalCount }`).join("\n  ")}
  ${SEVERITIES.map((s) => `${s.toLowerCase()}List: issues(where: {_and: [$where, {severity: {_eq: ${s}}}]}, first: $first) {
    totalCount edges { node { ${ISSUE_ROW_FIELDS} } } }`).join("\n  ")}
}`;

const CHOICES_QUERY = `query QueueChoices { detectors { name } regions(level: REGENCY, first: 100) { nodes { code name } } }`;

const FLAGGED_SUBSCRIPTION = `subscription Flagged($where: IssueWhere) { issueFlagged(where: $where) { ${ISSUE_ROW_FIELDS} } }`;

/** The `where` of the chosen filters (without the status: counts per status need all). */
export function baseWhere(filters) {
  const where = {};
  if (filters.severity) where.severity = { _eq: filters.severity };
  if (filters.detector) where.detector = { _eq: filters.detector };
  if (filters.contest) where.contest = { _eq: filters.contest };
  if (filters.within) where.within = filters.within;
  return where;
}

/** Filters from the URL; no status means the open issues, `ALL` means every status. */
function readFilters(params) {
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""]));
  filters.status = params.has("status") ? filters.status : "OPEN";
  if (filters.status === "ALL") filters.status = "";
  return filters;
}

export async function render(root, ctx, { params }) {
  const { t, client } = ctx;
  fill(root, loading(t));
  const filters = readFilters(params);
  const first = Math.min(Number(params.get("first")) || PAGE, 100);
  const [contests, choices] = await Promise.all([ctx.loadContests(), client.request(CHOICES_QUERY)]);
  const base = baseWhere(filters);
  const where = filters.status ? { ...base, status: { _eq: filters.status } } : base;
  const fresh = new Set();
  const go = (changes) => ctx.navigate(hashOf(["queue"], { ...filters, status: filters.status || "ALL", ...changes }));
  const setFilter = (name, value) => go(name === "status" ? { status: value || "ALL", first: "" } : { [name]: value });

  const section = h("div.queue");
  fill(root, filterBar(t, filters, contests, choices, setFilter), section);

  const load = async () => {
    const data = await client.request(QUEUE_QUERY, { base, where, first });
    fill(section, statusTabs(t, data, filters, setFilter),
      issueTable(t, ctx, data, fresh, first, () => go({ first: first + PAGE })));
    for (const id of fresh) flash(section.querySelector(`[data-id="${CSS.escape(id)}"]`));
    fresh.clear();
  };
  await load();
  // Each event is a signal: re-read the page (one query for a burst), so order and counts stay right.
  const reload = debounce(load, 250);
  const unsubscribe = client.subscribe(FLAGGED_SUBSCRIPTION, { where: base }, {
    next: (data) => { fresh.add(data.issueFlagged.id); reload(); },
    resync: reload,
  });
  return () => { reload.cancel(); unsubscribe(); };
}

function filterBar(t, filters, contests, choices, setFilter) {
  const select = (name, options, label) => h("label.field", {}, h("span", {}, label),
    h("select", { name, onchange: (e) => setFilter(name, e.target.value) },
      h("option", { value: "" }, t("filter.all")),
      options.map(([value, text]) => h("option", { value, selected: value === filters[name] }, text))));
  const within = h("input", { name: "within", list: "regencies", value: filters.within, placeholder: "62.71",
    size: 12, onchange: (e) => setFilter("within", e.target.value.trim()) });
  return h("div.toolbar.filters", {},
    select("severity", SEVERITIES.map((s) => [s, t(`severity.${s}`)]), t("severity")),
    select("detector", choices.detectors.map((d) => [d.name, d.name]), t("detector")),
    select("contest", contests.map((c) => [c.code, c.code]), t("contest")),
    h("label.field", {}, h("span", {}, t("region")), within,
      h("datalist", { id: "regencies" }, choices.regions.nodes.map((r) => h("option", { value: r.code }, r.name)))));
}

function statusTabs(t, data, filters, setFilter) {
  return h("div.tabs", { role: "tablist" },
    STATUSES.map((status) => h("button.tab", { type: "button", role: "tab", class: filters.status === status ? "active" : "",
      dataset: { status }, onclick: () => setFilter("status", status) },
    t(`status.${status}`), h("span.count", { "data-testid": `count-${status}` }, data[status.toLowerCase()].totalCount))),
    h("button.tab", { type: "button", role: "tab", class: filters.status ? "" : "active", onclick: () => setFilter("status", "") },
      t("filter.all")));
}

function issueTable(t, ctx, data, fresh, first, more) {
  const lists = SEVERITIES.map((s) => data[`${s.toLowerCase()}List`]);
  const rows = lists.flatMap((list) => list.edges.map((edge) => edge.node));
  const truncated = lists.some((list) => list.totalCount > list.edges.length);
  if (!rows.length) return h("p.empty", {}, t("queue.empty"));
  return [
    h("p.muted.summary", {}, SEVERITIES.map((s, i) => `${t(`severity.${s}`)}: ${lists[i].totalCount}`).join(" · ")),
    h("table.data.queue-table", {},
      h("thead", {}, h("tr", {}, ["severity", "queue.time", "detector", "queue.subject", "contest", "queue.message", "status"]
        .map((key) => h("th", {}, t(key))))),
      h("tbody", {}, rows.map((issue) => h("tr.clickable", { dataset: { id: issue.id }, class: fresh.has(issue.id) ? "new" : "",
        onclick: () => ctx.navigate(`#/issue/${encodeURIComponent(issue.id)}`) },
      h("td", {}, severityBadge(t, issue.severity)),
      h("td.nowrap", { title: issue.createdAt }, time(issue.createdAt)),
      h("td", {}, h("code", {}, issue.detector)),
      h("td", {}, h("a", { href: `#/issue/${encodeURIComponent(issue.id)}` }, issue.subjectCode),
        issue.region ? h("div.muted.small", {}, issue.region.name) : null),
      h("td", {}, issue.contest ? issue.contest.code : "–"),
      h("td.message", {}, issue.message),
      h("td", {}, statusBadge(t, issue.status)))))),
    truncated && first < 100 ? h("button.more", { type: "button", onclick: more }, t("queue.more")) : null,
  ];
}
