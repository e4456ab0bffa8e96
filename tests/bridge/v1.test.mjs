// The bridge client (host/shell/bridge/v1.js) in a fake window: the
// messages it sends, which answers it accepts, ids, the 60 s timeout, events
// and the back button. Run: node --test tests/bridge/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const SOURCE = readFileSync(new URL("../../host/shell/bridge/v1.js", import.meta.url), "utf8");
const SHELL = "http://127.0.0.1:8080";

/** A window inside a frame of the shell, with a clock the test moves. */
function frame({ src = `${SHELL}/bridge/v1.js`, topLevel = false } = {}) {
  const sent = [];
  const listeners = [];
  const timers = new Map();
  let now = 0;
  let nextTimer = 1;
  const parent = {
    postMessage(data, targetOrigin) {
      // What a real postMessage does: a structured clone.
      sent.push({ data: structuredClone(data), targetOrigin });
    },
  };
  const window = {
    addEventListener(type, fn) {
      if (type === "message") listeners.push(fn);
    },
  };
  window.parent = topLevel ? window : parent;
  const context = {
    window,
    document: { currentScript: { src }, getElementsByTagName: () => [] },
    URL,
    Promise,
    Error,
    TypeError,
    JSON,
    Object,
    String,
    setTimeout(fn, ms) {
      const id = nextTimer++;
      timers.set(id, { fn, at: now + ms });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
  };
  vm.createContext(context);
  vm.runInContext(SOURCE, context, { filename: "v1.js" });
  return {
    superapp: window.superapp,
    parent,
    window,
    sent,
    /** Delivers a message as if posted by `source` from `origin`. */
    deliver(data, { source = parent, origin = SHELL } = {}) {
      for (const fn of listeners) fn({ data, source, origin });
    },
    answer(id, result) {
      this.deliver({ superapp: 1, id, result });
    },
    advance(ms) {
      now += ms;
      for (const [id, t] of [...timers]) {
        if (t.at <= now) {
          timers.delete(id);
          t.fn();
        }
      }
    },
    pendingTimers: () => timers.size,
  };
}

const settled = (promise) =>
  promise.then(
    (value) => ({ value }),
    (error) => ({ error }),
  );
const tick = () => new Promise((r) => setImmediate(r));

test("the client is version 1, frozen, and cannot be replaced", () => {
  const f = frame();
  assert.equal(f.superapp.version, 1);
  assert.ok(Object.isFrozen(f.superapp));
  assert.throws(() => {
    f.window.superapp = null;
  }, TypeError);
  assert.equal(f.window.superapp.version, 1);
});

test("a call is posted to the shell's origin with a fresh id and its params", async () => {
  const f = frame();
  const first = f.superapp.call("/cart/p1", { method: "put", body: { qty: 2 }, headers: { "X-Trace": "7" } });
  const second = f.superapp.context();
  assert.equal(f.sent.length, 2);
  assert.deepEqual(f.sent[0], {
    targetOrigin: SHELL,
    data: {
      superapp: 1,
      id: 1,
      method: "call",
      params: {
        path: "/cart/p1",
        method: "PUT",
        headers: { "x-trace": "7", "content-type": "application/json" },
        body: '{"qty":2}',
      },
    },
  });
  assert.deepEqual(f.sent[1].data, { superapp: 1, id: 2, method: "context", params: {} });
  // Answers may come in any order; each goes to its own request.
  f.answer(2, { app: "shop", bridge_version: 1 });
  f.answer(1, { status: 200, headers: { "content-type": "application/json" }, body: '{"total":2400}' });
  const ctx = await second;
  assert.equal(ctx.app, "shop");
  const r = await first;
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), { total: 2400 });
  assert.equal(f.pendingTimers(), 0, "answered requests leave no timer");
});

