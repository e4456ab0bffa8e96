//! The shop mini-app: one merchant's catalog, shoppers' carts, checkout
//! with an escrow payment (the money waits in the host until the buyer
//! confirms receipt), shipping, refunds the merchant decides on, order
//! history and customer service. Money rules live in the host's wallet:
//! this app asks for payments, issues refunds and follows the events.
//!
//! Routes (amounts in minor units):
//! - `GET /products`, `GET /products/{id}` — the active catalog
//! - `GET /cart`, `PUT /cart/{product}` `{qty}` (0 removes), `DELETE /cart`
//! - `POST /checkout` `{key?}` → 201: the order and the escrow payment to
//!   confirm at `/me/payments/{id}/confirm`; the same `key` returns the same order
//! - `GET /orders`, `GET /orders/{id}` — your orders; confirm receipt in the
//!   host (`POST /me/payments/{payment}/confirm-receipt`), which releases the money
//! - `POST /orders/{id}/refund` `{amount, reason}` — ask for a (partial) refund
//! - `GET /me` → `{merchant, owner}`: whether the caller runs the shop
//! - merchant (the owner and the staff they name):
//!   `POST /admin/setup` (the first caller becomes the owner),
//!   `GET|POST /admin/staff`, `DELETE /admin/staff/{open_id}`,
//!   `GET /admin/products` (all of them, inactive too), `POST /admin/products`,
//!   `PUT /admin/products/{id}`, `GET /admin/orders?status=`,
//!   `POST /admin/orders/{id}/ship` `{tracking}`,
//!   `POST /admin/orders/{id}/refund` `{amount?, note?}` (approve; the merchant
//!   decides the amount), `POST /admin/orders/{id}/refund/decline` `{reason}`,
//!   `GET /admin/inbox`, `POST /admin/inbox/{open_id}/reply` `{text}`

use serde::{Deserialize, Serialize};
use serde_json::json;
use superapp_sdk::messaging::{self, MessagingError};
use superapp_sdk::wallet::{self, PaymentMode};
use superapp_sdk::{
    App, Error, Event, EventBody, Request, Response, Router, WalletEventKind, context, storage,
};

struct Shop;

impl App for Shop {
    fn handle(req: Request) -> Response {
        Router::new()
            .get("/", info)
            .get("/products", list_products)
            .get("/products/{id}", show_product)
            .get("/cart", show_cart)
            .put("/cart/{product}", set_cart_line)
            .delete("/cart", clear_cart)
            .post("/checkout", checkout)
            .get("/orders", my_orders)
            .get("/orders/{id}", my_order)
            .get("/me", my_standing)
            .post("/orders/{id}/refund", request_refund)
            .post("/admin/setup", setup)
            .get("/admin/staff", list_staff)
            .post("/admin/staff", add_staff)
            .delete("/admin/staff/{open_id}", remove_staff)
            .get("/admin/products", all_products)
            .post("/admin/products", add_product)
            .put("/admin/products/{id}", edit_product)
            .get("/admin/orders", all_orders)
            .post("/admin/orders/{id}/ship", ship)
            .post("/admin/orders/{id}/refund", approve_refund)
            .post("/admin/orders/{id}/refund/decline", decline_refund)
            .get("/admin/inbox", inbox)
            .post("/admin/inbox/{open_id}/reply", reply)
            .handle(req)
    }

    fn on_event(event: Event) -> Result<(), String> {
        handle_event(&event).map_err(|e| e.to_string())
    }
}

superapp_sdk::export!(Shop);

// ---- data -------------------------------------------------------------

const MAX_NAME: usize = 80;
const MAX_DESCRIPTION: usize = 1000;
const MAX_QTY: u32 = 99;
const MAX_LINES: usize = 50;

#[derive(Serialize, Deserialize, Clone)]
struct Product {
    id: String,
    name: String,
    description: String,
    price: u64,
    stock: u32,
    active: bool,
}

