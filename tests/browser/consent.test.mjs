// Consent, as the shell asks it: hello asks for `profile` in the shell's
// consent sheet (Esc dismisses without deciding; Allow grants, and hello
// greets ann by name); ann revokes it in settings; asked again, she says
// Don't allow — and asking after that answers `denied` with no second
// prompt. Settings shows each decision, the access log each access. The
// sheet is driven with the keyboard alone.
import assert from 'node:assert/strict';
import {
  browserSuite,
  closeApp,
  expectText,
  focusIn,
  openFromHome,
  scriptProblems,
  shot,
  tabTo,
  until,
} from './lib/suite.mjs';

const sheets = (page) => page.evaluate(() => window.__sheets.map((s) => s.title));
const tab = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: new RegExp(`^${name}`) });

async function helloPermission(page, expected, what) {
  await tab(page, 'Settings').click();
  await page.getByRole('list', { name: 'Apps and permissions' }).getByRole('link', { name: 'Hello' }).click();
  await page.getByRole('heading', { name: 'Permissions' }).waitFor();
  await expectText(page.getByRole('list', { name: 'Permissions' }), expected, what);
}

browserSuite('consent', (s) => {
  s.test('hello asks for the profile: Esc leaves it undecided, Allow (by keyboard) grants it', async () => {
    const ann = await s.signedIn('ann');
    const { page } = ann;
    const hello = await openFromHome(page, 'Hello');
    await expectText(hello.getByRole('main'), 'Hello does not know your name.', 'hello before any decision');
    const ask = hello.getByRole('button', { name: 'Greet me by name' });

    // Keyboard only from here to the decision.
    await tabTo(page, ask, 'hello’s "Greet me by name"');
    await page.keyboard.press('Enter');
    const consent = page.getByRole('dialog', { name: 'Allow access?' });
    await consent.waitFor();
    await expectText(consent, 'Hello asks to see:', 'who asks');
    await expectText(consent, 'Your profile (your name)', 'the scope asked for');
    await expectText(consent, 'Greet you by your name.', "the app's stated purpose");
    await expectText(consent, /by Superapp examples\s*Unsigned/, 'the developer, and that hello is an unsigned install');
    await focusIn(consent, 'the focus moved into the sheet');
    await shot(page, 'consent-sheet');
    await page.keyboard.press('Escape');
    await consent.waitFor({ state: 'detached' });
    // Dismissed is no decision: hello may ask again, and the sheet comes back.
    await expectText(hello.getByRole('main'), 'No problem', 'hello after the sheet was dismissed');
    await closeApp(page);
    await helloPermission(page, 'Your profile (your name) · Not asked yet', 'the permission after Esc');

    const again = await openFromHome(page, 'Hello');
    const ask2 = again.getByRole('button', { name: 'Greet me by name' });
    await tabTo(page, ask2, 'hello’s "Greet me by name", once more');
    await page.keyboard.press('Enter');
    await consent.waitFor();
    const allow = consent.getByRole('button', { name: 'Allow', exact: true });
    // Its buttons wake up a moment after the sheet opens.
    await until(() => allow.isEnabled(), (on) => on, 'the Allow button becomes enabled');
    await tabTo(page, allow, 'the sheet’s Allow button');
    // Tab stays inside the sheet.
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      assert.ok(await consent.evaluate((d) => d.contains(document.activeElement)), 'Tab keeps the focus in the sheet');
    }
    await tabTo(page, allow, 'the sheet’s Allow button again');
    await page.keyboard.press('Space');
    await consent.waitFor({ state: 'detached' });
    await again.getByRole('heading', { name: 'Hello, Ann!' }).waitFor();
    await expectText(again.getByRole('main'), 'You let Hello see your name.', 'hello once allowed');
    await shot(page, 'hello-granted');
    assert.deepEqual(await sheets(page), ['Allow access?', 'Allow access?'], 'one sheet per ask, none more');
    assert.deepEqual(scriptProblems(ann), [], 'no script errors or CSP refusals');
  });

  s.test('revoked in settings, asked again and refused: asking after that shows no second prompt', async () => {
    const ann = s.browser.people.get('ann');
    const { page } = ann;
    await closeApp(page);
    await helloPermission(page, 'Your profile (your name) · Allowed', 'the permission after Allow');
    await shot(page, 'settings-app-permissions');
    await page.getByRole('button', { name: 'Revoke Your profile (your name) for Hello' }).click();
    await expectText(page.getByRole('status'), 'Permission for Your profile (your name) revoked.', 'the toast after revoking');
    await expectText(page.getByRole('list', { name: 'Permissions' }), 'Your profile (your name) · Not asked yet', 'the permission after revoking');

    const hello = await openFromHome(page, 'Hello');
    await expectText(hello.getByRole('main'), 'Hello does not know your name.', 'hello after the revoke');
    await hello.getByRole('button', { name: 'Greet me by name' }).click();
    const consent = page.getByRole('dialog', { name: 'Allow access?' });
    await consent.getByRole('button', { name: "Don't allow" }).click();
    await consent.waitFor({ state: 'detached' });
    await expectText(hello.getByRole('main'), 'No problem: Hello stays on first-name-free terms.', 'hello after Don’t allow');
    const before = (await sheets(page)).length;

    // Asked again (the app calls the bridge itself): denied, and no sheet.
    const frame = page.frames().find((f) => f.url().includes('/ui/hello/'));
    assert.ok(frame, "hello's frame");
    const answer = await frame.evaluate(() => window.superapp.requestScope('profile'));
    assert.deepEqual(answer, { state: 'denied' }, 'a refusal stands');
    assert.equal((await sheets(page)).length, before, 'no second prompt');
    assert.equal(await page.getByRole('dialog').count(), 0, 'no sheet is open');

    // Opened afresh, hello knows it was refused and does not offer to ask.
    await closeApp(page);
    const fresh = await openFromHome(page, 'Hello');
    await expectText(fresh.getByRole('main'), 'You chose not to share your name with Hello (change it in Settings).', 'hello after the refusal');
    assert.equal(await fresh.getByRole('button', { name: 'Greet me by name' }).count(), 0, 'hello does not offer to ask again');
    await closeApp(page);
    await helloPermission(page, 'Your profile (your name) · Not allowed', 'the permission after the refusal');
    assert.deepEqual(await sheets(page), ['Allow access?', 'Allow access?', 'Allow access?'], 'three asks with a sheet, none after the refusal');

    // The access log: every time hello read (or was refused) the profile.
    await tab(page, 'Settings').click();
    await page.getByRole('link', { name: 'Access log' }).click();
    await page.getByRole('heading', { name: 'Access log' }).waitFor();
    const log = page.getByRole('list', { name: 'Access log' });
    await expectText(log, 'Hello · your profile', 'hello in the access log');
    // One read per time hello drew its greeting, newest first: opened twice
    // undecided, once right after Allow, then after the revoke and after
    // the refusal.
    const reads = await log.getByRole('listitem').filter({ hasText: 'Hello · your profile' }).allInnerTexts();
    assert.deepEqual(
      reads.map((t) => /Allowed|Refused/.exec(t)?.[0]),
      ['Refused', 'Refused', 'Allowed', 'Refused', 'Refused'],
      `each of hello's reads of the profile, newest first: ${JSON.stringify(reads)}`,
    );
    await shot(page, 'settings-access-log');
    assert.deepEqual(scriptProblems(ann), [], 'no script errors or CSP refusals');
  });
});