test("every method sends the spec's method name and params", () => {
  const f = frame();
  const s = f.superapp;
  s.ready();
  s.launchToken();
  s.requestPayment("pay_1");
  s.requestScope("profile");
  s.subscribe("order-shipped");
  s.share("/packets/rp1", "A red packet");
  s.openApp("shop", "/orders/o1");
  s.openApp("shop");
  s.close();
  s.call("/products");
  assert.deepEqual(
    f.sent.map((m) => [m.data.method, m.data.params]),
    [
      ["ready", {}],
      ["launchToken", {}],
      ["requestPayment", { payment: "pay_1" }],
      ["requestScope", { scope: "profile" }],
      ["subscribe", { topic: "order-shipped" }],
      ["share", { path: "/packets/rp1", title: "A red packet" }],
      ["openApp", { app: "shop", path: "/orders/o1" }],
      ["openApp", { app: "shop" }],
      ["close", {}],
      ["call", { path: "/products", method: "GET", headers: {} }],
    ],
  );
  assert.deepEqual(
    f.sent.map((m) => m.data.id),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
});

test("answers from another window, another origin or without the marker are ignored", async () => {
  const f = frame();
  const p = settled(f.superapp.requestPayment("pay_1"));
  const stranger = { postMessage() {} };
  f.deliver({ superapp: 1, id: 1, result: { status: "confirmed" } }, { source: stranger });
  f.deliver({ superapp: 1, id: 1, result: { status: "confirmed" } }, { origin: "null" });
  f.deliver({ superapp: 1, id: 1, result: { status: "confirmed" } }, { origin: "http://evil.test" });
  f.deliver({ superapp: 2, id: 1, result: { status: "confirmed" } });
  f.deliver({ id: 1, result: { status: "confirmed" } });
  f.deliver("superapp:1");
  f.deliver(null);
  await tick();
  let done = false;
  p.then(() => (done = true));
  await tick();
  assert.equal(done, false, "no forged answer settled the request");
  f.answer(1, { status: "dismissed", payment: "pay_1" });
  assert.deepEqual((await p).value, { status: "dismissed", payment: "pay_1" });
});

test("an error answer rejects with an Error carrying the shell's code", async () => {
  const f = frame();
  const p = settled(f.superapp.requestPayment("pay_x"));
  f.deliver({ superapp: 1, id: 1, error: { code: "not-your-payment", message: "not yours" } });
  const { error } = await p;
  assert.ok(error instanceof Error);
  assert.equal(error.code, "not-your-payment");
  assert.equal(error.message, "not yours");
});

test("a request the shell never answers rejects after 60 s with code timeout, and a late answer is ignored", async () => {
  const f = frame();
  const p = settled(f.superapp.call("/slow"));
  f.advance(59_999);
  await tick();
  let done = false;
  p.then(() => (done = true));
  await tick();
  assert.equal(done, false, "still waiting just before 60 s");
  f.advance(1);
  const { error } = await p;
  assert.equal(error.code, "timeout");
  f.answer(1, { status: 200, headers: {}, body: "late" }); // must not throw
});

test("events reach their handlers until unsubscribed; unknown events are refused", () => {
  const f = frame();
  const seen = [];
  const off = f.superapp.on("payment", (d) => seen.push(["a", d.status]));
  f.superapp.on("payment", (d) => seen.push(["b", d.status]));
  f.superapp.on("theme", (d) => seen.push(["theme", d.theme]));
  f.deliver({ superapp: 1, event: "payment", data: { payment: "p1", status: "confirmed" } });
  off();
  off(); // twice is harmless
  f.deliver({ superapp: 1, event: "payment", data: { payment: "p1", status: "declined" } });
  f.deliver({ superapp: 1, event: "theme", data: { theme: "dark" } });
  f.deliver({ superapp: 1, event: "theme", data: { theme: "light" } }, { origin: "null" });
  assert.deepEqual(seen, [
    ["a", "confirmed"],
    ["b", "confirmed"],
    ["b", "declined"],
    ["theme", "dark"],
  ]);
  assert.throws(() => f.superapp.on("paymnet", () => {}), TypeError);
  assert.throws(() => f.superapp.on("back", "not a function"), TypeError);
  assert.equal(f.sent.length, 0, "payment and theme handlers send nothing");
});

test("on('back') asks the shell for the back button, and its last unsubscribe gives it back", () => {
  const f = frame();
  const backs = [];
  const off1 = f.superapp.on("back", () => backs.push(1));
  const off2 = f.superapp.on("back", () => backs.push(2));
  assert.deepEqual(
    f.sent.map((m) => [m.data.method, m.data.params]),
    [["handleBack", { enabled: true }]],
  );
  f.deliver({ superapp: 1, event: "back", data: {} });
  assert.deepEqual(backs, [1, 2]);
  off1();
  assert.equal(f.sent.length, 1, "another handler still wants the button");
  off2();
  assert.deepEqual(f.sent[1].data.method, "handleBack");
  assert.deepEqual(f.sent[1].data.params, { enabled: false });
});

test("a handler that throws does not stop the others", () => {
  const f = frame();
  const seen = [];
  f.superapp.on("language", () => {
    throw new Error("boom");
  });
  f.superapp.on("language", (d) => seen.push(d.language));
  f.deliver({ superapp: 1, event: "language", data: { language: "zh-CN" } });
  assert.deepEqual(seen, ["zh-CN"]);
});

test("outside the shell every method rejects with no-shell and nothing is posted", async () => {
  const f = frame({ topLevel: true });
  const { error } = await settled(f.superapp.context());
  assert.equal(error.code, "no-shell");
  assert.equal(f.sent.length, 0);
});

test("the client uses no eval and no Function constructor", () => {
  assert.doesNotMatch(SOURCE, /\beval\s*\(|new\s+Function\s*\(|\bFunction\s*\(/);
});
