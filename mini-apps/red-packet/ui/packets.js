// Sending, opening and listing red packets.
//
// Sending into a chat, in this order (each step safe to repeat):
//   1. POST /packets without a chat: the packet exists, unfunded — nobody
//      can claim it yet, and its id names the card;
//   2. superapp.share(`/packets/{id}`, …): the person picks the chat in the
//      shell's own picker (the UI never sees the list); the shell posts the
//      app's card there and tells the UI which chat it was;
//   3. POST /packets again with the same key and that chat: the same packet,
//      now fenced into the chat (only its members can claim) with its card;
//   4. superapp.requestPayment: the person funds it in the host's sheet.
// Fencing (3) comes before funding (4), so nobody can claim through the
// link before the packet belongs to the chat.
import { api, field, h, newKey, poll, toMinor } from "./kit.js";

const bridge = window.superapp;

// The app's status words (its GET /packets/{id}) → this UI's string keys.
const STATUS = {
  "waiting for the sender to confirm": "unfunded",
  open: "open",
  "all claimed": "empty",
  expired: "expired",
  cancelled: "cancelled",
};
const statusKey = (s) => `status.${STATUS[s] || "open"}`;

function draft(app) {
  if (!app.state.draft) app.state.draft = { total: "8.88", count: "3", split: "random", greeting: "", key: null };
  return app.state.draft;
}

export async function send(app) {
  const d = draft(app);
  const keep = (name) => (e) => {
    d[name] = e.currentTarget.value;
    // Other amounts make another packet: a fresh key.
    if (name !== "greeting") d.key = null;
  };
  const total = field(app.t("send.total"), "input", { inputmode: "decimal", autocomplete: "off", value: d.total, "data-key": "total", oninput: keep("total") });
  const count = field(app.t("send.count"), "input", { type: "number", min: "1", max: "100", inputmode: "numeric", value: d.count, "data-key": "count", oninput: keep("count") });
  const greeting = field(app.t("send.greeting"), "input", {
    maxlength: "60",
    autocomplete: "off",
    placeholder: app.t("send.greeting-default"),
    value: d.greeting,
    "data-key": "greeting",
    oninput: (e) => {
      d.greeting = e.currentTarget.value;
      d.key = null;
    },
  });
  const radio = (value) =>
    h(
      "label",
      {},
      h("input", {
        type: "radio",
        name: "split",
        value,
        checked: d.split === value,
        onchange: () => {
          d.split = value;
          d.key = null;
        },
      }),
      app.t(`send.split-${value}`),
    );
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("send.title") }),
    h(
      "form",
      {
        "aria-label": app.t("send.title"),
        onsubmit: (e) => {
          e.preventDefault();
          const minor = toMinor(d.total);
          const n = Number(d.count);
          if (!minor) return app.fail({ message: app.t("send.total-invalid") });
          if (!Number.isInteger(n) || n < 1 || n > 100) return app.fail({ message: app.t("send.count-invalid") });
          if (minor < n) return app.fail({ message: app.t("send.too-small", { n }) });
          app.act(e.submitter, () => sendIntoChat(app, minor, n));
        },
      },
      h("div", { class: "inline" }, total.field, count.field),
      h("fieldset", { class: "radios" }, h("legend", { text: app.t("send.split") }), radio("random"), radio("equal")),
      greeting.field,
      h("p", { class: "muted", text: app.t("send.how") }),
      h("button", { type: "submit", class: "primary", "data-key": "send", text: app.t("send.button") }),
    ),
  );
}

async function sendIntoChat(app, total, count) {
  const d = draft(app);
  d.key = d.key || newKey("pk");
  const greeting = d.greeting.trim() || app.t("send.greeting-default");
  const request = { total, count, split: d.split, greeting, key: d.key };
  const made = await api("/packets", { method: "POST", body: request });
  const picked = await bridge.share(`/packets/${made.packet}`, app.t("share.title", { greeting }));
  if (!picked || !picked.conversation) {
    // Nothing was paid; the same key makes the same packet if they try again.
    app.say(app.t("send.not-sent"));
    return;
  }
  await api("/packets", { method: "POST", body: { ...request, conversation: picked.conversation } });
  app.state.draft = null;
  const paid = await bridge.requestPayment(made.payment);
  app.say(app.t(`pay.${paid.status}`));
  if (paid.status === "confirmed") {
    await poll(
      () => api(`/packets/${encodeURIComponent(made.packet)}`),
      (p) => STATUS[p.status] !== "unfunded",
    );
  }
  await app.go("packet", { id: made.packet });
}

