// The shopper's screens: catalog, product, cart and checkout, orders.
// Money moves only in the host's sheet (superapp.requestPayment); receipt is
// confirmed in the shell's wallet, because that host route is the person's,
// not the app's.
import { api, field, h, newKey, poll, toMajor, toMinor } from "./kit.js";

const bridge = window.superapp;

async function loadCart(app) {
  app.state.cart = await api("/cart");
  return app.state.cart;
}

function qtyInCart(app, product) {
  const line = app.state.cart && app.state.cart.lines.find((l) => l.product === product);
  return line ? line.qty : 0;
}

async function addToCart(app, product) {
  const qty = qtyInCart(app, product.id) + 1;
  app.state.cart = await api(`/cart/${encodeURIComponent(product.id)}`, { method: "PUT", body: { qty } });
  app.say(app.t("cart.added", { name: product.name, qty }));
}

function stockText(app, p) {
  if (p.stock === 0) return app.t("product.sold-out");
  return app.t("product.left", { n: p.stock });
}

export async function catalog(app) {
  const [products] = await Promise.all([api("/products"), loadCart(app)]);
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("catalog.title") }),
    products.length === 0 ? h("p", { class: "empty", text: app.t("catalog.empty") }) : null,
    h(
      "ul",
      { class: "list", "aria-label": app.t("catalog.title") },
      products.map((p) =>
        h(
          "li",
          { class: "card" },
          h(
            "div",
            { class: "row" },
            h("h2", {}, h("button", { type: "button", class: "link", text: p.name, onclick: () => app.go("product", { id: p.id }) })),
            h("span", { class: "amount", text: app.money(p.price) }),
          ),
          p.description ? h("p", { class: "muted", text: p.description }) : null,
          h(
            "div",
            { class: "row" },
            h("span", { class: "muted", text: stockText(app, p) }),
            h("button", {
              type: "button",
              class: "primary",
              "data-key": `add-${p.id}`,
              disabled: p.stock === 0,
              "aria-label": app.t("cart.add-named", { name: p.name }),
              text: app.t("cart.add"),
              onclick: (e) => app.act(e.currentTarget, () => addToCart(app, p)),
            }),
          ),
        ),
      ),
    ),
  );
}

export async function product(app, { id }) {
  const [p] = await Promise.all([api(`/products/${encodeURIComponent(id)}`), loadCart(app)]);
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: p.name }),
    h("p", { class: "amount", text: app.money(p.price) }),
    p.description ? h("p", { text: p.description }) : null,
    h("p", { class: "muted", text: stockText(app, p) }),
    qtyInCart(app, p.id) ? h("p", { class: "muted", text: app.t("product.in-cart", { qty: qtyInCart(app, p.id) }) }) : null,
    h(
      "div",
      { class: "actions" },
      h("button", {
        type: "button",
        class: "primary",
        "data-key": "add",
        disabled: p.stock === 0,
        text: app.t("cart.add"),
        onclick: (e) => app.act(e.currentTarget, () => addToCart(app, p)),
      }),
      h("button", { type: "button", text: app.t("cart.open"), onclick: () => app.reset("cart") }),
    ),
  );
}

