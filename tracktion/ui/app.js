/* tracktion event debugger (contract §13.6). Plain JavaScript, no dependencies, no build step.
 *
 * Safety rules this file keeps: every string from the server or the user reaches the page as text
 * (`textContent`, text nodes, attribute values) and never as HTML; the page's CSP enforces Trusted Types
 * with no policy, so an HTML sink would throw rather than parse. The token lives in `sessionStorage` only
 * and travels in the `Authorization` header, never in a URL. */
"use strict";

(() => {
  const TOKEN_KEY = "tracktion.ui.token";
  const MAX_ROWS = 500; // rows kept in the live tail (and events held back while paused)
  const RETRY_FIRST_MS = 1000;
  const RETRY_MAX_MS = 15000;
  const STALL_MS = 45000; // the server pings every 15 s: three missed pings = a dead connection
  const STABLE_MS = 10000; // a connection that lived this long resets the backoff
  const SYSTEM_PARAMS = new Set([
    "eventUUID", "time", "eventCreateTime", "clientId", "uuid", "businessProfileId", "ip", "modifiedBy",
    "snr-original-time",
  ]);
  const QUARANTINE_REASONS = [
    "validation failed", "unknown clientId", "batch rejected", "profile mismatch", "token kind",
    "permission denied", "unsupported api version", "malformed json", "invalid batch",
    "unsupported media type", "payload too large",
  ];

  const $ = (id) => document.getElementById(id);
  const main = $("main");

  // ---------------------------------------------------------------------------------------------------
  // DOM helpers: children that are not nodes become text nodes.

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (key === "value" || key === "checked" || key === "disabled") el[key] = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    add(el, children);
    return el;
  }

  function add(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** `#/view/arg` with every part percent-encoded, so an id can never leave the hash. */
  function hashFor(view, arg) {
    return arg === undefined || arg === null ? `#/${view}` : `#/${view}/${encodeURIComponent(String(arg))}`;
  }

  function link(view, arg, ...text) {
    return h("a", { href: hashFor(view, arg) }, ...text);
  }

  const fmtTime = (iso) => (typeof iso === "string" ? iso.replace("T", " ") : "—");
  const timeEl = (iso) => h("time", { datetime: typeof iso === "string" ? iso : null, class: "mono" }, fmtTime(iso));

  function jsonType(v) {
    if (v === null) return "null";
    if (Array.isArray(v)) return "array";
    if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
    return typeof v;
  }

  const pretty = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));
  const orDash = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
  const plural = (n, word) => `${n} ${word}${Number(n) === 1 ? "" : "s"}`;

  function definitionList(rows) {
    const dl = h("dl", { class: "kv" });
    for (const [name, value] of rows) {
      add(dl, [h("dt", null, name), h("dd", null, value instanceof Node ? value : orDash(value))]);
    }
    return dl;
  }

  function table(headings, rows, caption) {
    return h("div", { class: "table-wrap" },
      h("table", null,
        caption ? h("caption", { class: "sr-only" }, caption) : null,
        h("thead", null, h("tr", null, headings.map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", null, rows.map((cells) => h("tr", null, cells.map((c) => h("td", null, c)))))));
  }

  function notice(text, kind = "error") {
    return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null }, text);
  }

  /** The first identifier worth showing for a `client` object (events, quarantined items). */
  function who(client) {
    if (!client || typeof client !== "object") return "";
    for (const key of ["customId", "email"]) {
      if (typeof client[key] === "string" && client[key]) return client[key];
    }
    if (client.id !== null && client.id !== undefined) return `#${client.id}`;
    return typeof client.uuid === "string" ? client.uuid : "";
  }

  // ---------------------------------------------------------------------------------------------------
  // Session: the token (sessionStorage only) and the API calls made with it.

  const session = { token: null, claims: null, refreshTimer: 0 };

  function decodeClaims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    } catch {
      return null;
    }
  }

  function setToken(token) {
    session.token = token;
    session.claims = decodeClaims(token);
    sessionStorage.setItem(TOKEN_KEY, token);
    clearTimeout(session.refreshTimer);
    const exp = session.claims && Number(session.claims.exp);
    if (exp) {
      // Refresh two minutes before expiry (a refresh keeps the claims, §2.2).
      const wait = Math.max(exp * 1000 - Date.now() - 120000, 5000);
      session.refreshTimer = setTimeout(refreshToken, Math.min(wait, 2 ** 31 - 1));
    }
    const ws = session.claims && session.claims.workspaceId;
    $("workspace").textContent = ws ? `workspace ${ws}` : "";
  }

  async function refreshToken() {
    const r = await call("GET", "/v4/auth/refresh/profile");
    if (r.ok && r.data && typeof r.data.token === "string") setToken(r.data.token);
    else if (session.token) session.refreshTimer = setTimeout(refreshToken, 30000); // a 401 signed out already
  }

  function signOut(message) {
    clearTimeout(session.refreshTimer);
    session.token = null;
    session.claims = null;
    sessionStorage.removeItem(TOKEN_KEY);
    live.stop();
    live.reset();
    quarantineFilters.endpoint = "";
    quarantineFilters.reason = "";
    signInMessage = message || "";
    if (location.hash && location.hash !== "#/") history.replaceState(null, "", location.pathname);
    route();
  }

  /** One API call. Never throws: `{status, ok, data, text, requestId}`; status 0 = network failure. */
  async function call(method, path, { json, raw } = {}) {
    const headers = { Accept: "application/json" };
    if (session.token) headers.Authorization = `Bearer ${session.token}`;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (raw !== undefined || json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = raw !== undefined ? raw : JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { status: 0, ok: false, data: null, text: String(err && err.message), requestId: null };
    }
    const text = await response.text().catch(() => "");
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    const result = {
      status: response.status, statusText: response.statusText, ok: response.ok, data, text,
      requestId: response.headers.get("x-request-id"),
    };
    if (response.status === 401 && session.token && !path.startsWith("/uauth/")) {
      signOut("Your session expired or its key was revoked: sign in again.");
    }
    return result;
  }

  function describeError(r) {
    if (r.status === 0) return `Network error: ${r.text}`;
    const msg = r.data && typeof r.data.message === "string" ? r.data.message : r.text.slice(0, 200);
    return `${r.status}${r.data && r.data.error ? ` ${r.data.error}` : ""}: ${msg}`;
  }

  async function getJSON(path) {
    const r = await call("GET", path);
    if (!r.ok) throw new Error(describeError(r));
    return r.data;
  }

  // ---------------------------------------------------------------------------------------------------
  // Views and routing (hash based: #/live, #/event/<uuid>, #/profile/<clientId>, #/definitions,
  // #/quarantine, #/quarantine/<id>, #/send).

  let renderSeq = 0;
  let signInMessage = "";

  function view(title, ...content) {
    const seq = ++renderSeq;
    const heading = h("h1", { tabindex: "-1" }, title);
    const section = h("section", { class: "view" }, heading, ...content);
    main.replaceChildren(section);
    document.title = `${title} · tracktion`;
    return { section, heading, current: () => seq === renderSeq };
  }

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const slash = raw.indexOf("/");
    const name = slash < 0 ? raw : raw.slice(0, slash);
    let arg = slash < 0 ? "" : raw.slice(slash + 1);
    try {
      arg = decodeURIComponent(arg);
    } catch {
      arg = "";
    }
    return { name: name || "live", arg };
  }

  function route(focus = false) {
    const signedIn = Boolean(session.token);
    $("nav").hidden = !signedIn;
    $("session").hidden = !signedIn;
    if (!signedIn) {
      renderSignIn();
      return;
    }
    const { name, arg } = parseHash();
    const views = {
      live: renderLive, event: renderEvent, profile: renderProfile, definitions: renderDefinitions,
      quarantine: renderQuarantine, send: renderSend,
    };
    const render = views[name] || renderLive;
    const navName = name === "event" ? "live" : name;
    for (const a of $("nav").querySelectorAll("a")) {
      if (a.dataset.view === navName) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const heading = render(arg);
    if (focus && heading) heading.focus();
  }

  // -- sign in ------------------------------------------------------------------------------------------

  function renderSignIn() {
    const key = h("input", {
      id: "api-key", name: "apiKey", type: "password", autocomplete: "off", spellcheck: "false",
      required: true, "aria-describedby": "api-key-help",
    });
    const error = h("div", { id: "sign-in-error" });
    const button = h("button", { type: "submit", class: "primary" }, "Sign in");
    const form = h("form", { class: "card narrow", novalidate: true },
      h("label", { for: "api-key" }, "Workspace API key"),
      key,
      h("p", { id: "api-key-help", class: "muted small" },
        "The key is exchanged for a token through the normal login and then forgotten; the token is kept in",
        " this tab only (sessionStorage) and sent in the Authorization header."),
      button, error);
    const v = view("Sign in", form);
    if (signInMessage) error.replaceChildren(notice(signInMessage, "info"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const apiKey = key.value.trim();
      if (!apiKey) {
        error.replaceChildren(notice("Enter a workspace API key."));
        key.focus();
        return;
      }
      button.disabled = true;
      const r = await call("POST", "/uauth/v2/auth/login/profile", { json: { apiKey } });
      button.disabled = false;
      if (r.ok && r.data && typeof r.data.token === "string") {
        key.value = "";
        signInMessage = "";
        startSession(r.data.token);
        return;
      }
      error.replaceChildren(notice(`Sign-in failed — ${describeError(r)}`));
      key.focus();
    });
    key.focus();
    return v.heading;
  }

  function startSession(token) {
    setToken(token);
    live.start();
    if (!location.hash || location.hash === "#/") history.replaceState(null, "", "#/live");
    route(true);
  }

  // -- live tail -----------------------------------------------------------------------------------------

  const live = {
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
      // The newest stored events first, so the page is not empty; the stream then resumes after them.
      const r = await call("GET", "/-/api/events?limit=100");
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
        signOut("Your session expired or its key was revoked: sign in again.");
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

  function eventRow(e) {
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

  function quarantineRow(q) {
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

  function renderLive() {
    if (!live.section) live.build();
    ++renderSeq;
    main.replaceChildren(live.section);
    document.title = "Live events · tracktion";
    return live.heading;
  }

  // -- event details ----------------------------------------------------------------------------------

  function renderEvent(uuid) {
    const body = h("div", null, h("p", { class: "muted" }, "Loading…"));
    const v = view("Event", h("p", null, link("live", null, "← Live events")), body);
    getJSON(`/-/api/events/${encodeURIComponent(uuid)}`).then((e) => {
      if (!v.current()) return;
      v.heading.textContent = `Event ${e.action}`;
      body.replaceChildren(eventDetails(e));
    }).catch((err) => v.current() && body.replaceChildren(notice(err.message)));
    return v.heading;
  }

  function eventDetails(e) {
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
          ["Label", orDash(e.label)],
          ["Event UUID", h("span", { class: "mono" }, orDash(e.uuid))],
          ["Endpoint", h("span", { class: "mono" }, orDash(e.endpoint))],
          ["Kind", orDash(e.kind)],
          ["Sequence", orDash(e.seq)],
        ])),
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

  // -- profiles ---------------------------------------------------------------------------------------

  function renderProfile(clientId) {
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

  // -- definitions --------------------------------------------------------------------------------------

  function renderDefinitions() {
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

  function definitionItem(d) {
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

  // -- quarantine -------------------------------------------------------------------------------------

  const quarantineFilters = { endpoint: "", reason: "" };

  function renderQuarantine(id) {
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

  function renderQuarantineRecord(id) {
    const body = h("div", null, h("p", { class: "muted" }, "Loading…"));
    const v = view("Rejected request", h("p", null, link("quarantine", null, "← Quarantine")), body);
    getJSON(`/-/api/quarantine/${encodeURIComponent(id)}`).then((q) => {
      if (!v.current()) return;
      const errors = Array.isArray(q.errors) ? q.errors : [];
      const cred = q.credential && typeof q.credential === "object" ? q.credential : {};
      const hasItem = Object.prototype.hasOwnProperty.call(q, "item");
      const sent = hasItem ? pretty(q.item === undefined ? null : q.item) : orDash(q.body);
      const del = h("button", { type: "button", class: "danger" }, "Delete record");
      const delStatus = h("span", { class: "small", role: "status" });
      let armed = false;
      del.addEventListener("click", async () => {
        if (!armed) {
          armed = true;
          del.textContent = "Click again to delete";
          return;
        }
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
        h("div", { class: "buttons" }, del, delStatus)]);
    }).catch((err) => v.current() && body.replaceChildren(notice(err.message)));
    return v.heading;
  }

  // -- send a test event ----------------------------------------------------------------------------------

  function renderSend() {
    const field = (id, label, input, help) => h("div", { class: "field" }, h("label", { for: id }, label), input,
      help ? h("p", { class: "muted small" }, help) : null);
    const action = h("input", { id: "s-action", value: "debugger.test", autocomplete: "off" });
    const label = h("input", { id: "s-label", value: "Test event from the debugger", autocomplete: "off" });
    const idKind = h("select", { id: "s-id-kind" }, ["customId", "email", "uuid", "id"].map((k) => h("option", { value: k }, k)));
    const idValue = h("input", { id: "s-id-value", value: "debugger-test", autocomplete: "off" });
    const time = h("input", { id: "s-time", placeholder: "2024-03-05T11:15:30+01:00 (empty = now)", autocomplete: "off" });
    const params = h("textarea", { id: "s-params", rows: "5", spellcheck: "false" }, '{\n  "source": "debugger"\n}');
    const raw = h("textarea", { id: "s-raw", rows: "10", spellcheck: "false" });
    const result = h("div", { id: "send-result", "aria-live": "polite" });
    const buildBody = () => {
      let p = null;
      const ptext = params.value.trim();
      if (ptext) {
        try {
          p = JSON.parse(ptext);
        } catch (err) {
          throw new Error(`Params are not valid JSON: ${err.message}`);
        }
      }
      const idText = idValue.value.trim();
      const marker = "\u0001client-id\u0001";
      const body = { client: { [idKind.value]: idKind.value === "id" && /^\d+$/.test(idText) ? marker : idText } };
      body.action = action.value;
      body.label = label.value;
      if (time.value.trim()) body.time = time.value.trim();
      if (p !== null) body.params = p;
      // A clientId is written as a bare JSON integer, digits as typed (no float rounding above 2^53).
      return JSON.stringify(body, null, 2).replace(JSON.stringify(marker), idText);
    };
    const send = async (text) => {
      const r = await call("POST", "/v4/events/custom", { raw: text });
      const accepted = r.status === 202;
      result.replaceChildren(h("div", { class: `card ${accepted ? "ok" : "bad"}` },
        h("p", { class: "strong", id: "send-status" }, r.status === 0 ? "No response" : `${r.status} ${r.statusText || ""}`),
        r.requestId ? h("p", { class: "muted small" }, "X-Request-Id: ", h("span", { class: "mono" }, r.requestId)) : null,
        h("h3", null, "Response body"),
        h("pre", { class: "raw", id: "send-response" }, r.text ? (r.data !== null ? JSON.stringify(r.data, null, 2) : r.text) : "(empty body)"),
        h("h3", null, "Request body"),
        h("pre", { class: "raw" }, text),
        h("p", null, accepted
          ? ["Accepted: see it in ", link("live", null, "the live tail"), "."]
          : ["Rejected: the request is in ", link("quarantine", null, "the quarantine"), " with this error."])));
    };
    const form = h("form", { class: "card stack", novalidate: true },
      h("p", { class: "muted small" }, "POST ", h("span", { class: "mono" }, "/v4/events/custom"),
        " with your token, exactly like a client would. Nothing is checked here: invalid values go to the server and come back with its error."),
      h("div", { class: "grid2" },
        field("s-action", "Action", action),
        field("s-label", "Label", label),
        h("div", { class: "field" }, h("label", { for: "s-id-kind" }, "Client identifier"),
          h("div", { class: "inline" }, idKind, h("label", { for: "s-id-value", class: "sr-only" }, "Identifier value"), idValue)),
        field("s-time", "Time (optional)", time)),
      field("s-params", "Params (JSON object)", params),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Send event")));
    const rawForm = h("form", { class: "stack", novalidate: true },
      field("s-raw", "Raw request body (sent as is, even if it is not valid JSON)", raw),
      h("div", { class: "buttons" },
        h("button", { type: "button", id: "s-copy", onclick: () => {
          try {
            raw.value = buildBody();
          } catch (err) {
            result.replaceChildren(notice(err.message));
          }
        } }, "Copy from the fields above"),
        h("button", { type: "submit" }, "Send raw body")));
    const v = view("Send a test event", form,
      h("details", { class: "card" }, h("summary", null, "Send a raw body"), rawForm), result);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      let text;
      try {
        text = buildBody();
      } catch (err) {
        result.replaceChildren(notice(err.message));
        return;
      }
      send(text);
    });
    rawForm.addEventListener("submit", (e) => {
      e.preventDefault();
      send(raw.value);
    });
    return v.heading;
  }

  // ---------------------------------------------------------------------------------------------------

  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("reconnect").addEventListener("click", () => {
    live.backoff = RETRY_FIRST_MS;
    live.connect();
  });
  window.addEventListener("hashchange", () => route(true));

  const saved = sessionStorage.getItem(TOKEN_KEY);
  const claims = saved && decodeClaims(saved);
  if (saved && claims && (!claims.exp || claims.exp * 1000 > Date.now())) {
    startSession(saved);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
    route();
  }
})();
