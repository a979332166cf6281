// The peer chart: for each measure (turnout, each candidate's share), every station of the
// district as a grey dot, the village's stations in blue, the village and district totals as
// ticks, and this station in red. Drawn as inline SVG: no library, no canvas.
import { h, pct, svg } from "./dom.js";

const WIDTH = 680;
const LABEL = 150;
const RIGHT = 64;
const ROW = 38;
const TOP = 22;

function x(value) {
  return LABEL + Math.max(0, Math.min(1, value)) * (WIDTH - LABEL - RIGHT);
}

/** A deterministic jitter so that dots at the same value do not hide each other. */
function jitter(i) {
  return ((i * 7919) % 13) / 12 - 0.5;
}

function axis(height) {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return ticks.map((tick) => svg("g", { class: "tick" },
    svg("line", { x1: x(tick), x2: x(tick), y1: TOP - 6, y2: height - 8 }),
    svg("text", { x: x(tick), y: TOP - 10, "text-anchor": "middle" }, pct(tick, 0))));
}

function dots(values, y, spread, className, radius) {
  return values.filter((v) => v !== null && v !== undefined)
    .map((v, i) => svg("circle", { class: className, cx: x(v), cy: y + jitter(i) * spread, r: radius }));
}

function tick(value, y, className, title) {
  if (value === null || value === undefined) return null;
  return svg("line", { class: className, x1: x(value), x2: x(value), y1: y - 13, y2: y + 13 }, svg("title", {}, title));
}

function row(measure, index, t) {
  const y = TOP + index * ROW + ROW / 2;
  const station = measure.station;
  return svg("g", { class: "measure" },
    svg("line", { class: "track", x1: x(0), x2: x(1), y1: y, y2: y }),
    svg("text", { class: "label", x: LABEL - 10, y: y + 4, "text-anchor": "end" }, measure.label),
    dots(measure.districtPeers, y, 16, "peer-district", 2.6),
    dots(measure.villagePeers, y, 10, "peer-village", 3.6),
    tick(measure.district, y, "agg-district", `${t("chart.district")} ${pct(measure.district)}`),
    tick(measure.village, y, "agg-village", `${t("chart.village")} ${pct(measure.village)}`),
    station === null || station === undefined ? null : [
      svg("circle", { class: "station", cx: x(station), cy: y, r: 6 }, svg("title", {}, pct(station))),
      svg("text", { class: "value", x: WIDTH - RIGHT + 8, y: y + 4 }, pct(station)),
    ]);
}

function legend(t, y) {
  const items = [
    ["station", t("chart.station")], ["peer-village", t("chart.villagePeers")],
    ["peer-district", t("chart.districtPeers")], ["agg-village", t("chart.village")],
    ["agg-district", t("chart.district")],
  ];
  let offset = LABEL;
  return items.map(([className, label]) => {
    const at = offset;
    offset += 22 + label.length * 6.4;
    const mark = className.startsWith("agg")
      ? svg("line", { class: className, x1: at, x2: at, y1: y - 7, y2: y + 7 })
      : svg("circle", { class: className, cx: at, cy: y, r: className === "station" ? 5 : 3.5 });
    return svg("g", { class: "legend" }, mark, svg("text", { x: at + 9, y: y + 4 }, label));
  });
}

/**
 * @param measures [{label, station, village, district, villagePeers: number[], districtPeers: number[]}]
 */
export function peerChart(t, measures) {
  const height = TOP + measures.length * ROW + 34;
  return h("figure.chart", {},
    svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: "100%", role: "img",
      "aria-label": t("chart.title") },
    axis(TOP + measures.length * ROW + 6),
    measures.map((m, i) => row(m, i, t)),
    legend(t, height - 12)),
    h("figcaption.muted", {}, t("chart.caption")));
}
