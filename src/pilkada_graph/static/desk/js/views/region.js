// Region: province > regency > district > village > station, each with its count per contest,
// the regions (or stations) below it and its open issues.
import { fill, h, hashOf, loading, num, pct, when } from "../dom.js";
import { FORM_FIELDS, checksList, formView } from "../form.js";
import { ISSUE_ROW_FIELDS, RESULTS_FIELDS, candidateBars, contestSelect, contestsCovering, defaultContest,
  reportedBar, severityBadge, sharesBar, statusBadge } from "./common.js";

const OPEN_WHERE = "{status: {_in: [OPEN, ACKNOWLEDGED]}}";

const REGION_QUERY = `query Region($code: String!, $contest: String!) {
  region(code: $code) {
    code name level stationsTotal registeredTotal
    parent { code name level parent { code name level parent { code name level } } }
    results(contest: $contest) { ${RESULTS_FIELDS} }
    children { code name level stationsTotal results(contest: $contest) { ${RESULTS_FIELDS} } }
    issues(where: ${OPEN_WHERE}, first: 10) { totalCount edges { node { ${ISSUE_ROW_FIELDS} } } }
  }
}`;

const VILLAGE_STATIONS_QUERY = `query VillageStations($code: String!, $contest: String!) {
  stations(where: {within: $code}, first: 100) {
    nodes { code number registered tally(contest: $contest) { turnout voters validVotes failedChecks { rule } }
      issues { id severity status } }
  }
}`;

const STATION_QUERY = `query Station($code: String!) {
  station(code: $code) {
    code number registered
    village { code name level parent { code name level parent { code name level parent { code name level } } } }
    issues { ${ISSUE_ROW_FIELDS} }
  }
}`;

const STATION_TALLY_QUERY = `query StationTally($code: String!, $contest: String!, $private: Boolean!) {
  station(code: $code) {
    tally(contest: $contest) { submissionId submittedAt source actor @include(if: $private) turnout ${FORM_FIELDS}
      failedChecks { rule fields expected actual difference message } }
    revisions(contest: $contest) { submissionId }
  }
}`;

const TOP_QUERY = `query Top { regions(level: PROVINCE, first: 1) { nodes { code } } }`;

export async function render(root, ctx, { parts, params }) {
  const { t, client } = ctx;
  fill(root, loading(t));
  const code = parts[0] || (await client.request(TOP_QUERY)).regions.nodes[0].code;
  const contests = contestsCovering(await ctx.loadContests(), code);
  const contest = contests.find((c) => c.code === params.get("contest")) || defaultContest(contests);
  const { region } = await client.request(REGION_QUERY, { code, contest: contest.code });
  const link = (target) => hashOf(["region", target], { contest: contest.code });

  const below = region.level === "VILLAGE"
    ? stationsTable(t, (await client.request(VILLAGE_STATIONS_QUERY, { code, contest: contest.code })).stations.nodes, contest)
    : childrenTable(t, region, link);
  fill(root,
    h("div.toolbar", {},
      crumbs(t, ancestors(region.parent), region.name, link),
      contestSelect(t, contests, contest.code, (c) => ctx.navigate(hashOf(["region", code], { contest: c })))),
    h("div.region-grid", {},
      h("section.card", {},
        h("h2", {}, region.name, h("span.level", {}, t(`level.${region.level}`)), h("span.code.muted", {}, region.code)),
        h("p.muted", {}, `${num(region.stationsTotal)} ${t("stations")} · ${num(region.registeredTotal)} ${t("fig.registered")}`),
        region.results ? [reportedBar(t, region.results), h("p", {}, `${t("fig.turnout")}: ${pct(region.results.turnout)}`),
          candidateBars(t, region.results)] : h("p.muted", {}, t("progress.notVoting"))),
      h("section.card", {}, h("h3", {}, t("region.openIssues"), " ", h("span.count", {}, region.issues.totalCount)),
        issueList(t, region.issues.edges.map((e) => e.node)),
        h("a", { href: hashOf(["queue"], { within: region.code }) }, t("region.allIssues"), " ›"))),
    h("section.card", { "data-testid": "below" }, h("h3", {}, t(`region.below.${region.level}`)), below));
}

function ancestors(parent) {
  const chain = [];
  for (let r = parent; r; r = r.parent) chain.unshift(r);
  return chain;
}

