// The wallet: balance, payments waiting for the person, the paged history,
// a payment's details with its refunds, transfers and red packets.
import { html, useEffect, useMemo, useState } from '../vendor/htm-preact.mjs';
import { get, idempotencyKey, path, post } from '../api.js';
import { currency, fullTime, money, parseAmount, t, when } from '../i18n.js';
import { Icon } from '../icons.js';
import { navigate, route } from '../router.js';
import { appById, errorText, refreshWallet, toast } from '../state.js';
import { askToPay, confirmDialog } from '../sheets.js';
import { useStore } from '../store.js';
import { onLive } from '../live.js';
import { AppIcon, Empty, ErrorText, Field, Loading, TopBar } from '../ui.js';

function appName(id) {
  const a = appById(id);
  return (a && a.name) || id;
}

export function kindText(kind) {
  const key = {
    'top-up': 'kind_top_up',
    withdrawal: 'kind_withdrawal',
    transfer: 'kind_transfer',
    payment: 'kind_payment',
    purchase: 'kind_payment',
    'escrow-release': 'kind_escrow_release',
    capture: 'kind_capture',
    'hold-return': 'kind_hold_return',
    refund: 'kind_refund',
    'red-packet': 'kind_red_packet',
    'red-packet-funding': 'kind_red_packet',
    'red-packet-claim': 'kind_packet_claim',
    'red-packet-return': 'kind_packet_return',
    payout: 'kind_payout',
  }[kind];
  return key ? t(key) : kind;
}

function counterpartyText(c) {
  if (!c) return '';
  if (c.startsWith('app:')) return appName(c.slice(4));
  if (c === 'operator') return t('cp_operator');
  if (c === 'escrow') return t('cp_escrow');
  if (c === 'hold') return t('cp_hold');
  if (c === 'red-packet') return t('cp_red_packet');
  return c;
}

export function statusText(status) {
  const key = 'status_' + String(status).replace(/-/g, '_');
  const s = t(key);
  return s === key ? status : s;
}

// Pays or declines a pending payment through the sheet; true when decided.
export async function reviewPayment(p) {
  try {
    const r = await askToPay(p);
    if (r.status === 'confirmed') toast(t('toast_paid', { amount: money(p.amount, p.currency) }));
    if (r.status === 'declined') toast(t('toast_declined'));
    return r.status !== 'dismissed';
  } catch (e) {
    toast(errorText(e), { kind: 'error' });
    return false;
  }
}

function Pending({ items, reload }) {
  if (!items.length) return null;
  return html`<section class="section" aria-labelledby="pending-title">
    <h2 id="pending-title">${t('pending_title')}</h2>
    <ul class="list card" aria-label=${t('pending_title')}>
      ${items.map(
        (p) => html`<li class="list-item" key=${p.id}>
          <${AppIcon} app=${appById(p.app) || { id: p.app, name: p.app }} size="sm" />
          <div class="grow">
            <p>${appName(p.app)}</p>
            <p class="muted small">${p.memo || kindText(p.kind)}</p>
          </div>
          <div class="end">
            <p class="amount">${money(p.amount, p.currency)}</p>
            <button
              type="button"
              class="button small primary"
              aria-label=${t('review_payment', { amount: money(p.amount, p.currency), app: appName(p.app) })}
              onClick=${async () => {
                if (await reviewPayment(p)) reload();
              }}
            >
              ${t('review')}
            </button>
          </div>
        </li>`,
      )}
    </ul>
  </section>`;
}

function TxItem({ tx }) {
  const sign = tx.direction === 'in' ? '+' : '−';
  const link = tx.reference && tx.reference.startsWith('pay_')
    ? '#/wallet/payments/' + encodeURIComponent(tx.reference)
    : tx.reference && tx.reference.startsWith('rp_')
      ? '#/red-packets/' + encodeURIComponent(tx.reference)
      : null;
  const body = html`<div class="grow">
      <p>${kindText(tx.kind)}${tx.counterparty === 'red-packet' ? '' : ' · ' + counterpartyText(tx.counterparty)}</p>
      <p class="muted small">${tx.memo ? tx.memo + ' · ' : ''}${when(tx.at)}</p>
    </div>
    <p class=${'amount ' + (tx.direction === 'in' ? 'in' : 'out')}>${sign}${money(tx.amount)}</p>`;
  return html`<li class="list-item" key=${tx.seq}>
    ${link ? html`<a class="row-link" href=${link}>${body}</a>` : body}
  </li>`;
}

