/* One event in full: identifiers, every param with its JSON type, the raw item (docs/api.md §13.2). */
import { SYSTEM_PARAMS, definitionList, h, jsonType, link, notice, orDash, pretty, table, timeEl, view } from "./dom.js";
import { getJSON } from "./api.js";
import { curlSection, eventCurl } from "./rows.js";

// Where "←" leads: the list the event was opened from (set by app.js on every other view), Live by default.
const TITLES = { live: "Live events", events: "Events", profile: "Profile", destinations: "Destination", quarantine: "Quarantine" };
export const cameFrom = { name: "live", arg: "" };
/** The list an event page belongs to: its back link, and the nav entry shown as current. */
export const backView = () => (TITLES[cameFrom.name] ? cameFrom : { name: "live", arg: "" });

export function renderEvent(uuid) {
  const body = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const back = backView();
  const v = view("Event", h("p", null, link(back.name, back.arg || null, `← ${TITLES[back.name]}`)), body);
  getJSON(`/-/api/events/${encodeURIComponent(uuid)}`).then((e) => {
    if (!v.current()) return;
    v.heading.textContent = `Event ${e.action}`;
    body.replaceChildren(eventDetails(e));
  }).catch((err) => v.current() && body.replaceChildren(notice(err.message)));
  return v.heading;
}

export function eventDetails(e) {
  const client = e.client || {};
  const params = e.params && typeof e.params === "object" ? e.params : {};
  const names = Object.keys(params).sort((a, b) =>
    (SYSTEM_PARAMS.has(a) - SYSTEM_PARAMS.has(b)) || a.localeCompare(b));
  const paramRows = names.map((name) => [
    h("span", { class: "mono" }, name,
      SYSTEM_PARAMS.has(name) ? [" ", h("span", { class: "badge sys", title: "Set by the server (§7)" }, "system")] : null),
    h("span", { class: "muted" }, jsonType(params[name])),
    h("pre", { class: "value" }, pretty(params[name])),
  ]);
  const clientId = client.id;
  return h("div", { class: "stack" },
    h("div", { class: "card" },
      definitionList([
        ["Action", h("span", { class: "mono" }, orDash(e.action))],
        ["Time (UTC)", timeEl(e.time)],
        ["Received (UTC)", timeEl(e.receivedAt)],
        ["Label", orDash(e.label)],
        ["Event UUID", h("span", { class: "mono" }, orDash(e.uuid))],
        ["Endpoint", h("span", { class: "mono" }, orDash(e.endpoint))],
        ["Kind", orDash(e.kind)],
        ["Sequence", orDash(e.seq)],
      ])),
    curlSection(eventCurl(e), "sends this event again; the token is read from $TRACKTION_TOKEN"),
    h("h2", null, "Client"),
    h("div", { class: "card" },
      definitionList([
        ["clientId", clientId !== null && clientId !== undefined ? link("profile", clientId, String(clientId)) : "—"],
        ["uuid", h("span", { class: "mono" }, orDash(client.uuid))],
        ["customId", h("span", { class: "mono" }, orDash(client.customId))],
        ["email", h("span", { class: "mono" }, orDash(client.email))],
      ])),
    h("h2", null, "Params"),
    h("p", { class: "muted small" }, "Params marked ", h("span", { class: "badge sys" }, "system"),
      " are injected by the server on every stored event; the others are what the caller sent."),
    table(["Param", "Type", "Value"], paramRows, "Event params"),
    h("details", null, h("summary", null, "Raw JSON"), h("pre", { class: "raw" }, JSON.stringify(e, null, 2))));
}
