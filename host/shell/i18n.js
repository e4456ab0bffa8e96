// Languages: the one string table (strings.js), the person's language
// (from the browser, switchable in settings, kept in localStorage), and
// formatting money and times in it.
import { strings } from './strings.js';
import { createStore } from './store.js';

export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'zh-CN', name: '简体中文' },
];

const KEY = 'superapp.language';

function fromBrowser() {
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const lower = String(l).toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

function initial() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved && strings[saved]) return saved;
  } catch {
    // Storage may be off; the browser's language still works.
  }
  return fromBrowser();
}

export const language = createStore({ code: initial() });
document.documentElement.lang = language.get().code;

export function setLanguage(code) {
  if (!strings[code]) return;
  try {
    localStorage.setItem(KEY, code);
  } catch {
    // Kept for this visit only.
  }
  document.documentElement.lang = code;
  language.set({ code });
}

// The string `key` in the current language with `{name}` placeholders
// filled from `vars`.
export function t(key, vars) {
  const table = strings[language.get().code] || strings.en;
  let text = table[key] ?? strings.en[key];
  if (text === undefined) {
    console.warn('missing string', key);
    text = key;
  }
  if (vars) {
    text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  }
  return text;
}

// The currency and its minor-unit digits, from the wallet.
export const currency = createStore({ code: 'CNY', decimals: 2 });

const SYMBOLS = { CNY: '¥', JPY: '¥', USD: '$', EUR: '€', GBP: '£', HKD: 'HK$', SGD: 'S$' };

// Minor units as the person reads them: `¥12.80`.
export function money(minor, code) {
  const { code: walletCode, decimals } = currency.get();
  const cur = code || walletCode;
  const n = Math.abs(Math.trunc(Number(minor) || 0));
  const scale = 10 ** decimals;
  const major = Math.floor(n / scale);
  const frac = decimals > 0 ? '.' + String(n % scale).padStart(decimals, '0') : '';
  const grouped = major.toLocaleString(language.get().code === 'zh-CN' ? 'zh-CN' : 'en');
  const symbol = SYMBOLS[cur];
  const sign = Number(minor) < 0 ? '−' : '';
  return symbol ? `${sign}${symbol}${grouped}${frac}` : `${sign}${grouped}${frac} ${cur}`;
}

// An amount typed in major units (`12.8`) as minor units, or null when it
// is not a positive amount with at most the currency's digits.
export function parseAmount(text) {
  const { decimals } = currency.get();
  const s = String(text).trim().replace(/^[¥$€£]/, '').replace(/,/g, '');
  const m = /^(\d{1,12})(?:\.(\d*))?$/.exec(s);
  if (!m) return null;
  const frac = m[2] || '';
  if (frac.length > decimals) return null;
  const minor = Number(m[1]) * 10 ** decimals + Number(frac.padEnd(decimals, '0') || 0);
  return minor > 0 && Number.isSafeInteger(minor) ? minor : null;
}

// An RFC 3339 time, short: today shows the time, other days the date.
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const lang = language.get().code;
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString(lang, { month: 'short', day: 'numeric' });
}

// An RFC 3339 time in full.
export function fullTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(language.get().code, { dateStyle: 'medium', timeStyle: 'short' });
}