export function Wallet() {
  useStore(currency);
  const [wallet, setWallet] = useState(null);
  const [pending, setPending] = useState([]);
  const [items, setItems] = useState(null);
  const [next, setNext] = useState(null);
  const [error, setError] = useState('');
  const [more, setMore] = useState(false);
  async function load() {
    try {
      const [w, pend, page] = await Promise.all([
        get('/me/wallet'),
        get('/me/payments/pending'),
        get('/me/wallet/transactions?limit=20'),
      ]);
      setWallet(w);
      setPending(pend);
      setItems(page.items);
      setNext(page.next_before ?? null);
      refreshWallet();
    } catch (e) {
      setError(errorText(e));
    }
  }
  async function loadMore() {
    setMore(true);
    try {
      const page = await get(`/me/wallet/transactions?limit=20&before=${next}`);
      setItems((old) => [...old, ...page.items]);
      setNext(page.next_before ?? null);
    } catch (e) {
      toast(errorText(e), { kind: 'error' });
    }
    setMore(false);
  }
  useEffect(() => {
    load();
    const offs = [onLive('payment-prompt', load), onLive('packet-claimed', load)];
    return () => offs.forEach((f) => f());
  }, []);
  return html`<div class="page">
    <${TopBar} title=${t('wallet')} />
    <${ErrorText} text=${error} />
    <section class="balance-card" aria-labelledby="balance-label">
      <p id="balance-label" class="balance-label">${t('balance')}</p>
      <p class="balance">${wallet ? money(wallet.balance, wallet.currency) : '…'}</p>
      <div class="balance-actions">
        <a class="button light" href="#/wallet/transfer"><${Icon} name="transfer" /> ${t('transfer')}</a>
        <a class="button light" href="#/wallet/red-packet"><${Icon} name="packet" /> ${t('red_packet')}</a>
      </div>
    </section>
    <${Pending} items=${pending} reload=${load} />
    <section class="section" aria-labelledby="history-title">
      <h2 id="history-title">${t('history')}</h2>
      ${items === null
        ? html`<${Loading} />`
        : items.length === 0
          ? html`<${Empty} text=${t('no_transactions')} />`
          : html`<ul class="list card" aria-label=${t('history')}>
              ${items.map((tx) => html`<${TxItem} tx=${tx} key=${tx.seq} />`)}
            </ul>`}
      ${next !== null && items && items.length
        ? html`<button type="button" class="button secondary wide" disabled=${more} onClick=${loadMore}>
            ${t('load_more')}
          </button>`
        : null}
    </section>
  </div>`;
}

