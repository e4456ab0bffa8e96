// The messenger: conversations with unread counts (live), a conversation
// with paging back, text, mini-app cards and red packets, groups (create,
// invite, leave). App notifications are the `app` conversations.
import { html, useEffect, useRef, useState } from '../vendor/htm-preact.mjs';
import { get, path, post } from '../api.js';
import { money, t, when } from '../i18n.js';
import { Icon } from '../icons.js';
import { onLive } from '../live.js';
import { navigate } from '../router.js';
import { appById, errorText, refreshUnread, refreshWallet, session, toast } from '../state.js';
import { confirmDialog, showDialog } from '../sheets.js';
import { openApp } from '../frames.js';
import { useStore } from '../store.js';
import { AppIcon, Avatar, Empty, ErrorText, Field, Loading, TopBar } from '../ui.js';
import { PacketSummary, claimPacket } from './wallet.js';

function preview(m) {
  if (!m) return '';
  const who = m.sender ? m.sender.name + ': ' : '';
  switch (m.kind) {
    case 'text':
      return who + m.text;
    case 'app-card':
      return who + t('preview_card', { title: m.card ? m.card.title : '' });
    case 'red-packet':
      return who + t('preview_packet');
    case 'notification':
      return m.text || '';
    default:
      return m.text || '';
  }
}

function handles(text) {
  return text
    .split(/[\s,，]+/)
    .map((h) => h.trim().replace(/^@/, ''))
    .filter(Boolean);
}

