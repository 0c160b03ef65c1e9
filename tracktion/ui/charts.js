/* Volume charts from GET /-/api/stats (docs/api.md §13.6a): stacked bars over time, one colour per key.
 *
 * Plain SVG built with createElementNS, no charting library: a stacked bar chart is a few dozen lines, needs no
 * vendored file to keep up to date, and stays inside the page's CSP (no inline style, no eval). The SVG holds
 * only the bars and is stretched to the width (preserveAspectRatio none); every text (axis, legend, totals) is
 * HTML, so it stays readable at 390 px, and colours are CSS classes with a dark-mode palette in app.css. */
import { h } from "./dom.js";
import { getJSON } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const MINUTE = 60000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const OTHER = "(other)";

/** The three windows a user picks from: bucket size and number of buckets (the last one is the current). */
export const RANGES = {
  hour: { label: "Last hour", bucket: "minute", step: MINUTE, count: 60 },
  day: { label: "Last 24 hours", bucket: "hour", step: HOUR, count: 24 },
  month: { label: "Last 30 days", bucket: "day", step: DAY, count: 30 },
};

/** Bucket starts (UTC, aligned like the server's buckets) ending with the one holding `now`. */
export function statsWindow(rangeName, now = Date.now()) {
  const r = RANGES[rangeName];
  const last = Math.floor(now / r.step) * r.step;
  const starts = Array.from({ length: r.count }, (_, i) => last - (r.count - 1 - i) * r.step);
  return { ...r, starts, from: new Date(starts[0]).toISOString(), to: new Date(now).toISOString() };
}

export function statsPath(w, by, top = 10) {
  const q = new URLSearchParams({ from: w.from, to: w.to, bucket: w.bucket, by, top: String(top) });
  return `/-/api/stats?${q}`;
}

export const loadStats = (w, by, top) => getJSON(statsPath(w, by, top));

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const fmtNumber = (n) => Number(n).toLocaleString("en-US");

/** A bucket's start: "12-06" per day, "12-05 08:00" per hour (24 h span two dates), "07:42" per minute. */
function bucketLabel(ms, step) {
  const iso = new Date(ms).toISOString();
  if (step >= DAY) return iso.slice(5, 10);
  if (step >= HOUR) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(11, 16);
}

/** A stacked bar chart of `series` ([{key, total, points: [[iso, n]]}]) over the buckets of `w`; `keyLink(key)`
 * makes each legend key a link (an action opens its events). */
export function stackedChart(series, w, { id, title, unit, keyLink = null }) {
  const width = 600;
  const height = 160;
  const index = new Map(w.starts.map((ms, i) => [ms, i]));
  const stacks = w.starts.map(() => 0);
  const layers = series.map((s) => {
    const counts = w.starts.map(() => 0);
    for (const [iso, n] of s.points || []) {
      const i = index.get(Date.parse(iso));
      if (i !== undefined) counts[i] += Number(n) || 0;
    }
    counts.forEach((n, i) => { stacks[i] += n; });
    return { key: s.key, total: Number(s.total) || 0, counts };
  });
  const max = Math.max(1, ...stacks);
  const slot = width / w.starts.length;
  const bar = Math.max(1, slot * 0.8);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "bars", role: "img",
    "aria-label": `${title}: ${layers.map((l) => `${l.key} ${l.total}`).join(", ") || "none"}`,
  });
  for (const y of [0.25, 0.5, 0.75]) chart.append(svg("rect", { x: 0, y: height * y, width, height: 0.5, class: "grid" }));
  const base = w.starts.map(() => height);
  layers.forEach((layer, li) => {
    const cls = layer.key === OTHER ? "s-other" : `s${li % 10}`;
    layer.counts.forEach((n, i) => {
      if (!n) return;
      const hgt = (n / max) * height;
      base[i] -= hgt;
      const rect = svg("rect", {
        x: i * slot + (slot - bar) / 2, y: base[i], width: bar, height: hgt, class: cls,
        "data-key": layer.key, "data-count": n, "data-start": new Date(w.starts[i]).toISOString(),
      });
      const t = svg("title", {});
      t.textContent = `${layer.key} · ${bucketLabel(w.starts[i], w.step)} · ${n}`;
      rect.append(t);
      chart.append(rect);
    });
  });
  const total = layers.reduce((sum, l) => sum + l.total, 0);
  const legend = h("ul", { class: "legend" }, layers.map((l, li) =>
    h("li", { "data-key": l.key, "data-total": l.total },
      h("span", { class: `swatch ${l.key === OTHER ? "s-other" : `s${li % 10}`}`, "aria-hidden": "true" }),
      keyLink && l.key !== OTHER ? h("a", { class: "key mono", href: keyLink(l.key) }, l.key) : h("span", { class: "key mono" }, l.key),
      " ", h("span", { class: "num" }, fmtNumber(l.total)))));
  return h("figure", { class: "chart card", id, "data-from": w.from, "data-to": w.to, "data-bucket": w.bucket },
    h("figcaption", null, h("span", { class: "strong" }, title), " ",
      h("span", { class: "muted total", "data-total": total }, `${fmtNumber(total)} ${unit}`)),
    layers.length
      ? [
        h("div", { class: "plot" },
          h("div", { class: "y muted small" }, h("span", null, fmtNumber(max)), h("span", null, "0")),
          chart),
        h("div", { class: "x muted small" }, h("span", null, bucketLabel(w.starts[0], w.step)),
          h("span", null, `per ${w.bucket} (UTC)`), h("span", null, bucketLabel(w.starts[w.starts.length - 1], w.step))),
        legend]
      : h("p", { class: "muted small empty-chart" }, `No ${unit} in this window.`));
}

/** Range buttons (aria-pressed) calling `onPick(name)`; the chosen range is kept in `state.range`. */
export function rangePicker(state, onPick) {
  const buttons = Object.entries(RANGES).map(([name, r]) => {
    const b = h("button", { type: "button", "data-range": name, "aria-pressed": String(state.range === name) }, r.label);
    b.addEventListener("click", () => {
      state.range = name;
      for (const other of buttons) other.setAttribute("aria-pressed", String(other === b));
      onPick(name);
    });
    return b;
  });
  return h("div", { class: "buttons range", role: "group", "aria-label": "Time range" }, buttons);
}
