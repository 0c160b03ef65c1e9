/* Destinations (docs/api.md §14, docs/relay.md): where stored events are forwarded. The list shows each one's
 * state, lag and last error; a destination's page adds its failures, pause/resume, edit, delete and a replay
 * form.
 * Secrets are write-only: the API answers "***" and the page never shows or keeps what was typed. */
import { add, definitionList, h, hashFor, link, notice, orDash, plural, table, timeEl, twoClickButton, view } from "./dom.js";
import { call, describeError, getJSON } from "./api.js";

const BASE = "/-/api/destinations";
const PAGE = 50;
const STATE_CLASS = { running: "good", "backing-off": "warn", paused: "", failing: "bad" };

const stateBadge = (state) => h("span", { class: `badge state ${STATE_CLASS[state] || ""}` }, orDash(state));

function lagText(s) {
  if (!s) return "—";
  const seconds = Number(s.lagSeconds) || 0;
  return `${plural(Number(s.lagEvents) || 0, "event")} behind${seconds ? ` (${seconds.toFixed(1)} s)` : ""}`;
}

function lastError(s) {
  const e = s && s.lastError;
  if (!e) return "—";
  return h("span", null, timeEl(e.at), " ", h("span", { class: "mono" }, e.status === null || e.status === undefined ? "" : String(e.status)),
    " ", String(e.message || ""));
}

/** `id` of the destination's own page. */
const pageHash = (d) => hashFor("destinations", d.id);

export function renderDestinations(id) {
  return id ? renderDestination(id) : renderList();
}

function renderList() {
  const list = h("div", { id: "destination-list" }, h("p", { class: "muted" }, "Loading…"));
  const refresh = h("button", { type: "button" }, "Refresh");
  const v = view("Destinations",
    h("p", { class: "muted" }, "Every stored event is forwarded to these, in order, at least once. See docs/relay.md."),
    h("div", { class: "buttons" }, refresh), list, createForm(() => load()));
  const load = async () => {
    try {
      const all = await getJSON(BASE);
      const statuses = await Promise.all(all.map((d) =>
        getJSON(`${BASE}/${encodeURIComponent(d.id)}/status`).catch(() => null)));
      if (!v.current()) return;
      list.replaceChildren(all.length
        ? table(["Name", "Type", "State", "Lag", "Delivered", "Failed", "Last error"], all.map((d, i) => {
          const s = statuses[i];
          return [h("a", { href: pageHash(d), class: "mono" }, d.name), d.type, stateBadge(s ? s.state : d.state), lagText(s),
            s ? String(s.delivered) : "—", s ? String(s.failed) : "—", lastError(s)];
        }), "Destinations")
        : h("p", { class: "muted" }, "No destination yet: events are stored here only."));
    } catch (err) {
      if (v.current()) list.replaceChildren(notice(err.message));
    }
  };
  refresh.addEventListener("click", load);
  load();
  return v.heading;
}

// Where each type keeps its secret in `config` (docs/relay.md): typed into a password field, merged at submit.
const SECRET_AT = { synerise: ["apiKey"], webhook: ["secret"], nats: ["credentials", "token"] };
const EXAMPLES = {
  synerise: { baseUrl: "https://api.synerise.com", batchSize: 500 },
  webhook: { url: "https://example.org/hook", batchSize: 100 },
  nats: { servers: ["nats://127.0.0.1:4222"], subject: "events.{workspaceId}.{action}" },
};

function createForm(onCreated) {
  const name = h("input", { id: "d-name", autocomplete: "off", required: true });
  const type = h("select", { id: "d-type" }, Object.keys(EXAMPLES).map((t) => h("option", { value: t }, t)));
  type.value = "webhook";
  const config = h("textarea", { id: "d-config", rows: "4", spellcheck: "false", value: JSON.stringify(EXAMPLES.webhook, null, 2) });
  const secret = h("input", { id: "d-secret", type: "password", autocomplete: "new-password" });
  const actions = h("input", { id: "d-actions", autocomplete: "off", placeholder: "page.*, transaction.charge (empty = all)" });
  const start = h("select", { id: "d-start" },
    h("option", { value: "now" }, "from now on"), h("option", { value: "beginning" }, "everything stored"));
  const result = h("div", { id: "d-create-result", "aria-live": "polite" });
  const secretLabel = h("label", { for: "d-secret" });
  const syncType = () => {
    secretLabel.textContent = `Secret (config.${SECRET_AT[type.value].join(".")}, optional, never shown again)`;
  };
  type.addEventListener("change", () => {
    config.value = JSON.stringify(EXAMPLES[type.value], null, 2);
    syncType();
  });
  syncType();
  const form = h("form", { class: "stack", novalidate: true },
    h("div", { class: "grid2" }, field("d-name", "Name", name), field("d-type", "Type", type),
      field("d-actions", "Only these actions", actions), field("d-start", "Send", start)),
    field("d-config", "Config (JSON, without the secret)", config),
    field("d-secret", secretLabel, secret),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Add destination")), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const cfg = parsedConfig(config.value, result);
    if (cfg === undefined) return;
    if (secret.value && cfg && typeof cfg === "object") {
      const path = SECRET_AT[type.value];
      let at = cfg;
      for (const key of path.slice(0, -1)) at = at[key] = at[key] && typeof at[key] === "object" ? at[key] : {};
      at[path[path.length - 1]] = secret.value;
    }
    const body = { name: name.value.trim(), type: type.value, config: cfg, start: start.value };
    const names = actionList(actions.value);
    if (names.length) body.filter = { actions: names };
    const r = await call("POST", BASE, { json: body });
    secret.value = ""; // typed once, sent once, forgotten
    if (r.status === 201) {
      result.replaceChildren(notice(`Added ${r.data.name}.`, "info"));
      name.value = "";
      onCreated();
      return;
    }
    result.replaceChildren(...refusal(r));
  });
  return h("details", { class: "card", id: "d-create" }, h("summary", null, "Add a destination"), form);
}

