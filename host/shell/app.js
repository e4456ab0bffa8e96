// The shell's entry: restores the session, draws the layout (the screen,
// the app frames, the tab bar, the sheet and the toasts), routes between
// screens, opens links (`/?app=shop&path=/orders/o1&scene=link`) and turns
// live events into badges and toasts.
import { html, render, useEffect } from './vendor/htm-preact.mjs';
import { language, money, t } from './i18n.js';
import { Icon } from './icons.js';
import { onLive } from './live.js';
import { navigate, route } from './router.js';
import { useStore } from './store.js';
import {
  apps,
  appById,
  badges,
  dismissToast,
  onSession,
  refreshUnread,
  refreshWallet,
  restoreSession,
  session,
  toast,
  toasts,
  uiOf,
} from './state.js';
import { SheetHost, dismissSheet, sheet } from './sheets.js';
import { FrameHost, closeApp, frames, openApp } from './frames.js';
import { backToApp, installBridge } from './bridge-host.js';
import { AppIcon, Empty, Loading } from './ui.js';
import { SignIn } from './screens/signin.js';
import { Home } from './screens/home.js';
import { PacketDetail, PaymentDetail, SendPacket, Transfer, Wallet } from './screens/wallet.js';
import { Chats, Conversation } from './screens/chats.js';
import { AccessLog, AppSettings, Settings } from './screens/settings.js';

const TABS = [
  { name: 'home', href: '#/', icon: 'home', label: 'tab_home', routes: ['home'] },
  { name: 'chats', href: '#/chats', icon: 'chats', label: 'tab_chats', routes: ['chats', 'conversation'], badge: 'unread' },
  {
    name: 'wallet',
    href: '#/wallet',
    icon: 'wallet',
    label: 'tab_wallet',
    routes: ['wallet', 'transfer', 'send-packet', 'payment', 'packet'],
    badge: 'pending',
  },
  { name: 'settings', href: '#/settings', icon: 'settings', label: 'tab_settings', routes: ['settings', 'app-settings', 'access-log'] },
];

function TabBar() {
  const r = useStore(route);
  const b = useStore(badges);
  return html`<nav class="tabbar" aria-label=${t('main_navigation')}>
    ${TABS.map((tab) => {
      const current = tab.routes.includes(r.name);
      const n = tab.badge ? b[tab.badge] : 0;
      return html`<a class=${'tab' + (current ? ' current' : '')} href=${tab.href} aria-current=${current ? 'page' : undefined}>
        <${Icon} name=${tab.icon} />
        <span>${t(tab.label)}</span>
        ${n > 0 ? html`<span class="tab-badge" aria-label=${t(tab.badge === 'unread' ? 'unread_n' : 'pending_n', { n })}>${n > 99 ? '99+' : n}</span>` : null}
      </a>`;
    })}
  </nav>`;
}

// The top bar over an app: back, the app's name, close — drawn by the
// shell, so an app cannot hide or fake it.
function AppBar({ id }) {
  useStore(frames);
  const app = appById(id);
  const frame = frames.get().list.find((f) => f.app === id);
  function back() {
    if (frame && backToApp(frame)) return;
    closeApp(id);
  }
  return html`<header class="topbar appbar">
    <button type="button" class="icon-button" aria-label=${t('back')} onClick=${back}><${Icon} name="back" /></button>
    <h1 class="topbar-title">
      ${app ? html`<${AppIcon} app=${app} size="xs" />` : null}
      <span>${app ? app.name : id}</span>
    </h1>
    <button type="button" class="icon-button" aria-label=${t('close_app')} onClick=${() => closeApp(id)}>
      <${Icon} name="close" />
    </button>
  </header>`;
}

// The app screen without a frame: an unknown app, or one without a UI.
function AppPlaceholder({ id }) {
  const { loaded } = useStore(apps);
  const app = appById(id);
  if (!loaded) return html`<${Loading} />`;
  if (!app) return html`<${Empty} text=${t('app_not_found', { app: id })}><a class="button secondary" href="#/">${t('go_home')}</a><//>`;
  return html`<div class="page">
    <div class="card pad center">
      <${AppIcon} app=${app} size="lg" />
      <h2>${app.name}</h2>
      ${app.description ? html`<p>${app.description}</p>` : null}
      <p class="muted">${t('app_no_ui')}</p>
    </div>
  </div>`;
}

function AppScreen({ id }) {
  const { loaded } = useStore(apps);
  const { list } = useStore(frames);
  const app = appById(id);
  const open = list.some((f) => f.app === id);
  // A reload or a typed address: open the app fresh.
  useEffect(() => {
    if (loaded && app && uiOf(app) && !open) openApp(id, { explicit: false, returnTo: '/' });
  }, [loaded, id, open]);
  // An app with a UI is about to get its frame: no placeholder meanwhile.
  const placeholder = !open && !(app && uiOf(app));
  return html`<${AppBar} id=${id} />
    ${placeholder ? html`<main class="screen-body"><${AppPlaceholder} id=${id} /></main>` : null}`;
}

