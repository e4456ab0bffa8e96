// Small shared pieces of the screens: the top bar, app icons, form fields,
// errors, empty states and the loading indicator.
import { html } from './vendor/htm-preact.mjs';
import { Icon } from './icons.js';
import { t } from './i18n.js';
import { uiOf } from './state.js';

// A screen's top bar: an optional back link, the title (the page's h1) and
// actions on the right.
export function TopBar({ title, back, backLabel, actions }) {
  return html`<header class="topbar">
    ${back
      ? html`<a class="icon-button" href=${'#' + back} aria-label=${backLabel || t('back')}>
          <${Icon} name="back" />
        </a>`
      : html`<span class="topbar-spacer"></span>`}
    <h1 class="topbar-title">${title}</h1>
    <div class="topbar-actions">${actions || html`<span class="topbar-spacer"></span>`}</div>
  </header>`;
}

function hue(text) {
  let h = 0;
  for (const ch of String(text)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 8;
}

// The app's icon, or its first letter on a colour of its own.
export function AppIcon({ app, size = 'md' }) {
  const ui = uiOf(app);
  const name = (app && (app.name || app.id)) || '?';
  if (ui && typeof ui.icon === 'string' && ui.icon.startsWith('/ui/')) {
    return html`<img class=${'app-icon ' + size} src=${ui.icon} alt="" />`;
  }
  const letter = Array.from(name.trim())[0] || '?';
  return html`<span class=${`app-icon letter ${size} c${hue(app ? app.id : name)}`} aria-hidden="true"
    >${letter.toUpperCase()}</span
  >`;
}

// A person's initial on a colour of their own.
export function Avatar({ name, handle, size = 'md' }) {
  const letter = Array.from(String(name || handle || '?').trim())[0] || '?';
  return html`<span class=${`avatar ${size} c${hue(handle || name)}`} aria-hidden="true">${letter.toUpperCase()}</span>`;
}

export function Field({ id, label, hint, children }) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${children}
    ${hint ? html`<p class="hint" id=${id + '-hint'}>${hint}</p>` : null}
  </div>`;
}

export function ErrorText({ text, id }) {
  return text ? html`<p class="error" role="alert" id=${id}>${text}</p>` : null;
}

export function Empty({ text, children }) {
  return html`<div class="empty"><p>${text}</p>${children}</div>`;
}

export function Loading({ label }) {
  return html`<div class="loading" role="status">
    <span class="spinner" aria-hidden="true"></span>
    <span>${label || t('loading')}</span>
  </div>`;
}

export function Badge({ text, kind = '' }) {
  return html`<span class=${'badge ' + kind}>${text}</span>`;
}
