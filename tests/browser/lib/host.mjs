// A real `superapp serve` for browser checks: a fresh data folder set up
// with the CLI (people, money, apps), served on a free port of 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(new URL('../../..', import.meta.url).pathname);
export const PASSWORD = 'browser-test-pass';

// The `superapp` command line of the test build (`cargo test --no-run`
// makes it as `superapp-under-test`), unless SUPERAPP_BIN names another.
export function binary() {
  if (process.env.SUPERAPP_BIN) return process.env.SUPERAPP_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
  return join(target, 'debug', 'superapp-under-test');
}

// The guest components: tests/build.rs always builds them here.
export const GUESTS = join(ROOT, 'target/guests/wasm32-wasip2/guest');

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

// Runs the CLI on `data`; throws with its output when it fails.
export function cli(data, args, input) {
  const r = spawnSync(binary(), ['--data', data, ...args], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`superapp ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// people: [[handle, name, topUp major units or null]]; apps: [[manifest,
// component, UI folder (optional; false: none, even if the manifest names
// one)]], paths from the repository root.
export async function startHost({ people, apps }) {
  const data = mkdtempSync(join(tmpdir(), 'superapp-browser-'));
  for (const [handle, name, money] of people) {
    cli(data, ['users', 'add', handle, '--name', name, '--password-stdin'], PASSWORD + '\n');
    if (money) cli(data, ['wallet', 'topup', handle, money, '--idempotency-key', 'fund-' + handle]);
  }
  for (const [manifest, component, ui] of apps) {
    let file = join(ROOT, manifest);
    const extra = [];
    const named = /^\[ui\][^[]*?^dir\s*=\s*"([^"]+)"/ms.exec(readFileSync(file, 'utf8'));
    if (ui === false) {
      // Installed without its UI (a probe UI stands in for it).
      const text = readFileSync(file, 'utf8').replace(/^\[ui\][^[]*/m, '');
      file = join(data, manifest.replace(/\//g, '_'));
      writeFileSync(file, text);
    } else if (!ui && named) {
      // A bundled manifest's UI lies beside it, outside its folder: named
      // on the command line, as `install --dev` asks.
      extra.push('--ui', resolve(dirname(file), named[1]));
    } else if (ui) {
      // A copy of the manifest that names the UI's entry and icon.
      let text = readFileSync(file, 'utf8');
      if (!/^\[ui\]/m.test(text)) text += '\n[ui]\ndir = "ui"\nentry = "index.html"\nicon = "icon.svg"\n';
      file = join(data, manifest.replace(/\//g, '_'));
      writeFileSync(file, text);
      extra.push('--ui', join(ROOT, ui));
    }
    cli(data, ['install', '--dev', file, '--component', join(GUESTS, component), ...extra]);
  }
  return serve(data, { removeData: true });
}

// Every server started here, stopped however the process ends.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of running) child.kill('SIGKILL');
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

// Serves `data` on a free port of 127.0.0.1 and waits until it answers.
// `stop()` ends the server (and removes `data` when `removeData`);
// `adminToken` is its operator token (for /admin routes).
export async function serve(data, { removeData = false } = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const adminToken = randomBytes(32).toString('hex');
  const child = spawn(binary(), ['--data', data, 'serve', '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', SUPERAPP_ADMIN_TOKEN: adminToken },
  });
  running.add(child);
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => child.once('exit', r));
  const started = Date.now();
  for (;;) {
    try {
      const r = await fetch(base + '/healthz');
      if (r.ok) break;
    } catch {
      // Not listening yet.
    }
    if (child.exitCode !== null) throw new Error('superapp serve exited:\n' + log);
    if (Date.now() - started > 60000) {
      child.kill('SIGKILL');
      throw new Error('superapp serve did not answer in 60 s:\n' + log);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    data,
    adminToken,
    pid: child.pid,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      running.delete(child);
      if (removeData) rmSync(data, { recursive: true, force: true });
    },
  };
}

// A bearer-token client of the API, for setting up state as another person.
export async function client(base, handle, password = PASSWORD) {
  const r = await fetch(base + '/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ handle, password }),
  });
  if (!r.ok) throw new Error(`login ${handle}: ${r.status} ${await r.text()}`);
  const { token } = await r.json();
  let n = 0;
  return async function call(method, path, body, headers = {}) {
    const resp = await fetch(base + path, {
      method,
      headers: {
        authorization: 'Bearer ' + token,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(method !== 'GET' ? { 'idempotency-key': `k-${handle}-${Date.now()}-${n++}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await resp.text();
    if (!resp.ok) throw new Error(`${handle} ${method} ${path}: ${resp.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}
