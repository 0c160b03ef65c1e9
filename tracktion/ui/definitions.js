/* Event definitions (docs/api.md §13.3): every action with its kind, counts and the param types seen. */
import { h, notice, orDash, plural, table, timeEl, view } from "./dom.js";
import { getJSON } from "./api.js";

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
  const show = () => {
    const f = filter.value.trim().toLowerCase();
    const shown = defs.filter((d) => (!f || String(d.action).toLowerCase().includes(f)) && (!kind.value || d.kind === kind.value));
    body.replaceChildren(
      h("p", { class: "muted small" }, `${shown.length} of ${defs.length} actions`),
      shown.length ? h("ul", { class: "defs" }, shown.map(definitionItem)) : h("p", { class: "muted" }, "No definitions."));
  };
  const load = () => getJSON("/-/api/definitions").then((d) => {
    if (!v.current()) return;
    defs = Array.isArray(d) ? d : [];
    show();
  }).catch((err) => v.current() && body.replaceChildren(notice(err.message)));
  filter.addEventListener("input", show);
  kind.addEventListener("change", show);
  refresh.addEventListener("click", load);
  load();
  return v.heading;
}

export function definitionItem(d) {
  const params = Array.isArray(d.params) ? d.params : [];
  return h("li", null, h("details", { class: "def" },
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
      : h("p", { class: "muted small" }, "No params besides the system params.")));
}
