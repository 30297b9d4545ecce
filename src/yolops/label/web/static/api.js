// The labeling API (JSON over fetch, cookie session). Every error the server sends is
// {"error": {"code", "message"}} (a 409 also carries "current"): thrown as ApiError.

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
    this.body = body || {};
  }

  get current() {
    return this.body.current || null;
  }
}

let onUnauthorized = () => {};

/** Called with no argument when a request answers 401 (the session is gone). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function request(method, path, body, { quiet401 = false } = {}) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", `The server cannot be reached (${err.message})`);
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: { code: "bad_response", message: text.slice(0, 200) } };
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(response.status, error.code, error.message, data);
  }
  return data;
}

const enc = encodeURIComponent;

export const api = {
  me: () => request("GET", "/api/me", undefined, { quiet401: true }),
  login: (name, password) =>
    request("POST", "/api/login", { name, password }, { quiet401: true }),
  logout: () => request("POST", "/api/logout", {}),
  projects: () => request("GET", "/api/projects"),
  project: (name) => request("GET", `/api/projects/${enc(name)}`),
  queue: (name, stage, limit = 50) =>
    request("GET", `/api/projects/${enc(name)}/queue?stage=${enc(stage)}&limit=${limit}`),
  next: (name, stage) => request("POST", `/api/projects/${enc(name)}/next`, { stage }),
  exportProject: (name, to, message) =>
    request("POST", `/api/projects/${enc(name)}/export`, { to, message }),
  release: (id) => request("POST", `/api/tasks/${enc(id)}/release`, {}),
  task: (id) => request("GET", `/api/tasks/${enc(id)}`),
  save: (id, revision, boxes) => request("PUT", `/api/tasks/${enc(id)}`, { revision, boxes }),
  submit: (id, revision, boxes) =>
    request("POST", `/api/tasks/${enc(id)}/submit`, { revision, boxes }),
  approve: (id, revision, boxes) =>
    request("POST", `/api/tasks/${enc(id)}/approve`, { revision, boxes }),
  reject: (id, revision, comment) =>
    request("POST", `/api/tasks/${enc(id)}/reject`, { revision, comment }),
  history: (id) => request("GET", `/api/tasks/${enc(id)}/history`),
};
