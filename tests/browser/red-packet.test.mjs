// A red packet into a group, in three browsers: ann creates the group in
// the shell with ben and cai, sends a packet of two equal shares into it
// from her wallet; ben and cai — who watch their chat lists — see the group
// arrive live, open the packet and get their share; ann sees each claim
// arrive without reloading, and every balance is read off the shell.
import assert from 'node:assert/strict';
import { browserSuite, expectText, focusIn, scriptProblems, shot, until, walletBalance } from './lib/suite.mjs';

const tab = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: new RegExp(`^${name}`) });

browserSuite('red packet in a group', (s) => {
  s.test('ann sends a packet into a new group; ben and cai open it in their browsers; ann sees the claims live', async () => {
    const ann = await s.signedIn('ann');
    const ben = await s.signedIn('ben');
    const cai = await s.signedIn('cai');
    for (const p of [ben, cai]) {
      await tab(p.page, 'Chats').click();
      await p.page.getByRole('heading', { name: 'Chats' }).waitFor();
    }

    // The group, made in the shell.
    await tab(ann.page, 'Chats').click();
    await ann.page.getByRole('button', { name: 'New group' }).click();
    const form = ann.page.getByRole('dialog', { name: 'New group' });
    await form.getByLabel('Group name').fill('Tea lovers');
    await form.getByLabel('Members (handles)').fill('ben, cai');
    await shot(ann.page, 'chats-new-group');
    await form.getByRole('button', { name: 'Create group' }).click();
    await ann.page.getByRole('heading', { name: 'Tea lovers' }).waitFor();

    // The packet: from the conversation's own button, into this group.
    await ann.page.getByRole('link', { name: 'Send a red packet' }).click();
    await ann.page.getByRole('heading', { name: 'Send a red packet' }).waitFor();
    await ann.page.getByLabel('Total amount (CNY)').fill('30');
    await ann.page.getByLabel('Number of shares').fill('2');
    await ann.page.getByRole('radio', { name: 'Equal amounts' }).check();
    await ann.page.getByLabel('Greeting').fill('Happy Friday!');
    await until(
      () => ann.page.getByLabel('Send into chat').evaluate((el) => el.selectedOptions[0].textContent),
      (v) => v === 'Tea lovers',
      'the chat the packet goes into',
    );
    await shot(ann.page, 'wallet-send-red-packet');
    await ann.page.getByRole('button', { name: 'Send ¥30.00' }).click();
    await ann.page.getByRole('heading', { name: 'Tea lovers' }).waitFor();
    await ann.page.getByRole('list', { name: 'Messages' }).getByText('Happy Friday!').waitFor();
    await shot(ann.page, 'chat-with-red-packet');

    // ben and cai: the group arrives in their lists without a reload.
    for (const p of [ben, cai]) {
      const item = p.page.getByRole('list', { name: 'Conversations' }).getByRole('listitem').filter({ hasText: 'Tea lovers' });
      await expectText(item, /\d+ unread|\[Red packet\]/, `the new group in ${p.name}'s chat list`);
    }
    await shot(ben.page, 'chats-list-live');

    // ben opens his share; ann's shell tells her at once.
    const opened = async (p, other) => {
      await p.page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: 'Tea lovers' }).click();
      await p.page.getByRole('heading', { name: 'Tea lovers' }).waitFor();
      await p.page.getByRole('button', { name: 'Open red packet' }).click();
      const d = p.page.getByRole('dialog', { name: 'Red packet' });
      await expectText(d, /¥15\.00\s*is yours — it is in your wallet\./, `${p.name}'s share`);
      await expectText(d.getByRole('list', { name: 'Who got what' }), p.name === 'ben' ? 'Ben' : 'Cai', `${p.name} in who got what`);
      if (other) await expectText(d.getByRole('list', { name: 'Who got what' }), other, `${other} in who got what`);
      return d;
    };
    const benSees = await opened(ben);
    await shot(ben.page, 'red-packet-opened');
    await expectText(ann.page.getByRole('status'), 'Ben opened your red packet: ¥15.00', 'ann hears of ben’s claim live');
    await shot(ann.page, 'red-packet-claim-toast');
    await benSees.getByRole('button', { name: 'Close' }).click();

    const caiSees = await opened(cai, 'Ben');
    await expectText(caiSees, 'All opened', 'the packet once both shares are taken');
    await expectText(ann.page.getByRole('status'), 'Cai opened your red packet: ¥15.00', 'ann hears of cai’s claim live');
    assert.equal(await ann.page.getByRole('heading', { name: 'Tea lovers' }).count(), 1, 'ann never left her conversation');
    await caiSees.getByRole('button', { name: 'Close' }).click();

    // ann opens it herself: both claims, no share left for her (the shell
    // says so).
    await ann.page.getByRole('button', { name: 'Open red packet' }).click();
    const annSees = ann.page.getByRole('dialog', { name: 'Red packet' });
    const who = annSees.getByRole('list', { name: 'Who got what' });
    await expectText(who, 'Ben', 'ben in the list ann sees');
    await expectText(who, 'Cai', 'cai in the list ann sees');
    await expectText(annSees, '2 of 2 opened · ¥30.00 in all', 'the progress ann sees');
    await expectText(ann.page.getByRole('status'), 'All shares of this red packet are taken.', 'why ann got no share');
    await focusIn(annSees, 'the focus in the red packet');
    await ann.page.keyboard.press('Escape');
    await annSees.waitFor({ state: 'detached' });

    await walletBalance(ann.page, '¥470.00', "ann's balance after sending ¥30.00");
    await walletBalance(ben.page, '¥115.00', "ben's balance with his share");
    await walletBalance(cai.page, '¥115.00', "cai's balance with her share");
    for (const p of [ann, ben, cai]) assert.deepEqual(scriptProblems(p), [], `${p.name}: no script errors or CSP refusals`);
  });
});