export async function cart(app) {
  const c = await loadCart(app);
  if (!c.lines.length) {
    return h(
      "section",
      {},
      h("h1", { tabindex: "-1", text: app.t("cart.title") }),
      h("p", { class: "empty", text: app.t("cart.empty") }),
      h("button", { type: "button", class: "primary", text: app.t("cart.browse"), onclick: () => app.reset("catalog") }),
    );
  }
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("cart.title") }),
    h(
      "ul",
      { class: "list" },
      c.lines.map((line) => {
        const qty = field(app.t("cart.qty-named", { name: line.name }), "input", {
          type: "number",
          min: "0",
          max: "99",
          inputmode: "numeric",
          value: String(line.qty),
          "data-key": `qty-${line.product}`,
        });
        const setQty = (button, n) =>
          app.act(button, async () => {
            app.state.cart = await api(`/cart/${encodeURIComponent(line.product)}`, {
              method: "PUT",
              body: { qty: n },
            });
            app.say(n ? app.t("cart.updated", { name: line.name, qty: n }) : app.t("cart.removed", { name: line.name }));
          });
        return h(
          "li",
          { class: "card" },
          h("div", { class: "row" }, h("h2", { text: line.name }), h("span", { class: "amount", text: app.money(line.price * line.qty) })),
          h("p", { class: "muted", text: app.t("cart.each", { price: app.money(line.price) }) }),
          h(
            "form",
            {
              class: "inline",
              onsubmit: (e) => {
                e.preventDefault();
                const n = Number(qty.input.value);
                if (!Number.isInteger(n) || n < 0 || n > 99) return app.fail({ message: app.t("cart.qty-invalid") });
                setQty(e.submitter, n);
              },
            },
            qty.field,
            h("button", { type: "submit", "data-key": `update-${line.product}`, text: app.t("cart.update") }),
            h("button", {
              type: "button",
              class: "danger",
              "aria-label": app.t("cart.remove-named", { name: line.name }),
              text: app.t("cart.remove"),
              onclick: (e) => setQty(e.currentTarget, 0),
            }),
          ),
        );
      }),
    ),
    h("p", { class: "row" }, h("span", { text: app.t("cart.total") }), h("span", { class: "amount", text: app.money(c.total) })),
    h("p", { class: "muted", text: app.t("checkout.escrow-note") }),
    h(
      "div",
      { class: "actions" },
      h("button", {
        type: "button",
        class: "primary",
        "data-key": "checkout",
        text: app.t("checkout.button", { total: app.money(c.total) }),
        onclick: (e) => app.act(e.currentTarget, () => checkout(app)),
      }),
      h("button", {
        type: "button",
        text: app.t("cart.clear"),
        onclick: (e) =>
          app.act(e.currentTarget, async () => {
            await api("/cart", { method: "DELETE" });
            app.say(app.t("cart.cleared"));
          }),
      }),
    ),
  );
}

async function checkout(app) {
  // One key per checkout attempt: a retry after a lost answer gets the same order.
  app.state.checkoutKey = app.state.checkoutKey || newKey("checkout");
  const order = await api("/checkout", { method: "POST", body: { key: app.state.checkoutKey } });
  app.state.checkoutKey = null;
  await payFor(app, order);
  await app.go("order", { id: order.id });
}

/** The host's payment sheet for an order; then wait for the app to hear of it. */
async function payFor(app, order) {
  const r = await bridge.requestPayment(order.payment);
  if (r.status === "confirmed") {
    app.say(app.t("pay.confirmed"));
    await poll(
      () => api(`/orders/${encodeURIComponent(order.id)}`),
      (o) => o.status !== "awaiting-payment",
    );
  } else if (r.status === "declined") {
    app.say(app.t("pay.declined"));
  } else {
    app.say(app.t("pay.dismissed"));
  }
}

function statusBadge(app, status) {
  return h("span", { class: `badge status-${status}`, text: app.t(`status.${status}`) });
}

export async function orders(app) {
  const list = await api("/orders");
  list.reverse(); // newest first
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("orders.title") }),
    list.length === 0 ? h("p", { class: "empty", text: app.t("orders.empty") }) : null,
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
            h("h2", {}, h("button", { type: "button", class: "link", text: app.t("order.name", { id: o.id }), onclick: () => app.go("order", { id: o.id }) })),
            statusBadge(app, o.status),
          ),
          h("p", { class: "muted", text: o.lines.map((l) => `${l.qty} × ${l.name}`).join(", ") }),
          h("p", { class: "amount", text: app.money(o.total) }),
        ),
      ),
    ),
  );
}

