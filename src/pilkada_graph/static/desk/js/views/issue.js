// One issue: what is wrong and why (the form with its failed checks, the revisions and what each
// changed, the evidence in words and against the station's peers), what to do, and the review.
import { errorBox, fill, h, loading, num, pct, when } from "../dom.js";
import { FORM_FIELDS, changes, checksList, fieldLabel, formView } from "../form.js";
import { peerChart } from "../chart.js";
import { severityBadge, statusBadge } from "./common.js";

const CHECK_FIELDS = "failedChecks { rule fields expected actual difference message }";
// History and authors are the desk's private data: asked for only when the token may read them.
const HISTORY_FIELDS = "history @include(if: $private) { at action fromStatus toStatus actor note }";

const ISSUE_QUERY = `query Issue($id: ID!, $private: Boolean!) {
  node(id: $id) {
    ... on Issue {
      id detector severity status message suggestion evidence score active subjectCode createdAt updatedAt
      station { code number registered village { code name parent { code name parent { code name } } } }
      region { code name level }
      contest { code name candidates { number name } }
      tally { submissionId submittedAt source actor @include(if: $private) turnout ${FORM_FIELDS} ${CHECK_FIELDS} }
      ${HISTORY_FIELDS}
    }
  }
  detectors { name description nextStep }
}`;

const CONTEXT_QUERY = `query IssueContext($station: String!, $contest: String!, $village: String!, $district: String!, $private: Boolean!) {
  station(code: $station) {
    revisions(contest: $contest) { submissionId submittedAt receivedAt source actor @include(if: $private) ${FORM_FIELDS} failedChecks { rule } }
  }
  village: region(code: $village) { results(contest: $contest) { turnout candidates { number share } } }
  district: region(code: $district) { results(contest: $contest) { turnout candidates { number share } } }
}`;

const PEERS_QUERY = `query Peers($within: String!, $contest: String!, $after: String) {
  stations(where: {within: $within}, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { code tally(contest: $contest) { turnout votes { number votes } } }
  }
}`;

const REVIEW_MUTATION = `mutation Review($input: ReviewIssueInput!, $private: Boolean! = true) {
  reviewIssue(input: $input) {
    __typename
    ... on IssueReviewed { issue { id status ${HISTORY_FIELDS} } }
    ... on ReviewRejected { message }
  }
}`;

const ISSUE_SUBSCRIPTION = `subscription IssueChanged($where: IssueWhere, $private: Boolean!) {
  issueFlagged(where: $where) { id status message ${HISTORY_FIELDS} }
}`;

/** What a reviewer may do from each status (the lifecycle's transitions). */
const ACTIONS = {
  OPEN: ["ACKNOWLEDGE", "RESOLVE", "DISMISS"],
  ACKNOWLEDGED: ["RESOLVE", "DISMISS"],
  RESOLVED: ["REOPEN"],
  DISMISSED: ["REOPEN"],
};

/** At most this many stations are drawn as the district's peers (pages of 100). */
const MAX_PEER_PAGES = 10;

export async function render(root, ctx, { parts }) {
  const { t, client } = ctx;
  fill(root, loading(t));
  const data = await client.request(ISSUE_QUERY, { id: parts[0], private: ctx.me.canReadPrivate });
  const issue = data.node;
  if (!issue) return fill(root, errorBox(t("issue.notFound")));
  const detector = data.detectors.find((d) => d.name === issue.detector);

  const statusSlot = h("span", {}, statusBadge(t, issue.status));
  const historySlot = h("div");
  const reviewSlot = h("div");
  const contextSlot = h("div", {}, loading(t));
  const update = (changed) => {
    Object.assign(issue, changed);
    fill(statusSlot, statusBadge(t, issue.status));
    if (issue.history) fill(historySlot, historyTable(t, issue.history));
    fill(reviewSlot, ctx.me.canReview ? reviewPanel(t, client, issue, update) : null);
  };

  fill(root,
    h("div.issue-head", {},
      h("a.back", { href: "#/queue" }, "‹ ", t("nav.queue")),
      h("h2", {}, severityBadge(t, issue.severity), " ", h("code", {}, issue.detector), " ",
        h("span", {}, issue.subjectCode), " ", statusSlot),
      h("p.lead", {}, issue.message),
      h("p.muted", {}, placeLine(t, issue), " · ", t("issue.raised"), " ", when(issue.createdAt),
        issue.active ? "" : ` · ${t("issue.inactive")}`)),
    h("div.issue-grid", {},
      h("div.col-main", {},
        issue.tally ? h("section.card", {}, h("h3", {}, t("issue.form")),
          h("p.muted.small", {}, `${issue.tally.submissionId} · ${issue.tally.source || "–"} · ${when(issue.tally.submittedAt)}`),
          formView(t, issue.tally, issue.contest.candidates, issue.tally.failedChecks),
          checksList(t, issue.tally.failedChecks)) : null,
        h("section.card", {}, h("h3", {}, t("issue.evidence")), evidenceView(t, issue.evidence), contextSlot)),
      h("div.col-side", {},
        h("section.card.next-step", {}, h("h3", {}, t("issue.nextStep")),
          h("p", {}, issue.suggestion || (detector && detector.nextStep) || t("issue.noNextStep")),
          detector ? h("p.muted.small", {}, detector.description) : null),
        reviewSlot,
        issue.history ? h("section.card", {}, h("h3", {}, t("issue.history")), historySlot) : null)));
  update({});

  loadContext(t, client, issue, ctx.me.canReadPrivate).then((nodes) => fill(contextSlot, nodes))
    .catch((error) => fill(contextSlot, errorBox(error)));
  return client.subscribe(ISSUE_SUBSCRIPTION, { where: { subjectCode: { _eq: issue.subjectCode } }, private: ctx.me.canReadPrivate }, {
    next: (event) => { if (event.issueFlagged.id === issue.id) update(event.issueFlagged); },
  });
}

