// The service's public API, from the page's own origin. Errors become ApiError with the
// envelope's message, type and request id ({"error": {"type", "message", "request_id"}}).

const KEY_STORE = "mapping-serve.api-key";
// The page lives at <root>/ui/; the API at <root>/ (works behind a path prefix too).
const ROOT = new URL("../", window.location.href);

export class ApiError extends Error {
  constructor(message, { status = 0, type = "error", requestId = null } = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.requestId = requestId;
  }
}

export function apiKey() {
  return window.localStorage.getItem(KEY_STORE) || "";
}

export function setApiKey(value) {
  if (value) window.localStorage.setItem(KEY_STORE, value);
  else window.localStorage.removeItem(KEY_STORE);
}

/** fetch() a path of the API: a JSON body (object) or FormData; the parsed JSON answer. */
export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, ROOT), { method, headers, body: payload });
  } catch (err) {
    throw new ApiError(`cannot reach the service (${err.message})`, { type: "connection_error" });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw toError(response, data, text);
  return data;
}

function toError(response, data, text) {
  const requestId = response.headers.get("X-Request-ID");
  const error = data && data.error;
  if (error && typeof error === "object") {
    return new ApiError(error.message || response.statusText, {
      status: response.status, type: error.type, requestId: error.request_id || requestId,
    });
  }
  const message = typeof error === "string" ? error
    : (data && data.detail) || (text || "").trim().slice(0, 300) || `HTTP ${response.status}`;
  return new ApiError(String(message), { status: response.status, requestId });
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
export const del = (path) => request("DELETE", path);
