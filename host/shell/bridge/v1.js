/*
 * Superapp bridge, version 1 — the client a mini-app UI loads with
 *   <script src="/bridge/v1.js"></script>
 * It defines `window.superapp`, the only way a mini-app UI reaches the host:
 * the UI runs in a sandboxed, opaque-origin iframe with no network at all,
 * and asks the shell (its parent window) for everything over postMessage.
 *
 *   superapp.version                       1
 *   superapp.ready()                       → Promise<void>          hide the shell's loading state
 *   superapp.context()                     → {app, open_id, scene, path, language, theme, bridge_version}
 *   superapp.call(path, {method, headers, body})
 *                                          → {status, headers, body, json()}  your app's backend, as the person
 *   superapp.launchToken()                 → {token, expires_at, open_id}     for your own server
 *   superapp.requestPayment(paymentId)     → {status: confirmed|declined|dismissed, payment}
 *   superapp.requestScope(scope)           → {state: granted|denied}
 *   superapp.subscribe(topic)              → {state: subscribed|dismissed}
 *   superapp.share(path, title)            → {conversation} (null when cancelled)
 *   superapp.openApp(app, path)            → {}
 *   superapp.close()                       → {}
 *   superapp.on(event, handler)            → unsubscribe()   events: payment, back, theme, language
 *
 * Every method returns a Promise. Failures reject with an Error carrying a
 * stable `.code` (the shell's codes, plus `timeout` when the shell does not
 * answer within 60 s and `no-shell` when the page is not inside the shell).
 *
 * Wire format (see docs/bridge.md): UI → shell
 *   {superapp: 1, id, method, params}  posted to the shell's origin only;
 * shell → UI {superapp: 1, id, result} | {superapp: 1, id, error: {code, message}}
 * or {superapp: 1, event, data}, accepted only from window.parent at the
 * shell's origin. The shell's origin is this script's own origin. Anything
 * else is ignored. The client checks nothing that matters for safety: the
 * shell checks every message, and knows which app a frame is.
 *
 * Plain ES5-compatible script, no dependencies, no eval.
 */
