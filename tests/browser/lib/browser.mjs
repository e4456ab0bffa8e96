// Debian's Chromium driven by playwright-core: headless, no network of its
// own, a fresh profile each time, a phone-sized page.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
export const PHONE = { width: 390, height: 844 };

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'superapp-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: ARGS,
    viewport: PHONE,
    deviceScaleFactor: 2,
    locale: process.env.BROWSER_LOCALE || 'en-US',
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// One browser for a test file; each person gets a context of their own (as
// a separate browser would be: own cookies, own storage) with one
// phone-sized page that `watch` observes.
export async function openBrowser() {
  const browser = await chromium.launch({ executablePath: EXECUTABLE, headless: true, args: ARGS });
  const people = new Map();
  return {
    browser,
    people,
    async person(name) {
      const context = await browser.newContext({
        viewport: PHONE,
        deviceScaleFactor: 1,
        locale: process.env.BROWSER_LOCALE || 'en-US',
        acceptDownloads: true,
      });
      const page = await context.newPage();
      const problems = [];
      await watch(page, problems);
      const p = { name, context, page, problems };
      people.set(name, p);
      return p;
    },
    async close() {
      for (const p of people.values()) await p.context.close().catch(() => {});
      await browser.close();
    },
  };
}

// Records what the page should never do: script errors and CSP refusals.
// Also logs every dialog the shell draws (`window.__sheets`, in the top
// document only), so a test can tell that no sheet appeared, even briefly.
export async function watch(page, problems) {
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
    if (window.top !== window) return;
    window.__sheets = [];
    const seen = new WeakSet();
    const note = () => {
      for (const d of document.querySelectorAll('[role="dialog"]')) {
        if (seen.has(d)) continue;
        seen.add(d);
        const title = d.getAttribute('aria-labelledby');
        const el = title && document.getElementById(title);
        window.__sheets.push({ title: el ? el.textContent : '', text: d.textContent });
      }
    };
    new MutationObserver(note).observe(document, { childList: true, subtree: true });
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // Refused requests are listed with their address below instead.
    if (m.text().startsWith('Failed to load resource')) return;
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('response', (r) => {
    const u = new URL(r.url());
    // A fresh page asks whether the cookie names a session: 401 is the answer "no".
    if (r.status() >= 400 && !(r.status() === 401 && u.pathname === '/auth/session')) {
      problems.push(`HTTP ${r.status()} ${r.request().method()} ${u.pathname}${u.search}`);
    }
  });
}