function crumbs(t, chain, current, link) {
  return h("nav.crumbs", { "aria-label": t("breadcrumb") },
    chain.map((r) => [h("a", { href: link(r.code) }, r.name), " › "]), h("strong", {}, current));
}

function childrenTable(t, region, link) {
  return h("table.data", {},
    h("thead", {}, h("tr", {}, h("th", {}, t(`level.${region.children[0]?.level || "VILLAGE"}`)), h("th", {}, t("progress.stations")),
      h("th.num", {}, t("fig.turnout")), h("th", {}, t("progress.shares")))),
    h("tbody", {}, region.children.map((child) => h("tr", { dataset: { code: child.code } },
      h("td", {}, h("a", { href: link(child.code) }, child.name), h("span.code.muted", {}, child.code)),
      h("td", {}, child.results ? reportedBar(t, child.results) : num(child.stationsTotal)),
      h("td.num", {}, child.results ? pct(child.results.turnout) : "–"),
      h("td", {}, sharesBar(child.results))))));
}

function stationsTable(t, stations, contest) {
  return h("table.data", {},
    h("thead", {}, h("tr", {}, ["station", "fig.registered", "fig.voters", "fig.turnout", "checks", "region.issues"]
      .map((key) => h("th", {}, t(key))))),
    h("tbody", {}, stations.map((s) => h("tr", { dataset: { code: s.code } },
      h("td", {}, h("a", { href: hashOf(["station", s.code], { contest: contest.code }) }, `TPS ${s.number}`),
        h("span.code.muted", {}, s.code)),
      h("td.num", {}, num(s.registered)),
      h("td.num", {}, s.tally ? num(s.tally.voters) : h("span.muted", {}, t("station.notReported"))),
      h("td.num", {}, s.tally ? pct(s.tally.turnout) : "–"),
      h("td", {}, s.tally ? (s.tally.failedChecks.length ? h("span.bad", {}, s.tally.failedChecks.map((c) => t(`rule.${c.rule}`)).join(", "))
        : h("span.ok", {}, "✓")) : "–"),
      h("td", {}, s.issues.filter((i) => i.status === "OPEN" || i.status === "ACKNOWLEDGED")
        .map((i) => h("a", { href: `#/issue/${encodeURIComponent(i.id)}` }, severityBadge(t, i.severity))))))));
}

function issueList(t, issues) {
  if (!issues.length) return h("p.muted", {}, t("queue.empty"));
  return h("ul.issue-list", {}, issues.map((issue) => h("li", {},
    severityBadge(t, issue.severity), " ",
    h("a", { href: `#/issue/${encodeURIComponent(issue.id)}` }, issue.message), " ",
    statusBadge(t, issue.status))));
}

/** The last level of the drill-down: one station, its current form per contest and its issues. */
export async function renderStation(root, ctx, { parts, params }) {
  const { t, client } = ctx;
  fill(root, loading(t));
  const { station } = await client.request(STATION_QUERY, { code: parts[0] });
  const contests = contestsCovering(await ctx.loadContests(), station.code);
  const contest = contests.find((c) => c.code === params.get("contest")) || defaultContest(contests);
  const data = await client.request(STATION_TALLY_QUERY, { code: station.code, contest: contest.code,
    private: ctx.me.canReadPrivate });
  const tally = data.station.tally;
  const link = (target) => hashOf(["region", target], { contest: contest.code });
  fill(root,
    h("div.toolbar", {},
      crumbs(t, [...ancestors(station.village.parent), station.village], `TPS ${station.number}`, link),
      contestSelect(t, contests, contest.code, (c) => ctx.navigate(hashOf(["station", station.code], { contest: c })))),
    h("div.region-grid", {},
      h("section.card", {},
        h("h2", {}, `TPS ${station.number}`, h("span.level", {}, t("station")), h("span.code.muted", {}, station.code)),
        h("p.muted", {}, `${t("fig.registered")}: ${num(station.registered)}`),
        tally ? [
          h("p.muted.small", {}, `${tally.submissionId} · ${tally.source || "–"} · ${when(tally.submittedAt)} · `,
            `${data.station.revisions.length} ${t("station.revisions")}`),
          formView(t, tally, contest.candidates, tally.failedChecks), checksList(t, tally.failedChecks),
        ] : h("p.muted", {}, t("station.notReported"))),
      h("section.card", {}, h("h3", {}, t("region.issues")), issueList(t, station.issues))));
}
