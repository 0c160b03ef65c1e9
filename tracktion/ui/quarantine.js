/* The quarantine (docs/api.md §13.4): every request or item that was not stored, and why. */
import { QUARANTINE_REASONS, add, definitionList, h, hashFor, link, notice, orDash, pretty, table, timeEl, twoClickButton, view } from "./dom.js";
import { call, describeError, getJSON } from "./api.js";
import { curlSection, quarantineCurl, quarantineRow } from "./rows.js";

export const quarantineFilters = { endpoint: "", reason: "" };

export function renderQuarantine(id) {
  if (id) return renderQuarantineRecord(id);
  const endpoint = h("input", { id: "q-endpoint", type: "search", placeholder: "/v4/events/custom", autocomplete: "off", value: quarantineFilters.endpoint });
  const reason = h("select", { id: "q-reason" },
    h("option", { value: "" }, "any reason"), QUARANTINE_REASONS.map((r) => h("option", { value: r }, r)));
  reason.value = quarantineFilters.reason;
  const form = h("form", { class: "toolbar", role: "search" },
    h("div", { class: "field grow" }, h("label", { for: "q-endpoint" }, "Endpoint"), endpoint),
    h("div", { class: "field" }, h("label", { for: "q-reason" }, "Reason"), reason),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Apply")));
  const list = h("ol", { class: "rows", id: "quarantine-rows" });
  const status = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const v = view("Quarantine",
    h("p", { class: "muted" }, "Every request or item that was not stored as an event: when, where, why, and exactly what was sent."),
    form, status, list, more);
  let cursor = null;
  const load = async (reset) => {
    const q = new URLSearchParams({ limit: "50" });
    if (quarantineFilters.endpoint) q.set("endpoint", quarantineFilters.endpoint);
    if (quarantineFilters.reason) q.set("reason", quarantineFilters.reason);
    if (!reset && cursor) q.set("cursor", cursor);
    try {
      const page = await getJSON(`/-/api/quarantine?${q}`);
      if (!v.current()) return;
      if (reset) list.replaceChildren();
      add(list, (page.items || []).map(quarantineRow));
      cursor = page.nextCursor || null;
      more.hidden = !cursor;
      status.replaceChildren(list.children.length ? "" : h("p", { class: "muted" }, "Nothing in the quarantine."));
    } catch (err) {
      if (v.current()) status.replaceChildren(notice(err.message));
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    quarantineFilters.endpoint = endpoint.value.trim();
    quarantineFilters.reason = reason.value;
    load(true);
  });
  more.addEventListener("click", () => load(false));
  load(true);
  return v.heading;
}

export function renderQuarantineRecord(id) {
  const body = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const v = view("Rejected request", h("p", null, link("quarantine", null, "← Quarantine")), body);
  getJSON(`/-/api/quarantine/${encodeURIComponent(id)}`).then((q) => {
    if (!v.current()) return;
    const errors = Array.isArray(q.errors) ? q.errors : [];
    const cred = q.credential && typeof q.credential === "object" ? q.credential : {};
    const hasItem = Object.prototype.hasOwnProperty.call(q, "item");
    const sent = hasItem ? pretty(q.item === undefined ? null : q.item) : orDash(q.body);
    const delStatus = h("span", { class: "small", role: "status" });
    const del = twoClickButton({}, "Delete record", "Click again to delete", async () => {
      const r = await call("DELETE", `/-/api/quarantine/${encodeURIComponent(id)}`);
      if (r.status === 204) location.hash = hashFor("quarantine");
      else delStatus.textContent = describeError(r);
    });
    body.replaceChildren();
    add(body, [
      h("div", { class: "card" }, definitionList([
        ["Received (UTC)", timeEl(q.receivedAt)],
        ["Endpoint", h("span", { class: "mono" }, `${orDash(q.method)} ${orDash(q.endpoint)}`)],
        ["Reason", orDash(q.reason)],
        ["Status answered", orDash(q.status)],
        ["Batch item", q.itemIndex === null || q.itemIndex === undefined ? "— (whole body)" : `#${q.itemIndex}`],
        ["Request id", h("span", { class: "mono" }, orDash(q.requestId))],
        ["Credential", `${orDash(cred.kind)} key ${orDash(cred.keyId)}`],
        ["Record id", h("span", { class: "mono" }, orDash(q.id))],
      ])),
      h("h2", null, "Errors returned to the caller"),
      errors.length
        ? table(["Code", "Field", "Message", "Rejected value"], errors.map((e) => [
          h("span", { class: "mono" }, orDash(e.code)), h("span", { class: "mono" }, orDash(e.field)),
          orDash(e.message), h("span", { class: "mono" }, e.rejectedValue === null ? "null" : orDash(e.rejectedValue))]),
        "Errors")
        : h("p", { class: "muted" }, "No error entries (accepted with 202 but not stored)."),
      h("h2", null, hasItem ? "Item as sent" : "Body as sent"),
      !hasItem && q.bodyTruncated ? notice("Only the first 64 KiB of the body were kept.", "info") : null,
      h("pre", { class: "raw", id: "as-sent" }, sent),
      h("p", { class: "muted small" }, "Event salts and params.apiKey are shown as ***."),
      curlSection(quarantineCurl(q), "sends this request again as it was sent"),
      h("div", { class: "buttons" }, del, delStatus)]);
  }).catch((err) => v.current() && body.replaceChildren(notice(err.message)));
  return v.heading;
}
