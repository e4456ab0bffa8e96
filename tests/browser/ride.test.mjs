// A ride with a hold and a capture, in two browsers: ann asks for a ride
// and confirms the hold in the host's sheet; dan, the registered driver,
// accepts, starts and completes it (having driven less than estimated);
// ann's balance is read off the shell after the hold and after the
// capture, with the rest of the hold back in her wallet; dan's wallet
// shows his share of the fare.
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

// "¥1,234.50" → 123450
function minor(text) {
  const m = /¥([\d,]+)\.(\d\d)/.exec(text);
  assert.ok(m, `an amount in ${JSON.stringify(text)}`);
  return Number(m[1].replace(/,/g, '')) * 100 + Number(m[2]);
}
const yuan = (n) => `¥${(n / 100).toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

browserSuite('ride with a hold', (s) => {
  s.test('ann holds the fare, dan accepts, starts and completes; the fare is captured and the rest returned', async () => {
    const ann = await s.signedIn('ann');
    const dan = await s.signedIn('dan');
    await walletBalance(ann.page, '¥500.00', "ann's balance before the ride");
    await walletBalance(dan.page, '¥0.00', "dan's balance before the ride");

    const rides = await openFromHome(ann.page, 'Rides');
    const form = rides.getByRole('form', { name: 'Where to?' });
    await form.getByLabel('Pickup').selectOption({ label: "People's Square" });
    await form.getByLabel('Drop-off').selectOption({ label: 'Pudong Airport' });
    await form.getByRole('button', { name: 'Get the fare' }).click();
    const ask = rides.getByRole('button', { name: /^Request ride · hold ¥/ });
    await ask.waitFor();
    const held = minor(await ask.innerText());
    await shot(ann.page, 'ride-estimate');
    await ask.click();

    const sheet = ann.page.getByRole('dialog', { name: 'Confirm payment' });
    await sheet.waitFor();
    await expectText(sheet, 'Held; the final amount is taken later', 'the hold mode in words');
    await expectText(sheet, 'Rides', 'the payee');
    await shot(ann.page, 'ride-hold-sheet');
    await sheet.getByRole('button', { name: `Pay ${yuan(held)}` }).click();
    await sheet.waitFor({ state: 'detached' });
    await expectText(rides.getByRole('main'), 'Finding a driver', "the ride's status once the hold is confirmed");
    const rideName = (await rides.getByRole('heading', { level: 1 }).innerText()).trim();
    assert.match(rideName, /^Ride \S+$/);
    await closeApp(ann.page);
    await walletBalance(ann.page, yuan(50000 - held), "ann's balance while the fare is held");

    // dan, in his own browser: the open request, accept, start, complete.
    const drive = await openFromHome(dan.page, 'Rides');
    await drive.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: 'Drive' }).click();
    await drive.getByRole('heading', { name: 'Drive with Rides' }).waitFor();
    const accept = drive.getByRole('list', { name: 'Open requests' }).getByRole('button', { name: "Accept ride People's Square → Pudong Airport" });
    await shot(dan.page, 'ride-driver-queue');
    await accept.click();
    await expectText(drive.getByRole('main'), 'Driver on the way', 'the ride once dan accepts');
    await drive.getByRole('button', { name: 'Start the trip' }).click();
    const complete = drive.getByRole('form', { name: 'Complete the trip' });
    await complete.waitFor();
    // Less than estimated: the fare is below the hold.
    await complete.getByLabel('Distance driven (km)').fill('10');
    await shot(dan.page, 'ride-driver-complete');
    await complete.getByRole('button', { name: 'Complete' }).click();
    await expectText(drive.getByRole('status'), /Trip completed\. Fare ¥/, 'the driver sees the fare taken');
    const fare = minor(await drive.getByRole('status').innerText());
    assert.ok(fare > 0 && fare < held, `the fare for 10 km (${yuan(fare)}) is below the hold (${yuan(held)})`);
    await closeApp(dan.page);

    // ann: the ride completed, the fare charged and the rest returned.
    const mine = await openFromHome(ann.page, 'Rides');
    await mine.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: 'My rides' }).click();
    await mine.getByRole('button', { name: "People's Square → Pudong Airport" }).click();
    await mine.getByRole('heading', { name: rideName }).waitFor();
    const facts = mine.getByRole('main');
    await expectText(facts, 'Completed', 'the ride as ann sees it at the end');
    await expectText(facts, new RegExp(`Charged\\s*${yuan(fare).replace('.', '\\.')}`), 'the fare ann is charged');
    await expectText(facts, new RegExp(`Returned to you\\s*${yuan(held - fare).replace('.', '\\.')}`), "the hold's rest, back to ann");
    await shot(ann.page, 'ride-completed');
    await closeApp(ann.page);
    await walletBalance(ann.page, yuan(50000 - fare), "ann's balance after the capture (the rest of the hold returned)");
    const history = ann.page.getByRole('list', { name: 'History' });
    await expectText(history, `Returned from hold`, "the hold's rest in ann's history");
    await expectText(history, `+${yuan(held - fare)}`, 'the amount returned in her history');
    await shot(ann.page, 'wallet-after-ride');

    // dan's share of the fare (the app pays its drivers 80%).
    await walletBalance(dan.page, yuan(Math.floor((fare * 80) / 100)), "dan's balance after the ride");

    for (const p of [ann, dan]) assert.deepEqual(scriptProblems(p), [], `${p.name}: no script errors or CSP refusals`);
  });
});
