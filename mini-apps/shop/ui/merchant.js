// The merchant's screens (the owner and staff; the app's /admin routes
// refuse anyone else, so these tabs are only a convenience): orders,
// shipping, refund decisions, the catalog, and answers to customers.
import { api, field, h, toMajor, toMinor } from "./kit.js";
import { orderDetails } from "./shopper.js";

const STATUSES = ["awaiting-payment", "paid", "shipped", "received", "refunded", "cancelled"];

/** An open id, shortened for people to tell buyers apart. */
const shortId = (openId) => `…${String(openId).slice(-6)}`;

export async function orders(app) {
  const filter = app.state.orderFilter || "";
  const list = await api(`/admin/orders${filter ? `?status=${encodeURIComponent(filter)}` : ""}`);
  // Refund requests first: they wait on the merchant.
  list.sort((a, b) => Number(Boolean(b.refund_request)) - Number(Boolean(a.refund_request)));
  const select = field(
    app.t("admin.filter"),
    "select",
    {
      "data-key": "filter",
      onchange: (e) => {
        app.state.orderFilter = e.currentTarget.value;
        app.refresh();
      },
    },
    h("option", { value: "", selected: !filter, text: app.t("admin.filter-all") }),
    STATUSES.map((s) => h("option", { value: s, selected: s === filter, text: app.t(`status.${s}`) })),
  );
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("admin.orders") }),
    select.field,
    list.length === 0 ? h("p", { class: "empty", text: app.t("admin.no-orders") }) : null,
    h(
      "ul",
      { class: "list" },
      list.map((o) =>
        h(
          "li",
          { class: "card" },
          h(
            "div",
            { class: "row" },
            h("h2", {}, h("button", { type: "button", class: "link", text: app.t("order.name", { id: o.id }), onclick: () => app.go("admin-order", { id: o.id }) })),
            h("span", { class: `badge status-${o.status}`, text: app.t(`status.${o.status}`) }),
          ),
          h("p", { class: "muted", text: app.t("admin.buyer", { who: shortId(o.buyer) }) }),
          h("p", { class: "amount", text: app.money(o.total) }),
          o.refund_request ? h("p", { class: "badge", text: app.t("admin.refund-waiting", { amount: app.money(o.refund_request.amount) }) }) : null,
        ),
      ),
    ),
  );
}

async function findOrder(id) {
  const list = await api("/admin/orders");
  const o = list.find((x) => x.id === id);
  if (!o) throw Object.assign(new Error(`no order ${id}`), { code: "not-found" });
  return o;
}

export async function order(app, { id }) {
  const o = await findOrder(id);
  const left = o.total - o.refunded;
  const path = `/admin/orders/${encodeURIComponent(o.id)}`;
  const parts = [];

  if (o.status === "paid") {
    const tracking = field(app.t("ship.tracking"), "input", { maxlength: "64", autocomplete: "off", required: true });
    parts.push(
      h(
        "form",
        {
          class: "card",
          "aria-label": app.t("ship.title"),
          onsubmit: (e) => {
            e.preventDefault();
            if (!tracking.input.value.trim()) return app.fail({ message: app.t("ship.tracking-missing") });
            app.act(e.submitter, async () => {
              await api(`${path}/ship`, { method: "POST", body: { tracking: tracking.input.value.trim() } });
              app.say(app.t("ship.done"));
            });
          },
        },
        h("h2", { text: app.t("ship.title") }),
        tracking.field,
        h("button", { type: "submit", class: "primary", "data-key": "ship", text: app.t("ship.button") }),
      ),
    );
  }

  const refundable = ["paid", "shipped", "received"].includes(o.status) && left > 0;
  if (refundable) {
    const asked = o.refund_request;
    const amount = field(app.t("decide.amount"), "input", {
      inputmode: "decimal",
      autocomplete: "off",
      value: toMajor(asked ? asked.amount : left),
    });
    const note = field(app.t("decide.note"), "input", { maxlength: "500", autocomplete: "off" });
    parts.push(
      h(
        "form",
        {
          class: "card",
          "aria-label": app.t(asked ? "decide.title" : "decide.refund-title"),
          onsubmit: (e) => {
            e.preventDefault();
            const minor = toMinor(amount.input.value);
            if (!minor || minor > left) return app.fail({ message: app.t("refund.amount-invalid", { max: app.money(left) }) });
            app.act(e.submitter, async () => {
              await api(`${path}/refund`, { method: "POST", body: { amount: minor, note: note.input.value.trim() } });
              app.say(app.t("decide.refunded", { amount: app.money(minor) }));
            });
          },
        },
        h("h2", { text: app.t(asked ? "decide.title" : "decide.refund-title") }),
        asked ? h("p", { text: app.t("decide.asked", { amount: app.money(asked.amount), reason: asked.reason }) }) : null,
        h("p", { class: "muted", text: app.t("decide.source") }),
        amount.field,
        note.field,
        h("button", { type: "submit", class: "primary", "data-key": "approve", text: app.t(asked ? "decide.approve" : "decide.refund") }),
      ),
    );
    if (asked) {
      const reason = field(app.t("decide.decline-reason"), "input", { maxlength: "500", autocomplete: "off", required: true });
      parts.push(
        h(
          "form",
          {
            class: "card",
            "aria-label": app.t("decide.decline-title"),
            onsubmit: (e) => {
              e.preventDefault();
              if (!reason.input.value.trim()) return app.fail({ message: app.t("decide.reason-missing") });
              app.act(e.submitter, async () => {
                await api(`${path}/refund/decline`, { method: "POST", body: { reason: reason.input.value.trim() } });
                app.say(app.t("decide.declined"));
              });
            },
          },
          h("h2", { text: app.t("decide.decline-title") }),
          reason.field,
          h("button", { type: "submit", class: "danger", "data-key": "decline", text: app.t("decide.decline") }),
        ),
      );
    }
  }

  return h(
    "section",
    {},
    h("div", { class: "row" }, h("h1", { tabindex: "-1", text: app.t("order.name", { id: o.id }) }), h("span", { class: `badge status-${o.status}`, text: app.t(`status.${o.status}`) })),
    h("p", { class: "muted", text: app.t("admin.buyer", { who: shortId(o.buyer) }) }),
    orderDetails(app, o),
    parts,
  );
}

