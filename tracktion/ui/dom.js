/* DOM and formatting helpers shared by every view. Every string from the server or the user reaches the page as
 * text (`textContent`, text nodes, attribute values), never as HTML: the page's CSP enforces Trusted Types with no
 * policy, so an HTML sink would throw rather than parse. */

export const SYSTEM_PARAMS = new Set([
  "eventUUID", "time", "eventCreateTime", "clientId", "uuid", "businessProfileId", "ip", "modifiedBy",
  "snr-original-time",
]);
export const QUARANTINE_REASONS = [
  "validation failed", "unknown clientId", "batch rejected", "profile mismatch", "token kind",
  "permission denied", "unsupported api version", "malformed json", "invalid batch",
  "unsupported media type", "payload too large",
];

export const $ = (id) => document.getElementById(id);
export const main = $("main");

// ---------------------------------------------------------------------------------------------------
// DOM helpers: children that are not nodes become text nodes.

export function h(tag, props, ...children) {
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

export function add(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** `#/view/arg` with every part percent-encoded, so an id can never leave the hash. */
export function hashFor(view, arg) {
  return arg === undefined || arg === null ? `#/${view}` : `#/${view}/${encodeURIComponent(String(arg))}`;
}

export function link(view, arg, ...text) {
  return h("a", { href: hashFor(view, arg) }, ...text);
}

export const fmtTime = (iso) => (typeof iso === "string" ? iso.replace("T", " ") : "—");
export const timeEl = (iso) => h("time", { datetime: typeof iso === "string" ? iso : null, class: "mono" }, fmtTime(iso));

export function jsonType(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

export const pretty = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));
export const orDash = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
export const plural = (n, word) => `${n} ${word}${Number(n) === 1 ? "" : "s"}`;

export function definitionList(rows) {
  const dl = h("dl", { class: "kv" });
  for (const [name, value] of rows) {
    add(dl, [h("dt", null, name), h("dd", null, value instanceof Node ? value : orDash(value))]);
  }
  return dl;
}

export function table(headings, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", null,
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", null, h("tr", null, headings.map((t) => h("th", { scope: "col" }, t)))),
      // `data-label`: at phone width each row becomes a card and the cell shows its heading (app.css).
      h("tbody", null, rows.map((cells) => h("tr", null, cells.map((c, i) => h("td", { "data-label": headings[i] }, c)))))));
}

export function notice(text, kind = "error") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null }, text);
}

/** The first identifier worth showing for a `client` object (events, quarantined items). */
export function who(client) {
  if (!client || typeof client !== "object") return "";
  for (const key of ["customId", "email"]) {
    if (typeof client[key] === "string" && client[key]) return client[key];
  }
  if (client.id !== null && client.id !== undefined) return `#${client.id}`;
  return typeof client.uuid === "string" ? client.uuid : "";
}

// ---------------------------------------------------------------------------------------------------
// Views: one at a time in <main>; `current()` tells a slow answer whether its view is still shown.

let renderSeq = 0;

/** A new view replaces the previous one; answers arriving for an older view are dropped by `current()`. */
export function claimView() {
  const seq = ++renderSeq;
  return () => seq === renderSeq;
}

export function view(title, ...content) {
  const current = claimView();
  const heading = h("h1", { tabindex: "-1" }, title);
  const section = h("section", { class: "view" }, heading, ...content);
  main.replaceChildren(section);
  document.title = `${title} · tracktion`;
  return { section, heading, current };
}

/** A button that copies `text()` to the clipboard and says so; the text is built only when clicked. Where the
 * clipboard is refused (a plain-http origin other than localhost, a denied permission) `onFail` shows the text. */
export function copyButton(label, text, props = {}, onFail = () => {}) {
  const button = h("button", { type: "button", class: "small-button", ...props }, label);
  button.addEventListener("click", async (e) => {
    e.preventDefault();
    e.stopPropagation();
    const value = text();
    button.dataset.copied = value; // what was copied, readable where the clipboard is not (tests)
    try {
      await navigator.clipboard.writeText(value);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy it below";
      onFail();
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

/** A deletion's button: the first click arms it (and says what the second will do), the second acts. */
export function twoClickButton(props, label, armedLabel, act) {
  const button = h("button", { type: "button", class: "danger", ...props }, label);
  let armed = false;
  button.addEventListener("click", () => {
    if (!armed) {
      armed = true;
      button.textContent = armedLabel;
      return;
    }
    act();
  });
  return button;
}
