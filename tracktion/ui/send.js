/* "Send a test event": a form that posts to /v4/events/custom with the user's token, exactly like a client. */
import { h, link, notice, view } from "./dom.js";
import { call } from "./api.js";

export function renderSend() {
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
