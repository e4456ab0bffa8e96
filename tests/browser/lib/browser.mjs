// Debian's Chromium driven by playwright-core: headless, no network of its
// own, a fresh profile each time, a phone-sized page.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'superapp-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 390, height: 844 },
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

// Records what the page should never do: script errors and CSP refusals.
export async function watch(page, problems) {
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
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
