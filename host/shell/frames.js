// The mini-app frames: one sandboxed, opaque-origin iframe per open app,
// kept alive while the person moves around the shell; only the front one
// is shown. The iframe is made by hand, once, so its sandbox is set before
// it loads and nothing ever changes its address afterwards.
import { html, useEffect, useRef } from './vendor/htm-preact.mjs';
import { language, t } from './i18n.js';
import { currentPath, navigate, route } from './router.js';
import { createStore, useStore } from './store.js';
import { appById, noteRecent, onSession, toasts, uiOf } from './state.js';
import { dismissSheet } from './sheets.js';
import { Loading } from './ui.js';

export const frames = createStore({ list: [] });

// Per-frame state that never redraws anything: the iframe, the cached
// launch, whether the app takes the back button.
const extra = new Map();
let nextKey = 1;

const dark = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

export function theme() {
  return dark && dark.matches ? 'dark' : 'light';
}

export function frameInfo(key) {
  return extra.get(key);
}

// The open frame whose window is `win`, if any.
export function frameByWindow(win) {
  if (!win) return null;
  for (const f of frames.get().list) {
    const x = extra.get(f.key);
    if (x && x.iframe && x.iframe.contentWindow === win) return f;
  }
  return null;
}

// The frame in front: the app screen is showing it, and the page is seen.
export function isFront(frame) {
  const r = route.get();
  return r.name === 'app' && r.id === frame.app && document.visibilityState === 'visible';
}

function srcFor(ui, path, scene) {
  const hash =
    'path=' + encodeURIComponent(path) +
    '&scene=' + encodeURIComponent(scene) +
    '&lang=' + encodeURIComponent(language.get().code) +
    '&theme=' + theme();
  return ui.entry.split('#')[0] + '#' + hash;
}

// Opens `appId` at `path` and brings it to the front. An app already open
// comes to the front as it is, unless another path or scene is asked for.
export function openApp(appId, { path = '/', scene = 'direct', returnTo, explicit = true } = {}) {
  const app = appById(appId);
  const back = returnTo || (route.get().name === 'app' && route.get().id === appId ? '/' : currentPath());
  const existing = frames.get().list.find((f) => f.app === appId);
  noteRecent(appId);
  // What the shell said before is old news over the app.
  toasts.set({ items: [] });
  if (existing && (!explicit || (existing.path === path && existing.scene === scene))) {
    navigate('/app/' + encodeURIComponent(appId));
    return;
  }
  if (existing) removeFrame(existing);
  const ui = uiOf(app);
  if (ui) {
    const key = 'f' + nextKey++;
    extra.set(key, { iframe: null, launch: null, handleBack: false, loadTimer: 0 });
    frames.set((s) => ({
      list: [...s.list, { key, app: appId, path, scene, src: srcFor(ui, path, scene), loading: true, returnTo: back }],
    }));
  }
  navigate('/app/' + encodeURIComponent(appId));
}

function removeFrame(frame) {
  const x = extra.get(frame.key);
  if (x) {
    clearTimeout(x.loadTimer);
    if (x.iframe) x.iframe.remove();
  }
  extra.delete(frame.key);
  dismissSheet(frame.key);
  frames.set((s) => ({ list: s.list.filter((f) => f.key !== frame.key) }));
}

// Closes the app's frame and goes back to where the person was.
export function closeApp(appId) {
  const frame = frames.get().list.find((f) => f.app === appId);
  let back = (frame && frame.returnTo) || '/';
  const m = /^\/app\/([^/]+)/.exec(back);
  if (m && !frames.get().list.some((f) => f.app === decodeURIComponent(m[1]) && f !== frame)) back = '/';
  // Away first, so the app screen does not open the app again.
  if (route.get().name === 'app' && route.get().id === appId) navigate(back, { replace: true });
  if (frame) removeFrame(frame);
}

export function setLoaded(key) {
  const x = extra.get(key);
  if (x) clearTimeout(x.loadTimer);
  frames.set((s) => ({ list: s.list.map((f) => (f.key === key ? { ...f, loading: false } : f)) }));
}

// Sends `msg` to the frame's window (an opaque origin cannot be named, so
// the target is the window itself).
export function postTo(key, msg) {
  const x = extra.get(key);
  const win = x && x.iframe && x.iframe.contentWindow;
  if (win) win.postMessage(msg, '*');
}

export function sendEvent(key, event, data) {
  postTo(key, { superapp: 1, event, data });
}

export function broadcast(event, data) {
  for (const f of frames.get().list) sendEvent(f.key, event, data);
}

language.subscribe(({ code }) => broadcast('language', { language: code }));
if (dark && dark.addEventListener) dark.addEventListener('change', () => broadcast('theme', { theme: theme() }));

onSession(null, () => {
  for (const f of frames.get().list) removeFrame(f);
});

function FrameSlot({ frame, name }) {
  const slot = useRef(null);
  useEffect(() => {
    const el = document.createElement('iframe');
    el.setAttribute('sandbox', 'allow-scripts allow-forms');
    el.setAttribute('allow', '');
    el.setAttribute('referrerpolicy', 'no-referrer');
    el.setAttribute('title', name);
    el.className = 'app-frame';
    el.addEventListener('load', () => {
      const x = extra.get(frame.key);
      // An app that never says `ready` is shown anyway after a moment.
      if (x) x.loadTimer = setTimeout(() => setLoaded(frame.key), 3000);
    });
    el.src = frame.src;
    const x = extra.get(frame.key);
    if (x) x.iframe = el;
    slot.current.appendChild(el);
  }, [frame.key]);
  return html`<div class="frame-slot" ref=${slot}></div>`;
}

// Every open frame, the front one shown; mounted for the shell's whole life
// so frames survive moving between screens.
export function FrameHost({ inert }) {
  const { list } = useStore(frames);
  const r = useStore(route);
  const showing = r.name === 'app';
  return html`<div class="frames" hidden=${!showing} inert=${inert}>
    ${list.map((f) => {
      const app = appById(f.app);
      const name = (app && app.name) || f.app;
      return html`<div class="frame-wrap" key=${f.key} hidden=${!(showing && r.id === f.app)}>
        <${FrameSlot} frame=${f} name=${name} />
        ${f.loading ? html`<div class="frame-loading"><${Loading} label=${t('opening_app', { app: name })} /></div>` : null}
      </div>`;
    })}
  </div>`;
}
