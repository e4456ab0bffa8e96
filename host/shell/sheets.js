// The sheets the shell draws over everything (never inside a frame): a
// payment, a consent, a one-time subscription and the share picker, plus
// plain confirmations. One at a time; each is a labelled modal dialog that
// takes focus, keeps it, closes on Esc and gives focus back — and acts
// only on the person's own click (its buttons wake up after a moment, so a
// click aimed at the app underneath cannot land on them).
import { html, useEffect, useMemo, useRef, useState } from './vendor/htm-preact.mjs';
import { get, path, post, put } from './api.js';
import { money, t } from './i18n.js';
import { Icon } from './icons.js';
import { createStore, useStore } from './store.js';
import { appById, errorText, refreshWallet, session } from './state.js';
import { AppIcon, Avatar, Badge, ErrorText, Loading } from './ui.js';

export const sheet = createStore({ current: null });

export function sheetOpen() {
  return !!sheet.get().current;
}

export class SheetBusy extends Error {
  constructor() {
    super('a sheet is already open');
    this.code = 'busy';
  }
}

// Shows `Component` as the sheet; resolves with what the person chose.
export function showSheet(Component, props, { owner = null } = {}) {
  if (sheet.get().current) return Promise.reject(new SheetBusy());
  // Taken now: while the sheet is up the rest of the shell is inert, which
  // takes focus away from it.
  const before = document.activeElement;
  return new Promise((resolve) => {
    const done = (value) => {
      if (sheet.get().current && sheet.get().current.done === done) {
        sheet.set({ current: null });
        // Once the shell is live again, focus goes back where it was.
        setTimeout(() => {
          if (before && before.isConnected && typeof before.focus === 'function') before.focus();
        }, 0);
      }
      resolve(value);
    };
    sheet.set({ current: { Component, props, done, owner } });
  });
}

// Closes the open sheet as dismissed (its frame closed, the person signed
// out), if `owner` raised it (any sheet when `owner` is undefined).
export function dismissSheet(owner) {
  const cur = sheet.get().current;
  if (cur && (owner === undefined || cur.owner === owner)) cur.done(cur.props.dismissed);
}

export function SheetHost() {
  const { current } = useStore(sheet);
  if (!current) return null;
  const C = current.Component;
  return html`<${C} ...${current.props} done=${current.done} />`;
}

let nextId = 1;

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

// A modal dialog labelled by its title.
export function Dialog({ title, onClose, children, kind = 'sheet' }) {
  const ref = useRef(null);
  const titleId = useMemo(() => 'dialog-title-' + nextId++, []);
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const el = ref.current;
    if (el) el.focus();
    const onKey = (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        close.current();
      } else if (e.key === 'Tab' && el) {
        const items = Array.from(el.querySelectorAll(FOCUSABLE));
        if (!items.length) {
          e.preventDefault();
          return;
        }
        const first = items[0];
        const last = items[items.length - 1];
        if (!el.contains(document.activeElement)) {
          e.preventDefault();
          first.focus();
        } else if (e.shiftKey && (document.activeElement === first || document.activeElement === el)) {
          e.preventDefault();
          last.focus();
        } else if (!e.shiftKey && document.activeElement === last) {
          e.preventDefault();
          first.focus();
        }
      }
    };
    // Focus that leaves the dialog (a click on the backdrop) comes back.
    const onFocus = (e) => {
      if (el && !el.contains(e.target)) el.focus();
    };
    document.addEventListener('keydown', onKey, true);
    document.addEventListener('focusin', onFocus, true);
    return () => {
      document.removeEventListener('keydown', onKey, true);
      document.removeEventListener('focusin', onFocus, true);
    };
  }, []);
  return html`<div class="backdrop" onClick=${(e) => e.target === e.currentTarget && onClose()}>
    <div class=${'sheet ' + kind} role="dialog" aria-modal="true" aria-labelledby=${titleId} tabindex="-1" ref=${ref}>
      <div class="sheet-head">
        <h2 id=${titleId}>${title}</h2>
        <button type="button" class="icon-button" aria-label=${t('close')} onClick=${() => onClose()}>
          <${Icon} name="close" />
        </button>
      </div>
      ${children}
    </div>
  </div>`;
}

// False for the first moments after a sheet opens.
function useArmed(ms = 450) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    const id = setTimeout(() => setArmed(true), ms);
    return () => clearTimeout(id);
  }, []);
  return armed;
}

// The app a sheet is for: its icon, name, developer, and whether it is an
// unsigned developer install.
function AppLine({ appId }) {
  const app = appById(appId) || { id: appId, name: appId, developer: '' };
  return html`<div class="app-line">
    <${AppIcon} app=${app} size="sm" />
    <div>
      <p class="app-line-name">${app.name}</p>
      <p class="muted">
        ${app.developer ? t('by_developer', { developer: app.developer }) : t('unknown_developer')}
        ${app.signed === false ? html` <${Badge} text=${t('unsigned')} kind="warn" />` : null}
      </p>
    </div>
  </div>`;
}

