// Home: the installed apps, recently used first.
import { html } from '../vendor/htm-preact.mjs';
import { t } from '../i18n.js';
import { Icon } from '../icons.js';
import { apps, badges, recentApps, session } from '../state.js';
import { useStore } from '../store.js';
import { AppIcon, Badge, Empty, Loading } from '../ui.js';

function ordered(list) {
  const recent = recentApps();
  const rank = (a) => {
    const i = recent.indexOf(a.id);
    return i === -1 ? Infinity : i;
  };
  return [...list].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

export function Home() {
  const { list, loaded } = useStore(apps);
  const { user } = useStore(session);
  const { pending } = useStore(badges);
  return html`<div class="page">
    <header class="hero">
      <p class="muted">${t('hello_name', { name: user ? user.display_name : '' })}</p>
      <h1>${t('home_title')}</h1>
    </header>
    ${pending > 0
      ? html`<a class="notice" href="#/wallet">
          <${Icon} name="wallet" />
          <span>${t(pending === 1 ? 'pending_notice_one' : 'pending_notice_other', { n: pending })}</span>
          <${Icon} name="chevron" />
        </a>`
      : null}
    ${!loaded
      ? html`<${Loading} />`
      : list.length === 0
        ? html`<${Empty} text=${t('no_apps')} />`
        : html`<ul class="app-list" aria-label=${t('installed_apps')}>
            ${ordered(list).map(
              (a) => html`<li class="app-item" key=${a.id}>
                <${AppIcon} app=${a} />
                <div class="app-item-text">
                  <a class="app-item-name stretched" href=${'#/app/' + encodeURIComponent(a.id)}>${a.name}</a>
                  ${a.description ? html`<p class="app-item-desc">${a.description}</p>` : null}
                  <p class="muted small">
                    ${a.developer ? t('by_developer', { developer: a.developer }) : t('unknown_developer')}
                    ${a.signed === false ? html` <${Badge} text=${t('unsigned')} kind="warn" />` : null}
                  </p>
                </div>
              </li>`,
            )}
          </ul>`}
  </div>`;
}

