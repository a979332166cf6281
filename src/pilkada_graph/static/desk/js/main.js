// The desk console: a hash router over five screens, a header with language, live state and token.
import { fill, h, parseHash, errorBox } from "./dom.js";
import { GraphQLClient } from "./graphql.js";
import { getLang, setLang, t, LANGUAGES } from "./i18n.js";
import { storedToken, storeToken, whoAmI } from "./session.js";
import * as progress from "./views/progress.js";
import * as queue from "./views/queue.js";
import * as issue from "./views/issue.js";
import * as region from "./views/region.js";
import * as entry from "./views/entry.js";

const ROUTES = {
  progress: { view: progress.render, nav: "progress" },
  queue: { view: queue.render, nav: "queue" },
  issue: { view: issue.render, nav: "queue" },
  region: { view: region.render, nav: "region" },
  station: { view: region.renderStation, nav: "region" },
  entry: { view: entry.render, nav: "entry" },
};

// The page lives at /desk/; the API at /graphql beside it.
const graphqlUrl = new URL("../graphql", document.baseURI).href;
const client = new GraphQLClient({ url: graphqlUrl, token: storedToken });
const ctx = { client, t, me: null, contests: null, navigate: (hash) => { window.location.hash = hash; } };
let cleanup = null;
let liveState = "idle";

/** Every contest with its candidates and region, loaded once: most screens need them. */
ctx.loadContests = async () => {
  if (!ctx.contests) {
    const data = await client.request(`query Contests { contests { code name region { code name level }
      candidates { number name } } }`);
    ctx.contests = data.contests;
  }
  return ctx.contests;
};

async function refreshMe() {
  try {
    ctx.me = await whoAmI(client);
    ctx.loginError = null;
  } catch (error) {
    ctx.loginError = error;
    ctx.me = { anonymous: true, role: null, canReadPrivate: false, canSubmit: false, canReview: false };
  }
}

function navItems() {
  const items = [["progress", "nav.progress"], ["queue", "nav.queue"], ["region", "nav.region"]];
  if (ctx.me && ctx.me.canSubmit) items.push(["entry", "nav.entry"]);
  return items;
}

function roleLabel() {
  const me = ctx.me;
  if (!me) return "";
  if (me.role) return t(`role.${me.role}`);
  return me.anonymous ? t("role.anonymous") : "";
}

function tokenForm() {
  if (storedToken()) {
    return h("div.login", {},
      h("span.role", { "data-testid": "role" }, roleLabel()),
      h("button.ghost", { type: "button", onclick: () => login(null) }, t("logout")));
  }
  const input = h("input", { type: "password", name: "token", placeholder: t("token"), autocomplete: "off",
    "aria-label": t("token") });
  return h("form.login", { onsubmit: (event) => { event.preventDefault(); login(input.value.trim()); } },
    h("span.role", { "data-testid": "role" }, roleLabel()),
    input, h("button", { type: "submit" }, t("login")));
}

async function login(token) {
  storeToken(token || null);
  client.reconnect();
  await refreshMe();
  route();
}

function header(current) {
  const languages = h("select", { "aria-label": t("language"), onchange: (e) => { setLang(e.target.value); route(); } },
    LANGUAGES.map(([code, name]) => h("option", { value: code, selected: code === getLang() }, name)));
  fill(document.querySelector("#topbar"),
    h("a.brand", { href: "#/progress" }, h("span.mark", {}, "◆"), t("title")),
    h("nav", {}, navItems().map(([name, label]) =>
      h("a", { href: `#/${name}`, class: name === current ? "active" : "" }, t(label)))),
    h("div.tools", {},
      h("span.live", { class: liveState, "data-testid": "live", title: t(`live.${liveState}`) },
        h("span.dot"), t(`live.${liveState}`)),
      languages, tokenForm()),
    ctx.loginError ? h("div.banner", {}, t("login.failed"), ": ", ctx.loginError.message) : null);
  document.documentElement.lang = getLang();
  document.title = t("title");
}

async function route() {
  const { parts, params } = parseHash(window.location.hash || "#/progress");
  const name = ROUTES[parts[0]] ? parts[0] : "progress";
  const { view, nav } = ROUTES[name];
  if (cleanup) cleanup();
  cleanup = null;
  header(nav);
  const main = document.querySelector("#view");
  main.dataset.view = name;
  fill(main);
  try {
    cleanup = (await view(main, ctx, { parts: parts.slice(1), params })) || null;
  } catch (error) {
    fill(main, errorBox(error));
  }
}

client.live.onState((state) => {
  liveState = state;
  const badge = document.querySelector("[data-testid=live]");
  if (badge) {
    badge.className = `live ${state}`;
    badge.title = t(`live.${state}`);
    fill(badge, h("span.dot"), t(`live.${state}`));
  }
});

window.addEventListener("hashchange", route);
await refreshMe();
route();
