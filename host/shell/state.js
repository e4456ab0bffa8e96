// The shell's shared state: who is signed in, the installed apps, the
// badges on the tabs, recently used apps and toasts — and the actions that
// change them (sign in and out, reloading).
import { ApiError, del, get, post, setCsrf, whenSignedOut } from './api.js';
import { currency, t } from './i18n.js';
import { createStore } from './store.js';

export const session = createStore({ status: 'loading', user: null });
export const apps = createStore({ list: [], loaded: false });
export const badges = createStore({ unread: 0, pending: 0 });
export const toasts = createStore({ items: [] });

const signedIn = new Set();
const signedOut = new Set();

// Runs `fn` after each sign-in (and restored session), and `off` after
// each sign-out: the modules that hold per-person state hook in here.
export function onSession(fn, off) {
  if (fn) signedIn.add(fn);
  if (off) signedOut.add(off);
}

function enter(s) {
  setCsrf(s.csrf);
  session.set({
    status: 'in',
    user: { handle: s.handle, display_name: s.display_name },
    expires_at: s.expires_at,
  });
  loadApps();
  refreshWallet();
  refreshUnread();
  for (const fn of signedIn) fn();
}

function leave() {
  setCsrf(null);
  if (session.get().status === 'out') return;
  session.set({ status: 'out', user: null });
  badges.set({ unread: 0, pending: 0 });
  for (const fn of signedOut) fn();
}

whenSignedOut(() => {
  if (session.get().status === 'in') {
    leave();
    toast(t('session_ended'));
  }
});

// Picks up the session the cookie names, if any (a reload stays signed in).
export async function restoreSession() {
  try {
    enter(await get('/auth/session'));
  } catch {
    leave();
  }
}

export async function signIn(handle, password) {
  enter(await post('/auth/session', { handle, password }));
}

export async function signOut() {
  try {
    await del('/auth/session');
  } catch (e) {
    // Gone already is signed out too.
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
  }
  leave();
}

export async function loadApps() {
  try {
    const { apps: list } = await get('/apps');
    apps.set({ list: Array.isArray(list) ? list : [], loaded: true });
  } catch {
    apps.set({ loaded: true });
  }
}

export function appById(id) {
  return apps.get().list.find((a) => a.id === id) || null;
}

// The app's UI (entry and icon), or null: `ui` may be null or missing.
export function uiOf(app) {
  const ui = app && app.ui;
  return ui && typeof ui.entry === 'string' && ui.entry.startsWith('/ui/') ? ui : null;
}

export async function refreshWallet() {
  try {
    const [w, pending] = await Promise.all([get('/me/wallet'), get('/me/payments/pending')]);
    currency.set({ code: w.currency, decimals: w.decimals });
    badges.set({ pending: Array.isArray(pending) ? pending.length : 0 });
    return w;
  } catch {
    return null;
  }
}

export async function refreshUnread() {
  try {
    const { conversations } = await get('/me/conversations');
    badges.set({ unread: conversations.reduce((n, c) => n + (c.unread || 0), 0) });
    return conversations;
  } catch {
    return null;
  }
}

// Recently used apps, ids only, the newest first.
const RECENT = 'superapp.recent';

export function recentApps() {
  try {
    const ids = JSON.parse(localStorage.getItem(RECENT) || '[]');
    return Array.isArray(ids) ? ids.filter((id) => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

export function noteRecent(id) {
  const ids = [id, ...recentApps().filter((x) => x !== id)].slice(0, 20);
  try {
    localStorage.setItem(RECENT, JSON.stringify(ids));
  } catch {
    // Only the order on the home screen is lost.
  }
}

let nextToast = 1;

// Shows `text` briefly in the live region.
export function toast(text, { kind = 'info' } = {}) {
  const id = nextToast++;
  toasts.set((s) => ({ items: [...s.items, { id, text, kind }].slice(-3) }));
  setTimeout(() => dismissToast(id), 5000);
}

export function dismissToast(id) {
  toasts.set((s) => ({ items: s.items.filter((x) => x.id !== id) }));
}

// A person-readable message for an API error.
export function errorText(e) {
  if (!(e instanceof ApiError)) return t('error_generic');
  const known = {
    'invalid-credentials': 'error_invalid_credentials',
    'login-throttled': 'error_throttled',
    'insufficient-funds': 'error_insufficient_funds',
    'unknown-user': 'error_unknown_user',
    'unknown-person': 'error_unknown_user',
    'self-transfer': 'error_self_transfer',
    'payment-expired': 'error_payment_expired',
    'red-packet-expired': 'error_packet_expired',
    'red-packet-empty': 'error_packet_empty',
    'not-a-member': 'error_not_member',
    network: 'error_network',
    'limit-exceeded': 'error_limit',
  };
  const key = known[e.code];
  if (key) return t(key, { seconds: e.retryAfter || 30 });
  return e.detail || t('error_generic');
}