#[derive(Serialize, Deserialize, Clone, Default)]
struct Cart {
    /// (product id, quantity), in the order added.
    lines: Vec<(String, u32)>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Line {
    product: String,
    name: String,
    price: u64,
    qty: u32,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
enum Status {
    /// Waiting for the buyer to confirm the payment in the host.
    AwaitingPayment,
    /// Paid into escrow; the merchant ships.
    Paid,
    Shipped,
    /// The buyer confirmed receipt (or the release period passed): the
    /// money went to the merchant.
    Received,
    /// The payment was declined or expired; the stock went back.
    Cancelled,
    /// Everything paid was refunded.
    Refunded,
}

#[derive(Serialize, Deserialize, Clone)]
struct RefundRequest {
    amount: u64,
    reason: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct RefundNote {
    /// The refund's idempotency key (or the declined request's number).
    key: String,
    requested: Option<u64>,
    amount: u64,
    /// `refunded` or `declined`.
    outcome: String,
    note: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct Order {
    id: String,
    buyer: String,
    lines: Vec<Line>,
    total: u64,
    payment: String,
    status: Status,
    /// Every status the order went through, in order.
    history: Vec<Status>,
    tracking: Option<String>,
    refunded: u64,
    refund_request: Option<RefundRequest>,
    refunds: Vec<RefundNote>,
}

impl Order {
    fn set(&mut self, status: Status) {
        self.status = status;
        self.history.push(status);
    }

    fn view(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "lines": self.lines,
            "total": self.total,
            "payment": self.payment,
            "status": self.status,
            "history": self.history,
            "tracking": self.tracking,
            "refunded": self.refunded,
            "refund_request": self.refund_request,
            "refunds": self.refunds,
            "confirm_payment": (self.status == Status::AwaitingPayment)
                .then(|| format!("/me/payments/{}/confirm", self.payment)),
            "confirm_receipt": matches!(self.status, Status::Paid | Status::Shipped)
                .then(|| format!("/me/payments/{}/confirm-receipt", self.payment)),
        })
    }
}

// ---- helpers ----------------------------------------------------------

fn me() -> Result<String, Error> {
    context::open_id().ok_or_else(Error::sign_in_required)
}

fn product(id: &str) -> Result<Product, Error> {
    storage::app()
        .get_json::<Product>(&format!("product:{id}"))?
        .ok_or_else(|| Error::not_found(format!("no product `{id}`")))
}

fn load_order(id: &str) -> Result<Order, Error> {
    storage::app()
        .get_json::<Order>(&format!("order:{id}"))?
        .ok_or_else(|| Error::not_found(format!("no order `{id}`")))
}

fn save_order(o: &Order) -> Result<(), Error> {
    storage::app().set_json(&format!("order:{}", o.id), o)
}

/// The caller's own order (someone else's is "not found", not "forbidden").
fn own_order(req: &Request) -> Result<Order, Error> {
    let id = req.param("id").unwrap_or_default();
    let o = load_order(id)?;
    if o.buyer != me()? {
        return Err(Error::not_found(format!("no order `{id}`")));
    }
    Ok(o)
}

fn check_text(field: &str, text: &str, max: usize, required: bool) -> Result<(), Error> {
    let n = text.trim().chars().count();
    if (required && n == 0) || text.chars().count() > max {
        return Err(Error::bad_request(
            format!("invalid-{field}"),
            format!(
                "the {field} must be {} to {max} characters",
                u8::from(required)
            ),
        ));
    }
    Ok(())
}

fn next_number(key: &str) -> Result<u64, Error> {
    Ok(storage::app()
        .update_json::<u64>(key, |n| Ok(Some(n.unwrap_or(0) + 1)))?
        .unwrap_or(1))
}

/// Changes order `id` safely against concurrent calls: the buyer, the
/// merchant and the host's events all write orders. `change` may run more
/// than once (on a fresh copy each time); its error leaves the order as is.
fn change_order(
    id: &str,
    mut change: impl FnMut(&mut Order) -> Result<(), Error>,
) -> Result<Order, Error> {
    storage::app()
        .update_json::<Order>(&format!("order:{id}"), |o| {
            let mut o = o.ok_or_else(|| Error::not_found(format!("no order `{id}`")))?;
            change(&mut o)?;
            Ok(Some(o))
        })?
        .ok_or_else(|| Error::not_found(format!("no order `{id}`")))
}

fn refundable(o: &Order) -> Result<(), Error> {
    if matches!(o.status, Status::Paid | Status::Shipped | Status::Received) {
        Ok(())
    } else {
        Err(Error::new(
            409,
            "not-refundable",
            format!("order {} is {:?}: nothing to refund", o.id, o.status),
        ))
    }
}

fn check_refund_amount(o: &Order, amount: u64) -> Result<(), Error> {
    let left = o.total - o.refunded;
    if amount == 0 || amount > left {
        return Err(Error::bad_request(
            "invalid-amount",
            format!("a refund is 1 to {left} (what is left of the order), not {amount}"),
        ));
    }
    Ok(())
}

/// The shop's owner (if it has one yet), and whether `who` is on its staff.
fn standing(who: &str) -> Result<(Option<String>, bool), Error> {
    let store = storage::app();
    Ok((
        store.get_json::<String>("owner")?,
        store.get(&format!("staff:{who}"))?.is_some(),
    ))
}

/// The owner and the staff they named run the shop.
fn merchant() -> Result<String, Error> {
    let who = me()?;
    let (owner, staff) = standing(&who)?;
    if owner.as_deref() == Some(who.as_str()) || staff {
        return Ok(who);
    }
    Err(Error::new(
        403,
        "not-merchant",
        match owner {
            None => "the shop has no owner yet: POST /admin/setup",
            Some(_) => "only the shop's owner and staff can do this",
        },
    ))
}

/// What the caller is to the shop, so a client shows the merchant's pages
/// only to those the `/admin` routes will answer.
fn my_standing(_: &Request) -> Result<Response, Error> {
    let who = me()?;
    let (owner, staff) = standing(&who)?;
    let owns = owner.as_deref() == Some(who.as_str());
    Ok(Response::json(
        &json!({ "merchant": owns || staff, "owner": owns }),
    ))
}

fn owner() -> Result<String, Error> {
    let who = me()?;
    if storage::app().get_json::<String>("owner")?.as_deref() == Some(who.as_str()) {
        Ok(who)
    } else {
        Err(Error::new(
            403,
            "not-owner",
            "only the shop's owner can change its staff",
        ))
    }
}

// ---- catalog ----------------------------------------------------------

fn info(_: &Request) -> Result<Response, Error> {
    let products = storage::app().list("product:")?.len();
    let open = storage::app().get("owner")?.is_some();
    Ok(Response::json(&json!({
        "shop": context::current().app_id,
        "products": products,
        "open": open,
    })))
}

fn products(include_inactive: bool) -> Result<Vec<Product>, Error> {
    let store = storage::app();
    let mut out = Vec::new();
    for k in store.list("product:")? {
        if let Some(p) = store
            .get_json::<Product>(&k)?
            .filter(|p| include_inactive || p.active)
        {
            out.push(p);
        }
    }
    Ok(out)
}

fn list_products(_: &Request) -> Result<Response, Error> {
    Ok(Response::json(&products(false)?))
}

/// The merchant's view: inactive products too, so they can be switched back on.
fn all_products(_: &Request) -> Result<Response, Error> {
    merchant()?;
    Ok(Response::json(&products(true)?))
}

fn show_product(req: &Request) -> Result<Response, Error> {
    let p = product(req.param("id").unwrap_or_default())?;
    if !p.active {
        return Err(Error::not_found(format!("no product `{}`", p.id)));
    }
    Ok(Response::json(&p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    name: String,
    #[serde(default)]
    description: String,
    price: u64,
    stock: u32,
}

fn check_price(price: u64) -> Result<(), Error> {
    if price == 0 || price > 100_000_000 {
        return Err(Error::bad_request(
            "invalid-price",
            format!("a price is 1 to 100000000 minor units, not {price}"),
        ));
    }
    Ok(())
}

fn add_product(req: &Request) -> Result<Response, Error> {
    merchant()?;
    let n: NewProduct = req.json()?;
    check_text("name", &n.name, MAX_NAME, true)?;
    check_text("description", &n.description, MAX_DESCRIPTION, false)?;
    check_price(n.price)?;
    let p = Product {
        id: format!("p{}", next_number("products-made")?),
        name: n.name.trim().to_string(),
        description: n.description,
        price: n.price,
        stock: n.stock,
        active: true,
    };
    storage::app().set_json(&format!("product:{}", p.id), &p)?;
    Ok(Response::json(&p).with_status(201))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductChange {
    name: Option<String>,
    description: Option<String>,
    price: Option<u64>,
    stock: Option<u32>,
    active: Option<bool>,
}

fn edit_product(req: &Request) -> Result<Response, Error> {
    merchant()?;
    let id = req.param("id").unwrap_or_default();
    let c: ProductChange = req.json()?;
    if let Some(name) = &c.name {
        check_text("name", name, MAX_NAME, true)?;
    }
    if let Some(d) = &c.description {
        check_text("description", d, MAX_DESCRIPTION, false)?;
    }
    if let Some(price) = c.price {
        check_price(price)?;
    }
    // Swapped in, so a checkout taking stock meanwhile is not overwritten.
    let p = storage::app().update_json::<Product>(&format!("product:{id}"), |p| {
        let mut p = p.ok_or_else(|| Error::not_found(format!("no product `{id}`")))?;
        if let Some(name) = &c.name {
            p.name = name.trim().to_string();
        }
        if let Some(d) = &c.description {
            p.description = d.clone();
        }
        if let Some(price) = c.price {
            p.price = price;
        }
        if let Some(stock) = c.stock {
            p.stock = stock;
        }
        if let Some(active) = c.active {
            p.active = active;
        }
        Ok(Some(p))
    })?;
    Ok(Response::json(&p))
}

// ---- cart and checkout ------------------------------------------------

fn cart() -> Result<Cart, Error> {
    Ok(storage::user()
        .get_json::<Cart>("cart")?
        .unwrap_or_default())
}

/// The cart priced from the catalog as it is now.
fn priced(cart: &Cart) -> Result<(Vec<Line>, u64), Error> {
    let mut lines = Vec::new();
    let mut total = 0u64;
    for (id, qty) in &cart.lines {
        let p = product(id)?;
        total += p.price * u64::from(*qty);
        lines.push(Line {
            product: p.id,
            name: p.name,
            price: p.price,
            qty: *qty,
        });
    }
    Ok((lines, total))
}

fn show_cart(_: &Request) -> Result<Response, Error> {
    me()?;
    let (lines, total) = priced(&cart()?)?;
    Ok(Response::json(&json!({ "lines": lines, "total": total })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Qty {
    qty: u32,
}

fn set_cart_line(req: &Request) -> Result<Response, Error> {
    me()?;
    let id = req.param("product").unwrap_or_default();
    let Qty { qty } = req.json()?;
    if qty > MAX_QTY {
        return Err(Error::bad_request(
            "invalid-qty",
            format!("at most {MAX_QTY} of one product, not {qty}"),
        ));
    }
    let p = product(id)?;
    if qty > 0 && !p.active {
        return Err(Error::not_found(format!("no product `{id}`")));
    }
    let mut c = cart()?;
    c.lines.retain(|(pid, _)| pid != id);
    if qty > 0 {
        if c.lines.len() >= MAX_LINES {
            return Err(Error::bad_request(
                "cart-full",
                format!("a cart holds at most {MAX_LINES} products"),
            ));
        }
        c.lines.push((id.to_string(), qty));
    }
    storage::user().set_json("cart", &c)?;
    let (lines, total) = priced(&c)?;
    Ok(Response::json(&json!({ "lines": lines, "total": total })))
}

fn clear_cart(_: &Request) -> Result<Response, Error> {
    me()?;
    storage::user().delete("cart")?;
    Ok(Response::status(204))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Checkout {
    /// The client's retry key: the same key returns the same order.
    key: Option<String>,
}

fn checkout(req: &Request) -> Result<Response, Error> {
    let buyer = me()?;
    let c: Checkout = if req.body().is_empty() {
        Checkout::default()
    } else {
        req.json()?
    };
    if let Some(key) = &c.key {
        check_text("key", key, 64, true)?;
        if let Some(id) = storage::user().get_json::<String>(&format!("checkout:{key}"))? {
            return Ok(Response::json(&load_order(&id)?.view()).with_status(201));
        }
    }
    let cart = cart()?;
    if cart.lines.is_empty() {
        return Err(Error::bad_request("empty-cart", "the cart is empty"));
    }
    let (lines, total) = priced(&cart)?;
    // A per-person counter (swapped, so two checkouts never share a
    // number) keeps order ids unique without a shop-wide lock.
    let n = storage::user()
        .update_json::<u64>("orders-made", |n| Ok(Some(n.unwrap_or(0) + 1)))?
        .unwrap_or(1);
    let who: String = buyer
        .trim_start_matches("ou_")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    let id = format!("o{n}-{who}");
    if let Some(key) = &c.key {
        // Two concurrent retries: only one may check out.
        let claim = serde_json::to_vec(&id).unwrap_or_default();
        if !storage::user().compare_and_swap(&format!("checkout:{key}"), None, Some(&claim))? {
            return Err(Error::new(
                409,
                "checkout-in-progress",
                format!("a checkout with key `{key}` is running; ask again for its order"),
            ));
        }
    }
    let placed = place(&buyer, &id, lines, total);
    if placed.is_err()
        && let Some(key) = &c.key
    {
        // Nothing was placed: the key is free for a retry.
        storage::user().delete(&format!("checkout:{key}"))?;
    }
    let order = placed?;
    storage::user().delete("cart")?;
    Ok(Response::json(&order.view()).with_status(201))
}

/// Takes the stock of every line (all or none), asks for the escrow
/// payment and records the order.
fn place(buyer: &str, id: &str, lines: Vec<Line>, total: u64) -> Result<Order, Error> {
    let mut taken: Vec<&Line> = Vec::new();
    let mut outcome = Ok(());
    for line in &lines {
        match change_stock(&line.product, -i64::from(line.qty)) {
            Ok(()) => taken.push(line),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let payment = outcome.and_then(|()| {
        Ok(wallet::request_payment(
            total,
            &format!("order {id}"),
            PaymentMode::Escrow,
            id,
        )?)
    });
    let payment = match payment {
        Ok(p) => p,
        Err(e) => {
            for line in taken {
                change_stock(&line.product, i64::from(line.qty))?;
            }
            return Err(e);
        }
    };
    let order = Order {
        id: id.to_string(),
        buyer: buyer.to_string(),
        lines,
        total,
        payment: payment.id.clone(),
        status: Status::AwaitingPayment,
        history: vec![Status::AwaitingPayment],
        tracking: None,
        refunded: 0,
        refund_request: None,
        refunds: Vec::new(),
    };
    save_order(&order)?;
    storage::app().set_json(&format!("payment:{}", payment.id), &id)?;
    storage::user().set_json(&format!("mine:{id}"), &true)?;
    Ok(order)
}

/// Adds `delta` to a product's stock, safely against concurrent
/// checkouts: taking more than is left is `out-of-stock` and takes nothing.
fn change_stock(id: &str, delta: i64) -> Result<(), Error> {
    storage::app().update_json::<Product>(&format!("product:{id}"), |p| {
        let Some(mut p) = p else {
            // A product removed meanwhile has no stock to give back.
            return Ok(None);
        };
        let stock = i64::from(p.stock) + delta;
        if delta < 0 && (!p.active || stock < 0) {
            return Err(Error::new(
                409,
                "out-of-stock",
                format!("only {} of `{}` left", p.stock, p.name),
            ));
        }
        p.stock = u32::try_from(stock).unwrap_or(u32::MAX);
        Ok(Some(p))
    })?;
    Ok(())
}

// ---- orders -----------------------------------------------------------

fn my_orders(_: &Request) -> Result<Response, Error> {
    me()?;
    let mut out = Vec::new();
    for k in storage::user().list("mine:")? {
        out.push(load_order(k.trim_start_matches("mine:"))?.view());
    }
    Ok(Response::json(&out))
}

fn my_order(req: &Request) -> Result<Response, Error> {
    Ok(Response::json(&own_order(req)?.view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskRefund {
    amount: u64,
    reason: String,
}

fn request_refund(req: &Request) -> Result<Response, Error> {
    let o = own_order(req)?;
    let r: AskRefund = req.json()?;
    check_text("reason", &r.reason, 500, true)?;
    let o = change_order(&o.id, |o| {
        refundable(o)?;
        if o.refund_request.is_some() {
            return Err(Error::new(
                409,
                "refund-pending",
                "a refund request is already waiting for the merchant",
            ));
        }
        check_refund_amount(o, r.amount)?;
        o.refund_request = Some(RefundRequest {
            amount: r.amount,
            reason: r.reason.clone(),
        });
        Ok(())
    })?;
    Ok(Response::json(&o.view()))
}

// ---- merchant ---------------------------------------------------------

fn setup(_: &Request) -> Result<Response, Error> {
    let who = me()?;
    let store = storage::app();
    // Swapped: of two people setting up at once, one becomes the owner.
    let claim = serde_json::to_vec(&who).unwrap_or_default();
    if !store.compare_and_swap("owner", None, Some(&claim))?
        && store.get_json::<String>("owner")?.as_deref() != Some(who.as_str())
    {
        return Err(Error::new(
            409,
            "has-owner",
            "the shop already has an owner",
        ));
    }
    Ok(Response::json(&json!({ "owner": who })))
}

fn list_staff(_: &Request) -> Result<Response, Error> {
    merchant()?;
    let staff: Vec<String> = storage::app()
        .list("staff:")?
        .into_iter()
        .map(|k| k.trim_start_matches("staff:").to_string())
        .collect();
    Ok(Response::json(&json!({
        "owner": storage::app().get_json::<String>("owner")?,
        "staff": staff,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Staff {
    open_id: String,
}

fn add_staff(req: &Request) -> Result<Response, Error> {
    owner()?;
    let s: Staff = req.json()?;
    check_text("open_id", &s.open_id, 128, true)?;
    storage::app().set_json(&format!("staff:{}", s.open_id), &true)?;
    Ok(Response::status(204))
}

fn remove_staff(req: &Request) -> Result<Response, Error> {
    owner()?;
    let id = req.param("open_id").unwrap_or_default();
    if !storage::app().delete(&format!("staff:{id}"))? {
        return Err(Error::not_found(format!("`{id}` is not on the staff")));
    }
    Ok(Response::status(204))
}

fn all_orders(req: &Request) -> Result<Response, Error> {
    merchant()?;
    let want = req.query_param("status");
    let store = storage::app();
    let mut out = Vec::new();
    for k in store.list("order:")? {
        if let Some(o) = store.get_json::<Order>(&k)? {
            let status = serde_json::to_value(o.status).unwrap_or_default();
            if want.as_deref().is_none_or(|w| status.as_str() == Some(w)) {
                let mut v = o.view();
                v["buyer"] = json!(o.buyer);
                out.push(v);
            }
        }
    }
    Ok(Response::json(&out))
}

fn merchant_order(req: &Request) -> Result<Order, Error> {
    merchant()?;
    load_order(req.param("id").unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ship {
    tracking: String,
}

fn ship(req: &Request) -> Result<Response, Error> {
    let o = merchant_order(req)?;
    let sh: Ship = req.json()?;
    check_text("tracking", &sh.tracking, 64, true)?;
    let o = change_order(&o.id, |o| {
        if o.status != Status::Paid {
            return Err(Error::new(
                409,
                "cannot-ship",
                format!("order {} is {:?}: only paid orders ship", o.id, o.status),
            ));
        }
        o.tracking = Some(sh.tracking.clone());
        o.set(Status::Shipped);
        Ok(())
    })?;
    // Only if the buyer subscribed to shipping news; otherwise they see it
    // in their order history.
    match messaging::notify(
        &o.buyer,
        "order-shipped",
        &format!("Your order {} is on its way.", o.id),
    ) {
        Ok(_) | Err(MessagingError::NoSubscription(_)) => {}
        Err(e) => superapp_sdk::log::warn(&format!("shipping notice for {}: {e:?}", o.id)),
    }
    Ok(Response::json(&o.view()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Approve {
    amount: Option<u64>,
    #[serde(default)]
    note: String,
}

fn approve_refund(req: &Request) -> Result<Response, Error> {
    let o = merchant_order(req)?;
    let a: Approve = if req.body().is_empty() {
        Approve::default()
    } else {
        req.json()?
    };
    check_text("note", &a.note, 500, false)?;
    let requested = o.refund_request.as_ref().map(|r| r.amount);
    let Some(amount) = a.amount.or(requested) else {
        return Err(Error::bad_request(
            "invalid-amount",
            "no refund was requested: name the amount",
        ));
    };
    refundable(&o)?;
    check_refund_amount(&o, amount)?;
    // The key names this order's nth refund, so a retried (or doubled)
    // approval refunds once; the wallet has the last word on the amounts.
    let key = format!("{}:rf{}", o.id, o.refunds.len() + 1);
    let p = wallet::refund(&o.payment, amount, &key)?;
    let o = change_order(&o.id, |o| {
        o.refunded = p.refunded;
        if !o.refunds.iter().any(|r| r.key == key) {
            o.refunds.push(RefundNote {
                key: key.clone(),
                requested,
                amount,
                outcome: "refunded".into(),
                note: a.note.clone(),
            });
        }
        o.refund_request = None;
        if o.refunded == o.total && o.status != Status::Refunded {
            o.set(Status::Refunded);
        }
        Ok(())
    })?;
    Ok(Response::json(&o.view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decline {
    reason: String,
}

fn decline_refund(req: &Request) -> Result<Response, Error> {
    let o = merchant_order(req)?;
    let d: Decline = req.json()?;
    check_text("reason", &d.reason, 500, true)?;
    let o = change_order(&o.id, |o| {
        let Some(r) = o.refund_request.take() else {
            return Err(Error::new(
                409,
                "no-refund-request",
                "no refund request is waiting",
            ));
        };
        let key = format!("{}:declined{}", o.id, o.refunds.len() + 1);
        o.refunds.push(RefundNote {
            key,
            requested: Some(r.amount),
            amount: 0,
            outcome: "declined".into(),
            note: d.reason.clone(),
        });
        Ok(())
    })?;
    Ok(Response::json(&o.view()))
}

#[derive(Serialize, Deserialize)]
struct Incoming {
    from: String,
    message: u64,
    text: String,
    at: i64,
}

fn inbox(_: &Request) -> Result<Response, Error> {
    merchant()?;
    let store = storage::app();
    let mut out = Vec::new();
    for k in store.list("inbox:")? {
        if let Some(m) = store.get_json::<Incoming>(&k)? {
            out.push(m);
        }
    }
    Ok(Response::json(&out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    text: String,
}

fn reply(req: &Request) -> Result<Response, Error> {
    merchant()?;
    let to = req.param("open_id").unwrap_or_default();
    let r: Reply = req.json()?;
    let id = messaging::reply(to, &r.text)?;
    Ok(Response::json(&json!({ "message": id })))
}

// ---- events -----------------------------------------------------------

fn handle_event(event: &Event) -> Result<(), Error> {
    match &event.body {
        EventBody::Message(m) => {
            let from = event.open_id.clone().unwrap_or_default();
            // Keyed by the message id: a redelivery overwrites itself.
            storage::app().set_json(
                &format!("inbox:{:020}", m.id),
                &Incoming {
                    from,
                    message: m.id,
                    text: m.text.clone(),
                    at: event.at,
                },
            )
        }
        EventBody::Wallet(w) => {
            let Some(id) = storage::app().get_json::<String>(&format!("payment:{}", w.subject))?
            else {
                return Ok(());
            };
            // Each transition checks the state it starts from, so a
            // redelivered event changes nothing.
            let mut cancelled = false;
            let o = change_order(&id, |o| {
                cancelled = false;
                match (w.kind, o.status) {
                    (WalletEventKind::PaymentConfirmed, Status::AwaitingPayment) => {
                        o.set(Status::Paid)
                    }
                    (
                        WalletEventKind::PaymentDeclined | WalletEventKind::PaymentExpired,
                        Status::AwaitingPayment,
                    ) => {
                        o.set(Status::Cancelled);
                        cancelled = true;
                    }
                    (WalletEventKind::ReceiptConfirmed, Status::Paid | Status::Shipped) => {
                        o.set(Status::Received)
                    }
                    _ => {}
                }
                Ok(())
            })?;
            if cancelled {
                for line in &o.lines {
                    change_stock(&line.product, i64::from(line.qty))?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
