// Progress: stations reported of total, and results, for a region and the regions below it,
// kept current by one `progress` subscription per row.
import { fill, h, hashOf, loading, num, pct } from "../dom.js";
import { RESULTS_FIELDS, candidateBars, candidateColor, contestSelect, defaultContest, figures, flash, reportedBar,
  sharesBar } from "./common.js";

const PROGRESS_QUERY = `query Progress($region: String!, $contest: String!) {
  region(code: $region) {
    code name level parent { code name level }
    results(contest: $contest) { ${RESULTS_FIELDS} }
    children { code name level results(contest: $contest) { ${RESULTS_FIELDS} } }
  }
}`;

const PROGRESS_SUBSCRIPTION = `subscription Progress($region: String!, $contest: String!) {
  progress(region: $region, contest: $contest) { ${RESULTS_FIELDS} }
}`;

export async function render(root, ctx, { params }) {
  const { t, client } = ctx;
  fill(root, loading(t));
  const contests = await ctx.loadContests();
  const contest = contests.find((c) => c.code === params.get("contest")) || defaultContest(contests);
  const regionCode = params.get("region") || (contest.region ? contest.region.code : null);
  const go = (changes) => ctx.navigate(hashOf(["progress"], { contest: contest.code, region: regionCode, ...changes }));

  let region = null;
  const results = new Map(); // region code -> Results
  const subscriptions = [];

  const load = async () => {
    const data = await client.request(PROGRESS_QUERY, { region: regionCode, contest: contest.code });
    region = data.region;
    results.set(region.code, region.results);
    for (const child of region.children) results.set(child.code, child.results);
  };

  const draw = () => fill(root,
    h("div.toolbar", {},
      contestSelect(t, contests, contest.code, (code) => {
        const chosen = contests.find((c) => c.code === code);
        ctx.navigate(hashOf(["progress"], { contest: code, region: chosen.region ? chosen.region.code : "" }));
      }),
      breadcrumb(t, region, contest, go)),
    headline(t, region, results.get(region.code)),
    childrenTable(t, ctx, region, results, contest, go));

  await load();
  draw();
  const redraw = animationFrame(() => draw());
  const resync = async () => { await load(); redraw(); };
  for (const code of [region.code, ...region.children.filter((c) => c.results).map((c) => c.code)]) {
    subscriptions.push(client.subscribe(PROGRESS_SUBSCRIPTION, { region: code, contest: contest.code }, {
      next: (data) => {
        const changed = JSON.stringify(results.get(code)) !== JSON.stringify(data.progress);
        results.set(code, data.progress);
        if (changed) {
          redraw();
          requestAnimationFrame(() => requestAnimationFrame(() => flash(root.querySelector(`[data-code="${code}"]`))));
        }
      },
      resync,
    }));
  }
  return () => subscriptions.forEach((unsubscribe) => unsubscribe());
}

/** Run fn once per animation frame at most, however many events arrive. */
function animationFrame(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; fn(); });
  };
}

function breadcrumb(t, region, contest, go) {
  const top = contest.region ? contest.region.code : null;
  const trail = [];
  if (region.parent && region.code !== top) trail.push(h("a", { href: "#", onclick: (e) => { e.preventDefault(); go({ region: region.parent.code }); } }, region.parent.name), " › ");
  trail.push(h("strong", {}, region.name));
  return h("nav.crumbs", { "aria-label": t("breadcrumb") }, trail);
}

function headline(t, region, results) {
  if (!results) return h("p.muted", {}, t("progress.notVoting"));
  const share = results.stationsTotal ? results.stationsReported / results.stationsTotal : 0;
  return h("section.card.headline", { dataset: { code: region.code } },
    h("div.headline-progress", {},
      h("h2", {}, region.name, h("span.level", {}, t(`level.${region.level}`))),
      h("p.big", {}, h("strong", { "data-testid": "reported" }, num(results.stationsReported)),
        ` ${t("progress.of")} ${num(results.stationsTotal)} ${t("progress.stationsReported")}`,
        h("span.muted", {}, ` (${pct(share)})`)),
      h("div.bar.large", {}, h("div.fill", { style: `width:${(share * 100).toFixed(1)}%` })),
      figures(t, results)),
    h("div.headline-results", {}, h("h3", {}, t("progress.results")), candidateBars(t, results)));
}

function childrenTable(t, ctx, region, results, contest, go) {
  const rows = region.children.filter((child) => results.get(child.code));
  if (!rows.length) return null;
  const open = (child) => (child.level === "REGENCY" ? go({ region: child.code })
    : ctx.navigate(hashOf(["region", child.code], { contest: contest.code })));
  return h("section.card", {},
    h("h3", {}, t(`progress.per.${rows[0].level}`)),
    h("table.data.progress-table", {},
      h("thead", {}, h("tr", {}, h("th", {}, t("region")), h("th", {}, t("progress.stations")),
        h("th.num", {}, t("fig.turnout")), h("th", {}, t("progress.shares")), h("th", {}, t("progress.leading")))),
      h("tbody", {}, rows.map((child) => {
        const r = results.get(child.code);
        const leader = [...r.candidates].sort((a, b) => b.votes - a.votes)[0];
        return h("tr.clickable", { dataset: { code: child.code }, onclick: () => open(child) },
          h("td", {}, h("a", { href: "#", onclick: (e) => e.preventDefault() }, child.name),
            h("span.code.muted", {}, child.code)),
          h("td", {}, reportedBar(t, r)),
          h("td.num", {}, pct(r.turnout)),
          h("td", {}, sharesBar(r)),
          h("td.nowrap", {}, leader && leader.votes ? [h("span.chip", { style: `background:${candidateColor(leader.number)}`,
            title: leader.name }, leader.number), pct(leader.share)] : "–"));
      }))));
}