/** A refused write as shown under its form: the message, then every §1.6 error with its field path. */
function refusal(r) {
  const errors = r.data && Array.isArray(r.data.errors) ? r.data.errors : [];
  return [notice(describeError(r)),
    errors.length ? h("ul", { class: "errors" }, errors.map((x) => h("li", null, h("span", { class: "mono" }, orDash(x.field)), `: ${x.message}`))) : null];
}

const actionList = (text) => text.split(",").map((a) => a.trim()).filter(Boolean);

/** A form field: its label (text, or a label element kept up to date elsewhere) and its control. */
const field = (id, label, el) =>
  h("div", { class: "field" }, typeof label === "string" ? h("label", { for: id }, label) : label, el);

/** The config textarea's JSON, or undefined with the reason shown in `result`. */
function parsedConfig(text, result) {
  try {
    return JSON.parse(text || "{}");
  } catch (err) {
    result.replaceChildren(notice(`Config is not valid JSON: ${err.message}`));
    return undefined;
  }
}

function renderDestination(id) {
  const path = `${BASE}/${encodeURIComponent(id)}`;
  const head = h("div", null, h("p", { class: "muted" }, "Loading…"));
  const failures = h("div", { id: "failures" });
  const more = h("button", { type: "button", id: "failures-more", hidden: true }, "Load more");
  const v = view("Destination", h("p", null, link("destinations", null, "← Destinations")), head,
    h("h2", null, "Failures"),
    h("p", { class: "muted small" }, "Events the target refused for good (a 4xx other than 408, 425, 429): delivery went on without them. A replay of only the failures sends them again."),
    failures, h("div", { class: "buttons more" }, more),
    h("h2", null, "Replay"), replayForm(path));
  const load = async () => {
    try {
      const [d, s] = await Promise.all([getJSON(path), getJSON(`${path}/status`)]);
      if (!v.current()) return;
      v.heading.textContent = `Destination ${d.name}`;
      const toggle = h("button", { type: "button", id: "d-toggle" }, s.state === "paused" ? "Resume" : "Pause");
      toggle.addEventListener("click", async () => {
        const r = await call("POST", `${path}/${s.state === "paused" ? "resume" : "pause"}`);
        if (r.ok) load();
        else head.append(notice(describeError(r)));
      });
      // Like a quarantine record's: the first click arms, the second deletes (failures and replays go too).
      const remove = twoClickButton({ id: "d-delete" }, "Delete", "Click again to delete it, its failures and replays", async () => {
        const r = await call("DELETE", path);
        if (r.status === 204) location.hash = hashFor("destinations");
        else head.append(notice(describeError(r)));
      });
      head.replaceChildren(
        h("div", { class: "card", id: "d-status" }, definitionList([
          ["State", h("span", null, stateBadge(s.state), s.nextAttemptAt ? [" next attempt ", timeEl(s.nextAttemptAt)] : null)],
          ["Lag", lagText(s)],
          ["Cursor / head seq", `${orDash(s.cursor)} / ${orDash(s.headSeq)}`],
          ["Delivered", orDash(s.delivered)],
          ["Failed", orDash(s.failed)],
          ["Last success", timeEl(s.lastSuccessAt)],
          ["Last error", lastError(s)],
          ["Type", orDash(d.type)],
          ["Filter", h("span", { class: "mono" }, d.filter && Object.keys(d.filter).length ? JSON.stringify(d.filter) : "everything")],
          ["Created", timeEl(d.createdAt)],
        ])),
        h("h2", null, "Config"),
        h("pre", { class: "raw", id: "d-config-shown" }, JSON.stringify(d.config, null, 2)),
        h("p", { class: "muted small" }, "Secrets are write-only: the server shows them as ***."),
        h("div", { class: "buttons" }, toggle, remove),
        editForm(path, d, load));
    } catch (err) {
      if (v.current()) head.replaceChildren(notice(err.message));
    }
  };
  let cursor = null;
  const loadFailures = async (reset) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (!reset && cursor) q.set("cursor", cursor);
    try {
      const page = await getJSON(`${path}/failures?${q}`);
      if (!v.current()) return;
      const rows = (page.items || []).map((f) => [
        orDash(f.seq), link("event", f.eventUuid, h("span", { class: "mono" }, orDash(f.eventUuid))),
        timeEl(f.failedAt), orDash(f.attempts), orDash(f.status), h("pre", { class: "value" }, orDash(f.response))]);
      if (reset) failures.replaceChildren();
      const tbody = failures.querySelector("tbody");
      if (tbody && rows.length) add(tbody, [...table(["Seq"], rows).querySelectorAll("tbody tr")]);
      else if (rows.length) failures.append(table(["Seq", "Event", "Failed at", "Attempts", "Status", "Target's answer"], rows, "Failures"));
      if (!failures.children.length) failures.append(h("p", { class: "muted" }, "No failures."));
      cursor = page.nextCursor || null;
      more.hidden = !cursor;
    } catch (err) {
      if (v.current()) failures.replaceChildren(notice(err.message));
    }
  };
  more.addEventListener("click", () => loadFailures(false));
  load();
  loadFailures(true);
  return v.heading;
}