function NewChatForm({ done }) {
  const [handle, setHandle] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    const [h] = handles(handle);
    if (!h) return setError(t('error_need_handle'));
    setBusy(true);
    try {
      const c = await post('/me/conversations', { members: [h] });
      done(c.id);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return html`<form class="form" onSubmit=${submit} novalidate>
    <${Field} id="new-chat-handle" label=${t('their_handle')}>
      <input id="new-chat-handle" autocapitalize="none" spellcheck="false" value=${handle} onInput=${(e) => setHandle(e.currentTarget.value)} />
    <//>
    <${ErrorText} text=${error} />
    <div class="sheet-actions">
      <button type="button" class="button secondary" onClick=${() => done(null)}>${t('cancel')}</button>
      <button type="submit" class="button primary" disabled=${busy}>${t('start_chat')}</button>
    </div>
  </form>`;
}

function NewGroupForm({ done }) {
  const [title, setTitle] = useState('');
  const [members, setMembers] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    if (!title.trim()) return setError(t('error_need_title'));
    const list = handles(members);
    if (!list.length) return setError(t('error_need_handle'));
    setBusy(true);
    try {
      const c = await post('/me/conversations', { title: title.trim(), members: list });
      done(c.id);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return html`<form class="form" onSubmit=${submit} novalidate>
    <${Field} id="group-title" label=${t('group_name')}>
      <input id="group-title" maxlength="100" value=${title} onInput=${(e) => setTitle(e.currentTarget.value)} />
    <//>
    <${Field} id="group-members" label=${t('members_handles')} hint=${t('handles_hint')}>
      <input id="group-members" autocapitalize="none" spellcheck="false" value=${members} onInput=${(e) => setMembers(e.currentTarget.value)} aria-describedby="group-members-hint" />
    <//>
    <${ErrorText} text=${error} />
    <div class="sheet-actions">
      <button type="button" class="button secondary" onClick=${() => done(null)}>${t('cancel')}</button>
      <button type="submit" class="button primary" disabled=${busy}>${t('create_group')}</button>
    </div>
  </form>`;
}

export function Chats() {
  const [list, setList] = useState(null);
  const [error, setError] = useState('');
  async function load() {
    try {
      const { conversations } = await get('/me/conversations');
      setList(conversations);
      refreshUnread();
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    load();
    const offs = [onLive('message', load), onLive('notification', load)];
    return () => offs.forEach((f) => f());
  }, []);
  async function newChat() {
    const id = await showDialog(t('new_chat'), NewChatForm).catch(() => null);
    if (id) navigate('/chats/' + encodeURIComponent(id));
  }
  async function newGroup() {
    const id = await showDialog(t('new_group'), NewGroupForm).catch(() => null);
    if (id) navigate('/chats/' + encodeURIComponent(id));
  }
  return html`<div class="page">
    <${TopBar}
      title=${t('chats')}
      actions=${html`
        <button type="button" class="icon-button" aria-label=${t('new_chat')} onClick=${newChat}><${Icon} name="plus" /></button>
        <button type="button" class="icon-button" aria-label=${t('new_group')} onClick=${newGroup}><${Icon} name="group" /></button>
      `}
    />
    <${ErrorText} text=${error} />
    ${list === null
      ? html`<${Loading} />`
      : list.length === 0
        ? html`<${Empty} text=${t('no_chats')}>
            <button type="button" class="button primary" onClick=${newChat}>${t('new_chat')}</button>
          <//>`
        : html`<ul class="list chat-list" aria-label=${t('conversations')}>
            ${list.map((c) => {
              const appId = c.kind === 'app' && c.last_message ? c.last_message.app : null;
              return html`<li class="list-item chat-item" key=${c.id}>
                ${c.kind === 'app'
                  ? html`<${AppIcon} app=${appById(appId) || { id: c.title, name: c.title }} />`
                  : html`<${Avatar} name=${c.title} handle=${c.id} />`}
                <div class="grow">
                  <p class="chat-title">
                    <a class="stretched" href=${'#/chats/' + encodeURIComponent(c.id)}>${c.title}</a>
                    ${c.kind === 'group' ? html`<span class="muted small"> · ${c.member_count}</span>` : null}
                    ${c.kind === 'app' ? html` <span class="badge">${t('app_badge')}</span>` : null}
                  </p>
                  <p class="muted small ellipsis">${preview(c.last_message)}</p>
                </div>
                <div class="end">
                  <p class="muted small">${c.last_message ? when(c.last_message.at) : ''}</p>
                  ${c.unread > 0
                    ? html`<span class="count" aria-label=${t('unread_n', { n: c.unread })}>${c.unread > 99 ? '99+' : c.unread}</span>`
                    : null}
                </div>
              </li>`;
            })}
          </ul>`}
  </div>`;
}

function PacketResult({ packet, claim }) {
  return html`<div>
    ${claim
      ? html`<p class="amount-big red-text">${money(claim.amount)}</p>
          <p class="center muted">${claim.new ? t('you_got') : t('you_got_before')}</p>`
      : null}
    <${PacketSummary} packet=${packet} />
  </div>`;
}

async function openPacket(id) {
  let claim = null;
  let note = '';
  try {
    claim = await claimPacket(id);
    if (claim.new) refreshWallet();
  } catch (e) {
    note = errorText(e);
  }
  try {
    const packet = await get(path`/me/red-packets/${id}`);
    if (note && !claim) toast(note);
    await showDialog(t('red_packet'), PacketResult, { packet, claim });
  } catch (e) {
    toast(note || errorText(e), { kind: 'error' });
  }
}

function Message({ m, me, appName }) {
  const mine = m.sender && me && m.sender.handle === me.handle;
  if (m.kind === 'system') return html`<li class="msg system" key=${m.id}><p>${m.text}</p></li>`;
  const from = m.sender ? m.sender.name : appName(m.app);
  let body;
  if (m.kind === 'app-card' && m.card) {
    const app = appById(m.card.app) || { id: m.card.app, name: m.card.app };
    body = html`<div class="app-card">
      <div class="app-line">
        <${AppIcon} app=${app} size="sm" />
        <div><p class="card-title">${m.card.title}</p><p class="muted small">${app.name}</p></div>
      </div>
      <button
        type="button"
        class="button small secondary"
        aria-label=${t('open_card', { title: m.card.title, app: app.name })}
        onClick=${() => openApp(m.card.app, { path: m.card.path, scene: 'chat-card' })}
      >
        ${t('open')}
      </button>
    </div>`;
  } else if (m.kind === 'red-packet' && m.red_packet) {
    body = html`<div class="packet-bubble">
      <p class="packet-bubble-greeting"><${Icon} name="packet" /> ${m.red_packet.greeting || t('default_greeting')}</p>
      <button type="button" class="button small gold" onClick=${() => openPacket(m.red_packet.packet)}>${t('open_packet')}</button>
    </div>`;
  } else if (m.kind === 'notification') {
    body = html`<div class="notification">
      ${m.topic ? html`<p class="muted small">${m.topic}</p>` : null}
      <p>${m.text}</p>
    </div>`;
  } else {
    body = html`<p class="text">${m.text}</p>`;
  }
  return html`<li class=${'msg ' + (mine ? 'mine' : 'theirs')} key=${m.id}>
    ${!mine ? html`<p class="msg-from">${from} ${m.sender ? html`<span class="muted">@${m.sender.handle}</span>` : null}</p>` : null}
    <div class="bubble">${body}</div>
    <p class="msg-time">${when(m.at)}</p>
  </li>`;
}

function InviteForm({ id, done }) {
  const [members, setMembers] = useState('');
  const [error, setError] = useState('');
  async function submit(e) {
    e.preventDefault();
    const list = handles(members);
    if (!list.length) return setError(t('error_need_handle'));
    try {
      done(await post(path`/me/conversations/${id}/members`, { members: list }));
    } catch (err) {
      setError(errorText(err));
    }
  }
  return html`<form class="form" onSubmit=${submit} novalidate>
    <${Field} id="invite-members" label=${t('members_handles')} hint=${t('handles_hint')}>
      <input id="invite-members" autocapitalize="none" spellcheck="false" value=${members} onInput=${(e) => setMembers(e.currentTarget.value)} aria-describedby="invite-members-hint" />
    <//>
    <${ErrorText} text=${error} />
    <div class="sheet-actions">
      <button type="button" class="button secondary" onClick=${() => done(null)}>${t('cancel')}</button>
      <button type="submit" class="button primary">${t('invite')}</button>
    </div>
  </form>`;
}

function GroupInfo({ conv, done }) {
  return html`<div>
    <ul class="list" aria-label=${t('members')}>
      ${(conv.members || []).map(
        (m) => html`<li class="list-item" key=${m.handle}>
          <${Avatar} name=${m.name} handle=${m.handle} size="sm" />
          <p class="grow">${m.name} <span class="muted small">@${m.handle}</span></p>
        </li>`,
      )}
    </ul>
    <div class="sheet-actions">
      <button type="button" class="button secondary" onClick=${() => done('invite')}>${t('invite_people')}</button>
      <button type="button" class="button danger" onClick=${() => done('leave')}>${t('leave_group')}</button>
    </div>
  </div>`;
}

export function Conversation({ id }) {
  const { user } = useStore(session);
  const [conv, setConv] = useState(null);
  const [messages, setMessages] = useState([]);
  const [next, setNext] = useState(null);
  const [error, setError] = useState('');
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const listRef = useRef(null);
  const stick = useRef(true);
  const appName = (a) => {
    const app = a && appById(a);
    return (app && app.name) || a || (conv && conv.title) || '';
  };
  function merge(newer) {
    setMessages((old) => {
      const seen = new Set(old.map((m) => m.id));
      return [...old, ...newer.filter((m) => !seen.has(m.id))].sort((a, b) => a.id - b.id);
    });
  }
  async function markRead(upTo) {
    if (!upTo) return;
    try {
      await post(path`/me/conversations/${id}/read`, { up_to: upTo });
      refreshUnread();
    } catch {
      // The unread count stays; nothing else depends on it.
    }
  }
  async function load() {
    try {
      const [c, page] = await Promise.all([get(path`/me/conversations/${id}`), get(path`/me/conversations/${id}/messages?limit=30`)]);
      setConv(c);
      setMessages([...page.messages].sort((a, b) => a.id - b.id));
      setNext(page.next_before ?? null);
      stick.current = true;
      if (page.messages.length) markRead(Math.max(...page.messages.map((m) => m.id)));
    } catch (e) {
      setError(errorText(e));
    }
  }
  async function older() {
    const el = listRef.current;
    const before = el ? el.scrollHeight - el.scrollTop : 0;
    try {
      const page = await get(path`/me/conversations/${id}/messages?limit=30&before=${next}`);
      stick.current = false;
      merge(page.messages);
      setNext(page.next_before ?? null);
      requestAnimationFrame(() => {
        if (el) el.scrollTop = el.scrollHeight - before;
      });
    } catch (e) {
      toast(errorText(e), { kind: 'error' });
    }
  }
  useEffect(() => {
    setConv(null);
    setMessages([]);
    setError('');
    load();
    const onNew = (m) => {
      if (m.conversation !== id) return;
      stick.current = true;
      merge([m]);
      markRead(m.id);
    };
    const offs = [onLive('message', onNew), onLive('notification', onNew)];
    return () => offs.forEach((f) => f());
  }, [id]);
  useEffect(() => {
    const el = listRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [messages]);
  async function send(e) {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    setSending(true);
    try {
      const m = await post(path`/me/conversations/${id}/messages`, { kind: 'text', text: body });
      setText('');
      stick.current = true;
      merge([m]);
    } catch (err) {
      toast(errorText(err), { kind: 'error' });
    }
    setSending(false);
  }
  async function info() {
    const choice = await showDialog(t('group_info'), GroupInfo, { conv }).catch(() => null);
    if (choice === 'invite') {
      const updated = await showDialog(t('invite_people'), InviteForm, { id }).catch(() => null);
      if (updated) {
        setConv(updated);
        toast(t('toast_invited'));
      }
    } else if (choice === 'leave') {
      const ok = await confirmDialog({
        title: t('leave_group'),
        body: t('leave_group_body', { title: conv.title }),
        confirmLabel: t('leave'),
        danger: true,
      });
      if (!ok) return;
      try {
        await post(path`/me/conversations/${id}/leave`);
        toast(t('toast_left'));
        navigate('/chats', { replace: true });
      } catch (err) {
        toast(errorText(err), { kind: 'error' });
      }
    }
  }
  const isGroup = conv && conv.kind === 'group';
  return html`<div class="page chat-page">
    <${TopBar}
      title=${conv ? conv.title : t('chat')}
      back="/chats"
      backLabel=${t('back_to_chats')}
      actions=${isGroup
        ? html`<button type="button" class="icon-button" aria-label=${t('group_info')} onClick=${info}><${Icon} name="group" /></button>`
        : null}
    />
    <${ErrorText} text=${error} />
    <div class="messages" ref=${listRef}>
      ${next !== null ? html`<button type="button" class="button small secondary center-block" onClick=${older}>${t('load_earlier')}</button>` : null}
      ${conv === null && !error ? html`<${Loading} />` : null}
      <ol class="msg-list" aria-label=${t('messages')} aria-live="polite" aria-relevant="additions">
        ${messages.map((m) => html`<${Message} m=${m} me=${user} appName=${appName} key=${m.id} />`)}
      </ol>
    </div>
    <form class="composer" onSubmit=${send} aria-label=${t('write_message')}>
      <label for="composer-text" class="visually-hidden">${t('message')}</label>
      <input id="composer-text" autocomplete="off" maxlength="4000" placeholder=${t('message_placeholder')} value=${text} onInput=${(e) => setText(e.currentTarget.value)} />
      ${conv && conv.kind !== 'app'
        ? html`<a class="icon-button" href=${'#/wallet/red-packet?into=' + encodeURIComponent(id)} aria-label=${t('send_red_packet')}><${Icon} name="packet" /></a>`
        : null}
      <button type="submit" class="button primary" disabled=${sending || !text.trim()}>${t('send')}</button>
    </form>
  </div>`;
}