function placeLine(t, issue) {
  const station = issue.station;
  if (!station) return issue.region ? `${issue.region.name} (${t(`level.${issue.region.level}`)})` : "";
  const village = station.village;
  const district = village.parent;
  return h("span", {}, h("a", { href: `#/station/${station.code}` }, `TPS ${station.number ?? ""}`), ", ",
    h("a", { href: `#/region/${village.code}` }, village.name), ", ",
    h("a", { href: `#/region/${district.code}` }, district.name), ", ",
    h("a", { href: `#/region/${district.parent.code}` }, district.parent.name),
    issue.contest ? ` · ${issue.contest.code}` : "");
}

/** Revisions and peers, fetched after the page is drawn: the chart may need several pages. */
async function loadContext(t, client, issue, canReadPrivate) {
  if (!issue.station || !issue.contest) return [];
  const village = issue.station.village;
  const district = village.parent;
  const [context, peers] = await Promise.all([
    client.request(CONTEXT_QUERY, { station: issue.station.code, contest: issue.contest.code,
      village: village.code, district: district.code, private: canReadPrivate }),
    stationsWithin(client, district.code, issue.contest.code),
  ]);
  const measures = peerMeasures(t, issue, context, peers);
  return [
    h("h4", {}, t("chart.title")),
    h("p.words", { "data-testid": "evidence-words" }, peerSentence(t, measures)),
    peerChart(t, measures),
    h("h4", {}, t("issue.revisions")),
    revisionsTable(t, context.station.revisions, issue.contest.candidates, issue.tally),
  ];
}

async function stationsWithin(client, within, contest) {
  const stations = [];
  let after = null;
  for (let page = 0; page < MAX_PEER_PAGES; page++) {
    const data = await client.request(PEERS_QUERY, { within, contest, after });
    stations.push(...data.stations.nodes);
    if (!data.stations.pageInfo.hasNextPage) break;
    after = data.stations.pageInfo.endCursor;
  }
  return stations;
}

function shareOf(tally, number) {
  if (!tally) return null;
  const total = tally.votes.reduce((sum, v) => sum + (v.votes || 0), 0);
  const vote = tally.votes.find((v) => v.number === number);
  return total && vote && vote.votes !== null ? vote.votes / total : null;
}

/** Turnout and each candidate's share: this station, its village's and district's stations and totals. */
function peerMeasures(t, issue, context, peers) {
  const villageCode = issue.station.village.code;
  const others = peers.filter((s) => s.code !== issue.station.code && s.tally);
  const inVillage = others.filter((s) => s.code.startsWith(villageCode + "."));
  const agg = (region, pick) => (region && region.results ? pick(region.results) : null);
  const measures = [{
    label: t("fig.turnout"), station: issue.tally ? issue.tally.turnout : null,
    village: agg(context.village, (r) => r.turnout), district: agg(context.district, (r) => r.turnout),
    villagePeers: inVillage.map((s) => s.tally.turnout), districtPeers: others.map((s) => s.tally.turnout),
  }];
  for (const candidate of issue.contest.candidates) {
    const share = (r) => (r.candidates.find((c) => c.number === candidate.number) || {}).share ?? null;
    measures.push({
      label: `${t("candidate")} ${candidate.number}`, station: shareOf(issue.tally, candidate.number),
      village: agg(context.village, share), district: agg(context.district, share),
      villagePeers: inVillage.map((s) => shareOf(s.tally, candidate.number)),
      districtPeers: others.map((s) => shareOf(s.tally, candidate.number)),
    });
  }
  return measures;
}

/** The chart in words: where the station stands against its village and district. */
function peerSentence(t, measures) {
  return measures.map((m) => t("chart.sentence", { measure: m.label, station: pct(m.station),
    village: pct(m.village), district: pct(m.district) })).join(" ");
}