export function PaymentDetail({ id }) {
  useStore(currency);
  const [p, setP] = useState(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function load() {
    try {
      setP(await get(path`/me/payments/${id}`));
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    load();
  }, [id]);
  async function receipt() {
    const ok = await confirmDialog({
      title: t('confirm_receipt_title'),
      body: t('confirm_receipt_body', { amount: money(p.amount - p.refunded, p.currency), app: appName(p.app) }),
      confirmLabel: t('confirm_receipt'),
    });
    if (!ok) return;
    setBusy(true);
    try {
      setP(await post(path`/me/payments/${id}/confirm-receipt`));
      toast(t('toast_receipt'));
    } catch (e) {
      toast(errorText(e), { kind: 'error' });
    }
    setBusy(false);
  }
  return html`<div class="page">
    <${TopBar} title=${t('payment_details')} back="/wallet" backLabel=${t('back_to_wallet')} />
    <${ErrorText} text=${error} />
    ${!p && !error
      ? html`<${Loading} />`
      : p
        ? html`<section class="card pad">
            <div class="app-line">
              <${AppIcon} app=${appById(p.app) || { id: p.app, name: p.app }} size="sm" />
              <div><p class="app-line-name">${appName(p.app)}</p><p class="muted small">${p.memo}</p></div>
            </div>
            <p class="amount-big">${money(p.amount, p.currency)}</p>
            <dl class="details">
              <div class="row"><dt>${t('status')}</dt><dd>${statusText(p.status)}</dd></div>
              <div class="row"><dt>${t('kind')}</dt><dd>${kindText(p.kind)}${p.mode ? ' · ' + t('mode_name_' + p.mode) : ''}</dd></div>
              ${p.to ? html`<div class="row"><dt>${t('payee')}</dt><dd>@${p.to}</dd></div>` : null}
              <div class="row"><dt>${t('created')}</dt><dd>${fullTime(p.created_at)}</dd></div>
              ${p.confirmed_at ? html`<div class="row"><dt>${t('paid_at')}</dt><dd>${fullTime(p.confirmed_at)}</dd></div>` : null}
              ${p.due_at ? html`<div class="row"><dt>${t('due_at')}</dt><dd>${fullTime(p.due_at)}</dd></div>` : null}
              ${p.captured ? html`<div class="row"><dt>${t('captured')}</dt><dd>${money(p.captured, p.currency)}</dd></div>` : null}
              ${p.refunded ? html`<div class="row"><dt>${t('refunded')}</dt><dd>${money(p.refunded, p.currency)}</dd></div>` : null}
              <div class="row"><dt>${t('reference')}</dt><dd><code>${p.id}</code></dd></div>
            </dl>
            ${p.status === 'pending'
              ? html`<button type="button" class="button primary wide" onClick=${async () => (await reviewPayment(p)) && load()}>
                  ${t('review_and_pay')}
                </button>`
              : null}
            ${p.status === 'escrowed'
              ? html`<button type="button" class="button primary wide" disabled=${busy} onClick=${receipt}>${t('confirm_receipt')}</button>`
              : null}
          </section>
          <section class="section" aria-labelledby="refunds-title">
            <h2 id="refunds-title">${t('refunds')}</h2>
            ${p.refunds && p.refunds.length
              ? html`<ul class="list card" aria-label=${t('refunds')}>
                  ${p.refunds.map(
                    (r) => html`<li class="list-item" key=${r.id}>
                      <div class="grow"><p>${t('refund')}</p><p class="muted small">${fullTime(r.at)}</p></div>
                      <p class="amount in">+${money(r.amount, p.currency)}</p>
                    </li>`,
                  )}
                </ul>`
              : html`<p class="muted">${t('no_refunds')}</p>`}
          </section>`
        : null}
  </div>`;
}

// A form's idempotency key: one per set of values, so a retry of the same
// send (a double click, a lost answer) moves money once.
function useKey(values) {
  const text = JSON.stringify(values);
  return useMemo(() => idempotencyKey(), [text]);
}

export function Transfer() {
  useStore(currency);
  const [to, setTo] = useState('');
  const [amount, setAmount] = useState('');
  const [memo, setMemo] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const key = useKey([to, amount, memo]);
  async function submit(e) {
    e.preventDefault();
    const minor = parseAmount(amount);
    const handle = to.trim().replace(/^@/, '');
    if (!handle) return setError(t('error_need_handle'));
    if (minor === null) return setError(t('error_bad_amount'));
    setBusy(true);
    setError('');
    try {
      await post('/me/transfers', { to: handle, amount: minor, memo: memo.trim() }, { idempotency: key });
      refreshWallet();
      toast(t('toast_sent', { amount: money(minor), to: '@' + handle }));
      navigate('/wallet');
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return html`<div class="page">
    <${TopBar} title=${t('transfer')} back="/wallet" backLabel=${t('back_to_wallet')} />
    <form class="card form" onSubmit=${submit} aria-label=${t('transfer')} novalidate>
      <${Field} id="transfer-to" label=${t('recipient_handle')}>
        <input id="transfer-to" autocapitalize="none" spellcheck="false" value=${to} onInput=${(e) => setTo(e.currentTarget.value)} />
      <//>
      <${Field} id="transfer-amount" label=${t('amount_in', { currency: currency.get().code })} hint=${t('amount_hint')}>
        <input id="transfer-amount" inputmode="decimal" value=${amount} onInput=${(e) => setAmount(e.currentTarget.value)} aria-describedby="transfer-amount-hint" />
      <//>
      <${Field} id="transfer-memo" label=${t('memo_optional')}>
        <input id="transfer-memo" maxlength="200" value=${memo} onInput=${(e) => setMemo(e.currentTarget.value)} />
      <//>
      <${ErrorText} text=${error} />
      <button type="submit" class="button primary wide" disabled=${busy}>
        ${parseAmount(amount) ? t('send_amount', { amount: money(parseAmount(amount)) }) : t('send')}
      </button>
    </form>
  </div>`;
}

export function SendPacket() {
  useStore(currency);
  const [total, setTotal] = useState('');
  const [count, setCount] = useState('1');
  const [split, setSplit] = useState('random');
  const [greeting, setGreeting] = useState('');
  const [into, setInto] = useState('');
  const [chats, setChats] = useState([]);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const key = useKey([total, count, split, greeting]);
  useEffect(() => {
    get('/me/conversations')
      .then(({ conversations }) => {
        const ok = conversations.filter((c) => c.kind !== 'app');
        setChats(ok);
        const first = route.get().query.get('into');
        if (first && ok.some((c) => c.id === first)) setInto(first);
      })
      .catch(() => {});
  }, []);
  async function submit(e) {
    e.preventDefault();
    const minor = parseAmount(total);
    const n = Number(count);
    if (minor === null) return setError(t('error_bad_amount'));
    if (!Number.isInteger(n) || n < 1 || n > 1000) return setError(t('error_bad_count'));
    setBusy(true);
    setError('');
    try {
      const packet = await post('/me/red-packets', { total: minor, count: n, split, greeting: greeting.trim() }, { idempotency: key });
      refreshWallet();
      if (into) {
        await post(path`/me/conversations/${into}/messages`, { kind: 'red-packet', packet: packet.id });
        toast(t('toast_packet_sent'));
        navigate('/chats/' + encodeURIComponent(into));
      } else {
        toast(t('toast_packet_made'));
        navigate('/red-packets/' + encodeURIComponent(packet.id));
      }
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return html`<div class="page">
    <${TopBar} title=${t('send_red_packet')} back="/wallet" backLabel=${t('back_to_wallet')} />
    <form class="card form" onSubmit=${submit} aria-label=${t('send_red_packet')} novalidate>
      <${Field} id="packet-total" label=${t('packet_total', { currency: currency.get().code })}>
        <input id="packet-total" inputmode="decimal" value=${total} onInput=${(e) => setTotal(e.currentTarget.value)} />
      <//>
      <${Field} id="packet-count" label=${t('packet_count')}>
        <input id="packet-count" type="number" min="1" max="1000" inputmode="numeric" value=${count} onInput=${(e) => setCount(e.currentTarget.value)} />
      <//>
      <fieldset class="choices inline">
        <legend>${t('packet_split')}</legend>
        <label class="choice"><input type="radio" name="split" value="random" checked=${split === 'random'} onChange=${() => setSplit('random')} /> ${t('split_random')}</label>
        <label class="choice"><input type="radio" name="split" value="equal" checked=${split === 'equal'} onChange=${() => setSplit('equal')} /> ${t('split_equal')}</label>
      </fieldset>
      <${Field} id="packet-greeting" label=${t('greeting')}>
        <input id="packet-greeting" maxlength="100" placeholder=${t('greeting_placeholder')} value=${greeting} onInput=${(e) => setGreeting(e.currentTarget.value)} />
      <//>
      <${Field} id="packet-into" label=${t('send_into')}>
        <select id="packet-into" value=${into} onChange=${(e) => setInto(e.currentTarget.value)}>
          <option value="">${t('no_chat_link_only')}</option>
          ${chats.map((c) => html`<option value=${c.id}>${c.title}</option>`)}
        </select>
      <//>
      <${ErrorText} text=${error} />
      <button type="submit" class="button red wide" disabled=${busy}>
        ${parseAmount(total) ? t('send_amount', { amount: money(parseAmount(total)) }) : t('send')}
      </button>
    </form>
  </div>`;
}

// Claims a share of `id`; returns the claim result (or throws).
export function claimPacket(id) {
  return post(path`/me/red-packets/${id}/claim`);
}

export function PacketClaims({ packet }) {
  return html`<ul class="list" aria-label=${t('who_got_what')}>
    ${packet.claims.map(
      (c) => html`<li class="list-item" key=${c.handle}>
        <div class="grow">
          <p>${c.name} <span class="muted small">@${c.handle}</span></p>
          <p class="muted small">${when(c.at)}</p>
        </div>
        <p class="amount">${money(c.amount)}${packet.luckiest === c.handle && packet.split === 'random' && packet.claims.length > 1 ? html` <span class="badge gold">${t('luckiest')}</span>` : null}</p>
      </li>`,
    )}
  </ul>`;
}

export function PacketSummary({ packet }) {
  return html`<div class="packet-summary">
    <p class="packet-from">${t('packet_from', { name: packet.sender })} <span class="muted small">@${packet.sender_handle}</span></p>
    <p class="packet-greeting">${packet.greeting || t('default_greeting')}</p>
    <p class="muted small">
      ${t('packet_progress', { claimed: packet.claims.length, count: packet.count, total: money(packet.total) })} · ${statusText(packet.status)}
    </p>
    ${packet.claims.length ? html`<${PacketClaims} packet=${packet} />` : html`<p class="muted">${t('no_claims_yet')}</p>`}
  </div>`;
}

export function PacketDetail({ id }) {
  useStore(currency);
  const [packet, setPacket] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    get(path`/me/red-packets/${id}`).then(setPacket, (e) => setError(errorText(e)));
  }, [id]);
  return html`<div class="page">
    <${TopBar} title=${t('red_packet')} back="/wallet" backLabel=${t('back_to_wallet')} />
    <${ErrorText} text=${error} />
    ${packet ? html`<section class="card pad packet-card-big"><${PacketSummary} packet=${packet} /></section>` : !error ? html`<${Loading} />` : null}
  </div>`;
}