function Screen({ r }) {
  switch (r.name) {
    case 'home':
      return html`<${Home} />`;
    case 'chats':
      return html`<${Chats} />`;
    case 'conversation':
      return html`<${Conversation} id=${r.id} key=${r.id} />`;
    case 'wallet':
      return html`<${Wallet} />`;
    case 'transfer':
      return html`<${Transfer} />`;
    case 'send-packet':
      return html`<${SendPacket} />`;
    case 'payment':
      return html`<${PaymentDetail} id=${r.id} key=${r.id} />`;
    case 'packet':
      return html`<${PacketDetail} id=${r.id} key=${r.id} />`;
    case 'settings':
      return html`<${Settings} />`;
    case 'app-settings':
      return html`<${AppSettings} id=${r.id} key=${r.id} />`;
    case 'access-log':
      return html`<${AccessLog} />`;
    default:
      return html`<${Empty} text=${t('page_not_found')}><a class="button secondary" href="#/">${t('go_home')}</a><//>`;
  }
}

function Toasts() {
  const { items } = useStore(toasts);
  return html`<div class="toasts" role="status" aria-live="polite">
    ${items.map(
      (x) => html`<div class=${'toast ' + x.kind} key=${x.id}>
        <span>${x.text}</span>
        <button type="button" class="icon-button small" aria-label=${t('dismiss')} onClick=${() => dismissToast(x.id)}>
          <${Icon} name="close" size="16" />
        </button>
      </div>`,
    )}
  </div>`;
}

function Shell() {
  const s = useStore(session);
  const r = useStore(route);
  const { current } = useStore(sheet);
  useStore(language);
  useEffect(() => {
    document.title = r.name === 'app' && appById(r.id) ? `${appById(r.id).name} · ${t('app_name')}` : t('app_name');
  });
  if (s.status === 'loading') return html`<div class="shell"><${Loading} /></div>`;
  if (s.status !== 'in') {
    return html`<div class="shell signed-out"><${SignIn} /><${Toasts} /></div>`;
  }
  const inApp = r.name === 'app';
  const covered = !!current;
  return html`<div class=${'shell' + (inApp ? ' in-app' : '')}>
    <div class="screen" inert=${covered}>
      ${inApp ? html`<${AppScreen} id=${r.id} key=${'app-' + r.id} />` : html`<main class="screen-body" id="main"><${Screen} r=${r} /></main>`}
    </div>
    <${FrameHost} inert=${covered} />
    ${inApp ? null : html`<div class="tabbar-wrap" inert=${covered}><${TabBar} /></div>`}
    <${SheetHost} />
    <${Toasts} />
  </div>`;
}

// A link into an app (`/?app=…&path=…&scene=…`), kept until signed in.
let pendingLink = (() => {
  const q = new URLSearchParams(location.search);
  const app = q.get('app');
  if (!app) return null;
  const path = q.get('path') || '/';
  const scene = q.get('scene') || 'link';
  return {
    app,
    path: path.startsWith('/') ? path : '/',
    scene: /^[A-Za-z0-9_-]{1,32}$/.test(scene) ? scene : 'link',
  };
})();

function followLink() {
  if (!pendingLink || session.get().status !== 'in' || !apps.get().loaded) return;
  const link = pendingLink;
  pendingLink = null;
  history.replaceState(null, '', location.pathname + '#/');
  route.set({ name: 'home', query: new URLSearchParams(), hash: '#/' });
  if (appById(link.app)) {
    openApp(link.app, { path: link.path, scene: link.scene, returnTo: '/' });
  } else {
    toast(t('app_not_found', { app: link.app }), { kind: 'error' });
  }
}
apps.subscribe(followLink);
session.subscribe(followLink);

// Live events → badges and toasts.
let unreadTimer = 0;
function unreadSoon() {
  clearTimeout(unreadTimer);
  unreadTimer = setTimeout(refreshUnread, 300);
}
onLive('message', (m) => {
  unreadSoon();
  const r = route.get();
  const viewing = r.name === 'conversation' && r.id === m.conversation;
  const me = session.get().user;
  if (!viewing && m.sender && me && m.sender.handle !== me.handle && m.kind !== 'system') {
    toast(t('toast_message', { name: m.sender.name }));
  }
});
onLive('notification', (m) => {
  unreadSoon();
  const app = appById(m.app);
  toast(t('toast_notification', { app: (app && app.name) || m.app || '', text: m.text || '' }));
});
onLive('payment-prompt', (d) => {
  refreshWallet();
  const app = appById(d.app);
  // The app in front shows its own sheet through the bridge.
  const r = route.get();
  if (!(r.name === 'app' && r.id === d.app)) {
    toast(t('toast_payment_prompt', { app: (app && app.name) || d.app, amount: money(d.amount) }));
  }
});
onLive('packet-claimed', (d) => {
  refreshWallet();
  const me = session.get().user;
  if (me && d.by && d.by.handle === me.handle) return;
  toast(t('toast_packet_claimed', { name: d.by ? d.by.name : '', amount: money(d.amount) }));
});

onSession(null, () => dismissSheet());
// After signing out, the address goes back home (no app left open).
onSession(null, () => {
  if (route.get().name === 'app') navigate('/', { replace: true });
});

installBridge();
restoreSession();
render(html`<${Shell} />`, document.getElementById('root'));
