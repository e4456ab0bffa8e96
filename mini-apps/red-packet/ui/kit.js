// kit.js — the small toolkit of the bundled mini-app UIs. The same file is
// in each app's ui/ folder (a package carries only its own folder); the test
// tests/bridge/ui.test.mjs keeps the copies identical.
//
// It owns: building DOM from elements and text nodes (never parsed HTML), calling
// the app through the bridge (errors become AppError with the app's code),
// the string table lookup, money, the screen stack wired to the shell's back
// button, the live region for messages, and language and theme changes.
// It never talks to anything but window.superapp.

const bridge = window.superapp;

/** The host's currency (the bundled demo host runs in CNY). */
const CURRENCY = "CNY";

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "…"}, "Pay", …)
 * Props starting with "on" are listeners; `class` and `text` are shorthands;
 * `false`/`null` props are left out; children may be nodes, strings, arrays
 * or null.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked" || key === "disabled" || key === "selected") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let fieldCount = 0;

/** A labelled input (or select/textarea): returns {field, input}. */
export function field(label, tag, props, ...children) {
  const id = `f${++fieldCount}`;
  const input = h(tag, { ...props, id }, ...children);
  const field = h("div", { class: "field" }, h("label", { for: id, text: label }), input);
  return { field, input };
}

/** An error from the app (its `error` code and `message`) or the bridge. */
export class AppError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

/** Calls the app: the parsed JSON answer, or throws AppError. */
export async function api(path, { method = "GET", body } = {}) {
  let r;
  try {
    r = await bridge.call(path, { method, body });
  } catch (e) {
    throw new AppError(e.code || "bridge", e.message);
  }
  let data = null;
  if (r.body) {
    try {
      data = r.json();
    } catch {
      data = r.body;
    }
  }
  if (r.status >= 400) {
    const d = data && typeof data === "object" ? data : {};
    // App errors are {error, message}; the host's are problem+json.
    const code = d.error || String(d.type || "").replace("urn:superapp:problem:", "") || String(r.status);
    throw new AppError(code, d.message || d.detail || d.title || `HTTP ${r.status}`, r.status);
  }
  return data;
}

