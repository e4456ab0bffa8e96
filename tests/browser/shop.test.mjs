// The Tea House end to end, in two browsers: ann fills her cart and checks
// out, confirms in the host's payment sheet (drawn by the shell, outside
// the app's frame), mia — the merchant — ships in her own browser context,
// and ann confirms receipt in her wallet. At each step ann's balance is read
// off the shell's wallet, and the merchant's side off mia's screens (the
// order as the shop shows her, her own wallet) and the operator's view of
// the shop's merchant account (money a shop earns lands there, not in a
// person's wallet).
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

browserSuite('shop purchase', (s) => {
  s.test('ann buys tea, pays in the host sheet, mia ships, ann confirms receipt; balances follow each step', async () => {
    const ann = await s.signedIn('ann');
    const mia = await s.signedIn('mia');
    const merchant = () => s.world.merchantBalance('shop');

    await walletBalance(ann.page, '¥500.00', "ann's balance before she shops");
    await walletBalance(mia.page, '¥0.00', "mia's own wallet before the sale");
    assert.equal(await merchant(), 0, 'the shop has earned nothing yet');

    // The catalog, the cart, checkout.
    const shop = await openFromHome(ann.page, 'Tea House');
    await shop.getByRole('heading', { name: 'Tea House', level: 1 }).waitFor();
    await shot(ann.page, 'shop-catalog');
    await shop.getByRole('button', { name: 'Add Longjing tea, 250 g to cart' }).click();
    await expectText(shop.getByRole('status'), 'Longjing tea, 250 g: 1 in your cart', 'the shop says what went into the cart');
    await shop.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: 'Cart' }).click();
    await shop.getByRole('heading', { name: 'Your cart' }).waitFor();
    await shot(ann.page, 'shop-cart');
    await shop.getByRole('button', { name: 'Check out · ¥128.00' }).click();

    // The host's sheet, outside the frame: the amount, the payee, escrow, her balance.
    const sheet = ann.page.getByRole('dialog', { name: 'Confirm payment' });
    await sheet.waitFor();
    await expectText(sheet, '¥128.00', 'the amount in the payment sheet');
    await expectText(sheet, 'Tea House', 'the payee in the payment sheet');
    await expectText(sheet, 'Held until you confirm receipt', 'the escrow mode in words');
    await expectText(sheet, /Your balance\s*¥500\.00/, 'her balance in the payment sheet');
    assert.equal(await shop.getByRole('dialog').count(), 0, 'the sheet is not inside the app frame');
    await shot(ann.page, 'shop-payment-sheet');
    await sheet.getByRole('button', { name: 'Pay ¥128.00' }).click();
    await sheet.waitFor({ state: 'detached' });

    // The shop hears of the payment and shows the order as paid.
    await expectText(shop.getByRole('main'), /Order \S+\s*Paid/, 'the order after paying');
    const orderName = (await shop.getByRole('heading', { level: 1 }).innerText()).trim();
    assert.match(orderName, /^Order \S+$/);
    await shot(ann.page, 'shop-order-paid');
    await closeApp(ann.page);
    await walletBalance(ann.page, '¥372.00', "ann's balance once the payment is held in escrow");
    assert.equal(await merchant(), 0, 'escrow holds the money: the shop has not got it yet');

    // mia, in her own browser: the shop shows her its merchant tabs.
    const back = await openFromHome(mia.page, 'Tea House');
    await back.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: 'Orders', exact: true }).click();
    await back.getByRole('heading', { name: 'Orders', level: 1 }).waitFor();
    const listed = back.getByRole('listitem').filter({ has: back.getByRole('button', { name: orderName }) });
    await expectText(listed, 'Paid', "ann's order in mia's list");
    await shot(mia.page, 'shop-merchant-orders');
    await listed.getByRole('button', { name: orderName }).click();
    const ship = back.getByRole('form', { name: 'Ship' });
    await ship.getByLabel('Tracking number').fill('SF1234567890');
    await ship.getByRole('button', { name: 'Mark as shipped' }).click();
    await expectText(back.getByRole('status'), 'Shipped. The buyer sees the tracking number.', 'the shop confirms the shipping');
    await expectText(back.getByRole('main'), /Shipped/, 'the order as mia sees it after shipping');
    await shot(mia.page, 'shop-merchant-shipped');
    await closeApp(mia.page);
    await walletBalance(mia.page, '¥0.00', "mia's own wallet after shipping (the sale is the shop's)");
    await walletBalance(ann.page, '¥372.00', "ann's balance while the tea is on its way");
    assert.equal(await merchant(), 0, 'still in escrow after shipping');

    // ann sees the tracking number, then confirms receipt in her wallet.
    const again = await openFromHome(ann.page, 'Tea House');
    await again.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: 'My orders' }).click();
    await again.getByRole('button', { name: orderName }).click();
    await expectText(again.getByRole('main'), /Tracking number:\s*SF1234567890/, 'the tracking number ann sees');
    await closeApp(ann.page);
    await walletBalance(ann.page, '¥372.00', "ann's balance before confirming receipt");
    const history = ann.page.getByRole('list', { name: 'History' });
    await history.getByRole('link', { name: /Held in escrow/ }).first().click();
    await ann.page.getByRole('heading', { name: 'Payment' }).waitFor();
    await expectText(ann.page.getByRole('main'), 'Paid, held until you confirm receipt', 'the payment before receipt');
    await shot(ann.page, 'wallet-payment-escrowed');
    await ann.page.getByRole('button', { name: 'Confirm receipt' }).click();
    const confirm = ann.page.getByRole('dialog', { name: 'Did you receive it?' });
    await expectText(confirm, '¥128.00 held for you goes to Tea House now', 'what confirming receipt does');
    await confirm.getByRole('button', { name: 'Confirm receipt' }).click();
    await expectText(ann.page.getByRole('status'), 'Receipt confirmed. The money went to the merchant.', 'the toast after receipt');
    await expectText(ann.page.getByRole('main'), 'Paid to the merchant', 'the payment after receipt');
    await walletBalance(ann.page, '¥372.00', "ann's balance after receipt (the money had left her wallet at payment)");
    assert.equal(await merchant(), 12800, 'receipt releases ¥128.00 to the shop');

    // mia's side shows the order received.
    const after = await openFromHome(mia.page, 'Tea House');
    await after.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: 'Orders', exact: true }).click();
    await expectText(
      after.getByRole('listitem').filter({ has: after.getByRole('button', { name: orderName }) }),
      'Received',
      "ann's order in mia's list after receipt",
    );
    await shot(mia.page, 'shop-merchant-received');

    for (const p of [ann, mia]) assert.deepEqual(scriptProblems(p), [], `${p.name}: no script errors or CSP refusals`);
  });
});
