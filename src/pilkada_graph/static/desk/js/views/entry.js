// Entry: a clerk types one station's result form. Every pause in typing sends the unsaved form to
// `checkTally`, so it is judged by the API's own rules (one set of rules, not a copy in JavaScript);
// `submitTally` then stores it and answers with the issues the detectors raised on it.
import { debounce, errorBox, fill, h, num } from "../dom.js";
import { camel, checksList, failedColumns, fieldLabel, sections } from "../form.js";
import { contestsCovering, defaultContest, severityBadge } from "./common.js";

const CHECK_QUERY = `query Check($input: SubmitTallyInput!) {
  checkTally(input: $input) {
    failedChecks { rule fields expected actual difference message }
    errors { field message rule }
  }
}`;

const SUBMIT_MUTATION = `mutation Submit($input: SubmitTallyInput!) {
  submitTally(input: $input) {
    __typename
    ... on TallyAccepted { repeat tally { submissionId failedChecks { rule } }
      issues { id detector severity status message } }
    ... on TallyRejected { errors { field message rule } }
  }
}`;

const STATION_QUERY = `query EntryStation($code: String!) {
  station(code: $code) { code number registered village { code name parent { name parent { name } } } }
}`;

/** Now, as ISO 8601 with this computer's UTC offset (the form's time of entry). */
export function nowWithOffset(date = new Date()) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  const local = new Date(date.getTime() + offset * 60000).toISOString().slice(0, 19);
  return `${local}${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}

function newSubmissionId() {
  return `desk-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The typed form as `SubmitTallyInput`: empty fields are left out (not read). */
export function tallyInput(state, candidates) {
  const input = { submissionId: state.submissionId, stationCode: state.station, contestCode: state.contest,
    submittedAt: nowWithOffset(), source: "desk" };
  const votes = [];
  for (const field of sections(candidates).flatMap((s) => s.fields)) {
    const text = (state.values[field.column] || "").trim();
    if (text === "") continue;
    const value = Number(text);
    if (field.candidate) votes.push({ number: field.candidate.number, votes: value });
    else input[camel(field.column)] = value;
  }
  if (votes.length) input.votes = votes;
  return input;
}