function revisionsTable(t, revisions, candidates, current) {
  if (!revisions.length) return h("p.muted", {}, t("issue.noRevisions"));
  return h("table.data.revisions", {},
    h("thead", {}, h("tr", {}, ["revision.n", "revision.submitted", "revision.source", "revision.changes"]
      .map((key) => h("th", {}, t(key))))),
    h("tbody", {}, revisions.map((rev, i) => {
      const diff = i ? changes(revisions[i - 1], rev, candidates) : [];
      const isCurrent = current && rev.submissionId === current.submissionId;
      return h("tr", { class: isCurrent ? "current" : "" },
        h("td", {}, `${i + 1}`, isCurrent ? h("span.badge.tag", {}, t("revision.judged")) : null),
        h("td.nowrap", {}, when(rev.submittedAt), h("div.muted.small", {}, rev.submissionId)),
        h("td", {}, rev.source || "–", h("div.muted.small", {}, rev.actor || "")),
        h("td", {}, i === 0 ? h("span.muted", {}, t("revision.first"))
          : diff.length ? h("ul.diff", {}, diff.map((c) => h("li", {}, h("span.diff-field", {}, fieldLabel(t, c.field)), " ",
            h("del", {}, num(c.from)), " → ", h("ins", {}, num(c.to)))))
            : h("span.muted", {}, t("revision.same")),
        rev.failedChecks.length ? h("div.small.bad", {}, rev.failedChecks.map((c) => t(`rule.${c.rule}`)).join(", ")) : null));
    })));
}

/** The detector's figures, as they came: keys in words, fractions as percentages. */
export function evidenceView(t, evidence) {
  if (evidence === null || evidence === undefined) return h("span.muted", {}, "–");
  if (Array.isArray(evidence)) {
    if (evidence.every((item) => item && typeof item === "object" && !Array.isArray(item))) {
      const keys = [...new Set(evidence.flatMap(Object.keys))];
      return h("table.data.evidence-table", {}, h("thead", {}, h("tr", {}, keys.map((k) => h("th", {}, words(k))))),
        h("tbody", {}, evidence.map((item) => h("tr", {}, keys.map((k) => h("td", {}, scalar(k, item[k])))))));
    }
    return h("span", {}, evidence.map((item) => scalar("", item)).join(", "));
  }
  if (typeof evidence === "object") {
    return h("dl.evidence", {}, Object.entries(evidence).map(([key, value]) =>
      h("div", {}, h("dt", {}, words(key)), h("dd", {}, typeof value === "object" && value !== null
        ? evidenceView(t, value) : scalar(key, value)))));
  }
  return h("span", {}, scalar("", evidence));
}

function words(key) {
  return key.replace(/_/g, " ");
}

function scalar(key, value) {
  if (typeof value === "number") {
    if (/share|turnout|rate|fraction/.test(key) && value >= 0 && value <= 1) return pct(value);
    return Number.isInteger(value) ? num(value) : value.toFixed(3);
  }
  if (Array.isArray(value)) return value.join(", ");
  if (value && typeof value === "object") return JSON.stringify(value);
  return value === null || value === undefined ? "–" : String(value);
}

function historyTable(t, history) {
  return h("ol.history", { "data-testid": "history" }, history.map((event) => h("li", {},
    h("div", {}, h("strong", {}, t(`action.${event.action}`, {}, event.action)), " ",
      event.fromStatus ? `${t(`status.${event.fromStatus}`)} → ` : "", t(`status.${event.toStatus}`)),
    h("div.muted.small", {}, when(event.at), " · ", event.actor || "–"),
    event.note ? h("blockquote", {}, event.note) : null)));
}

function reviewPanel(t, client, issue, update) {
  const note = h("textarea", { name: "note", rows: 3, placeholder: t("review.notePlaceholder") });
  const message = h("p.small", { role: "status" });
  const act = async (action, button) => {
    button.disabled = true;
    try {
      const data = await client.request(REVIEW_MUTATION, { input: { id: issue.id, action, note: note.value || null } });
      const result = data.reviewIssue;
      if (result.__typename === "ReviewRejected") fill(message, h("span.bad", {}, result.message));
      else update(result.issue);
    } catch (error) {
      fill(message, errorBox(error));
    } finally {
      button.disabled = false;
    }
  };
  return h("section.card.review", { "data-testid": "review" }, h("h3", {}, t("review.title")),
    h("label.field.block", {}, h("span", {}, t("review.note")), note),
    h("div.actions", {}, (ACTIONS[issue.status] || []).map((action) => h(`button.action.${action.toLowerCase()}`, {
      type: "button", dataset: { action }, onclick: (e) => act(action, e.currentTarget) }, t(`review.${action}`)))),
    message);
}
