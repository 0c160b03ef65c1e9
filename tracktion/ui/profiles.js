/* Profiles: the newest first with an identifier-prefix search (GET /-/api/profiles), and one profile with its
 * identifiers and its timeline (GET /-/api/events?clientId=, newest first, "Load more"). */
import { add, definitionList, h, hashFor, link, notice, orDash, timeEl, view } from "./dom.js";
import { getJSON } from "./api.js";
import { eventRow } from "./rows.js";

const PAGE = 50;
export const profileFilters = { prefix: "" };

/** A list that follows `nextCursor` with a "Load more" button; `load(true)` starts over. */
function pagedList(v, { list, status, more, path, row, empty }) {
  let cursor = null;
  const load = async (reset) => {
    const url = path();
    if (!reset && cursor) url.searchParams.set("cursor", cursor);
    more.disabled = true;
    try {
      const page = await getJSON(url.pathname + url.search);
      if (!v.current()) return;
      if (reset) list.replaceChildren();
      add(list, (Array.isArray(page.items) ? page.items : []).map(row));
      cursor = page.nextCursor || null;
      more.hidden = !cursor;
      status.replaceChildren(list.children.length ? "" : h("p", { class: "muted" }, empty));
    } catch (err) {
      if (v.current()) status.replaceChildren(notice(err.message));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", () => load(false));
  return load;
}

function profileRow(p) {
  const name = p.customId || p.email || p.uuid || `#${p.clientId}`;
  return h("li", { class: "row" },
    h("a", { href: hashFor("profile", p.clientId), class: "row-link profile-link" },
      h("span", { class: "c-time" }, timeEl(p.createdAt)),
      h("span", { class: "c-action mono" }, String(name)),
      h("span", { class: "c-label mono" }, p.email && p.email !== name ? p.email : ""),
      h("span", { class: "c-who mono muted" }, orDash(p.uuid)),
      h("span", { class: "c-endpoint mono muted" }, `clientId ${orDash(p.clientId)}`)));
}

export function renderProfile(clientId) {
  return clientId ? renderOneProfile(clientId) : renderProfiles();
}

function renderProfiles() {
  const prefix = h("input", { id: "p-prefix", type: "search", autocomplete: "off", spellcheck: "false", value: profileFilters.prefix, placeholder: "customId, e-mail or uuid prefix" });
  const form = h("form", { class: "toolbar", role: "search" },
    h("div", { class: "field grow" }, h("label", { for: "p-prefix" }, "Identifier starts with"), prefix),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Search")));
  const list = h("ol", { class: "rows", id: "profile-rows", "aria-label": "Profiles, newest first" });
  const status = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const more = h("button", { type: "button", id: "profiles-more", hidden: true }, "Load more");
  const v = view("Profiles", form, status, list, h("div", { class: "buttons more" }, more));
  const load = pagedList(v, {
    list, status, more, row: profileRow, empty: "No profile matches.",
    path: () => {
      const url = new URL("/-/api/profiles", location.origin);
      url.searchParams.set("limit", String(PAGE));
      if (profileFilters.prefix) url.searchParams.set("prefix", profileFilters.prefix);
      return url;
    },
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    profileFilters.prefix = prefix.value.trim();
    load(true);
  });
  load(true);
  return v.heading;
}

function renderOneProfile(clientId) {
  const card = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const list = h("ol", { class: "rows", id: "timeline-rows", "aria-label": "Timeline, newest first" });
  const status = h("div", null);
  const more = h("button", { type: "button", id: "timeline-more", hidden: true }, "Load more");
  const v = view(`Profile ${clientId}`, h("p", null, link("profile", null, "← Profiles")), card,
    h("h2", null, "Timeline (newest first)"), status, list, h("div", { class: "buttons more" }, more));
  getJSON(`/v4/clients/${encodeURIComponent(clientId)}`).then((p) => {
    if (!v.current()) return;
    card.replaceChildren(h("div", { class: "card" }, definitionList([
      ["clientId", h("span", { class: "mono" }, orDash(p.clientId))],
      ["Primary uuid", h("span", { class: "mono" }, orDash(p.uuid))],
      ["All uuids", h("span", { class: "mono" }, Array.isArray(p.uuids) ? p.uuids.join(", ") : "—")],
      ["customId", h("span", { class: "mono" }, orDash(p.customId))],
      ["email", h("span", { class: "mono" }, orDash(p.email))],
      ["Anonymous", p.anonymous ? "yes (no e-mail)" : "no"],
      ["Created (UTC)", timeEl(p.createdAt)],
      ["Updated (UTC)", timeEl(p.updatedAt)],
    ])));
  }).catch((err) => v.current() && card.replaceChildren(notice(err.message)));
  const load = pagedList(v, {
    list, status, more, row: eventRow, empty: "No events for this profile.",
    path: () => {
      const url = new URL("/-/api/events", location.origin);
      url.searchParams.set("clientId", clientId);
      url.searchParams.set("limit", String(PAGE));
      return url;
    },
  });
  load(true);
  return v.heading;
}