function Row({ label, children }) {
  return html`<div class="row"><dt>${label}</dt><dd>${children}</dd></div>`;
}

function modeText(p) {
  if (p.kind !== 'purchase') return t('mode_direct');
  return t({ escrow: 'mode_escrow', hold: 'mode_hold' }[p.mode] || 'mode_direct');
}

function payeeText(p, app) {
  if (p.kind === 'transfer') return p.to_name ? `${p.to_name} (@${p.to})` : '@' + p.to;
  if (p.kind === 'red-packet') return t('payee_red_packet');
  return (app && app.name) || p.app;
}

const paymentListeners = new Set();

// `fn(paymentId, status)` after the person confirms or declines a payment
// anywhere in the shell.
export function onPaymentDecided(fn) {
  paymentListeners.add(fn);
  return () => paymentListeners.delete(fn);
}

function PaymentSheet({ payment: p, wallet, done }) {
  const armed = useArmed();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const app = appById(p.app);
  const amount = money(p.amount, p.currency);
  const short = wallet && wallet.balance < p.amount;
  async function decide(action) {
    setBusy(true);
    setError('');
    try {
      const view = await post(path`/me/payments/${p.id}/${action}`);
      const status = action === 'confirm' ? 'confirmed' : 'declined';
      for (const fn of [...paymentListeners]) fn(p.id, status);
      refreshWallet();
      done({ status, payment: view });
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  }
  return html`<${Dialog} title=${t('pay_title')} onClose=${() => !busy && done({ status: 'dismissed', payment: p })}>
    <${AppLine} appId=${p.app} />
    <p class="amount-big">${amount}</p>
    <dl class="details">
      <${Row} label=${t('payee')}>${payeeText(p, app)}<//>
      ${p.memo ? html`<${Row} label=${t('memo')}>${p.memo}<//>` : null}
      <${Row} label=${t('how_paid')}>${modeText(p)}<//>
      <${Row} label=${t('your_balance')}>${wallet ? money(wallet.balance, wallet.currency) : '…'}<//>
    </dl>
    ${short ? html`<p class="warn-text">${t('not_enough_balance')}</p>` : null}
    <${ErrorText} text=${error} />
    <div class="sheet-actions">
      <button type="button" class="button secondary" disabled=${!armed || busy} onClick=${() => decide('decline')}>
        ${t('decline')}
      </button>
      <button type="button" class="button primary" disabled=${!armed || busy} onClick=${() => decide('confirm')}>
        ${t('pay_amount', { amount })}
      </button>
    </div>
  <//>`;
}

// Shows the payment sheet for `payment` (a pending payment view); resolves
// `{status: confirmed | declined | dismissed, payment}`.
export async function askToPay(payment, opts) {
  let wallet = null;
  try {
    wallet = await get('/me/wallet');
  } catch {
    // The sheet still shows; the balance reads "…".
  }
  return showSheet(PaymentSheet, { payment, wallet, dismissed: { status: 'dismissed', payment } }, opts);
}

export function scopeName(scope) {
  return { profile: t('scope_profile'), 'real-name': t('scope_real_name') }[scope] || scope;
}

function ConsentSheet({ appId, scope, purpose, done }) {
  const armed = useArmed();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const app = appById(appId);
  async function decide(decision) {
    setBusy(true);
    try {
      await put(path`/me/apps/${appId}/grants/${scope}`, { decision });
      done(decision === 'grant' ? 'granted' : 'denied');
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  }
  return html`<${Dialog} title=${t('consent_title')} onClose=${() => !busy && done('dismissed')}>
    <${AppLine} appId=${appId} />
    <p class="ask">${t('consent_asks', { app: (app && app.name) || appId })}</p>
    <p class="scope-name"><${Icon} name="shield" /> ${scopeName(scope)}</p>
    <dl class="details">
      <${Row} label=${t('purpose')}>${purpose || t('no_purpose')}<//>
    </dl>
    <p class="muted small">${t('consent_change_later')}</p>
    <${ErrorText} text=${error} />
    <div class="sheet-actions">
      <button type="button" class="button secondary" disabled=${!armed || busy} onClick=${() => decide('deny')}>
        ${t('dont_allow')}
      </button>
      <button type="button" class="button primary" disabled=${!armed || busy} onClick=${() => decide('grant')}>
        ${t('allow')}
      </button>
    </div>
  <//>`;
}

// The consent sheet for one undecided scope; resolves `granted`, `denied`
// or `dismissed`.
export function askConsent(appId, scope, purpose, opts) {
  return showSheet(ConsentSheet, { appId, scope, purpose, dismissed: 'dismissed' }, opts);
}

function SubscribeSheet({ appId, topic, done }) {
  const armed = useArmed();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const app = appById(appId);
  async function allow() {
    setBusy(true);
    try {
      await post(path`/me/apps/${appId}/subscriptions`, { topic });
      done('subscribed');
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  }
  return html`<${Dialog} title=${t('subscribe_title')} onClose=${() => !busy && done('dismissed')}>
    <${AppLine} appId=${appId} />
    <p class="ask">${t('subscribe_asks', { app: (app && app.name) || appId })}</p>
    <dl class="details">
      <${Row} label=${t('topic')}><code>${topic}</code><//>
      <${Row} label=${t('how_many')}>${t('one_notification')}<//>
    </dl>
    <${ErrorText} text=${error} />
    <div class="sheet-actions">
      <button type="button" class="button secondary" disabled=${!armed || busy} onClick=${() => done('dismissed')}>
        ${t('not_now')}
      </button>
      <button type="button" class="button primary" disabled=${!armed || busy} onClick=${allow}>${t('allow')}</button>
    </div>
  <//>`;
}

export function askSubscribe(appId, topic, opts) {
  return showSheet(SubscribeSheet, { appId, topic, dismissed: 'dismissed' }, opts);
}

function ShareSheet({ appId, sharePath, title, done }) {
  const armed = useArmed();
  const [list, setList] = useState(null);
  const [chosen, setChosen] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const app = appById(appId);
  useEffect(() => {
    get('/me/conversations')
      .then(({ conversations }) => setList(conversations.filter((c) => c.kind === 'group' || c.kind === 'direct')))
      .catch((e) => {
        setList([]);
        setError(errorText(e));
      });
  }, []);
  async function send() {
    setBusy(true);
    try {
      await post(path`/me/conversations/${chosen}/messages`, { kind: 'app-card', app: appId, path: sharePath, title });
      done({ conversation: chosen });
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  }
  const me = session.get().user;
  return html`<${Dialog} title=${t('share_title')} onClose=${() => !busy && done({ conversation: null })}>
    <${AppLine} appId=${appId} />
    <div class="card-preview" aria-label=${t('card_preview')}>
      <p class="card-title">${title}</p>
      <p class="muted small">${(app && app.name) || appId}</p>
    </div>
    ${list === null
      ? html`<${Loading} />`
      : list.length === 0
        ? html`<p class="muted">${t('no_chats_to_share')}</p>`
        : html`<fieldset class="choices">
            <legend>${t('share_to')}</legend>
            ${list.map(
              (c) => html`<label class="choice" key=${c.id}>
                <input type="radio" name="share-to" value=${c.id} checked=${chosen === c.id} onChange=${() => setChosen(c.id)} />
                <${Avatar} name=${c.title} handle=${c.id} size="sm" />
                <span>${c.title || (me && me.display_name)}</span>
                <span class="muted small">${c.kind === 'group' ? t('members_count', { n: c.member_count }) : t('direct_chat')}</span>
              </label>`,
            )}
          </fieldset>`}
    <${ErrorText} text=${error} />
    <div class="sheet-actions">
      <button type="button" class="button secondary" disabled=${busy} onClick=${() => done({ conversation: null })}>
        ${t('cancel')}
      </button>
      <button type="button" class="button primary" disabled=${!armed || busy || !chosen} onClick=${send}>${t('send')}</button>
    </div>
  <//>`;
}

export function askShare(appId, sharePath, title, opts) {
  return showSheet(ShareSheet, { appId, sharePath, title, dismissed: { conversation: null } }, opts);
}

function ConfirmSheet({ title, body, confirmLabel, danger, done }) {
  return html`<${Dialog} title=${title} onClose=${() => done(false)} kind="sheet small">
    <p>${body}</p>
    <div class="sheet-actions">
      <button type="button" class="button secondary" onClick=${() => done(false)}>${t('cancel')}</button>
      <button type="button" class=${'button ' + (danger ? 'danger' : 'primary')} onClick=${() => done(true)}>
        ${confirmLabel}
      </button>
    </div>
  <//>`;
}

// Asks the person to confirm; resolves true or false.
export function confirmDialog({ title, body, confirmLabel, danger = false }) {
  return showSheet(ConfirmSheet, { title, body, confirmLabel, danger, dismissed: false }).catch(() => false);
}

// Shows any dialog body; `render(done)` draws it.
export function showDialog(title, Body, props = {}) {
  const Wrapped = ({ done, ...rest }) => html`<${Dialog} title=${title} onClose=${() => done(null)}>
    <${Body} ...${rest} done=${done} />
  <//>`;
  return showSheet(Wrapped, { ...props, dismissed: null });
}
