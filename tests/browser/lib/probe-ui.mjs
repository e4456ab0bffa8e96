// A probe UI for mini-apps whose package has no UI yet: served (through the
// page's request routing) at /ui/{app}/{tag}/ with the UI CSP of the spec,
// so it runs sandboxed in an opaque origin exactly as a packaged UI does.
// It speaks the bridge by hand (not through /bridge/v1.js), so the checks
// test the shell's side alone: `probe(method, params)` in the frame sends
// one message and resolves with the shell's answer; `events` collects
// shell → UI events; `rawPost(msg)` sends anything.
export const TAG = 'probe00000000000';

const PAGE = (app) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${app} probe</title>
<link rel="stylesheet" href="/ui/${app}/${TAG}/probe.css">
<script src="/ui/${app}/${TAG}/probe.js"></script></head>
<body><h1>Probe UI of ${app}</h1><p id="ctx">waiting for context…</p>
<button id="inside" type="button">A button inside the app</button></body></html>`;

const CSS = `body{font-family:system-ui,sans-serif;padding:16px}h1{font-size:20px}
#inside{margin-top:40vh;width:100%;height:56px}`;

const JS = `(function () {
  var SHELL = new URL(document.currentScript.src).origin;
  var next = 1, waiting = {};
  window.events = [];
  window.addEventListener('message', function (e) {
    if (e.source !== window.parent || e.origin !== SHELL) return;
    var m = e.data;
    if (!m || m.superapp !== 1) return;
    if (m.event) { window.events.push({ event: m.event, data: m.data }); return; }
    var w = waiting[m.id];
    if (w) { delete waiting[m.id]; w(m.error ? { error: m.error } : { result: m.result }); }
  });
  window.probe = function (method, params) {
    var id = next++;
    return new Promise(function (ok) {
      waiting[id] = ok;
      window.parent.postMessage({ superapp: 1, id: id, method: method, params: params || {} }, SHELL);
    });
  };
  window.rawPost = function (msg) { window.parent.postMessage(msg, SHELL); };
  window.frameHash = location.hash;
  window.probe('ready', {}).then(function () { return window.probe('context', {}); }).then(function (r) {
    document.getElementById('ctx').textContent = JSON.stringify(r.result || r.error);
    window.context = r;
  });
})();`;

function csp(origin, app) {
  const own = `${origin}/ui/${app}/${TAG}/`;
  return (
    `sandbox allow-scripts allow-forms; default-src 'none'; script-src ${own} ${origin}/bridge/; ` +
    `style-src ${own} 'unsafe-inline'; img-src ${own} data: blob:; font-src ${own}; media-src ${own}; ` +
    `connect-src 'none'; frame-src 'none'; worker-src 'none'; form-action 'none'; base-uri 'none'; object-src 'none'`
  );
}

// Gives `apps` (ids) the probe UI in `GET /apps` where they have none, and
// serves its files.
export async function installProbe(page, base, apps) {
  await page.route(base + '/apps', async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    for (const a of body.apps) {
      if (apps.includes(a.id) && !a.ui) a.ui = { entry: `/ui/${a.id}/${TAG}/index.html`, icon: null };
    }
    await route.fulfill({ response: resp, json: body });
  });
  await page.route(new RegExp(`^${base}/ui/[a-z0-9-]+/${TAG}/`), async (route) => {
    const url = new URL(route.request().url());
    const [, , app, , file] = url.pathname.split('/');
    const files = {
      'index.html': ['text/html; charset=utf-8', PAGE(app)],
      'probe.js': ['text/javascript; charset=utf-8', JS],
      'probe.css': ['text/css; charset=utf-8', CSS],
    };
    const f = files[file];
    if (!f) return route.fulfill({ status: 404, body: 'no such file' });
    await route.fulfill({
      status: 200,
      headers: {
        'content-type': f[0],
        'content-security-policy': csp(base, app),
        'x-content-type-options': 'nosniff',
        'access-control-allow-origin': '*',
        'cross-origin-resource-policy': 'cross-origin',
      },
      body: f[1],
    });
  });
}
