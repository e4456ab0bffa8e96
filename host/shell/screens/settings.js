// Settings: the account, language, each app's permissions (revoke), data
// erasure per app, the access log, the data export, and signing out.
import { html, useEffect, useState } from '../vendor/htm-preact.mjs';
import { del, get, path, put } from '../api.js';
import { LANGUAGES, fullTime, language, setLanguage, t } from '../i18n.js';
import { Icon } from '../icons.js';
import { apps, appById, errorText, session, signOut, toast } from '../state.js';
import { confirmDialog, scopeName } from '../sheets.js';
import { useStore } from '../store.js';
import { AppIcon, Avatar, Badge, Empty, ErrorText, Loading, TopBar } from '../ui.js';

export function Settings() {
  const { user } = useStore(session);
  const { code } = useStore(language);
  const { list } = useStore(apps);
  const [busy, setBusy] = useState(false);
  async function out() {
    setBusy(true);
    try {
      await signOut();
    } catch (e) {
      toast(errorText(e), { kind: 'error' });
      setBusy(false);
    }
  }
  return html`<div class="page">
    <${TopBar} title=${t('settings')} />
    ${user
      ? html`<section class="card pad account" aria-label=${t('account')}>
          <${Avatar} name=${user.display_name} handle=${user.handle} size="lg" />
          <div>
            <p class="account-name">${user.display_name}</p>
            <p class="muted">@${user.handle}</p>
          </div>
        </section>`
      : null}
    <section class="section" aria-labelledby="lang-title">
      <h2 id="lang-title">${t('language')}</h2>
      <div class="card pad field inline">
        <label for="settings-language"><${Icon} name="lang" /> ${t('app_language')}</label>
        <select id="settings-language" value=${code} onChange=${(e) => setLanguage(e.currentTarget.value)}>
          ${LANGUAGES.map((l) => html`<option value=${l.code} lang=${l.code}>${l.name}</option>`)}
        </select>
      </div>
    </section>
    <section class="section" aria-labelledby="apps-title">
      <h2 id="apps-title">${t('apps_and_permissions')}</h2>
      ${list.length
        ? html`<ul class="list card" aria-label=${t('apps_and_permissions')}>
            ${list.map(
              (a) => html`<li class="list-item" key=${a.id}>
                <${AppIcon} app=${a} size="sm" />
                <a class="grow row-link stretched" href=${'#/settings/apps/' + encodeURIComponent(a.id)}>${a.name}</a>
                <${Icon} name="chevron" />
              </li>`,
            )}
          </ul>`
        : html`<p class="muted">${t('no_apps')}</p>`}
    </section>
    <section class="section" aria-labelledby="privacy-title">
      <h2 id="privacy-title">${t('privacy')}</h2>
      <ul class="list card" aria-label=${t('privacy')}>
        <li class="list-item">
          <${Icon} name="log" />
          <a class="grow row-link stretched" href="#/settings/access-log">${t('access_log')}</a>
          <${Icon} name="chevron" />
        </li>
        <li class="list-item">
          <${Icon} name="download" />
          <a class="grow row-link stretched" href="/me/export" download="superapp-export.json">${t('export_data')}</a>
        </li>
      </ul>
    </section>
    <button type="button" class="button danger wide" disabled=${busy} onClick=${out}>${t('sign_out')}</button>
  </div>`;
}

function stateText(state) {
  return { granted: t('state_granted'), denied: t('state_denied'), undecided: t('state_undecided') }[state] || state;
}

