/* The live tail (docs/api.md §13.5): the newest arrivals, then every committed write as it happens, read from the
 * server-sent event stream with fetch() (EventSource cannot send an Authorization header). */
import { $, add, claimView, h, link, main } from "./dom.js";
import { call, hooks, session } from "./api.js";
import { eventRow, quarantineRow } from "./rows.js";

const MAX_ROWS = 500; // rows kept in the live tail (and events held back while paused)
export const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15000;
const STALL_MS = 45000; // the server pings every 15 s: three missed pings = a dead connection
const STABLE_MS = 10000; // a connection that lived this long resets the backoff


export const live = {
  section: null, list: null, counter: null, empty: null, pauseButton: null,
  rows: new Map(), // "e:<uuid>" | "q:<id>" -> <li>
  data: new WeakMap(), // <li> -> {kind, item}
  paused: false, pending: [],
  filters: { action: "", ident: "", rejected: true },
  lastId: null, controller: null, retryTimer: 0, stallTimer: 0, backoff: RETRY_FIRST_MS, connectedAt: 0,
  state: "idle", reason: "", serverRetryMs: 0,
  generation: 0, // bumped by start/stop: a slow first page from an old session is dropped

  build() {
    const action = h("input", { id: "f-action", type: "search", placeholder: "e.g. page.visit", autocomplete: "off" });
    const ident = h("input", { id: "f-ident", type: "search", placeholder: "clientId, uuid, customId, e-mail", autocomplete: "off" });
    const rejected = h("input", { id: "f-rejected", type: "checkbox", checked: true });
    this.pauseButton = h("button", { type: "button", id: "pause", "aria-pressed": "false" }, "Pause");
    const clear = h("button", { type: "button", id: "clear" }, "Clear");
    const onFilter = () => {
      this.filters = { action: action.value.trim().toLowerCase(), ident: ident.value.trim().toLowerCase(), rejected: rejected.checked };
      for (const li of this.rows.values()) li.hidden = !this.matches(li);
      this.count();
    };
    action.addEventListener("input", onFilter);
    ident.addEventListener("input", onFilter);
    rejected.addEventListener("change", onFilter);
    this.pauseButton.addEventListener("click", () => this.setPaused(!this.paused));
    clear.addEventListener("click", () => this.reset());
    this.counter = h("p", { class: "muted small", id: "live-count" });
    this.list = h("ol", { class: "rows", id: "live-rows", "aria-label": "Events, newest first" });
    this.empty = h("div", { class: "empty" },
      h("p", null, "Waiting for events… New ones appear here at the top as soon as they are stored."),
      h("p", { class: "muted small" }, "Send one with ", link("send", null, "the test form"),
        " or from your app; rejected requests show up too (marked ", h("span", { class: "badge bad" }, "rejected"), ")."));
    const heading = h("h1", { tabindex: "-1" }, "Live events");
    this.section = h("section", { class: "view", id: "live" },
      heading,
      h("div", { class: "toolbar" },
        h("div", { class: "field" }, h("label", { for: "f-action" }, "Action"), action),
        h("div", { class: "field" }, h("label", { for: "f-ident" }, "Identifier"), ident),
        h("div", { class: "field check" }, rejected, h("label", { for: "f-rejected" }, "Show rejected")),
        h("div", { class: "buttons" }, this.pauseButton, clear)),
      this.counter, this.empty, this.list);
    this.heading = heading;
    this.count();
  },

  matches(li) {
    const { kind, item } = this.data.get(li);
    const f = this.filters;
    if (kind === "quarantine" && !f.rejected) return false;
    const body = kind === "quarantine" ? (item.item && typeof item.item === "object" ? item.item : {}) : item;
    if (f.action) {
      const action = String(body.action || "").toLowerCase();
      if (!action.includes(f.action)) return false;
    }
    if (f.ident) {
      const client = body.client && typeof body.client === "object" ? body.client : {};
      const values = [client.id, client.uuid, client.customId, client.email, body.clientUUID]
        .filter((v) => v !== null && v !== undefined).map((v) => String(v).toLowerCase());
      if (!values.some((v) => v.includes(f.ident))) return false;
    }
    return true;
  },

  count() {
    if (!this.counter) return;
    const total = this.rows.size;
    let shown = 0;
    for (const li of this.rows.values()) if (!li.hidden) shown += 1;
    const paused = this.paused ? ` · paused, ${this.pending.length} waiting` : "";
    this.counter.textContent = `${shown} shown of ${total} kept (at most ${MAX_ROWS})${paused}`;
    this.empty.hidden = total > 0;
  },

  setPaused(paused) {
    this.paused = paused;
    this.pauseButton.setAttribute("aria-pressed", String(paused));
    this.pauseButton.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      const pending = this.pending;
      this.pending = [];
      for (const [kind, item] of pending) this.insert(kind, item, true);
    }
    this.count();
    this.showStatus();
  },

  reset() {
    this.rows.clear();
    this.pending = [];
    if (this.list) {
      this.list.replaceChildren();
      this.count();
    }
  },

  /** A stored event or quarantine record from the stream (live) or the first page (initial). */
  receive(kind, item) {
    if (!item || typeof item !== "object") return;
    if (this.paused) {
      this.pending.push([kind, item]);
      if (this.pending.length > MAX_ROWS) this.pending.shift();
      this.count();
      this.showStatus();
      return;
    }
    this.insert(kind, item, true);
  },

  insert(kind, item, atTop) {
    const key = kind === "event" ? `e:${item.uuid}` : `q:${item.id}`;
    const old = this.rows.get(key);
    if (old) old.remove(); // an overwritten event (same UUID, §3.7) moves to the top
    const li = kind === "event" ? eventRow(item) : quarantineRow(item);
    if (atTop) li.classList.add("fresh"); // a short highlight for rows that arrive live
    this.data.set(li, { kind, item });
    this.rows.delete(key);
    this.rows.set(key, li);
    li.hidden = !this.matches(li);
    if (atTop) this.list.prepend(li);
    else this.list.append(li);
    while (this.rows.size > MAX_ROWS) {
      const [oldestKey, oldest] = this.rows.entries().next().value;
      this.rows.delete(oldestKey);
      oldest.remove();
    }
    this.count();
  },

  // -- the stream: fetch() + a ReadableStream reader, because EventSource cannot send Authorization.

  async start() {
    if (!this.section) this.build();
    this.stop();
    this.reset();
    this.lastId = null;
    this.backoff = RETRY_FIRST_MS;
    const started = ++this.generation;
    // The latest arrivals first (`order=seq`, not event time: a backfill of 2020 events is the newest thing
    // that happened), so the page is not empty; the stream then resumes after the highest seq among them.
    const r = await call("GET", "/-/api/events?order=seq&limit=100");
    if (started !== this.generation) return;
    if (r.ok && r.data && Array.isArray(r.data.items)) {
      const items = r.data.items.slice().sort((a, b) => (b.seq || 0) - (a.seq || 0));
      for (const item of items) this.insert("event", item, false);
      const maxSeq = items.reduce((m, e) => Math.max(m, Number(e.seq) || 0), 0);
      // No stored event yet: "0" replays anything stored between this read and the connection.
      this.lastId = String(maxSeq);
    }
    this.connect();
  },

  stop() {
    this.generation += 1;
    const controller = this.controller;
    this.controller = null;
    if (controller) controller.abort();
    clearTimeout(this.retryTimer);
    clearTimeout(this.stallTimer);
    this.state = "idle";
    this.showStatus();
  },

  async connect() {
    clearTimeout(this.retryTimer);
    if (!session.token) return;
    const controller = new AbortController();
    if (this.controller) this.controller.abort();
    this.controller = controller;
    this.state = "connecting";
    this.showStatus();
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${session.token}` };
    if (this.lastId !== null) headers["Last-Event-ID"] = this.lastId;
    let response;
    try {
      response = await fetch("/-/api/stream?include=quarantine", {
        headers, signal: controller.signal, cache: "no-store", credentials: "omit",
      });
    } catch {
      if (this.controller === controller) this.retry("server unreachable");
      return;
    }
    if (this.controller !== controller) return;
    if (response.status === 401) {
      hooks.expired();
      return;
    }
    if (!response.ok || !response.body) {
      response.body && response.body.cancel().catch(() => {});
      this.retry(`stream answered ${response.status}`);
      return;
    }
    this.connectedAt = Date.now();
    this.state = "live";
    this.showStatus();
    this.armStallTimer(controller);
    try {
      await readEventStream(response.body, {
        onChunk: () => this.armStallTimer(controller),
        onEvent: (type, data, id) => this.onStreamEvent(type, data, id),
        onRetry: (ms) => { this.serverRetryMs = ms; },
      });
    } catch {
      // a reset connection or our own abort; decided below
    }
    clearTimeout(this.stallTimer);
    if (this.controller === controller) this.retry("connection closed");
  },

  onStreamEvent(type, data, id) {
    let item;
    try {
      item = JSON.parse(data);
    } catch {
      return;
    }
    if (type === "event") {
      this.receive("event", item);
      if (id) this.lastId = id;
    } else if (type === "quarantine") {
      this.receive("quarantine", item);
    }
  },

  armStallTimer(controller) {
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => controller.abort(), STALL_MS);
  },

  retry(reason) {
    if (Date.now() - this.connectedAt > STABLE_MS) this.backoff = RETRY_FIRST_MS;
    const base = Math.max(this.backoff, this.serverRetryMs || 0);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.backoff = Math.min(this.backoff * 2, RETRY_MAX_MS);
    this.state = "waiting";
    this.reason = `${reason}; retrying in ${Math.max(1, Math.round(delay / 1000))} s`;
    this.showStatus();
    this.retryTimer = setTimeout(() => this.connect(), delay);
  },

  showStatus() {
    const status = $("stream-status");
    const labels = {
      idle: "", connecting: "Connecting…", live: "Live", waiting: `Disconnected: ${this.reason || ""}`,
    };
    let text = labels[this.state] || "";
    if (this.paused && this.state === "live") text = `Paused (${this.pending.length} new)`;
    status.textContent = text;
    status.dataset.state = this.paused && this.state === "live" ? "paused" : this.state;
    $("reconnect").hidden = this.state !== "waiting";
  },
};

/** Server-sent events over a fetch body: fields per the HTML spec's parsing rules (CR, LF or CRLF). */
async function readEventStream(body, { onChunk, onEvent, onRetry }) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let afterCR = false;
  let data = [];
  let type = "";
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk();
    let text = value;
    if (afterCR && text.startsWith("\n")) text = text.slice(1);
    afterCR = text.endsWith("\r");
    buffer += text;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) onEvent(type || "message", data.join("\n"), id);
        data = [];
        type = "";
        id = null;
        continue;
      }
      if (line.startsWith(":")) continue; // a comment, e.g. ": ping"
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "data") data.push(val);
      else if (field === "event") type = val;
      else if (field === "id" && !val.includes("\0")) id = val;
      else if (field === "retry" && /^\d+$/.test(val)) onRetry(Number(val));
    }
  }
}

export function renderLive() {
  if (!live.section) live.build();
  claimView();
  main.replaceChildren(live.section);
  document.title = "Live events · tracktion";
  return live.heading;
}