/** My sent packet with this id (to fund it later), if it is mine. */
async function sentByMe(id) {
  return (await api("/packets")).find((p) => p.id === id) || null;
}

export async function packet(app, { id }) {
  const [p, mineSent] = await Promise.all([api(`/packets/${encodeURIComponent(id)}`), sentByMe(id)]);
  const state = STATUS[p.status] || "open";
  const parts = [
    h("h1", { tabindex: "-1", text: app.t("packet.title", { from: p.from }) }),
    h(
      "div",
      { class: "card packet" },
      h("p", { class: "greeting", text: p.greeting }),
      p.mine !== null
        ? [h("p", { text: app.t("packet.you-got") }), h("p", { class: "amount", text: app.money(p.mine) })]
        : h("p", { text: app.t(statusKey(p.status)) }),
      state === "open" && p.mine === null
        ? h("button", {
            type: "button",
            class: "primary",
            "data-key": "open",
            text: app.t("packet.open"),
            onclick: (e) =>
              app.act(e.currentTarget, async () => {
                const c = await api(`/packets/${encodeURIComponent(p.id)}/claim`, { method: "POST" });
                app.say(app.t("packet.claimed", { amount: app.money(c.amount) }));
              }),
          })
        : null,
    ),
    h(
      "p",
      { class: "muted" },
      app.t("packet.summary", {
        total: app.money(p.total),
        count: p.count,
        split: app.t(`send.split-${p.split}`),
        claimed: p.claimed,
      }),
      p.returned ? ` ${app.t("packet.returned", { amount: app.money(p.returned) })}` : "",
    ),
  ];
  if (mineSent && state === "unfunded") {
    parts.push(
      h(
        "div",
        { class: "card" },
        h("p", { text: app.t("packet.fund-note") }),
        h("button", {
          type: "button",
          class: "primary",
          "data-key": "fund",
          text: app.t("packet.fund", { total: app.money(p.total) }),
          onclick: (e) =>
            app.act(e.currentTarget, async () => {
              const paid = await bridge.requestPayment(mineSent.payment);
              app.say(app.t(`pay.${paid.status}`));
              if (paid.status === "confirmed") {
                await poll(
                  () => api(`/packets/${encodeURIComponent(p.id)}`),
                  (x) => STATUS[x.status] !== "unfunded",
                );
              }
            }),
        }),
      ),
    );
  }
  parts.push(h("h2", { text: app.t("packet.who") }));
  parts.push(
    p.claims.length === 0
      ? h("p", { class: "empty", text: app.t("packet.nobody") })
      : h(
          "ul",
          { class: "list card claims", "aria-label": app.t("packet.who") },
          p.claims.map((c) => {
            const lucky = p.luckiest && p.claims.length > 1 && c.amount === p.luckiest.amount && c.who === p.luckiest.who;
            return h(
              "li",
              {},
              h("span", {}, c.mine ? app.t("packet.you", { who: c.who }) : c.who, lucky ? h("span", { class: "luckiest", text: ` · ${app.t("packet.luckiest")}` }) : null),
              h("span", { class: "amount", text: app.money(c.amount) }),
            );
          }),
        ),
  );
  if (p.mine === null || p.claims.some((c) => c.mine && c.who === "a friend")) {
    parts.push(
      h(
        "div",
        { class: "actions" },
        h("p", { class: "muted", text: app.t("name.note") }),
        h("button", {
          type: "button",
          "data-key": "name",
          text: app.t("name.button"),
          onclick: (e) =>
            app.act(e.currentTarget, async () => {
              const s = await bridge.requestScope("profile");
              if (s.state === "granted") await api("/me/name", { method: "POST" });
              app.say(app.t(s.state === "granted" ? "name.granted" : "name.denied"));
            }),
        }),
      ),
    );
  }
  // Follow the claims while the packet is open.
  if (state === "open" || state === "unfunded") app.later(5000);
  return h("section", {}, parts);
}

export async function mine(app) {
  const list = await api("/packets");
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("mine.title") }),
    list.length === 0 ? h("p", { class: "empty", text: app.t("mine.empty") }) : null,
    h(
      "ul",
      { class: "list" },
      list.map((p) =>
        h(
          "li",
          { class: "card" },
          h(
            "div",
            { class: "row" },
            h("button", { type: "button", class: "link", text: p.greeting, onclick: () => app.go("packet", { id: p.id }) }),
            h("span", { class: "amount", text: app.money(p.total) }),
          ),
          h("p", { class: "muted", text: `${app.t(statusKey(p.status))} · ${app.t("mine.claimed", { claimed: p.claimed, count: p.count })}` }),
        ),
      ),
    ),
  );
}