export async function products(app) {
  const list = await api("/admin/products");
  const name = field(app.t("product.name"), "input", { maxlength: "80", required: true, autocomplete: "off" });
  const description = field(app.t("product.description"), "textarea", { maxlength: "1000" });
  const price = field(app.t("product.price"), "input", { inputmode: "decimal", required: true, autocomplete: "off" });
  const stock = field(app.t("product.stock"), "input", { type: "number", min: "0", inputmode: "numeric", required: true, value: "0" });
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("admin.products") }),
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
            h("h2", {}, h("button", { type: "button", class: "link", text: p.name, onclick: () => app.go("admin-product", { id: p.id }) })),
            h("span", { class: "amount", text: app.money(p.price) }),
          ),
          h("p", { class: "muted" }, app.t("product.left", { n: p.stock }), p.active ? null : [" · ", h("span", { class: "badge", text: app.t("product.inactive") })]),
        ),
      ),
    ),
    h(
      "form",
      {
        class: "card",
        "aria-label": app.t("product.add-title"),
        onsubmit: (e) => {
          e.preventDefault();
          const minor = toMinor(price.input.value);
          const n = Number(stock.input.value);
          if (!minor) return app.fail({ message: app.t("product.price-invalid") });
          if (!Number.isInteger(n) || n < 0) return app.fail({ message: app.t("product.stock-invalid") });
          app.act(e.submitter, async () => {
            const p = await api("/admin/products", {
              method: "POST",
              body: { name: name.input.value.trim(), description: description.input.value, price: minor, stock: n },
            });
            app.say(app.t("product.added", { name: p.name }));
          });
        },
      },
      h("h2", { text: app.t("product.add-title") }),
      name.field,
      description.field,
      h("div", { class: "inline" }, price.field, stock.field),
      h("button", { type: "submit", class: "primary", "data-key": "add-product", text: app.t("product.add") }),
    ),
  );
}

export async function product(app, { id }) {
  const p = (await api("/admin/products")).find((x) => x.id === id);
  if (!p) throw Object.assign(new Error(`no product ${id}`), { code: "not-found" });
  const name = field(app.t("product.name"), "input", { maxlength: "80", value: p.name, required: true, autocomplete: "off" });
  const description = field(app.t("product.description"), "textarea", { maxlength: "1000" });
  description.input.value = p.description;
  const price = field(app.t("product.price"), "input", { inputmode: "decimal", value: toMajor(p.price), autocomplete: "off" });
  const stock = field(app.t("product.stock"), "input", { type: "number", min: "0", inputmode: "numeric", value: String(p.stock) });
  const active = h("input", { type: "checkbox", id: "active", checked: p.active });
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: p.name }),
    h(
      "form",
      {
        class: "card",
        "aria-label": app.t("product.edit-title"),
        onsubmit: (e) => {
          e.preventDefault();
          const minor = toMinor(price.input.value);
          const n = Number(stock.input.value);
          if (!minor) return app.fail({ message: app.t("product.price-invalid") });
          if (!Number.isInteger(n) || n < 0) return app.fail({ message: app.t("product.stock-invalid") });
          app.act(e.submitter, async () => {
            await api(`/admin/products/${encodeURIComponent(p.id)}`, {
              method: "PUT",
              body: {
                name: name.input.value.trim(),
                description: description.input.value,
                price: minor,
                stock: n,
                active: active.checked,
              },
            });
            app.say(app.t("product.saved"));
          });
        },
      },
      name.field,
      description.field,
      h("div", { class: "inline" }, price.field, stock.field),
      h("div", { class: "check" }, active, h("label", { for: "active", text: app.t("product.active") })),
      h("button", { type: "submit", class: "primary", "data-key": "save", text: app.t("product.save") }),
    ),
  );
}

export async function inbox(app) {
  const list = await api("/admin/inbox");
  list.reverse(); // newest first
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("admin.inbox") }),
    h("p", { class: "muted", text: app.t("inbox.window") }),
    list.length === 0 ? h("p", { class: "empty", text: app.t("inbox.empty") }) : null,
    h(
      "ul",
      { class: "list" },
      list.map((m) => {
        const text = field(app.t("inbox.reply-to", { who: shortId(m.from) }), "textarea", { maxlength: "4000", required: true });
        return h(
          "li",
          { class: "card" },
          h("p", { class: "muted", text: `${shortId(m.from)} · ${new Date(m.at * 1000).toLocaleString(app.lang)}` }),
          h("p", { text: m.text }),
          h(
            "form",
            {
              onsubmit: (e) => {
                e.preventDefault();
                if (!text.input.value.trim()) return app.fail({ message: app.t("inbox.reply-missing") });
                app.act(e.submitter, async () => {
                  await api(`/admin/inbox/${encodeURIComponent(m.from)}/reply`, {
                    method: "POST",
                    body: { text: text.input.value.trim() },
                  });
                  app.say(app.t("inbox.sent"));
                });
              },
            },
            text.field,
            h("button", { type: "submit", "data-key": `reply-${m.message}`, text: app.t("inbox.reply") }),
          ),
        );
      }),
    ),
  );
}
