//! Greeter, the README's tutorial mini-app: greets people, counts visits,
//! greets a person by name once they grant `profile`, and takes tips.

use serde_json::json;
use superapp_sdk::identity::{self, ProfileError};
use superapp_sdk::wallet::{self, PaymentMode};
use superapp_sdk::{
    App, Error, Event, EventBody, Request, Response, Router, WalletEventKind, context, log, storage,
};

struct Greeter;

impl App for Greeter {
    fn handle(req: Request) -> Response {
        Router::new()
            .get("/", |_| Ok(Response::text("Hello from Greeter!")))
            .get("/greet/{name}", greet)
            .post("/visits", count_visit)
            .get("/me", me)
            .get("/profile", profile)
            .post("/tips", ask_for_tip)
            .get("/tips", tips)
            .handle(req)
    }

    /// What the host tells the app, at least once: handling an event twice
    /// must change nothing. An `Err` is retried later.
    fn on_event(event: Event) -> Result<(), String> {
        match &event.body {
            EventBody::Wallet(w) => match w.kind {
                // Keyed by the payment: a second delivery writes the same.
                WalletEventKind::PaymentConfirmed => storage::app()
                    .set_json(&format!("tip:{}", w.subject), &w.amount)
                    .map_err(|e| e.to_string()),
                other => {
                    log::info(&format!("{} for {}", other.name(), w.subject));
                    Ok(())
                }
            },
            EventBody::Message(m) => {
                log::info(&format!("message {}: {}", m.id, m.text));
                Ok(())
            }
        }
    }
}

/// `GET /greet/{name}`: the router hands over the path's parameters.
fn greet(req: &Request) -> Result<Response, Error> {
    let name = req.param("name").unwrap_or("stranger");
    Ok(Response::json(
        &json!({ "greeting": format!("Hello, {name}!") }),
    ))
}

/// `POST /visits`: calls run concurrently, so the count is changed with
/// `update_json`, which reads, adds one and writes only if no other call
/// wrote meanwhile (else it runs again on the fresh value).
fn count_visit(_: &Request) -> Result<Response, Error> {
    let visits = storage::app().update_json::<u64>("visits", |n| Ok(Some(n.unwrap_or(0) + 1)))?;
    Ok(Response::json(&visits.unwrap_or(0)))
}

/// `GET /me`: the caller's open id in this app, never who they are.
fn me(_: &Request) -> Result<Response, Error> {
    match context::open_id() {
        Some(id) => Ok(Response::json(&json!({ "open_id": id }))),
        None => Err(Error::sign_in_required()),
    }
}

/// `GET /profile`: the person's name, only once they granted `profile`.
fn profile(_: &Request) -> Result<Response, Error> {
    match identity::profile() {
        Ok(p) => Ok(Response::json(&json!({
            "greeting": format!("Hello, {}!", p.display_name),
            "verified": p.verified,
        }))),
        // Not decided yet: 403 `profile-not-granted`, so the client may ask
        // the person once.
        Err(e @ ProfileError::NotGranted) => Err(e.into()),
        // They said no, and that sticks: do without the name, never ask again.
        Err(ProfileError::Refused) => Ok(Response::json(&json!({ "greeting": "Hello!" }))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /tips {"amount": 500, "key": "tip-0001"}`: asks the person to pay;
/// the money moves only when they confirm in the host. The key makes a
/// retry ask once.
fn ask_for_tip(req: &Request) -> Result<Response, Error> {
    let body: serde_json::Value = req.json()?;
    let (Some(amount), Some(key)) = (body["amount"].as_u64(), body["key"].as_str()) else {
        return Err(Error::bad_request(
            "invalid-tip",
            "send {\"amount\": minor units, \"key\": \"tip-0001\"}",
        ));
    };
    let payment = wallet::request_payment(amount, "a tip", PaymentMode::Direct, key)?;
    Ok(Response::json(&json!({ "payment": payment.id })))
}

/// `GET /tips`: the confirmed tips so far, in minor units.
fn tips(_: &Request) -> Result<Response, Error> {
    let store = storage::app();
    let mut total = 0;
    for key in store.list("tip:")? {
        total += store.get_json::<u64>(&key)?.unwrap_or(0);
    }
    Ok(Response::json(&total))
}

superapp_sdk::export!(Greeter);

#[cfg(test)]
mod tests;
