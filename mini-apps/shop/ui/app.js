// The Tea House UI: the catalog, the cart, checkout into escrow through the
// host's payment sheet, orders with their history and refunds; and, for the
// shop's owner and staff (as the app's /admin routes decide), the products,
// orders, shipping, refund decisions and customer messages.
import { api, parsePath, start } from "./kit.js";
import { strings } from "./strings.js";
import * as shopper from "./shopper.js";
import * as merchant from "./merchant.js";

const screens = {
  catalog: shopper.catalog,
  product: shopper.product,
  cart: shopper.cart,
  orders: shopper.orders,
  order: shopper.order,
  "admin-orders": merchant.orders,
  "admin-order": merchant.order,
  "admin-products": merchant.products,
  "admin-product": merchant.product,
  "admin-inbox": merchant.inbox,
};

const isMerchant = (app) => app.state.merchant === true;

start({
  strings,
  screens,
  tabs: [
    { screen: "catalog", label: "tab.catalog" },
    { screen: "cart", label: "tab.cart" },
    { screen: "orders", label: "tab.orders" },
    { screen: "admin-orders", label: "tab.admin-orders", show: isMerchant },
    { screen: "admin-products", label: "tab.admin-products", show: isMerchant },
    { screen: "admin-inbox", label: "tab.admin-inbox", show: isMerchant },
  ],
  async setup(app) {
    // The app decides who runs the shop (its /admin routes answer only them).
    const me = await api("/me").catch(() => ({ merchant: false, owner: false }));
    app.state.merchant = me.merchant === true;
  },
  // Links and chat cards open the app at a path: /products/p1, /orders/o1-…
  first(app) {
    const { parts } = parsePath(app.ctx.path);
    if (parts[0] === "products" && parts[1]) return ["product", { id: parts[1] }];
    if (parts[0] === "orders" && parts[1]) return ["order", { id: parts[1] }];
    if (parts[0] === "orders") return ["orders", {}];
    if (parts[0] === "cart") return ["cart", {}];
    if (parts[0] === "admin" && isMerchant(app)) return ["admin-orders", {}];
    return ["catalog", {}];
  },
});
