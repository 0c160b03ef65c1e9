/* One row per stored event or quarantine record: the live tail, searches, timelines and the quarantine list. */
import { h, hashFor, orDash, timeEl, who } from "./dom.js";

export function eventRow(e) {
  const client = e.client || {};
  return h("li", { class: "row" },
    h("a", { href: hashFor("event", e.uuid), class: "row-link" },
      h("span", { class: "c-time" }, timeEl(e.time)),
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
        item.action ? ` ${item.action}` : ""),
      h("span", { class: "c-label", title: first ? String(first.message) : null }, first ? String(first.message) : orDash(q.reason)),
      h("span", { class: "c-who mono" }, who(item.client) || (item.clientUUID ? String(item.clientUUID) : "—")),
      h("span", { class: "c-endpoint mono muted", title: `${orDash(q.endpoint)} · ${orDash(q.reason)}` },
        `${orDash(q.endpoint)} · ${orDash(q.reason)}`)));
}

