// A fresh demo world for one test file: exactly what `./run.sh` gives a
// newcomer (scripts/demo-setup.sh: the signed bundled apps with their UIs,
// hello as a developer install, ann/ben/cai/mia/dan with money, the Tea
// House's catalog, a driver) plus the hostile UI fixture, in a temporary
// data folder, served on a free port of 127.0.0.1.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GUESTS, ROOT, binary, cli, client, serve } from './host.mjs';

export const DEMO_PASSWORD = 'superapp-demo';

export async function startWorld() {
  const dir = mkdtempSync(join(tmpdir(), 'superapp-browser-world-'));
  const data = join(dir, 'data');
  try {
    const setup = spawnSync('bash', [join(ROOT, 'scripts/demo-setup.sh')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, SUPERAPP_BIN: binary(), SUPERAPP_DATA: data, SUPERAPP_DEV: join(dir, 'dev') },
    });
    if (setup.status !== 0) throw new Error(`scripts/demo-setup.sh failed (${setup.status}):\n${setup.stdout}\n${setup.stderr}`);
    cli(data, [
      'install',
      '--dev',
      join(ROOT, 'tests/fixtures/hostile-ui/superapp.toml'),
      '--component',
      join(GUESTS, 'fixture_hostile.wasm'),
    ]);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const host = await serve(data);
  return {
    base: host.base,
    data,
    log: host.log,
    // A bearer-token client as `handle`, for what the test sets up or checks
    // behind the browser's back.
    api: (handle) => client(host.base, handle, DEMO_PASSWORD),
    // An app's merchant account as the operator sees it (minor units): the
    // money a shop earns lands there, in no person's wallet.
    async merchantBalance(app) {
      const r = await fetch(host.base + '/admin/wallet/merchants', {
        headers: { authorization: 'Bearer ' + host.adminToken },
      });
      if (!r.ok) throw new Error(`GET /admin/wallet/merchants: ${r.status} ${await r.text()}`);
      const found = (await r.json()).find((m) => m.app === app);
      return found ? found.balance : 0;
    },
    async stop() {
      await host.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