/** "votes[3]" / "validVotes" (how the API names an input field) -> the form's column. */
function columnOfInputField(field) {
  const match = /^votes\[(\d+)\]$/.exec(field);
  return match ? `votes_${match[1]}` : field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export async function render(root, ctx, { params }) {
  const { t, client } = ctx;
  if (!ctx.me.canSubmit) return fill(root, h("p.notice", {}, t("entry.notAllowed")));
  const allContests = await ctx.loadContests();
  const state = { station: params.get("station") || "", contest: params.get("contest") || "",
    values: {}, submissionId: newSubmissionId(), stationInfo: null, checks: [], errors: [], sent: null };
  let sequence = 0;

  const stationInput = h("input", { name: "station", value: state.station, placeholder: "62.71.01.1001.001",
    autocomplete: "off", onchange: () => lookUpStation(stationInput.value.trim()) });
  const contestSlot = h("div");
  const formSlot = h("div.entry-form");
  const stationSlot = h("div.station-info");
  const checkSlot = h("div", { "data-testid": "entry-checks" });
  const resultSlot = h("div", { "data-testid": "entry-result", "aria-live": "polite" });
  const submit = h("button.primary", { type: "submit" }, t("entry.submit"));

  const contests = () => (state.stationInfo ? contestsCovering(allContests, state.stationInfo.code) : allContests);
  const contest = () => contests().find((c) => c.code === state.contest) || defaultContest(contests());
  const candidates = () => contest().candidates;

  const markFields = () => {
    const bad = failedColumns(state.checks);
    for (const error of state.errors) bad.add(columnOfInputField(error.field));
    for (const input of formSlot.querySelectorAll("input")) {
      input.closest(".entry-field").classList.toggle("failed", bad.has(input.name));
    }
  };

  const showChecks = () => {
    const anyTyped = Object.values(state.values).some((v) => (v || "").trim() !== "");
    fill(checkSlot,
      state.errors.length ? h("ul.checks", {}, state.errors.map((e) => h("li.check", {}, h("strong", {}, e.field), " — ", e.message))) : null,
      anyTyped && !state.errors.length ? checksList(t, state.checks) : null,
      anyTyped ? null : h("p.muted", {}, t("entry.hint")));
    markFields();
  };

  const check = debounce(async () => {
    const mine = ++sequence;
    try {
      const data = await client.request(CHECK_QUERY, { input: tallyInput({ ...state, contest: contest().code }, candidates()) });
      if (mine !== sequence) return; // a later keystroke's answer is on its way
      state.checks = data.checkTally.failedChecks;
      state.errors = data.checkTally.errors;
      showChecks();
    } catch (error) {
      fill(checkSlot, errorBox(error));
    }
  }, 150);

  const drawForm = () => {
    fill(contestSlot, h("label.field", {}, h("span", {}, t("contest")),
      h("select", { name: "contest", onchange: (e) => { state.contest = e.target.value; drawForm(); check(); } },
        contests().map((c) => h("option", { value: c.code, selected: c.code === contest().code }, c.name)))));
    fill(formSlot, sections(candidates()).map((section) => h("fieldset", {},
      h("legend", {}, t(section.title)),
      section.fields.map((field) => h("label.entry-field", {},
        h("span.label", { title: field.candidate ? field.candidate.name : "" }, h("span.ref", {}, field.ref), fieldLabel(t, field),
          field.candidate ? h("span.muted.small.cand-name", {}, field.candidate.name) : null),
        h("input", { type: "number", min: 0, step: 1, inputmode: "numeric", name: field.column,
          value: state.values[field.column] || "",
          oninput: (e) => { state.values[field.column] = e.target.value; check(); } }))))));
    showChecks();
  };

  async function lookUpStation(code) {
    state.station = code;
    state.stationInfo = null;
    if (!code) return fill(stationSlot);
    try {
      state.stationInfo = (await client.request(STATION_QUERY, { code })).station;
      const s = state.stationInfo;
      fill(stationSlot, h("p", {}, h("strong", {}, `TPS ${s.number}`), `, ${s.village.name}, ${s.village.parent.name}, `,
        s.village.parent.parent.name, h("br"), h("span.muted", {}, `${t("fig.registered")} (DPT): ${num(s.registered)}`)));
    } catch (error) {
      fill(stationSlot, errorBox(error));
    }
    drawForm();
  }

  const send = async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const input = tallyInput({ ...state, contest: contest().code }, candidates());
      const data = await client.request(SUBMIT_MUTATION, { input });
      showResult(data.submitTally);
    } catch (error) {
      fill(resultSlot, errorBox(error));
    } finally {
      submit.disabled = false;
    }
  };

  const showResult = (result) => {
    if (result.__typename === "TallyRejected") {
      state.errors = result.errors;
      showChecks();
      fill(resultSlot, h("div.result.rejected", {}, h("h4", {}, t("entry.rejected")),
        h("ul", {}, result.errors.map((e) => h("li", {}, h("strong", {}, e.field), " — ", e.message)))));
      return;
    }
    state.submissionId = newSubmissionId(); // the next send is a new revision
    fill(resultSlot, h("div.result.accepted", {},
      h("h4", {}, result.repeat ? t("entry.repeat") : t("entry.accepted"), " ", h("code", {}, result.tally.submissionId)),
      result.issues.length
        ? [h("p", {}, t("entry.issuesRaised", { n: result.issues.length })),
          h("ul.issue-list", {}, result.issues.map((issue) => h("li", {}, severityBadge(t, issue.severity), " ",
            h("a", { href: `#/issue/${encodeURIComponent(issue.id)}` }, h("code", {}, issue.detector), " ", issue.message))))]
        : h("p.ok", {}, "✓ ", t("entry.noIssues"))));
  };

  const reset = () => {
    state.values = {};
    state.checks = [];
    state.errors = [];
    fill(resultSlot);
    drawForm();
  };

  fill(root, h("form.entry", { onsubmit: send, autocomplete: "off" },
    h("section.card", {},
      h("h2", {}, t("entry.title")),
      h("div.toolbar", {}, h("label.field", {}, h("span", {}, t("station")), stationInput), contestSlot),
      stationSlot, formSlot,
      h("div.actions", {}, submit, h("button.ghost", { type: "button", onclick: reset }, t("entry.clear")))),
    h("aside.card.entry-side", {},
      h("h3", {}, t("entry.checks")), checkSlot,
      h("h3", {}, t("entry.result")), resultSlot,
      h("p.muted.small", {}, t("entry.rulesNote")))));
  drawForm();
  if (state.station) await lookUpStation(state.station);
}
