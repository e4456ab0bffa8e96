// Sign-in: handle and password; a wrong password says so.
import { html, useState } from '../vendor/htm-preact.mjs';
import { LANGUAGES, language, setLanguage, t } from '../i18n.js';
import { errorText, signIn } from '../state.js';
import { useStore } from '../store.js';
import { ErrorText, Field } from '../ui.js';

export function SignIn() {
  const { code } = useStore(language);
  const [handle, setHandle] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    if (!handle.trim() || !password) {
      setError(t('signin_fill_both'));
      return;
    }
    setBusy(true);
    setError('');
    try {
      await signIn(handle.trim(), password);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }
  return html`<main class="signin">
    <div class="brand">
      <img src="/shell/icon.svg" alt="" class="brand-logo" width="64" height="64" />
      <h1>${t('app_name')}</h1>
      <p class="muted">${t('signin_tagline')}</p>
    </div>
    <form class="card form" onSubmit=${submit} aria-label=${t('signin_title')} novalidate>
      <h2>${t('signin_title')}</h2>
      <${Field} id="signin-handle" label=${t('handle')}>
        <input
          id="signin-handle"
          name="username"
          autocomplete="username"
          autocapitalize="none"
          spellcheck="false"
          value=${handle}
          onInput=${(e) => setHandle(e.currentTarget.value)}
          aria-invalid=${error ? 'true' : 'false'}
          aria-describedby=${error ? 'signin-error' : undefined}
        />
      <//>
      <${Field} id="signin-password" label=${t('password')}>
        <input
          id="signin-password"
          name="password"
          type="password"
          autocomplete="current-password"
          value=${password}
          onInput=${(e) => setPassword(e.currentTarget.value)}
          aria-invalid=${error ? 'true' : 'false'}
          aria-describedby=${error ? 'signin-error' : undefined}
        />
      <//>
      <${ErrorText} text=${error} id="signin-error" />
      <button type="submit" class="button primary wide" disabled=${busy}>${busy ? t('signing_in') : t('sign_in')}</button>
    </form>
    <div class="field inline lang-switch">
      <label for="signin-language">${t('language')}</label>
      <select id="signin-language" value=${code} onChange=${(e) => setLanguage(e.currentTarget.value)}>
        ${LANGUAGES.map((l) => html`<option value=${l.code} lang=${l.code}>${l.name}</option>`)}
      </select>
    </div>
  </main>`;
}