export function AppSettings({ id }) {
  useStore(apps);
  const app = appById(id);
  const [scopes, setScopes] = useState(null);
  const [subs, setSubs] = useState([]);
  const [error, setError] = useState('');
  async function load() {
    try {
      const notifies = app && app.capabilities && 'notify' in app.capabilities;
      const [g, s] = await Promise.all([
        get(path`/me/apps/${id}/grants`),
        notifies ? get(path`/me/apps/${id}/subscriptions`) : { subscriptions: [] },
      ]);
      setScopes(g.scopes);
      setSubs(s.subscriptions);
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    load();
  }, [id, !!app]);
  async function decide(scope, decision) {
    try {
      await put(path`/me/apps/${id}/grants/${scope}`, { decision });
      toast(decision === 'revoke' ? t('toast_revoked', { scope: scopeName(scope) }) : t('toast_saved'));
      load();
    } catch (e) {
      toast(errorText(e), { kind: 'error' });
    }
  }
  async function unsubscribe(topic) {
    try {
      await del(path`/me/apps/${id}/subscriptions/${topic}`);
      load();
    } catch (e) {
      toast(errorText(e), { kind: 'error' });
    }
  }
  async function erase() {
    const name = (app && app.name) || id;
    const ok = await confirmDialog({
      title: t('erase_title', { app: name }),
      body: t('erase_body', { app: name }),
      confirmLabel: t('erase_confirm'),
      danger: true,
    });
    if (!ok) return;
    try {
      const r = await del(path`/me/apps/${id}/data`);
      toast(t('toast_erased', { app: name, keys: r.storage_keys, grants: r.grants }));
      load();
    } catch (e) {
      toast(errorText(e), { kind: 'error' });
    }
  }
  const name = (app && app.name) || id;
  return html`<div class="page">
    <${TopBar} title=${name} back="/settings" backLabel=${t('back_to_settings')} />
    ${app
      ? html`<section class="card pad app-line">
          <${AppIcon} app=${app} />
          <div>
            <p class="app-line-name">${app.name} <span class="muted small">${app.version}</span></p>
            <p class="muted small">
              ${app.developer ? t('by_developer', { developer: app.developer }) : t('unknown_developer')}
              ${app.signed === false ? html` <${Badge} text=${t('unsigned')} kind="warn" />` : null}
            </p>
            ${app.description ? html`<p class="small">${app.description}</p>` : null}
          </div>
        </section>`
      : null}
    <${ErrorText} text=${error} />
    <section class="section" aria-labelledby="grants-title">
      <h2 id="grants-title">${t('permissions')}</h2>
      ${scopes === null && !error
        ? html`<${Loading} />`
        : scopes && scopes.length
          ? html`<ul class="list card" aria-label=${t('permissions')}>
              ${scopes.map(
                (s) => html`<li class="list-item" key=${s.scope}>
                  <div class="grow">
                    <p>${scopeName(s.scope)} · <strong>${stateText(s.state)}</strong></p>
                    <p class="muted small">${s.purpose}</p>
                  </div>
                  ${s.state === 'undecided'
                    ? null
                    : html`<button
                        type="button"
                        class="button small secondary"
                        aria-label=${t('revoke_scope', { scope: scopeName(s.scope), app: name })}
                        onClick=${() => decide(s.scope, 'revoke')}
                      >
                        ${t('revoke')}
                      </button>`}
                </li>`,
              )}
            </ul>`
          : html`<p class="muted">${t('no_permissions')}</p>`}
    </section>
    ${subs.length
      ? html`<section class="section" aria-labelledby="subs-title">
          <h2 id="subs-title">${t('notifications')}</h2>
          <ul class="list card" aria-label=${t('notifications')}>
            ${subs.map(
              (s) => html`<li class="list-item" key=${s.topic}>
                <p class="grow"><code>${s.topic}</code> · ${t('remaining_n', { n: s.remaining })}</p>
                <button type="button" class="button small secondary" aria-label=${t('withdraw_topic', { topic: s.topic })} onClick=${() => unsubscribe(s.topic)}>
                  ${t('withdraw')}
                </button>
              </li>`,
            )}
          </ul>
        </section>`
      : null}
    <section class="section" aria-labelledby="data-title">
      <h2 id="data-title">${t('your_data')}</h2>
      <p class="muted small">${t('erase_explain')}</p>
      <button type="button" class="button danger wide" onClick=${erase}>${t('erase_button', { app: name })}</button>
    </section>
  </div>`;
}

function outcomeText(o) {
  return { allowed: t('outcome_allowed'), denied: t('outcome_denied'), failed: t('outcome_failed') }[o] || o;
}

function capabilityText(c) {
  const key = 'cap_' + String(c).replace(/[.-]/g, '_');
  const s = t(key);
  return s === key ? c : s;
}

export function AccessLog() {
  const [entries, setEntries] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    get('/me/access-log?limit=200').then(
      (r) => setEntries(r.entries),
      (e) => setError(errorText(e)),
    );
  }, []);
  return html`<div class="page">
    <${TopBar} title=${t('access_log')} back="/settings" backLabel=${t('back_to_settings')} />
    <p class="muted small pad-x">${t('access_log_explain')}</p>
    <${ErrorText} text=${error} />
    ${entries === null && !error
      ? html`<${Loading} />`
      : entries && entries.length
        ? html`<ul class="list card" aria-label=${t('access_log')}>
            ${entries.map((e, i) => {
              const app = appById(e.app);
              return html`<li class="list-item" key=${i}>
                <${AppIcon} app=${app || { id: e.app, name: e.app }} size="sm" />
                <div class="grow">
                  <p>${(app && app.name) || e.app} · ${capabilityText(e.capability)}${e.count > 1 ? ' ×' + e.count : ''}</p>
                  <p class="muted small">${fullTime(e.at)}</p>
                </div>
                <span class=${'badge ' + (e.outcome === 'allowed' ? 'ok' : 'warn')}>${outcomeText(e.outcome)}</span>
              </li>`;
            })}
          </ul>`
        : html`<${Empty} text=${t('no_access')} />`}
  </div>`;
}
