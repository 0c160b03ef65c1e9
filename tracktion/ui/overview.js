/* Overview, the home view: events over time stacked by action (top 10 + "(other)") and rejections over time by
 * reason, for the last hour, day or 30 days, from per-bucket counters (GET /-/api/stats, docs/api.md §13.6a). */
import { h, hashFor, link, notice, view } from "./dom.js";
import { loadStats, rangePicker, stackedChart, statsWindow } from "./charts.js";

export const overviewState = { range: "day" };
const REFRESH_MS = 30000;

export function renderOverview() {
  const charts = h("div", { class: "charts" }, h("p", { class: "muted" }, "Loading…"));
  const v = view("Overview",
    h("p", { class: "muted" }, "How many events were stored and how many requests were rejected, by the time they",
      " arrived. Rows: ", link("live", null, "Live"), " · ", link("events", null, "search the history"), " · ",
      link("quarantine", null, "why something was rejected"), "."),
    rangePicker(overviewState, () => draw()), charts);
  const draw = async () => {
    const w = statsWindow(overviewState.range);
    charts.setAttribute("aria-busy", "true");
    try {
      const [events, rejections] = await Promise.all([loadStats(w, "action", 10), loadStats(w, "reason", 10)]);
      if (!v.current()) return;
      charts.replaceChildren(
        stackedChart(events.series || [], w, {
          id: "chart-events", title: "Events by action", unit: "events", keyLink: (action) => hashFor("events", action),
        }),
        stackedChart(rejections.series || [], w, { id: "chart-rejections", title: "Rejections by reason", unit: "rejections" }));
    } catch (err) {
      if (v.current()) charts.replaceChildren(notice(err.message));
    } finally {
      charts.removeAttribute("aria-busy");
    }
  };
  draw();
  // Redrawn every 30 s while shown (a hidden tab skips its turns); stops once another view replaced this one.
  const timer = setInterval(() => {
    if (!v.current()) clearInterval(timer);
    else if (document.visibilityState === "visible") draw();
  }, REFRESH_MS);
  return v.heading;
}