/** A fresh idempotency key (6–64 of A-Z a-z 0-9 . _ : -). */
export function newKey(prefix) {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** "12.80" or "12,8" → 1280 minor units; null unless a positive amount. */
export function toMinor(text) {
  const m = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(String(text));
  if (!m) return null;
  const minor = Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
  return minor > 0 ? minor : null;
}

/** Minor units as the plain number a person types: 1280 → "12.80". */
export function toMajor(minor) {
  return (Number(minor) / 100).toFixed(2);
}

/**
 * Asks `read()` again (every 700 ms, at most `tries` times) until `done(value)`
 * holds: the app learns of a payment from the host's event, a moment after
 * the sheet closed. Returns the last value read.
 */
export async function poll(read, done, tries = 12) {
  let value = await read();
  for (let i = 1; i < tries && !done(value); i++) {
    await new Promise((r) => setTimeout(r, 700));
    value = await read();
  }
  return value;
}

/**
 * Starts a UI: `screens` maps names to async (app, params) => Node; `tabs`
 * are [{screen, label, show?: (app) => bool}]; `first(app)` returns the
 * [screen, params] to open (from the launch path). Returns the app object
 * the screens use: t, money, go, back, reset, refresh, say, fail, act, api.
 */
export async function start({ strings, screens, tabs, first, setup }) {
  const root = document.getElementById("screen");
  const nav = document.getElementById("tabs");
  const status = document.getElementById("status");
  const alert = document.getElementById("alert");
  let current = null;
  const stack = [];
  let releaseBack = null;
  let rendering = 0;
  let sayTimer = 0;

  const app = {
    ctx: { app: "", open_id: null, path: "/", scene: "direct", language: "en", theme: "light" },
    lang: "en",
    state: {},
    api,
    t(key, vars) {
      const text = (strings[app.lang] && strings[app.lang][key]) ?? strings.en[key] ?? key;
      return text.replace(/\{(\w+)\}/g, (_, name) => (vars && name in vars ? String(vars[name]) : `{${name}}`));
    },
    money(minor) {
      return new Intl.NumberFormat(app.lang, {
        style: "currency",
        currency: CURRENCY,
        currencyDisplay: "narrowSymbol",
      }).format(Number(minor) / 100);
    },
    /** Opens a screen on top of this one (the shell's back returns). */
    go(screen, params = {}) {
      if (current) stack.push(current);
      current = { screen, params };
      holdBack();
      return render(true);
    },
    /** Opens a tab: the stack starts again from it. */
    reset(screen, params = {}) {
      stack.length = 0;
      current = { screen, params };
      holdBack();
      return render(true);
    },
    back() {
      if (!stack.length) return bridge.close();
      current = stack.pop();
      holdBack();
      return render(true);
    },
    /** Draws the current screen again, keeping the focus where it was. */
    refresh() {
      return render(false);
    },
    /**
     * Draws this screen again in `ms` unless the person moved on or it was
     * drawn again meanwhile: a screen that follows something calls it each time.
     */
    later(ms) {
      const mine = rendering;
      setTimeout(() => {
        if (mine === rendering && !document.hidden) app.refresh();
        else if (mine === rendering) app.later(ms);
      }, ms);
    },
    say(text) {
      status.textContent = "";
      clearTimeout(sayTimer);
      // A fresh text node, so screen readers announce a repeated message too;
      // gone after a while, as toasts go.
      setTimeout(() => (status.textContent = text), 30);
      sayTimer = setTimeout(() => (status.textContent = ""), 6000);
    },
    /** Shows an error: the app's own words for a known code, else the message. */
    fail(error) {
      const code = error && error.code;
      const key = `error.${code}`;
      const known = code && ((strings[app.lang] || {})[key] ?? strings.en[key]);
      alert.textContent = known || `${(error && error.message) || error}${code ? ` (${code})` : ""}`;
      alert.hidden = false;
    },
    /**
     * Runs `work` for a button: disabled meanwhile; on success the screen is
     * drawn again, on failure the error shows and what was typed stays.
     */
    async act(button, work) {
      if (button) button.disabled = true;
      clearAlert();
      try {
        await work();
      } catch (e) {
        if (button) button.disabled = false;
        app.fail(e);
        return false;
      }
      if (button) button.disabled = false;
      await app.refresh();
      return true;
    },
  };

  function clearAlert() {
    alert.textContent = "";
    alert.hidden = true;
  }

  // The shell's back button walks this UI's stack while it has one.
  function holdBack() {
    if (stack.length && !releaseBack) releaseBack = bridge.on("back", () => app.back());
    if (!stack.length && releaseBack) {
      releaseBack();
      releaseBack = null;
    }
  }

  function drawTabs() {
    nav.replaceChildren(
      ...tabs
        .filter((tab) => !tab.show || tab.show(app))
        .map((tab) =>
          h("button", {
            type: "button",
            class: "tab",
            "aria-current": current && current.screen === tab.screen && !stack.length ? "page" : null,
            text: app.t(tab.label),
            onclick: () => app.reset(tab.screen),
          }),
        ),
    );
  }

  async function render(moved) {
    const mine = ++rendering;
    const focusKey = !moved && document.activeElement && document.activeElement.dataset.key;
    if (moved) clearAlert();
    drawTabs();
    let view;
    try {
      view = await screens[current.screen](app, current.params);
    } catch (e) {
      view = h("section", {}, h("h1", { tabindex: "-1", text: app.t("error.title") }));
      app.fail(e);
    }
    if (mine !== rendering) return; // a newer render won
    root.replaceChildren(view);
    const again = focusKey && root.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
    if (again && !again.disabled) again.focus();
    else if (moved) (root.querySelector("h1") || root).focus();
  }

  function applyLanguage(language) {
    app.lang = language === "zh-CN" ? "zh-CN" : "en";
    document.documentElement.lang = app.lang;
    document.title = app.t("app.title");
  }

  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme === "dark" ? "dark" : "light";
  }

  try {
    app.ctx = await bridge.context();
  } catch (e) {
    app.fail(e);
  }
  applyLanguage(app.ctx.language);
  applyTheme(app.ctx.theme);
  bridge.on("language", (d) => {
    applyLanguage(d.language);
    app.refresh();
  });
  bridge.on("theme", (d) => applyTheme(d.theme));
  if (setup) await setup(app);
  const [screen, params] = first(app);
  current = { screen, params };
  await render(true);
  bridge.ready().catch(() => {});
  return app;
}

/** The launch path's parts: "/orders/o1?x=1" → {parts: ["orders", "o1"], query}. */
export function parsePath(path) {
  const url = new URL(path || "/", "https://app.invalid");
  return {
    parts: url.pathname.split("/").filter(Boolean).map(decodeURIComponent),
    query: url.searchParams,
  };
}
