// Talking to the API: one fetch wrapper that adds the API key and turns an error answer's JSON
// ({detail, code, field}) into an ApiError; pictures become blob: URLs, since an <img src> cannot
// carry an Authorization header.

const KEY_STORE = "saliency-api-key"; // sessionStorage: forgotten when the tab closes
let key = sessionStorage.getItem(KEY_STORE) || "";
const held = []; // blob: URLs of the current result, released before the next one

export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super(body.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || null;
    this.field = body.field || null;
    this.retryAfter = retryAfter;
  }
}

export const getKey = () => key;

// The API's paths ("/models", the "/jobs/…" links of its answers) resolved against the page's own
// address rather than the host's root, so the page also works behind a proxy that serves the
// service under a path prefix (host/saliency/ rather than host/).
export const url = (path) => new URL(path.replace(/^\//, ""), document.baseURI).href;

export function setKey(value) {
  key = value.trim();
  if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
}

export async function api(path, options = {}) {
  const auth = key ? { Authorization: `Bearer ${key}` } : {};
  let res;
  try {
    res = await fetch(url(path), { ...options, headers: { ...auth, ...(options.headers || {}) } });
  } catch (e) {
    throw new ApiError(0, { detail: `The service did not answer (${e.message}).`, code: "network" });
  }
  if (!res.ok) {
    let body;
    try { body = await res.json(); } catch { body = { detail: `${res.status} ${res.statusText}` }; }
    throw new ApiError(res.status, body, res.headers.get("Retry-After"));
  }
  return res;
}

export function keep(url) {
  held.push(url);
  return url;
}

export async function blobUrl(path) {
  return keep(URL.createObjectURL(await (await api(path)).blob()));
}

export function releaseAll() {
  held.splice(0).forEach((u) => URL.revokeObjectURL(u));
}
