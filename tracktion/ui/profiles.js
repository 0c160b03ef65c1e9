/* Profiles: a lookup, and one profile with its identifiers and its timeline. */
import { definitionList, h, hashFor, notice, orDash, plural, timeEl, view } from "./dom.js";
import { call, describeError, getJSON } from "./api.js";
import { eventRow } from "./rows.js";

export function renderProfile(clientId) {
  const kind = h("select", { id: "p-kind", "aria-label": "Look up by" },
    h("option", { value: "id" }, "clientId"), h("option", { value: "customid" }, "customId"),
    h("option", { value: "email" }, "email"));
  const value = h("input", { id: "p-value", type: "search", autocomplete: "off", value: clientId || "" });
  const form = h("form", { class: "toolbar", role: "search" },
    h("div", { class: "field" }, h("label", { for: "p-kind" }, "Look up by"), kind),
    h("div", { class: "field grow" }, h("label", { for: "p-value" }, "Value"), value),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Show profile")));
  const body = h("div", null);
  const v = view(clientId ? `Profile ${clientId}` : "Profiles", form, body);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = value.value.trim();
    if (!q) return;
    if (kind.value === "id") {
      location.hash = hashFor("profile", q);
      return;
    }
    const r = await call("GET", `/v4/clients/by-${kind.value}/${encodeURIComponent(q)}`);
    if (r.ok && r.data) location.hash = hashFor("profile", r.data.clientId);
    else body.replaceChildren(notice(describeError(r)));
  });
  if (!clientId) {
    body.replaceChildren(h("p", { class: "muted" }, "Enter a clientId, customId or e-mail to see the profile and its events."));
    return v.heading;
  }
  body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  const id = encodeURIComponent(clientId);
  Promise.all([getJSON(`/v4/clients/${id}`), getJSON(`/v4/events/by-client/${id}?limit=200`)])
    .then(([p, events]) => {
      if (!v.current()) return;
      const list = h("ol", { class: "rows" }, events.map(eventRow));
      body.replaceChildren(
        h("div", { class: "card" }, definitionList([
          ["clientId", h("span", { class: "mono" }, orDash(p.clientId))],
          ["Primary uuid", h("span", { class: "mono" }, orDash(p.uuid))],
          ["All uuids", h("span", { class: "mono" }, Array.isArray(p.uuids) ? p.uuids.join(", ") : "—")],
          ["customId", h("span", { class: "mono" }, orDash(p.customId))],
          ["email", h("span", { class: "mono" }, orDash(p.email))],
          ["Anonymous", p.anonymous ? "yes (no e-mail)" : "no"],
          ["Created (UTC)", timeEl(p.createdAt)],
          ["Updated (UTC)", timeEl(p.updatedAt)],
        ])),
        h("h2", null, `Timeline (${plural(events.length, "event")}${events.length === 200 ? " or more" : ""}, newest first)`),
        events.length ? list : h("p", { class: "muted" }, "No events for this profile."));
    })
    .catch((err) => v.current() && body.replaceChildren(notice(err.message)));
  return v.heading;
}