/** The parts of an order both sides see: lines, history, tracking, refunds. */
export function orderDetails(app, o) {
  return [
    h(
      "ul",
      { class: "list card", "aria-label": app.t("order.lines") },
      o.lines.map((l) =>
        h("li", { class: "row" }, h("span", { text: `${l.qty} × ${l.name}` }), h("span", { class: "amount", text: app.money(l.price * l.qty) })),
      ),
      h("li", { class: "row" }, h("strong", { text: app.t("cart.total") }), h("strong", { class: "amount", text: app.money(o.total) })),
    ),
    h("h2", { text: app.t("order.history") }),
    h(
      "ol",
      { class: "steps" },
      o.history.map((s) => h("li", { text: app.t(`status.${s}`) })),
    ),
    o.tracking ? h("p", {}, app.t("order.tracking"), " ", h("strong", { text: o.tracking })) : null,
    o.refunded ? h("p", { text: app.t("order.refunded", { amount: app.money(o.refunded) }) }) : null,
    o.refund_request
      ? h("p", { class: "card" }, app.t("refund.pending", { amount: app.money(o.refund_request.amount), reason: o.refund_request.reason }))
      : null,
    o.refunds.length
      ? h(
          "ul",
          { class: "list", "aria-label": app.t("refund.decisions") },
          o.refunds.map((r) =>
            h(
              "li",
              { class: "muted" },
              r.outcome === "refunded"
                ? app.t("refund.done", { amount: app.money(r.amount), note: r.note || "—" })
                : app.t("refund.declined", { amount: app.money(r.requested || 0), note: r.note }),
            ),
          ),
        )
      : null,
  ];
}

export async function order(app, { id }) {
  const o = await api(`/orders/${encodeURIComponent(id)}`);
  const left = o.total - o.refunded;
  const refundable = ["paid", "shipped", "received"].includes(o.status) && !o.refund_request && left > 0;
  return h(
    "section",
    {},
    h("div", { class: "row" }, h("h1", { tabindex: "-1", text: app.t("order.name", { id: o.id }) }), statusBadge(app, o.status)),
    orderDetails(app, o),
    o.status === "awaiting-payment"
      ? h(
          "div",
          { class: "card" },
          h("p", { text: app.t("order.awaiting") }),
          h("button", {
            type: "button",
            class: "primary",
            "data-key": "pay",
            text: app.t("order.pay", { total: app.money(o.total) }),
            onclick: (e) => app.act(e.currentTarget, () => payFor(app, o)),
          }),
        )
      : null,
    o.status === "paid"
      ? h(
          "div",
          { class: "card" },
          h("p", { text: app.t("order.paid-note") }),
          h("button", {
            type: "button",
            "data-key": "subscribe",
            text: app.t("order.notify-shipped"),
            onclick: (e) =>
              app.act(e.currentTarget, async () => {
                const r = await bridge.subscribe("order-shipped");
                app.say(r.state === "subscribed" ? app.t("order.will-notify") : app.t("order.not-subscribed"));
              }),
          }),
        )
      : null,
    o.confirm_receipt ? h("p", { class: "card", text: app.t("order.receipt-note") }) : null,
    refundable ? refundForm(app, o, left) : null,
    h("p", { class: "muted", text: app.t("order.questions") }),
  );
}

function refundForm(app, o, left) {
  const amount = field(app.t("refund.amount"), "input", {
    inputmode: "decimal",
    value: toMajor(left),
    "aria-describedby": "refund-max",
    autocomplete: "off",
  });
  const reason = field(app.t("refund.reason"), "textarea", { maxlength: "500", required: true });
  return h(
    "form",
    {
      class: "card",
      "aria-label": app.t("refund.title"),
      onsubmit: (e) => {
        e.preventDefault();
        const minor = toMinor(amount.input.value);
        if (!minor || minor > left) return app.fail({ message: app.t("refund.amount-invalid", { max: app.money(left) }) });
        if (!reason.input.value.trim()) return app.fail({ message: app.t("refund.reason-missing") });
        app.act(e.submitter, async () => {
          await api(`/orders/${encodeURIComponent(o.id)}/refund`, {
            method: "POST",
            body: { amount: minor, reason: reason.input.value.trim() },
          });
          app.say(app.t("refund.asked"));
        });
      },
    },
    h("h2", { text: app.t("refund.title") }),
    amount.field,
    h("p", { id: "refund-max", class: "muted", text: app.t("refund.max", { max: app.money(left) }) }),
    reason.field,
    h("button", { type: "submit", "data-key": "refund", text: app.t("refund.ask") }),
  );
}
