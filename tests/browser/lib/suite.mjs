// The frame of every browser test file: a fresh demo world and one
// Chromium per file (both stopped whatever happens), people signed in in
// contexts of their own, waits on conditions that say what they expected
// and what they saw, and screenshots — of the main screens as the tests
// pass them, and of every page of a test that fails, named after it.
import { AssertionError } from 'node:assert';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { openBrowser } from './browser.mjs';
import { DEMO_PASSWORD, startWorld } from './world.mjs';

export const OUT = new URL('../out/', import.meta.url).pathname;
mkdirSync(OUT, { recursive: true });

// How long one condition may take to come true before the test fails: long
// enough for a loaded 2-core machine, never a measure of speed.
export const WAIT = Number(process.env.BROWSER_WAIT_MS || 20000);

const slug = (text) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 80);

// describe() with a world and a browser: `body(s)` declares the tests with
// `s.test(name, fn)`; `s.world`, `s.browser` exist once they run.
export function browserSuite(name, body) {
  describe(name, () => {
    const s = {
      world: null,
      browser: null,
      test(title, fn, { timeout = 240000 } = {}) {
        it(title, { timeout }, async () => {
          try {
            await fn();
          } catch (e) {
            throw await withWhatWasSeen(s, title, e);
          }
        });
      },
      // A person signed in through the sign-in screen, in a context of their own.
      async signedIn(handle) {
        const p = await s.browser.person(handle);
        await signIn(p.page, s.world.base, handle, DEMO_PASSWORD);
        return p;
      },
    };
    before(async () => {
      s.world = await startWorld();
      s.browser = await openBrowser();
    });
    after(async () => {
      if (s.browser) await s.browser.close().catch(() => {});
      if (s.world) await s.world.stop();
    });
    body(s);
  });
}

// A failed test leaves a screenshot of each person's page, and says what
// each page showed (its accessibility tree, frames included).
async function withWhatWasSeen(s, title, error) {
  const lines = [];
  if (s.browser) {
    for (const p of s.browser.people.values()) {
      const file = `FAILED-${slug(title)}-${p.name}.png`;
      try {
        await p.page.screenshot({ path: OUT + file });
        lines.push(`screenshot: tests/browser/out/${file}`);
      } catch {
        // A closed page has nothing to show.
      }
      const seen = await p.page
        .locator('body')
        .ariaSnapshot({ timeout: 2000 })
        .catch(() => '(no page)');
      lines.push(`${p.name}'s page (${p.page.url()}) showed:\n${seen}`);
      for (const f of p.page.frames()) {
        if (f === p.page.mainFrame()) continue;
        const inside = await f
          .locator('body')
          .ariaSnapshot({ timeout: 2000 })
          .catch(() => '(nothing)');
        lines.push(`  its frame ${new URL(f.url()).pathname} showed:\n${inside.replace(/^/gm, '  ')}`);
      }
      if (p.problems.length) lines.push(`${p.name}'s page problems:\n  ${p.problems.join('\n  ')}`);
    }
  }
  const message = `${error && error.message}\n\n${lines.join('\n')}`;
  if (error instanceof Error) {
    error.message = message;
    return error;
  }
  return new Error(message);
}

export async function signIn(page, base, handle, password) {
  await page.goto(base + '/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Handle').fill(handle);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your apps' }).waitFor();
}

// A phone-size screenshot of a main screen, in out/.
export async function shot(page, name) {
  await page.screenshot({ path: `${OUT}${name}.png` });
}

const show = (x) => (x instanceof RegExp ? String(x) : JSON.stringify(x));

// Waits until `locator` (the first it matches) holds `expected` (a string
// it contains, or a RegExp); fails saying what it expected and what it saw.
export async function expectText(locator, expected, what, timeout = WAIT) {
  try {
    await locator.filter({ hasText: expected }).first().waitFor({ timeout });
  } catch {
    const seen = await locator.allInnerTexts().catch(() => []);
    throw new AssertionError({
      message: `${what}: expected ${show(expected)}, saw ${seen.length ? seen.map((t) => JSON.stringify(t.trim())).join(' | ') : 'nothing'}`,
      actual: seen.join(' | '),
      expected: String(expected),
      operator: 'expectText',
    });
  }
}

// Waits until `read()` answers what `ok(value)` accepts; fails saying what
// it expected (`what`) and the last value read.
export async function until(read, ok, what, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch (e) {
      last = `(failed: ${e.message})`;
    }
    if (Date.now() > deadline) {
      throw new AssertionError({ message: `${what}: still ${JSON.stringify(last)} after ${timeout} ms`, actual: last, operator: 'until' });
    }
    // The interval of a poll on a condition, not a wait for time to pass.
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Waits until the focus is inside `dialog`: a sheet takes it just after it
// appears, and a key pressed before then goes where the focus was (often
// the app's frame, where the shell cannot hear it).
export async function focusIn(dialog, what) {
  await until(() => dialog.evaluate((d) => d.contains(d.ownerDocument.activeElement)), (inside) => inside, what);
}

// Presses Tab (or Shift+Tab) until `target` has the focus: the keyboard
// path a person takes, without counting stops in advance.
export async function tabTo(page, target, what, { back = false, max = 60 } = {}) {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el.ownerDocument.hasFocus() && el === el.ownerDocument.activeElement).catch(() => false)) {
      return;
    }
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  const at = await page.evaluate(() => {
    const el = document.activeElement;
    return el ? `${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') || el.textContent || '').trim().slice(0, 60)}"` : 'nothing';
  });
  throw new AssertionError({ message: `${what}: not reached with ${max} presses of Tab; the focus is on ${at}` });
}

// The person's balance as the shell's wallet shows it.
export async function walletBalance(page, expected, what) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Wallet/ }).click();
  await page.getByRole('heading', { name: 'Wallet' }).waitFor();
  await expectText(page.getByRole('region', { name: 'Balance' }), expected, what);
}

// Opens an installed app from home; its frame, as a FrameLocator.
export async function openFromHome(page, name) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Home/ }).click();
  await page.getByRole('list', { name: 'Installed apps' }).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { name, level: 1 }).waitFor();
  return page.frameLocator(`iframe[title="${name}"]`);
}

// Closes the app in front with the shell's own close button.
export async function closeApp(page) {
  await page.getByRole('button', { name: 'Close app' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

// The problems a page recorded that a clean flow never has: script errors
// and CSP refusals (HTTP errors are left to each test).
export function scriptProblems(p) {
  return p.problems.filter((x) => x.startsWith('page error') || x.includes('CSP violation'));
}
