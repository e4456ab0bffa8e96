// The bundled mini-app UIs, read as files: what the UI CSP and the package
// format demand of them (no inline script or handler, the bridge loaded
// first, only allowed file types), identical copies of the shared kit, and
// a string in both languages for every key the code uses.
// Run: node --test tests/bridge/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";

const root = new URL("../../", import.meta.url);
const KIT_APPS = ["mini-apps/shop/ui", "mini-apps/ride-hailing/ui", "mini-apps/red-packet/ui"];
const ALL_UIS = [...KIT_APPS, "examples/hello/ui", "tests/fixtures/hostile-ui/ui"];
const ALLOWED = /\.(html|htm|js|mjs|css|json|svg|png|jpg|jpeg|gif|webp|avif|ico|woff|woff2|txt|md|wasm)$/;
const read = (path) => readFileSync(new URL(path, root), "utf8");
const files = (dir) => readdirSync(new URL(dir, root));

for (const dir of ALL_UIS) {
  test(`${dir}: an index.html that loads the bridge first, with no inline script, handler or style attribute`, () => {
    const html = read(`${dir}/index.html`);
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 2, "the bridge and the app");
    for (const [, attrs, body] of scripts) {
      assert.match(attrs, /\bsrc="/, `every script has a src: ${attrs}`);
      assert.equal(body.trim(), "", "no inline script");
    }
    assert.match(scripts[0][1], /src="\/bridge\/v1\.js"/, "the bridge comes first");
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, "no inline event handlers");
    assert.doesNotMatch(html, /\sstyle\s*=/i, "no style attributes");
    assert.doesNotMatch(html, /<style\b/i, "no style elements");
    assert.doesNotMatch(html, /https?:\/\//, "nothing from elsewhere");
  });

  test(`${dir}: only file types a package may carry, and every script parses`, () => {
    for (const name of files(dir)) {
      assert.match(name, ALLOWED, `${dir}/${name}`);
      if (name.endsWith(".js") && !dir.startsWith("tests/fixtures/")) {
        // Module syntax check, as the browser will load them.
        execFileSync(process.execPath, ["--experimental-default-type=module", "--check", new URL(`${dir}/${name}`, root).pathname]);
      }
    }
    assert.ok(files(dir).includes("index.html"));
  });
}

test("the shared kit is the same file in every app that uses it", () => {
  for (const name of ["kit.js", "kit.css"]) {
    const first = read(`${KIT_APPS[0]}/${name}`);
    for (const dir of KIT_APPS.slice(1)) {
      assert.equal(read(`${dir}/${name}`), first, `${dir}/${name} differs from ${KIT_APPS[0]}/${name}`);
    }
  }
});

for (const dir of KIT_APPS) {
  test(`${dir}: every string key the code uses exists in English and Chinese, and both tables match`, async () => {
    const { strings } = await import(new URL(`${dir}/strings.js`, root));
    const en = Object.keys(strings.en).sort();
    const zh = Object.keys(strings["zh-CN"]).sort();
    assert.deepEqual(zh, en, "the same keys in both languages");
    const used = new Set();
    for (const name of files(dir).filter((n) => n.endsWith(".js") && n !== "strings.js")) {
      for (const [, key] of read(`${dir}/${name}`).matchAll(/\bt\(\s*"([a-z0-9.-]+)"/g)) used.add(key);
      for (const [, key] of read(`${dir}/${name}`).matchAll(/\blabel:\s*"([a-z0-9.-]+)"/g)) used.add(key);
    }
    for (const key of used) assert.ok(key in strings.en, `${dir}: "${key}" is used but has no string`);
    for (const key of ["app.title", "error.title"]) assert.ok(key in strings.en, key);
  });

  test(`${dir}: no innerHTML, eval or network of its own`, () => {
    for (const name of files(dir).filter((n) => n.endsWith(".js"))) {
      const src = read(`${dir}/${name}`);
      assert.doesNotMatch(src, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, `${name}: text only`);
      assert.doesNotMatch(src, /\beval\s*\(|new Function/, `${name}: no eval`);
      assert.doesNotMatch(src, /\bfetch\s*\(|XMLHttpRequest|WebSocket|EventSource/, `${name}: the bridge only`);
    }
  });
}
