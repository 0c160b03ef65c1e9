/* Events: a server-side search of the whole history (docs/api.md §13.2): actions, an identifier, the endpoint,
 * a time range and exact param values, newest first, "Load more" following the cursor. A page stops after a
 * bounded amount of work on the server, so it can hold fewer events than asked while more may match. */
import { add, h, hashFor, notice, plural, view } from "./dom.js";
import { getJSON } from "./api.js";
import { eventRow } from "./rows.js";

const PAGE = 50;

// Kept across visits (back from an event's details shows the same search); reset at sign-out.
export const searchFilters = { actions: "", identKind: "customId", ident: "", endpoint: "", from: "", to: "", params: "", order: "time" };

/** The query string of a search, or an Error naming the line that is not `name:<JSON value>`. */
export function searchQuery(f) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  for (const action of f.actions.split(",").map((a) => a.trim()).filter(Boolean)) q.append("action", action);
  if (f.ident.trim()) q.set(f.identKind, f.ident.trim());
  if (f.endpoint.trim()) q.set("endpoint", f.endpoint.trim());
  if (f.from.trim()) q.set("from", f.from.trim());
  if (f.to.trim()) q.set("to", f.to.trim());
  for (const line of f.params.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const colon = line.indexOf(":");
    if (colon < 1) throw new Error(`Param filter "${line}" is not name:<JSON value>, e.g. mood:"happy"`);
    q.append("param", line);
  }
  if (f.order === "seq") q.set("order", "seq");
  return q;
}

/** `#/events/<action>` (a chart's legend) starts a new search for that action alone. */
export function renderSearch(action) {
  const f = searchFilters;
  if (action) {
    Object.assign(f, { actions: action, ident: "", endpoint: "", from: "", to: "", params: "" });
    history.replaceState(null, "", hashFor("events"));
  }
  const input = (id, value, props = {}) => h("input", { id, type: "search", autocomplete: "off", spellcheck: "false", value, ...props });
  const actions = input("e-actions", f.actions, { placeholder: "page.visit, product.addToCart" });
  const identKind = h("select", { id: "e-ident-kind", "aria-label": "Identifier kind" },
    ["customId", "email", "uuid", "clientId"].map((k) => h("option", { value: k }, k)));
  identKind.value = f.identKind;
  const ident = input("e-ident", f.ident);
  const endpoint = input("e-endpoint", f.endpoint, { placeholder: "/v4/events/custom" });
  const from = input("e-from", f.from, { placeholder: "2024-03-01T00:00:00Z" });
  const to = input("e-to", f.to, { placeholder: "now" });
  const params = h("textarea", { id: "e-params", rows: "2", spellcheck: "false", placeholder: 'one per line: mood:"happy"', value: f.params });
  const order = h("select", { id: "e-order" },
    h("option", { value: "time" }, "event time"), h("option", { value: "seq" }, "arrival (newest stored first)"));
  order.value = f.order;
  const field = (id, label, el, cls = "field") => h("div", { class: cls }, h("label", { for: id }, label), el);
  const form = h("form", { class: "card stack", role: "search", novalidate: true },
    h("div", { class: "grid2" },
      field("e-actions", "Actions (comma separated, exact)", actions),
      h("div", { class: "field" }, h("label", { for: "e-ident" }, "Identifier"), h("div", { class: "inline" }, identKind, ident)),
      field("e-endpoint", "Endpoint", endpoint),
      field("e-order", "Order", order),
      field("e-from", "From (ISO 8601, on event time)", from),
      field("e-to", "To", to)),
    field("e-params", "Param equals (name:JSON value)", params),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Search"),
      h("button", { type: "reset" }, "Clear")));
  const list = h("ol", { class: "rows", id: "search-rows", "aria-label": "Matching events" });
  const status = h("p", { class: "muted small", id: "search-status", role: "status" });
  const more = h("button", { type: "button", id: "search-more", hidden: true }, "Load more");
  const v = view("Events", form, status, list, h("div", { class: "buttons more" }, more));
  let cursor = null;
  let pages = 0;

  const load = async (reset) => {
    let q;
    try {
      q = searchQuery(f);
    } catch (err) {
      status.replaceChildren(notice(err.message));
      return;
    }
    if (!reset && cursor) q.set("cursor", cursor);
    more.disabled = true;
    status.textContent = "Searching…";
    try {
      const page = await getJSON(`/-/api/events?${q}`);
      if (!v.current()) return;
      if (reset) {
        list.replaceChildren();
        pages = 0;
      }
      pages += 1;
      const items = Array.isArray(page.items) ? page.items : [];
      add(list, items.map(eventRow));
      cursor = page.nextCursor || null;
      more.hidden = !cursor;
      const n = list.children.length;
      let text = `${plural(n, "event")} shown`;
      if (cursor && items.length < PAGE) text += " · this page stopped early (each page does bounded work); Load more searches on";
      else if (cursor) text += " · more match";
      else text += pages > 1 || n ? " · that is all" : "";
      status.textContent = n || cursor ? text : "No event matches.";
    } catch (err) {
      if (v.current()) status.replaceChildren(notice(err.message));
    } finally {
      more.disabled = false;
    }
  };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    Object.assign(f, {
      actions: actions.value, identKind: identKind.value, ident: ident.value, endpoint: endpoint.value,
      from: from.value, to: to.value, params: params.value, order: order.value,
    });
    load(true);
  });
  form.addEventListener("reset", () => setTimeout(() => form.requestSubmit()));
  more.addEventListener("click", () => load(false));
  load(true);
  return v.heading;
}
