// Tiny DOM helpers: h() builds elements, so views stay declarative without a framework.
import { locale } from "./i18n.js";

/** h("a.link", {href: "#/x"}, "text", child) -> element. Class names may follow the tag with dots. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = [el.className, value].filter(Boolean).join(" ");
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace everything inside el with children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes (numbers are fine). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function num(value) {
  if (value === null || value === undefined) return "–";
  return new Intl.NumberFormat(locale()).format(value);
}

export function pct(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return "–";
  return new Intl.NumberFormat(locale(), { style: "percent", minimumFractionDigits: digits,
    maximumFractionDigits: digits }).format(fraction);
}

export function when(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "medium" }).format(new Date(iso));
}

export function time(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(locale(), { timeStyle: "medium" }).format(new Date(iso));
}

/** Call fn at most once per `ms`, with the latest arguments (for bursts of live events). */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** The part of the location hash after "#", split into the path and its query parameters. */
export function parseHash(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

export function hashOf(parts, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString();
  return "#/" + parts.map(encodeURIComponent).join("/") + (query ? "?" + query : "");
}

/** A loading line, replaced by the view when its data arrives. */
export function loading(t) {
  return h("p.muted.loading", {}, t("loading"));
}

/** An error box with the message the API gave. */
export function errorBox(error) {
  return h("div.error", { role: "alert" }, String(error && error.message ? error.message : error));
}
