/* The session: the token (sessionStorage only, sent in the Authorization header, never in a URL) and the
 * API calls made with it. */
import { $ } from "./dom.js";

export const TOKEN_KEY = "tracktion.ui.token";

export const session = { token: null, claims: null, refreshTimer: 0 };
/** Set by app.js: what a 401 on an API call does (sign out); kept here as a hook so this module imports no view. */
export const hooks = { expired: () => {} };

export function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

export function setToken(token) {
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

export async function refreshToken() {
  const r = await call("GET", "/v4/auth/refresh/profile");
  if (r.ok && r.data && typeof r.data.token === "string") setToken(r.data.token);
  else if (session.token) session.refreshTimer = setTimeout(refreshToken, 30000); // a 401 signed out already
}

/** One API call. Never throws: `{status, ok, data, text, requestId}`; status 0 = network failure. */
export async function call(method, path, { json, raw } = {}) {
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
    hooks.expired();
  }
  return result;
}

export function describeError(r) {
  if (r.status === 0) return `Network error: ${r.text}`;
  const msg = r.data && typeof r.data.message === "string" ? r.data.message : r.text.slice(0, 200);
  return `${r.status}${r.data && r.data.error ? ` ${r.data.error}` : ""}: ${msg}`;
}

export async function getJSON(path) {
  const r = await call("GET", path);
  if (!r.ok) throw new Error(describeError(r));
  return r.data;
}