(function () {
  "use strict";

  if (window.superapp) {
    return; // loaded twice: keep the first client and its pending requests
  }

  var TIMEOUT_MS = 60000;
  var EVENTS = ["payment", "back", "theme", "language"];

  function scriptOrigin() {
    var script = document.currentScript;
    var src = script && script.src;
    if (!src) {
      var tags = document.getElementsByTagName("script");
      for (var i = 0; i < tags.length; i++) {
        if (/\/bridge\/v1\.js(\?|#|$)/.test(tags[i].src)) {
          src = tags[i].src;
          break;
        }
      }
    }
    try {
      return new URL(src).origin;
    } catch (e) {
      return null;
    }
  }

  var SHELL_ORIGIN = scriptOrigin();
  var shell = window.parent;
  var inShell = !!SHELL_ORIGIN && SHELL_ORIGIN !== "null" && shell && shell !== window;

  var nextId = 1;
  var pending = {}; // id → {resolve, reject, timer}
  var handlers = { payment: [], back: [], theme: [], language: [] };

  function bridgeError(code, message) {
    var e = new Error(message || code);
    e.name = "SuperappError";
    e.code = code;
    return e;
  }

  function request(method, params) {
    return new Promise(function (resolve, reject) {
      if (!inShell) {
        reject(bridgeError("no-shell", "this page is not open inside the Superapp shell"));
        return;
      }
      var id = nextId++;
      var timer = setTimeout(function () {
        delete pending[id];
        reject(bridgeError("timeout", "the shell did not answer `" + method + "` within 60 s"));
      }, TIMEOUT_MS);
      pending[id] = { resolve: resolve, reject: reject, timer: timer };
      try {
        shell.postMessage({ superapp: 1, id: id, method: method, params: params || {} }, SHELL_ORIGIN);
      } catch (e) {
        clearTimeout(timer);
        delete pending[id];
        reject(bridgeError("invalid-params", "the message could not be sent: " + e.message));
      }
    });
  }

  function dispatch(name, data) {
    var list = handlers[name];
    if (!list) {
      return; // an event this client does not know: ignored, like any stray message
    }
    list.slice().forEach(function (handler) {
      try {
        handler(data);
      } catch (e) {
        // One failing handler must not stop the others; the error still shows.
        setTimeout(function () {
          throw e;
        }, 0);
      }
    });
  }

  window.addEventListener("message", function (event) {
    if (!inShell || event.source !== shell || event.origin !== SHELL_ORIGIN) {
      return;
    }
    var m = event.data;
    if (!m || typeof m !== "object" || m.superapp !== 1) {
      return;
    }
    if (typeof m.id === "number") {
      var p = pending[m.id];
      if (!p) {
        return; // unknown, already answered, or timed out
      }
      delete pending[m.id];
      clearTimeout(p.timer);
      if (m.error) {
        var err = m.error;
        p.reject(bridgeError(String(err.code || "error"), String(err.message || err.code || "error")));
      } else {
        p.resolve(m.result);
      }
    } else if (typeof m.event === "string") {
      dispatch(m.event, m.data === undefined ? {} : m.data);
    }
  });

  function call(path, options) {
    var o = options || {};
    var headers = {};
    var key;
    for (key in o.headers || {}) {
      if (Object.prototype.hasOwnProperty.call(o.headers, key)) {
        headers[key.toLowerCase()] = String(o.headers[key]);
      }
    }
    var body = o.body;
    if (body !== undefined && body !== null && typeof body !== "string") {
      // A convenience: objects travel as JSON.
      body = JSON.stringify(body);
      if (!headers["content-type"]) {
        headers["content-type"] = "application/json";
      }
    }
    var params = { path: path, method: (o.method || "GET").toUpperCase(), headers: headers };
    if (body !== undefined && body !== null) {
      params.body = body;
    }
    return request("call", params).then(function (r) {
      var answer = {
        status: r.status,
        headers: r.headers || {},
        body: r.body === undefined || r.body === null ? "" : String(r.body),
      };
      answer.json = function () {
        return JSON.parse(answer.body);
      };
      return answer;
    });
  }

  function on(name, handler) {
    if (EVENTS.indexOf(name) < 0) {
      throw new TypeError("unknown superapp event `" + name + "`: one of " + EVENTS.join(", "));
    }
    if (typeof handler !== "function") {
      throw new TypeError("superapp.on(`" + name + "`, handler) needs a function");
    }
    var list = handlers[name];
    list.push(handler);
    if (name === "back" && list.length === 1) {
      request("handleBack", { enabled: true }).catch(function () {});
    }
    var subscribed = true;
    return function unsubscribe() {
      if (!subscribed) {
        return;
      }
      subscribed = false;
      var i = list.indexOf(handler);
      if (i >= 0) {
        list.splice(i, 1);
      }
      if (name === "back" && list.length === 0) {
        request("handleBack", { enabled: false }).catch(function () {});
      }
    };
  }

  function empty() {
    return undefined;
  }

  var superapp = {
    version: 1,
    ready: function () {
      return request("ready", {}).then(empty);
    },
    context: function () {
      return request("context", {});
    },
    call: call,
    launchToken: function () {
      return request("launchToken", {});
    },
    requestPayment: function (paymentId) {
      return request("requestPayment", { payment: String(paymentId) });
    },
    requestScope: function (scope) {
      return request("requestScope", { scope: String(scope) });
    },
    subscribe: function (topic) {
      return request("subscribe", { topic: String(topic) });
    },
    share: function (path, title) {
      return request("share", { path: String(path), title: String(title) });
    },
    openApp: function (app, path) {
      var params = { app: String(app) };
      if (path !== undefined && path !== null) {
        params.path = String(path);
      }
      return request("openApp", params);
    },
    close: function () {
      return request("close", {});
    },
    on: on,
  };

  Object.defineProperty(window, "superapp", {
    value: Object.freeze(superapp),
    writable: false,
    enumerable: true,
    configurable: false,
  });
})();
