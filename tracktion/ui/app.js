/* tracktion event debugger (docs/api.md §13.6): the entry module. Plain JavaScript modules, no dependencies, no
 * build step. This file routes (hash based), signs in and out, and boots; each view lives in its own module. */
import { $, h, main, notice, view } from "./dom.js";
import { TOKEN_KEY, call, decodeClaims, describeError, hooks, session, setToken } from "./api.js";
import { live, renderLive } from "./live.js";
import { backView, cameFrom, renderEvent } from "./event.js";
import { renderProfile } from "./profiles.js";
import { renderDefinitions } from "./definitions.js";
import { quarantineFilters, renderQuarantine } from "./quarantine.js";
import { renderSend } from "./send.js";
import { renderOverview } from "./overview.js";
import { renderSearch, searchFilters } from "./search.js";
import { profileFilters } from "./profiles.js";
import { renderDestinations } from "./destinations.js";

let signInMessage = "";

function signOut(message) {
  clearTimeout(session.refreshTimer);
  session.token = null;
  session.claims = null;
  sessionStorage.removeItem(TOKEN_KEY);
  live.stop();
  live.reset();
  quarantineFilters.endpoint = "";
  quarantineFilters.reason = "";
  for (const key of Object.keys(searchFilters)) searchFilters[key] = key === "identKind" ? "customId" : key === "order" ? "time" : "";
  profileFilters.prefix = "";
  signInMessage = message || "";
  if (location.hash && location.hash !== "#/") history.replaceState(null, "", location.pathname);
  route();
}

hooks.expired = () => signOut("Your session expired or its key was revoked: sign in again.");

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
  return { name: name || "overview", arg };
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
    overview: renderOverview, live: renderLive, events: renderSearch, event: renderEvent, profile: renderProfile,
    definitions: renderDefinitions, quarantine: renderQuarantine, destinations: renderDestinations, send: renderSend,
  };
  const render = views[name] || renderOverview;
  const navName = name === "event" ? backView().name : name;
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.dataset.view === navName) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const heading = render(arg);
  if (name !== "event") Object.assign(cameFrom, parseHash()); // after render: a view may rewrite its hash
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
  if (!location.hash || location.hash === "#/") history.replaceState(null, "", "#/overview");
  route(true);
}

$("sign-out").addEventListener("click", () => signOut("Signed out."));
$("reconnect").addEventListener("click", () => {
  live.backoff = 1000;
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
