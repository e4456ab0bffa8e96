// The shell's side of the bridge (version 1): takes messages only from an
// open frame's own window with the opaque origin "null", knows which app
// that frame is (never from the message), and answers each method as that
// person, for that app only. Sheets are raised only for the frame in front,
// one at a time, at most 5 per app per minute, and a payment the person
// dismissed or declined is not shown again in this session.
import { ApiError, get, path as p, post, withCsrf } from './api.js';
import { language } from './i18n.js';
import { appById, onSession } from './state.js';
import { askConsent, askShare, askSubscribe, askToPay, onPaymentDecided, sheetOpen } from './sheets.js';
import {
  closeApp,
  frameByWindow,
  frameInfo,
  frames,
  isFront,
  openApp,
  postTo,
  sendEvent,
  setLoaded,
  theme,
} from './frames.js';

const MAX_BODY = 1 << 20;
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const SHEETS_PER_MINUTE = 5;

class BridgeError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const invalid = (message) => new BridgeError('invalid-params', message);

// Per shell session: payments shown and then dismissed or declined, the
// app each shown payment belongs to, and when each app last raised sheets.
let alreadyAsked = new Set();
let shownTo = new Map();
let sheetTimes = new Map();

onSession(null, () => {
  alreadyAsked = new Set();
  shownTo = new Map();
  sheetTimes = new Map();
});

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// The checks every sheet passes before it is drawn.
function mayRaiseSheet(frame) {
  if (!isFront(frame)) throw new BridgeError('not-in-front', 'only the app in front may ask the person');
  if (sheetOpen()) throw new BridgeError('busy', 'another sheet is open');
  const now = Date.now();
  const times = (sheetTimes.get(frame.app) || []).filter((t) => now - t < 60000);
  if (times.length >= SHEETS_PER_MINUTE) {
    sheetTimes.set(frame.app, times);
    throw new BridgeError('too-many-requests', 'at most 5 sheets a minute');
  }
  times.push(now);
  sheetTimes.set(frame.app, times);
}

// The frame's launch (open id), made once per frame.
async function launch(frame, fresh) {
  const x = frameInfo(frame.key);
  if (!fresh && x && x.launch) return x.launch;
  const result = await post(p`/apps/${frame.app}/launch`, { path: frame.path, scene: frame.scene });
  if (x) x.launch = result;
  return result;
}

// A `call` path: starts with `/`, no dot segments (also percent-encoded),
// no backslashes, no fragment; the query stays as it is.
function checkCallPath(path) {
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//')) {
    throw invalid('`path` must be a string starting with `/`');
  }
  if (path.length > 8192) throw invalid('`path` is too long');
  if (/[\\#\u0000-\u001f\u007f]/.test(path)) throw invalid('`path` holds a character that is not allowed');
  const [pathname] = path.split('?');
  for (const segment of pathname.split('/')) {
    let decoded = segment;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw invalid('`path` is not valid percent-encoding');
    }
    if (decoded === '.' || decoded === '..' || decoded.includes('/') || decoded.includes('\\')) {
      throw invalid('`path` may not hold `.` or `..` segments or encoded slashes');
    }
  }
}

function checkHeaders(headers) {
  const out = {};
  if (headers === undefined || headers === null) return out;
  if (!isObject(headers)) throw invalid('`headers` must be an object');
  for (const [rawName, value] of Object.entries(headers)) {
    const name = String(rawName).toLowerCase();
    const allowed =
      ['content-type', 'accept', 'accept-language'].includes(name) ||
      (/^x-[a-z0-9-]+$/.test(name) && !name.startsWith('x-superapp-') && name !== 'x-csrf-token');
    if (!allowed) throw invalid(`header \`${name}\` may not be set`);
    if (typeof value !== 'string' || /[\r\n\u0000]/.test(value)) throw invalid(`header \`${name}\` must be a one-line string`);
    out[name] = value;
  }
  return out;
}

async function call(frame, params) {
  const { path, method = 'GET', headers, body } = params;
  checkCallPath(path);
  const verb = typeof method === 'string' ? method.toUpperCase() : '';
  if (!METHODS.has(verb)) throw invalid('`method` must be GET, POST, PUT, PATCH or DELETE');
  const sent = checkHeaders(headers);
  if (body !== undefined && body !== null && typeof body !== 'string') throw invalid('`body` must be a string');
  if (typeof body === 'string' && new TextEncoder().encode(body).length > MAX_BODY) throw invalid('`body` is over 1 MiB');
  if (verb === 'GET' && body) throw invalid('a GET has no body');
  const base = `/apps/${encodeURIComponent(frame.app)}/call`;
  const url = new URL(base + path, location.origin);
  // Whatever the path held, the request stays inside this app's calls.
  if (url.origin !== location.origin || !(url.pathname === base || url.pathname.startsWith(base + '/'))) {
    throw invalid('`path` leaves the app');
  }
  sent['x-superapp-scene'] = frame.scene;
  const resp = await fetch(url.href, {
    method: verb,
    headers: withCsrf(verb, sent),
    body: verb === 'GET' ? undefined : body ?? undefined,
    credentials: 'same-origin',
    cache: 'no-store',
  });
  // The host lets an app redirect only inside its own calls; checked again.
  const final = new URL(resp.url || url.href);
  if (final.origin !== location.origin || !final.pathname.startsWith(base)) {
    throw new BridgeError('invalid-response', 'the app answered with a redirect out of itself');
  }
  const out = {};
  resp.headers.forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return { status: resp.status, headers: out, body: await resp.text() };
}

