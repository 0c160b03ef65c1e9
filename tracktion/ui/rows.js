/* One row per stored event or quarantine record (the live tail, searches, timelines, the quarantine list), and
 * "copy as curl" for both: the request that would send the same thing again. */
import { SYSTEM_PARAMS, copyButton, h, hashFor, orDash, timeEl, who } from "./dom.js";

/** Event time, and when it differs by more than a minute the time it was received (a backfill, a late batch). */
function times(e) {
  const received = typeof e.receivedAt === "string" ? e.receivedAt : null;
  const apart = received && Math.abs(Date.parse(received) - Date.parse(e.time)) > 60000;
  return h("span", { class: "c-time" }, timeEl(e.time),
    apart ? h("span", { class: "received small", title: "Received (UTC)" }, "recv ", timeEl(received)) : null);
}

export function eventRow(e) {
  const client = e.client || {};
  return h("li", { class: "row" },
    h("a", { href: hashFor("event", e.uuid), class: "row-link" },
      times(e),
      h("span", { class: "c-action mono" }, orDash(e.action)),
      h("span", { class: "c-label", title: orDash(e.label) }, orDash(e.label)),
      h("span", { class: "c-who mono", title: who(client) || null }, who(client) || "—"),
      // §8.1 items (a profile's timeline) carry no endpoint; §13.2 items do.
      h("span", { class: "c-endpoint mono muted" }, e.endpoint ? String(e.endpoint) : "")));
}

export function quarantineRow(q) {
  const item = q.item && typeof q.item === "object" && !Array.isArray(q.item) ? q.item : {};
  const first = Array.isArray(q.errors) && q.errors[0] ? q.errors[0] : null;
  return h("li", { class: "row rejected" },
    h("a", { href: hashFor("quarantine", q.id), class: "row-link" },
      h("span", { class: "c-time" }, timeEl(q.receivedAt)),
      h("span", { class: "c-action mono" }, h("span", { class: "badge bad" }, `rejected ${orDash(q.status)}`),
        item.action ? h("span", { class: "q-action" }, item.action) : null),
      h("span", { class: "c-label", title: first ? String(first.message) : null }, first ? String(first.message) : orDash(q.reason)),
      h("span", { class: "c-who mono" }, who(item.client) || (item.clientUUID ? String(item.clientUUID) : "—")),
      h("span", { class: "c-endpoint mono muted", title: `${orDash(q.endpoint)} · ${orDash(q.reason)}` },
        `${orDash(q.endpoint)} · ${orDash(q.reason)}`)));
}

// -- copy as curl ------------------------------------------------------------------------------------

/** A POSIX shell single-quoted word: nothing inside is expanded. */
const shellQuote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;

/** The token is never copied: the command reads it from $TRACKTION_TOKEN (the only double-quoted word). */
function curl(method, path, body) {
  return [
    `curl -X ${method} ${shellQuote(location.origin + path)}`,
    `  -H "Authorization: Bearer $TRACKTION_TOKEN"`,
    "  -H 'Content-Type: application/json'",
    `  --data-raw ${shellQuote(body)}`,
  ].join(" \\\n");
}

// Endpoints that take one event as the body; an event stored through any other (a batch, a transaction) is
// sent again as a custom event, which stores the same action, label, time and params.
const SINGLE = /^\/v4\/events\/(?!batch$|ai-compat)[a-z-]+$/;

/** `POST` of the event as a caller would send it: caller params only (the server adds the system ones). */
export function eventCurl(e) {
  const single = typeof e.endpoint === "string" && SINGLE.test(e.endpoint);
  const path = single ? e.endpoint : "/v4/events/custom";
  const client = e.client || {};
  const ident = ["customId", "email", "uuid"].find((k) => typeof client[k] === "string" && client[k]);
  const params = {};
  for (const [name, value] of Object.entries(e.params || {})) if (!SYSTEM_PARAMS.has(name)) params[name] = value;
  const body = {};
  if (path === "/v4/events/custom") body.action = e.action;
  body.label = e.label;
  body.client = ident ? { [ident]: client[ident] } : { id: client.id };
  body.time = e.time;
  if (Object.keys(params).length) body.params = params;
  return curl("POST", path, JSON.stringify(body, null, 2));
}

/** The rejected request again, as it was sent (a batch item alone in a batch); masked secrets stay `***`. */
export function quarantineCurl(q) {
  const path = typeof q.endpoint === "string" && q.endpoint.startsWith("/") ? q.endpoint : "/v4/events/custom";
  let body;
  if (Object.prototype.hasOwnProperty.call(q, "item")) {
    const batch = q.itemIndex !== null && q.itemIndex !== undefined;
    body = JSON.stringify(batch ? [q.item] : q.item, null, 2);
  } else {
    body = typeof q.body === "string" ? q.body : "";
  }
  return curl(typeof q.method === "string" ? q.method : "POST", path, body);
}

/** "Copy as curl" and the command itself (folded); when the clipboard is refused the command opens, selected. */
export function curlSection(command, note) {
  const pre = h("pre", { class: "raw", id: "curl" }, command);
  const details = h("details", null, h("summary", null, "curl"), pre);
  const showIt = () => {
    details.open = true;
    getSelection().selectAllChildren(pre);
  };
  return [
    h("div", { class: "buttons" }, copyButton("Copy as curl", () => command, { id: "copy-curl" }, showIt),
      h("span", { class: "muted small" }, note)),
    details,
  ];
}