/** PATCH (docs/api.md §14.1): name, config and the action filter. The config is shown as the server answers
 * it, secrets as "***", which the server keeps when sent back; a new secret is typed into the config. */
function editForm(path, d, onSaved) {
  const name = h("input", { id: "e-name", autocomplete: "off", value: d.name });
  const config = h("textarea", { id: "e-config", rows: "6", spellcheck: "false", value: JSON.stringify(d.config, null, 2) });
  const actions = h("input", { id: "e-actions", autocomplete: "off", placeholder: "comma separated, empty = all",
    value: (d.filter && d.filter.actions || []).join(", ") });
  const result = h("div", { id: "e-result", "aria-live": "polite" });
  const form = h("form", { class: "stack", novalidate: true },
    h("div", { class: "grid2" }, field("e-name", "Name", name), field("e-actions", "Only these actions", actions)),
    field("e-config", "Config (JSON; \"***\" keeps a stored secret)", config),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Save")), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const cfg = parsedConfig(config.value, result);
    if (cfg === undefined) return;
    const filter = { ...(d.filter || {}) };
    const names = actionList(actions.value);
    if (names.length) filter.actions = names;
    else delete filter.actions;
    const r = await call("PATCH", path, { json: { name: name.value.trim(), config: cfg, filter } });
    if (r.ok) onSaved();
    else result.replaceChildren(...refusal(r));
  });
  return h("details", { class: "card", id: "d-edit" }, h("summary", null, "Edit"), form);
}

function replayForm(path) {
  const from = h("input", { id: "r-from", autocomplete: "off", placeholder: "2024-03-01T00:00:00Z" });
  const to = h("input", { id: "r-to", autocomplete: "off", placeholder: "empty = up to now" });
  const actions = h("input", { id: "r-actions", autocomplete: "off", placeholder: "comma separated, empty = all" });
  const onlyFailed = h("input", { id: "r-only-failed", type: "checkbox" });
  const status = h("div", { id: "replay-status", "aria-live": "polite" });
  const form = h("form", { class: "card stack", novalidate: true },
    h("div", { class: "grid2" }, field("r-from", "From (event time)", from), field("r-to", "To", to),
      field("r-actions", "Actions", actions)),
    h("div", { class: "field check" }, onlyFailed, h("label", { for: "r-only-failed" }, "Only the failures")),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Replay")), status);
  let timer = 0;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    if (from.value.trim()) body.from = from.value.trim();
    if (to.value.trim()) body.to = to.value.trim();
    const names = actionList(actions.value);
    if (names.length) body.actions = names;
    if (onlyFailed.checked) body.onlyFailed = true;
    const r = await call("POST", `${path}/replay`, { json: body });
    if (r.status !== 202) {
      status.replaceChildren(notice(describeError(r)));
      return;
    }
    const replayId = r.data.replayId;
    clearTimeout(timer);
    const poll = async () => {
      if (!form.isConnected) return; // the view was left
      const p = await call("GET", `${path}/replays/${encodeURIComponent(replayId)}`);
      if (!p.ok) {
        status.replaceChildren(notice(describeError(p)));
        return;
      }
      const x = p.data;
      status.replaceChildren(h("p", { class: "strong", "data-state": x.state },
        `Replay ${x.state}: ${x.delivered} of ${x.matched} delivered, ${x.failed} failed`));
      if (x.state !== "done") timer = setTimeout(poll, 1000);
    };
    poll();
  });
  return form;
}