async function requestPayment(frame, { payment }) {
  if (typeof payment !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(payment)) throw invalid('`payment` must be a payment id');
  if (alreadyAsked.has(payment)) throw new BridgeError('already-asked', 'the person already answered this payment');
  let view;
  try {
    view = await get(p`/me/payments/${payment}`);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) {
      throw new BridgeError('not-your-payment', 'no pending payment of this app for the person');
    }
    throw e;
  }
  if (!view || view.app !== frame.app || view.status !== 'pending') {
    throw new BridgeError('not-your-payment', 'no pending payment of this app for the person');
  }
  mayRaiseSheet(frame);
  shownTo.set(payment, frame.app);
  const result = await askToPay(view, { owner: frame.key });
  if (result.status !== 'confirmed') alreadyAsked.add(payment);
  return { status: result.status, payment };
}

async function requestScope(frame, { scope }) {
  if (typeof scope !== 'string' || !scope) throw invalid('`scope` must be a scope name');
  const { scopes } = await get(p`/me/apps/${frame.app}/grants`);
  const entry = (scopes || []).find((s) => s.scope === scope);
  if (!entry) throw invalid(`the app does not request the scope \`${scope}\``);
  if (entry.state === 'granted') return { state: 'granted' };
  // A denial stands until the person changes it in settings.
  if (entry.state === 'denied') return { state: 'denied' };
  mayRaiseSheet(frame);
  const state = await askConsent(frame.app, scope, entry.purpose, { owner: frame.key });
  return { state: state === 'granted' ? 'granted' : 'denied' };
}

async function subscribe(frame, { topic }) {
  if (typeof topic !== 'string' || !/^[a-z0-9._-]{1,64}$/.test(topic)) throw invalid('`topic` must be 1–64 of a-z 0-9 - _ .');
  mayRaiseSheet(frame);
  const state = await askSubscribe(frame.app, topic, { owner: frame.key });
  return { state: state === 'subscribed' ? 'subscribed' : 'dismissed' };
}

async function share(frame, { path, title }) {
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > 1024) throw invalid('`path` must start with `/`');
  if (typeof title !== 'string' || !title.trim() || title.length > 200) throw invalid('`title` must be 1–200 characters');
  mayRaiseSheet(frame);
  const { conversation } = await askShare(frame.app, path, title, { owner: frame.key });
  return { conversation: conversation || null };
}

const handlers = {
  ready(frame) {
    setLoaded(frame.key);
    return {};
  },
  async context(frame) {
    const l = await launch(frame, false);
    return {
      app: frame.app,
      open_id: l.open_id,
      scene: frame.scene,
      path: frame.path,
      language: language.get().code,
      theme: theme(),
      bridge_version: 1,
    };
  },
  call,
  async launchToken(frame) {
    const l = await launch(frame, true);
    return { token: l.token, expires_at: l.expires_at, open_id: l.open_id };
  },
  requestPayment,
  requestScope,
  subscribe,
  share,
  openApp(frame, { app, path = '/' }) {
    if (typeof app !== 'string' || !appById(app)) throw new BridgeError('app-not-found', 'no such app is installed');
    if (typeof path !== 'string' || !path.startsWith('/')) throw invalid('`path` must start with `/`');
    if (!isFront(frame)) throw new BridgeError('not-in-front', 'only the app in front may open another');
    openApp(app, { path, scene: 'app', returnTo: '/app/' + encodeURIComponent(frame.app) });
    return {};
  },
  close(frame) {
    // Answered first, with a moment for the answer to arrive: the frame is
    // gone after.
    setTimeout(() => closeApp(frame.app), 50);
    return {};
  },
  handleBack(frame, { enabled }) {
    if (typeof enabled !== 'boolean') throw invalid('`enabled` must be true or false');
    const x = frameInfo(frame.key);
    if (x) x.handleBack = enabled;
    return {};
  },
};

function answer(frame, id, outcome) {
  postTo(frame.key, { superapp: 1, id, ...outcome });
}

async function onMessage(event) {
  const frame = frameByWindow(event.source);
  if (!frame || event.origin !== 'null') return;
  const msg = event.data;
  if (!isObject(msg) || msg.superapp !== 1) return;
  if (!Number.isSafeInteger(msg.id) || msg.id <= 0 || typeof msg.method !== 'string') return;
  const handler = Object.prototype.hasOwnProperty.call(handlers, msg.method) ? handlers[msg.method] : null;
  if (!handler) {
    answer(frame, msg.id, { error: { code: 'unknown-method', message: `no method \`${msg.method}\`` } });
    return;
  }
  const params = msg.params === undefined ? {} : msg.params;
  if (!isObject(params)) {
    answer(frame, msg.id, { error: { code: 'invalid-params', message: '`params` must be an object' } });
    return;
  }
  try {
    const result = await handler(frame, params);
    answer(frame, msg.id, { result });
  } catch (e) {
    const code = e && typeof e.code === 'string' ? e.code : 'internal';
    const message = (e && e.message) || code;
    answer(frame, msg.id, { error: { code, message } });
  }
}

// The shell's back button while `appId` is in front: the app's `back`
// event when it asked for it; else false (the shell closes the app).
export function backToApp(frame) {
  const x = frameInfo(frame.key);
  if (x && x.handleBack) {
    sendEvent(frame.key, 'back', {});
    return true;
  }
  return false;
}

export function installBridge() {
  window.addEventListener('message', onMessage);
  // A payment an app showed the person, decided anywhere in the shell.
  onPaymentDecided((payment, status) => {
    const app = shownTo.get(payment);
    if (!app) return;
    const frame = frameByApp(app);
    if (frame) sendEvent(frame.key, 'payment', { payment, status });
  });
}

function frameByApp(app) {
  return frames.get().list.find((f) => f.app === app) || null;
}
