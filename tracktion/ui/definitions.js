/* Event definitions (docs/api.md §13.3): every action with its kind, counts and the param types seen, and, once
 * opened, its volume over time (GET /-/api/stats by action, docs/api.md §13.6a). */
import { h, notice, orDash, plural, table, timeEl, view } from "./dom.js";
import { getJSON } from "./api.js";
import { OTHER, loadStats, rangePicker, stackedChart, statsWindow } from "./charts.js";

// The stats API has no action filter: one answer with the top 50 actions serves every opened definition; an
// action outside them is named as such rather than drawn wrong.
const TOP = 50;
const chartState = { range: "day" };

export function renderDefinitions() {
  const filter = h("input", { id: "d-filter", type: "search", placeholder: "action contains…", autocomplete: "off" });
  const kind = h("select", { id: "d-kind" },
    ["", "custom", "dedicated", "transaction"].map((k) => h("option", { value: k }, k || "any kind")));
  const refresh = h("button", { type: "button" }, "Refresh");
  const body = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const v = view("Event definitions",
    h("div", { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "d-filter" }, "Action"), filter),
      h("div", { class: "field" }, h("label", { for: "d-kind" }, "Kind"), kind),
      h("div", { class: "buttons" }, refresh)),
    body);
  let defs = [];
  const stats = new Map(); // range -> Promise of {w, answer}, dropped on Refresh
  const statsFor = (range) => {
    if (!stats.has(range)) {
      const w = statsWindow(range);
      const p = loadStats(w, "action", TOP).then((answer) => ({ w, answer }));
      p.catch(() => stats.delete(range));
      stats.set(range, p);
    }
    return stats.get(range);
  };
  const item = (d) => definitionItem(d, statsFor);
  const show = () => {
    const f = filter.value.trim().toLowerCase();
    const shown = defs.filter((d) => (!f || String(d.action).toLowerCase().includes(f)) && (!kind.value || d.kind === kind.value));
    body.replaceChildren(
      h("p", { class: "muted small" }, `${shown.length} of ${defs.length} actions`),
      shown.length ? h("ul", { class: "defs" }, shown.map(item)) : h("p", { class: "muted" }, "No definitions."));
  };
  const load = () => getJSON("/-/api/definitions").then((d) => {
    if (!v.current()) return;
    defs = Array.isArray(d) ? d : [];
    show();
  }).catch((err) => v.current() && body.replaceChildren(notice(err.message)));
  filter.addEventListener("input", show);
  kind.addEventListener("change", show);
  refresh.addEventListener("click", () => {
    stats.clear();
    load();
  });
  load();
  return v.heading;
}

/** The opened definition's chart: its own series from the shared answer, redrawn when the range changes. */
function actionChart(action, statsFor) {
  const holder = h("div", { class: "def-chart" }, h("p", { class: "muted small" }, "Loading…"));
  const draw = () => statsFor(chartState.range).then(({ w, answer }) => {
    const series = (answer.series || []).filter((s) => s.key === action);
    const others = (answer.series || []).some((s) => s.key === OTHER);
    holder.replaceChildren(
      series.length || !others
        ? stackedChart(series, w, { id: null, title: `${action} over time`, unit: "events" })
        : h("p", { class: "muted small" }, `Not among the ${TOP} busiest actions in this window (counted under "${OTHER}").`));
  }).catch((err) => holder.replaceChildren(notice(err.message)));
  const picker = rangePicker(chartState, () => {
    for (const p of document.querySelectorAll(".def .range")) { // every open definition follows the pick
      for (const b of p.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.range === chartState.range));
    }
    for (const d of document.querySelectorAll(".def[open]")) d.dispatchEvent(new Event("redraw"));
  });
  return { element: h("div", { class: "stack" }, picker, holder), draw };
}

export function definitionItem(d, statsFor) {
  const params = Array.isArray(d.params) ? d.params : [];
  const chart = statsFor ? actionChart(String(d.action), statsFor) : null;
  const details = h("details", { class: "def" },
    h("summary", null,
      h("span", { class: "mono strong" }, orDash(d.action)),
      h("span", { class: "badge" }, orDash(d.kind)),
      h("span", null, plural(orDash(d.eventCount), "event")),
      h("span", { class: "muted small" }, "first ", timeEl(d.firstSeen)),
      h("span", { class: "muted small" }, "last ", timeEl(d.lastSeen))),
    params.length
      ? table(["Param", "Types", "First seen", "Last seen"], params.map((p) => [
        h("span", { class: "mono" }, orDash(p.name)),
        h("span", { class: "mono" }, Array.isArray(p.types) ? p.types.join(", ") : "—"),
        timeEl(p.firstSeen), timeEl(p.lastSeen)]), `Params of ${d.action}`)
      : h("p", { class: "muted small" }, "No params besides the system params."),
    chart ? chart.element : null);
  if (chart) {
    let drawn = false;
    details.addEventListener("toggle", () => {
      if (details.open && !drawn) {
        drawn = true;
        chart.draw();
      }
    });
    details.addEventListener("redraw", () => chart.draw());
  }
  return h("li", null, details);
}
