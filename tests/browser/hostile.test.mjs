// The hostile UI fixture (tests/fixtures/hostile-ui) in the real shell: a
// mini-app page that, on load, tries everything a UI must not be able to
// do — read the shell's DOM, cookie and storage, reach the network, eval,
// open windows, forge bridge messages as another app, call another app's
// paths, raise payment sheets for another person's payment and for another
// app's, spam requestPayment, post a form and navigate the top window. Each
// attempt must fail (its own report, in its page and in its app's storage,
// says so), no sheet may appear for the forged ones, the spam may raise at
// most one, and nothing of the shell's leaks.
import assert from 'node:assert/strict';
import { browserSuite, expectText, focusIn, shot, until } from './lib/suite.mjs';

const ATTEMPTS = [
  'parent-document',
  'cookie',
  'localStorage',
  'sessionStorage',
  'fetch-host',
  'fetch-elsewhere',
  'xhr',
  'websocket',
  'event-source',
  'eval',
  'function-constructor',
  'window-open',
  'forged-app-call',
  'forged-app-payment',
  'other-app-path',
  'other-app-path-dots',
  'other-app-path-encoded',
  'other-app-path-backslash',
  'reserved-headers',
  'other-person-payment',
  'foreign-app-payment',
  'payment-spam',
  'form-post',
  'top-navigation',
];

// "name: outcome — detail" → {attempt, outcome, detail}
function parse(line) {
  const m = /^([\w-]+): (\S+) — (.*)$/s.exec(line.trim());
  assert.ok(m, `an attempt line: ${JSON.stringify(line)}`);
  return { attempt: m[1], outcome: m[2], detail: m[3] };
}

