// The newcomer's story, as the README tells it and with nothing but the
// browser: on the demo `./run.sh` sets up, ann signs in, buys tea in the
// shop and confirms in the host's sheet; makes a group with ben and sends
// a red packet into it from the Red Packets app (the chat chosen in the
// host's picker, the money confirmed in the host's sheet); ben, in another
// browser, opens the card in the group and gets his share while ann hears
// of it live; ann lets Red Packets show her name, and reads in settings
// which apps saw her profile.
import assert from 'node:assert/strict';
import {
  browserSuite,
  closeApp,
  expectText,
  openFromHome,
  scriptProblems,
  shot,
  walletBalance,
} from './lib/suite.mjs';

const tab = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: new RegExp(`^${name}`) });

browserSuite('newcomer', (s) => {
  s.test('ann buys tea, sends a red packet that ben opens in another browser, and reads who saw her profile', async () => {
    const ann = await s.signedIn('ann');
    const ben = await s.signedIn('ben');
    const { page } = ann;

    // Tea, paid in the host's sheet.
    const shop = await openFromHome(page, 'Tea House');
    await shop.getByRole('button', { name: 'Add Longjing tea, 250 g to cart' }).click();
    await shop.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: 'Cart' }).click();
    await shop.getByRole('button', { name: 'Check out · ¥128.00' }).click();
    const pay = page.getByRole('dialog', { name: 'Confirm payment' });
    await expectText(pay, 'Tea House', 'the payee of the tea');
    await pay.getByRole('button', { name: 'Pay ¥128.00' }).click();
    await pay.waitFor({ state: 'detached' });
    await expectText(shop.getByRole('main'), /Order \S+\s*Paid/, 'the order once paid');
    await closeApp(page);
    await walletBalance(page, '¥372.00', "ann's balance after the tea");

    // A group with ben, made in the shell.
    await tab(page, 'Chats').click();
    await page.getByRole('button', { name: 'New group' }).click();
    const form = page.getByRole('dialog', { name: 'New group' });
    await form.getByLabel('Group name').fill('Tea lovers');
    await form.getByLabel('Members (handles)').fill('ben');
    await form.getByRole('button', { name: 'Create group' }).click();
    await page.getByRole('heading', { name: 'Tea lovers' }).waitFor();

    // The packet from the Red Packets app: the host's picker, then its sheet.
    const packets = await openFromHome(page, 'Red Packets');
    const send = packets.getByRole('form', { name: 'Send a red packet' });
    await send.getByLabel('Total amount').fill('20');
    await send.getByRole('spinbutton', { name: 'Shares' }).fill('2');
    await send.getByRole('radio', { name: 'Equal shares' }).check();
    await send.getByLabel('Greeting').fill('Tea money!');
    await shot(page, 'newcomer-red-packet-app');
    await send.getByRole('button', { name: 'Choose a chat and send' }).click();
    const picker = page.getByRole('dialog', { name: 'Share to a chat' });
    await expectText(picker, '🧧 Tea money!', 'the card the picker will post');
    await picker.getByRole('radio', { name: /Tea lovers/ }).check();
    await shot(page, 'newcomer-share-picker');
    await picker.getByRole('button', { name: 'Send', exact: true }).click();
    await picker.waitFor({ state: 'detached' });
    await expectText(pay, 'Red Packets', 'the payee of the packet');
    await expectText(pay, '¥20.00', 'the amount of the packet');
    await pay.getByRole('button', { name: 'Pay ¥20.00' }).click();
    await pay.waitFor({ state: 'detached' });
    await expectText(packets.getByRole('main'), 'Nobody has opened it yet.', 'the packet once paid');

    // ann lets the app show her name: the host's consent sheet.
    await packets.getByRole('button', { name: 'Show my name' }).click();
    const consent = page.getByRole('dialog', { name: 'Allow access?' });
    await expectText(consent, 'Red Packets asks to see:', 'who asks for the profile');
    await consent.getByRole('button', { name: 'Allow', exact: true }).click();
    await consent.waitFor({ state: 'detached' });
    await expectText(packets.getByRole('status'), 'Your name shows on your packets now', 'the app once allowed');
    await packets.getByRole('heading', { name: 'Red packet from Ann' }).waitFor();

    // ben, in his own browser: the card in the group opens the app at the packet.
    await tab(ben.page, 'Chats').click();
    await ben.page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: 'Tea lovers' }).click();
    await ben.page.getByRole('heading', { name: 'Tea lovers' }).waitFor();
    await ben.page.getByRole('button', { name: 'Open 🧧 Tea money! in Red Packets' }).click();
    const his = ben.page.frameLocator('iframe[title="Red Packets"]');
    await his.getByRole('heading', { name: 'Red packet from Ann' }).waitFor();
    await his.getByRole('button', { name: 'Open', exact: true }).click();
    await expectText(his.getByRole('status'), 'You got ¥10.00!', "ben's share");
    await shot(ben.page, 'newcomer-ben-opened');
    await expectText(page.getByRole('status'), 'opened your red packet: ¥10.00', 'ann hears of the claim live');
    await closeApp(ben.page);
    await walletBalance(ben.page, '¥110.00', "ben's balance with his share");
    await closeApp(page);
    await walletBalance(page, '¥352.00', "ann's balance after the tea and the packet");

    // Which apps saw her profile: the access log in settings.
    await tab(page, 'Settings').click();
    await page.getByRole('link', { name: 'Access log' }).click();
    const log = page.getByRole('list', { name: 'Access log' });
    await expectText(log, 'Red Packets · your profile', 'Red Packets in the access log');
    const apps = await log.getByRole('listitem').filter({ hasText: 'your profile' }).allInnerTexts();
    assert.ok(
      apps.every((t) => /Red Packets|Tea House/.test(t)),
      `only the apps ann used read her profile: ${JSON.stringify(apps)}`,
    );
    await shot(page, 'newcomer-access-log');
    for (const p of [ann, ben]) assert.deepEqual(scriptProblems(p), [], `${p.name}: no script errors or CSP refusals`);
  });
});
