// The shell's client of the host's HTTP API: same-origin requests with the
// session cookie, the CSRF header on everything that is not a read, and
// problem+json answers turned into `ApiError`s with the stable code.

let csrf = null;
let onSignedOut = () => {};

export function setCsrf(token) {
  csrf = token;
}

// Called when the host says the session is gone (expired, revoked).
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

// Adds the CSRF header to `headers` when `method` may change something.
export function withCsrf(method, headers) {
  if (!SAFE.has(method) && csrf) headers['x-csrf-token'] = csrf;
  return headers;
}

// A fresh idempotency key for one money-moving request (6–64 of
// A-Z a-z 0-9 . _ : -); a retry of the same request reuses it.
export function idempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return 'shell-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function problemOf(resp) {
  let code = 'http-' + resp.status;
  let detail = resp.statusText;
  try {
    const body = await resp.json();
    if (body && typeof body.type === 'string') {
      code = body.type.replace(/^urn:superapp:problem:/, '');
      detail = body.detail || detail;
    }
  } catch {
    // Not problem+json: keep the status.
  }
  const retry = Number(resp.headers.get('retry-after')) || undefined;
  return new ApiError(resp.status, code, detail, retry);
}

// Calls the API; resolves to the parsed JSON (null for an empty answer).
export async function api(method, path, { body, idempotency, signal } = {}) {
  const headers = withCsrf(method, { accept: 'application/json' });
  const init = { method, headers, credentials: 'same-origin', signal, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (idempotency) headers['idempotency-key'] = idempotency;
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', String(e && e.message));
  }
  if (!resp.ok) {
    const err = await problemOf(resp);
    if (resp.status === 401 && path !== '/auth/session') onSignedOut(err);
    throw err;
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => api('GET', path, opts);
export const post = (path, body, opts) => api('POST', path, { ...opts, body });
export const put = (path, body, opts) => api('PUT', path, { ...opts, body });
export const del = (path, opts) => api('DELETE', path, opts);

// `/a/{x}` with each value encoded.
export function path(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}
