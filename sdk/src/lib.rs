//! The guest side of Superapp: write a mini-app in Rust against the
//! `superapp:platform` WIT contract (in `sdk/wit/`), with a small router, JSON
//! helpers and typed storage instead of raw bindings.
//!
//! A whole mini-app, and its test against the mock host:
//!
//! ```
//! use superapp_sdk::{App, Request, Response, Router, Error};
//!
//! struct Hello;
//!
//! impl App for Hello {
//!     fn handle(req: Request) -> Response {
//!         Router::new()
//!             .get("/", |_req| Ok(Response::text("Hello from a mini-app!")))
//!             .get("/greet/{name}", |req| {
//!                 let name = req.param("name").unwrap_or("stranger");
//!                 Ok(Response::json(&serde_json::json!({ "greeting": format!("Hello, {name}!") })))
//!             })
//!             .handle(req)
//!     }
//! }
//!
//! superapp_sdk::export!(Hello);
//!
//! # fn main() {
//! let host = superapp_sdk::mock::MockHost::<Hello>::new("hello");
//! let ann = host.person("ann");
//! let res = host.get(&ann, "/greet/Ann");
//! assert_eq!(res.status, 200);
//! assert_eq!(res.body_text(), r#"{"greeting":"Hello, Ann!"}"#);
//! # }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and install the
//! resulting `.wasm` with a manifest: the README's tutorial ("Write a
//! mini-app in 5 minutes") goes through it step by step, and its crate is
//! `examples/tutorial/` in the superapp repository. These pages:
//! `cargo doc -p superapp-sdk --open` in the checkout.
//!
//! Test it natively with `cargo test`: outside a component the capability
//! calls go to [`mock::MockHost`], an in-memory host with the real one's
//! rules (storage, consent, payments the person confirms, escrow, holds,
//! refunds, payouts, red packets, subscriptions, events).

pub mod context;
mod http;
pub mod identity;
pub mod log;
pub mod messaging;
#[cfg(not(target_arch = "wasm32"))]
pub mod mock;
mod router;
pub mod storage;
pub mod wallet;

pub use bindings::superapp::platform::events::{
    AppMessage, Event, EventBody, WalletEvent, WalletEventKind,
};
pub use bindings::superapp::platform::types::Problem;
pub use http::{Error, Request, Response};

impl Problem {
    /// A problem with a stable `code` and a `message` for people.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}
pub use router::{Handler, Router};

/// Raw bindings generated from `sdk/wit/`. Prefer the typed modules of this
/// crate; these are here for what they do not cover.
#[allow(clippy::all, missing_docs, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "miniapp",
        pub_export_macro: true,
        export_macro_name: "__export_miniapp_world",
        default_bindings_module: "superapp_sdk::bindings",
    });
}

/// The capability imports: the host's in a component, the mock host's in
/// native builds (unit tests).
mod backend {
    #[cfg(target_arch = "wasm32")]
    pub(crate) use crate::bindings::superapp::platform::{
        context, identity, log, messaging, storage, wallet,
    };
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) use crate::mock::imports::{context, identity, log, messaging, storage, wallet};
}

/// A mini-app: one function that answers requests. Each call runs in a fresh
/// instance, so keep state in [`storage`], not in statics.
pub trait App {
    /// Answer one request. Use a [`Router`] to dispatch on method and path.
    fn handle(req: Request) -> Response;

    /// Handle one event from the host (payment confirmed, red packet
    /// claimed, a person wrote to the app…). Delivered at least once:
    /// de-duplicate by `event.id`, or make handling one twice change
    /// nothing. An `Err` is retried later with back-off. By default events
    /// are ignored.
    ///
    /// An event's body is one of [`EventBody`]'s cases; match them all:
    ///
    /// ```
    /// use superapp_sdk::{App, Event, EventBody, Request, Response, WalletEventKind, log, storage};
    ///
    /// struct Shop;
    ///
    /// impl App for Shop {
    ///     fn handle(_req: Request) -> Response {
    ///         Response::text("the shop")
    ///     }
    ///
    ///     fn on_event(event: Event) -> Result<(), String> {
    ///         match &event.body {
    ///             EventBody::Wallet(w) => match w.kind {
    ///                 // Keyed by the payment: a second delivery writes the same.
    ///                 WalletEventKind::PaymentConfirmed => storage::app()
    ///                     .set_json(&format!("paid:{}", w.subject), &w.amount)
    ///                     .map_err(|e| e.to_string()),
    ///                 other => {
    ///                     log::info(&format!("{} for {}", other.name(), w.subject));
    ///                     Ok(())
    ///                 }
    ///             },
    ///             // A person wrote to the app (answer with `messaging::reply`).
    ///             EventBody::Message(m) => {
    ///                 log::info(&format!("message {}: {}", m.id, m.text));
    ///                 Ok(())
    ///             }
    ///         }
    ///     }
    /// }
    ///
    /// // The mock host delivers events as the host does.
    /// let host = superapp_sdk::mock::MockHost::<Shop>::new("shop");
    /// let ann = host.person("ann");
    /// host.write_to_app(&ann, "where is my tea?");
    /// let logged = host.logs();
    /// assert_eq!(logged.len(), 1);
    /// assert!(logged[0].1.ends_with(": where is my tea?"), "{logged:?}");
    /// assert!(host.event_errors().is_empty());
    /// ```
    fn on_event(event: Event) -> Result<(), String> {
        let _ = event;
        Ok(())
    }
}

#[doc(hidden)]
pub fn __dispatch<A: App>(
    req: bindings::superapp::platform::types::Request,
) -> bindings::superapp::platform::types::Response {
    A::handle(Request::from_raw(req)).into_raw()
}

/// Exports a type implementing [`App`] as this component's request handler.
///
/// ```
/// use superapp_sdk::{App, Request, Response};
/// struct MyApp;
/// impl App for MyApp {
///     fn handle(_req: Request) -> Response {
///         Response::text("hi")
///     }
/// }
/// superapp_sdk::export!(MyApp);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export {
    ($app:ty) => {
        #[doc(hidden)]
        pub struct __SuperappGuest;

        impl $crate::bindings::Guest for __SuperappGuest {
            fn handle(
                req: $crate::bindings::superapp::platform::types::Request,
            ) -> $crate::bindings::superapp::platform::types::Response {
                $crate::__dispatch::<$app>(req)
            }

            fn on_event(event: $crate::Event) -> Result<(), String> {
                <$app as $crate::App>::on_event(event)
            }
        }

        $crate::bindings::__export_miniapp_world!(__SuperappGuest with_types_in $crate::bindings);
    };
}