browserSuite('hostile mini-app UI', (s) => {
  s.test('every attempt of the hostile UI fails, no forged sheet appears, the spam raises one at most, nothing leaks', async () => {
    // ben's pending payment, and one of ann's that another app (the shop) asked for.
    const benApi = await s.world.api('ben');
    const [tea, cup] = await benApi('GET', '/apps/shop/call/products');
    await benApi('PUT', `/apps/shop/call/cart/${tea.id}`, { qty: 1 });
    const bens = await benApi('POST', '/apps/shop/call/checkout', {});
    const annApi = await s.world.api('ann');
    await annApi('PUT', `/apps/shop/call/cart/${cup.id}`, { qty: 1 });
    const anns = await annApi('POST', '/apps/shop/call/checkout', {});
    assert.match(bens.payment, /^pay_/);
    assert.match(anns.payment, /^pay_/);

    const ann = await s.signedIn('ann');
    const { page, context } = ann;
    const storageBefore = await page.evaluate(() => ({ local: { ...localStorage }, session: { ...sessionStorage } }));
    const cookieBefore = (await context.cookies(s.world.base)).find((c) => c.name === 'superapp_session');
    assert.ok(cookieBefore, 'ann has a session cookie');

    // A link into the app, with the payments the page is to try, as the fixture reads them.
    const launch = `/?payment=${bens.payment}&foreign_payment=${anns.payment}`;
    await page.goto(`${s.world.base}/?app=hostile&path=${encodeURIComponent(launch)}&scene=link`);
    await page.getByRole('heading', { name: 'Hostile', level: 1 }).waitFor();
    const frame = page.frameLocator('iframe[title="Hostile"]');
    const attempts = frame.getByRole('list', { name: 'Attempts' });

    // The one sheet the spam may raise: the app's own ¥0.01 payment. It
    // comes after the forged payments were refused; the test dismisses it.
    const sheet = page.getByRole('dialog', { name: 'Confirm payment' });
    await sheet.waitFor({ timeout: 90000 });
    await expectText(sheet, /Hostile[\s\S]*¥0\.01/, 'the only sheet: one of the hostile app’s own ¥0.01 payments');
    const sofar = (await attempts.getByRole('listitem').allInnerTexts()).map(parse);
    for (const name of ['forged-app-payment', 'other-person-payment', 'foreign-app-payment']) {
      const a = sofar.find((x) => x.attempt === name);
      assert.ok(a, `${name} was tried before the spam`);
      assert.equal(a.outcome, 'blocked', `${name}: ${a.detail}`);
    }
    await shot(page, 'hostile-spam-sheet');
    await focusIn(sheet, 'the focus in the spam’s sheet');
    await page.keyboard.press('Escape');
    await sheet.waitFor({ state: 'detached' });

    // The page's own report: every attempt, each blocked.
    await expectText(attempts.getByRole('listitem').last(), /^top-navigation: /, 'the last attempt, once the page is done', 90000);
    await until(() => frame.locator(':root').evaluate(() => document.title), (t) => t.startsWith('hostile: done'), 'the page says it is done');
    const lines = (await attempts.getByRole('listitem').allInnerTexts()).map(parse);
    assert.deepEqual(lines.map((l) => l.attempt), ATTEMPTS, 'each attempt reported once, in order');
    const notBlocked = lines.filter((l) => l.outcome !== 'blocked');
    assert.deepEqual(notBlocked, [], 'every attempt was blocked (none allowed, none skipped)');
    const spam = lines.find((l) => l.attempt === 'payment-spam');
    assert.match(spam.detail, /^1 sheet\(s\); refused \{/, `the spam: ${spam.detail}`);
    for (const name of ['forged-app-payment', 'other-person-payment', 'foreign-app-payment']) {
      assert.match(lines.find((l) => l.attempt === name).detail, /not-your-payment/, `${name} is refused as not-your-payment`);
    }
    await shot(page, 'hostile-report');

    // The same report, as the app stored it through the bridge.
    const stored = await until(
      () => annApi('GET', '/apps/hostile/call/report'),
      (r) => r.some((x) => x.attempt === 'done'),
      "the app's stored report, once done",
    );
    const done = stored.find((x) => x.attempt === 'done');
    assert.deepEqual({ blocked: done.blocked, allowed: done.allowed }, { blocked: ATTEMPTS.length, allowed: 0 }, 'the stored summary');
    assert.deepEqual(
      stored.filter((x) => x.attempt !== 'done').map((x) => `${x.attempt}:${x.outcome}`),
      ATTEMPTS.map((a) => `${a}:blocked`),
      'the stored attempts',
    );

    // No sheet but the spam's one, ever.
    const seen = await page.evaluate(() => window.__sheets);
    assert.equal(seen.length, 1, `one sheet in all: ${JSON.stringify(seen.map((x) => x.title + ': ' + x.text))}`);
    assert.match(seen[0].text, /¥0\.01/, 'and it was for one of the app’s own payments');

    // Nothing of the shell's leaked or changed.
    assert.equal(new URL(page.url()).pathname, '/', 'the shell is still at its own address');
    assert.equal(await page.title(), 'Hostile · Superapp', "the shell's title is its own");
    await page.getByRole('button', { name: 'Close app' }).waitFor();
    const storageAfter = await page.evaluate(() => ({ local: { ...localStorage }, session: { ...sessionStorage } }));
    assert.deepEqual(storageAfter.session, storageBefore.session, "the shell's sessionStorage is untouched");
    assert.ok(!('hostile' in storageAfter.local), "the page's key is not in the shell's localStorage");
    const cookieAfter = (await context.cookies(s.world.base)).find((c) => c.name === 'superapp_session');
    assert.equal(cookieAfter && cookieAfter.value, cookieBefore.value, 'the session cookie is the same');
    assert.equal(await page.evaluate(() => fetch('/auth/session').then((r) => r.status)), 200, 'ann is still signed in (the form post did not sign her out)');
    for (const [who, api, id] of [['ben', benApi, bens.payment], ['ann', annApi, anns.payment]]) {
      const p = await api('GET', `/me/payments/${id}`);
      assert.equal(p.status, 'pending', `${who}'s shop payment is untouched`);
    }
    const annsWallet = await annApi('GET', '/me/wallet');
    assert.equal(annsWallet.balance, 50000, "ann's balance is untouched");
  });
});
