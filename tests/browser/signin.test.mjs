// Signing in and out of the shell: a wrong password shows the error and
// makes no session; the right one does (an HttpOnly cookie scripts cannot
// read), survives a reload, and signing out ends it.
import assert from 'node:assert/strict';
import { DEMO_PASSWORD } from './lib/world.mjs';
import { browserSuite, expectText, scriptProblems, shot } from './lib/suite.mjs';

browserSuite('sign-in', (s) => {
  s.test('a wrong password shows the error and leaves no session', async () => {
    const { page, context } = await s.browser.person('ann');
    await page.goto(s.world.base + '/');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(page, 'signin');
    await page.getByLabel('Handle').fill('ann');
    await page.getByLabel('Password').fill('not-her-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page.getByRole('alert'), 'Wrong handle or password.', 'the sign-in error');
    await shot(page, 'signin-wrong-password');
    assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true', 'the password field is marked invalid');
    const cookies = await context.cookies(s.world.base);
    assert.deepEqual(cookies.map((c) => c.name), [], 'no session cookie after a wrong password');
    const session = await page.evaluate(() => fetch('/auth/session').then((r) => r.status));
    assert.equal(session, 401, 'GET /auth/session answers 401: no session');
    assert.equal(await page.getByRole('heading', { name: 'Your apps' }).count(), 0, 'still on the sign-in screen');
  });

  s.test('the right password signs in with an HttpOnly cookie that survives a reload; sign-out ends it', async () => {
    const p = s.browser.people.get('ann');
    const { page, context } = p;
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await page.getByLabel('Password').press('Enter');
    await page.getByRole('heading', { name: 'Your apps' }).waitFor();
    await expectText(page.getByText(/^Hello, /), 'Hello, Ann', 'the greeting on home');
    const cookie = (await context.cookies(s.world.base)).find((c) => c.name === 'superapp_session');
    assert.ok(cookie, 'a session cookie is set');
    assert.deepEqual({ httpOnly: cookie.httpOnly, sameSite: cookie.sameSite }, { httpOnly: true, sameSite: 'Strict' });
    assert.equal(await page.evaluate(() => document.cookie), '', 'the cookie is out of reach of scripts');
    const apps = page.getByRole('list', { name: 'Installed apps' });
    for (const name of ['Tea House', 'Rides', 'Red Packets', 'Hello', 'Hostile']) {
      await apps.getByRole('link', { name, exact: true }).waitFor();
    }
    // The signed bundled apps carry no "Unsigned" badge; the developer installs do.
    const unsigned = await apps.getByRole('listitem').filter({ hasText: 'Unsigned' }).getByRole('link').allInnerTexts();
    assert.deepEqual(unsigned.sort(), ['Hello', 'Hostile'], 'the developer installs, and only they, are marked unsigned');
    await shot(page, 'home');

    await page.reload();
    await page.getByRole('heading', { name: 'Your apps' }).waitFor();

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Settings/ }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await shot(page, 'settings');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const after = await page.evaluate(() => fetch('/me').then((r) => r.status));
    assert.equal(after, 401, 'the session is gone after signing out');
    assert.deepEqual(scriptProblems(p), [], 'no script errors or CSP refusals');
  });
});
