//! The harness of the `http_json` fuzz target: the input bytes pick one of
//! the API's routes that take a JSON body, a method, a content type,
//! credentials, an idempotency key, path parameters and a body (built from
//! the route's fields, or raw bytes), and send it to the real router of
//! one host per process, served in-process. Whatever the request, the API
//! must never answer 5xx, every error must be `application/problem+json`
//! with a `type` of `urn:superapp:problem:<code>`, every success JSON, and
//! nothing may panic. A broken rule panics: that is how libFuzzer (and the
//! corpus replay test below) is told.

use crate::{PASSWORD, open_host, root};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use superapp_host::Superapp;
use superapp_host::platform::PaymentDecision;
use superapp_host::wallet::{Command, Outcome, PaymentMode};
use tower::ServiceExt;

/// Runs the request `data` decodes to against the host shared by this
/// process and checks the answer. The `http_json` fuzz target.
pub fn run(data: &[u8]) {
    Fixture::shared().run(data)
}

/// The rules every answer keeps (`body` is None for a HEAD request).
fn check_answer(request: &str, status: u16, content_type: &str, body: Option<&[u8]>) {
    let text = String::from_utf8_lossy(body.unwrap_or_default());
    assert!(status < 500, "{request} answered {status}: {text}");
    let error = status >= 400;
    let json = if error {
        content_type == "application/problem+json"
    } else {
        status == 204 || content_type.starts_with("application/json")
    };
    assert!(
        json,
        "{request} answered {status} with `{content_type}`: {text}"
    );
    let Some(body) = body else {
        return;
    };
    if error {
        let problem: Value = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("{request}: the problem is not JSON ({e}): {text}"));
        let code = problem["type"]
            .as_str()
            .and_then(|t| t.strip_prefix("urn:superapp:problem:"))
            .unwrap_or_else(|| panic!("{request}: no problem type in {text}"));
        assert!(
            !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{request}: the problem code `{code}` is not kebab-case"
        );
        assert_eq!(problem["title"], code, "{request}: title of {text}");
        assert_eq!(problem["status"], status, "{request}: status of {text}");
        assert!(problem["detail"].is_string(), "{request}: detail of {text}");
    } else if status != 204
        && let Err(e) = serde_json::from_slice::<Value>(body)
    {
        panic!("{request} answered {status} with a body that is not JSON ({e}): {text}");
    }
}

/// Who a request claims to be.
#[derive(Debug, Clone, Copy)]
enum Auth {
    /// The person the route is for (`ana`), or the operator on `/admin`.
    Usual,
    Ana,
    Ben,
    Admin,
    Revoked,
    Forged,
    NotBearer,
    None,
}

/// What a path parameter or a body field holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    App,
    Handle,
    Password,
    Name,
    Text,
    Amount,
    Count,
    Seq,
    Path,
    Scene,
    Decision,
    Split,
    Topic,
    Date,
    PublicKey,
    Conversation,
    Payment,
    Packet,
    Scope,
    Members,
    Message,
}

/// One route that takes a JSON body.
struct Route {
    method: Method,
    /// `{}` marks a path parameter, filled in order from `params`.
    path: &'static str,
    params: &'static [Kind],
    fields: &'static [(&'static str, Kind)],
    keyed: bool,
}

const fn route(
    method: Method,
    path: &'static str,
    params: &'static [Kind],
    fields: &'static [(&'static str, Kind)],
    keyed: bool,
) -> Route {
    Route {
        method,
        path,
        params,
        fields,
        keyed,
    }
}

/// Every route whose handler reads a JSON body, with its fields.
const ROUTES: &[Route] = &[
    route(
        Method::POST,
        "/apps/{}/launch",
        &[Kind::App],
        &[("path", Kind::Path), ("scene", Kind::Scene)],
        false,
    ),
    route(
        Method::POST,
        "/auth/login",
        &[],
        &[("handle", Kind::Handle), ("password", Kind::Password)],
        false,
    ),
    route(
        Method::PUT,
        "/me/apps/{}/grants/{}",
        &[Kind::App, Kind::Scope],
        &[("decision", Kind::Decision)],
        false,
    ),
    route(
        Method::POST,
        "/me/transfers",
        &[],
        &[
            ("to", Kind::Handle),
            ("amount", Kind::Amount),
            ("memo", Kind::Text),
        ],
        true,
    ),
    route(
        Method::POST,
        "/me/red-packets",
        &[],
        &[
            ("total", Kind::Amount),
            ("count", Kind::Count),
            ("split", Kind::Split),
            ("greeting", Kind::Text),
        ],
        true,
    ),
    route(
        Method::POST,
        "/me/conversations",
        &[],
        &[("members", Kind::Members), ("title", Kind::Name)],
        false,
    ),
    route(
        Method::POST,
        "/me/conversations/{}/members",
        &[Kind::Conversation],
        &[("members", Kind::Members)],
        false,
    ),
    route(
        Method::POST,
        "/me/conversations/{}/messages",
        &[Kind::Conversation],
        &[("", Kind::Message)],
        false,
    ),
    route(
        Method::POST,
        "/me/conversations/{}/read",
        &[Kind::Conversation],
        &[("up_to", Kind::Seq)],
        false,
    ),
    route(
        Method::POST,
        "/me/apps/{}/subscriptions",
        &[Kind::App],
        &[("topic", Kind::Topic)],
        false,
    ),
    route(
        Method::POST,
        "/apps/{}/messages",
        &[Kind::App],
        &[("text", Kind::Text)],
        false,
    ),
    route(
        Method::POST,
        "/admin/trust",
        &[],
        &[("public_key", Kind::PublicKey), ("name", Kind::Name)],
        false,
    ),
    route(
        Method::POST,
        "/admin/users",
        &[],
        &[
            ("handle", Kind::Handle),
            ("display_name", Kind::Name),
            ("password", Kind::Password),
        ],
        false,
    ),
    route(
        Method::POST,
        "/admin/users/{}/verify",
        &[Kind::Handle],
        &[("birth_date", Kind::Date)],
        false,
    ),
    route(
        Method::POST,
        "/admin/wallet/topup",
        &[],
        &[
            ("handle", Kind::Handle),
            ("app", Kind::App),
            ("amount", Kind::Amount),
        ],
        true,
    ),
    route(
        Method::POST,
        "/admin/wallet/withdraw",
        &[],
        &[
            ("handle", Kind::Handle),
            ("app", Kind::App),
            ("amount", Kind::Amount),
        ],
        true,
    ),
    route(
        Method::POST,
        "/admin/wallet/payments/{}/refund",
        &[Kind::Payment],
        &[("amount", Kind::Amount)],
        true,
    ),
    route(
        Method::POST,
        "/admin/wallet/payments/{}/capture",
        &[Kind::Payment],
        &[("amount", Kind::Amount)],
        true,
    ),
];

/// Bytes as a source of choices; reads past the end give zeros, so every
/// input is a request.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, i| v | u64::from(self.u8()) << (8 * i))
    }

    /// One of `n` (n > 0).
    fn pick(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n
    }

    /// Up to 63 bytes of the input as text.
    fn text(&mut self) -> String {
        let n = usize::from(self.u8() % 64).min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(taken).into_owned()
    }
}

/// The host every input is sent to, with what the requests refer to.
struct Fixture {
    host: Arc<Superapp>,
    router: axum::Router,
    rt: tokio::runtime::Runtime,
    admin: String,
    ana: String,
    ben: String,
    revoked: String,
    trusted_key: String,
    conversations: Vec<String>,
    payments: Vec<String>,
    packets: Vec<String>,
    /// Makes each request's fresh idempotency key unique.
    sent: AtomicU64,
    /// Last: removed once the host is closed.
    _dir: tempfile::TempDir,
}

fn harness_failed(what: &str, e: impl std::fmt::Display) -> ! {
    panic!("the fuzz harness failed: {what}: {e}")
}

impl Fixture {
    /// The fuzzer's host: opened at the first input, never closed (libFuzzer
    /// ends the process with `exit`, so its folder stays behind in the
    /// temporary folder as `superapp-fuzz-…`).
    fn shared() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| Fixture::open().unwrap_or_else(|e| harness_failed("open", e)))
    }

    /// A host on a temporary folder with the shop and red-packet apps, two
    /// people with sessions and money, a direct chat and a group, a red
    /// packet and payments in each state an operator can act on.
    fn open() -> anyhow::Result<Fixture> {
        let dir = tempfile::Builder::new()
            .prefix("superapp-fuzz-")
            .tempdir()?;
        let host = open_host(&dir.path().join("data"))?;
        for m in ["manifests/shop.toml", "manifests/red-packet.toml"] {
            host.install_dev(&root().join(m), false)?;
        }
        let ana_id = host
            .identity()
            .add_user("ana", Some("Ana"), Some(PASSWORD))?
            .id;
        host.identity()
            .add_user("ben", Some("Ben"), Some(PASSWORD))?;
        let ttl = 3600;
        let ana = host.identity().login("ana", PASSWORD, ttl)?.token;
        let ben = host.identity().login("ben", PASSWORD, ttl)?.token;
        let revoked = host.identity().login("ana", PASSWORD, ttl)?.token;
        host.identity().logout(&revoked)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let host = Arc::new(host);
        let admin = superapp_host::identity::random_token();
        let router = superapp_host::http::router(
            host.clone(),
            superapp_host::http::ServeOptions {
                admin_token: Some(admin.clone()),
                issuer: "http://fuzz.invalid".into(),
            },
        );
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let trusted_key =
            superapp_host::packages::public_key_text(&signing.verifying_key().to_bytes());
        let (conversations, payments, packets) = rt.block_on(async {
            host.top_up("ana", 5_000_000, "fuzz-setup-ana").await?;
            host.top_up("ben", 5_000_000, "fuzz-setup-ben").await?;
            let now = superapp_host::identity::now();
            let direct = host
                .start_conversation(&ana_id, None, &["ben".into()], now)
                .await?;
            let group = host
                .start_conversation(&ana_id, Some("fuzz".into()), &["ben".into()], now)
                .await?;
            let packet = host
                .send_red_packet(
                    &ana_id,
                    superapp_host::wallet::PacketSpec {
                        total: 1000,
                        count: 5,
                        split: superapp_host::wallet::Split::Random,
                        greeting: "fuzz".into(),
                    },
                    "fuzz-setup-packet",
                )
                .await?;
            let mut payments = Vec::new();
            for (i, mode) in [
                PaymentMode::Direct,
                PaymentMode::Escrow,
                PaymentMode::Hold,
                PaymentMode::Direct,
            ]
            .into_iter()
            .enumerate()
            {
                let request = Command::RequestPayment {
                    app: "shop".into(),
                    user: ana_id.clone(),
                    amount: 10_000,
                    memo: "fuzz".into(),
                    mode,
                    key: format!("fuzz-setup-pay-{i}"),
                };
                let Outcome::Payment(p) = host.wallet().execute(request).await? else {
                    anyhow::bail!("a payment request answered something else");
                };
                // The last one stays pending.
                if i < 3 {
                    host.decide_payment(&ana_id, &p.id, PaymentDecision::Confirm)
                        .await?;
                }
                payments.push(p.id);
            }
            anyhow::Ok((vec![direct.id, group.id], payments, vec![packet.id]))
        })?;
        Ok(Fixture {
            host,
            router,
            rt,
            admin,
            ana,
            ben,
            revoked,
            trusted_key,
            conversations,
            payments,
            packets,
            sent: AtomicU64::new(0),
            _dir: dir,
        })
    }

    /// Sends the request `data` decodes to and checks the answer.
    fn run(&self, data: &[u8]) {
        let (request, shown) = self.request(&mut Input(data));
        let head = request.method() == Method::HEAD;
        let (status, headers, body) = self.send(request);
        // A HEAD answer has the headers of the GET answer and never a body.
        let body = if head { None } else { Some(body.as_slice()) };
        check_answer(&shown, status, &header(&headers, "content-type"), body);
    }

    /// The request `input` describes, and how to show it in a failure.
    fn request(&self, input: &mut Input) -> (Request<Body>, String) {
        let route = &ROUTES[input.pick(ROUTES.len())];
        let method = match input.u8() % 16 {
            0 => Method::GET,
            1 => Method::PUT,
            2 => Method::DELETE,
            3 => Method::PATCH,
            4 => Method::POST,
            5 => Method::HEAD,
            _ => route.method.clone(),
        };
        let mut path = String::new();
        let mut params = route.params.iter();
        for (i, piece) in route.path.split("{}").enumerate() {
            if i > 0
                && let Some(kind) = params.next()
            {
                path.push_str(&encode_segment(&self.param(*kind, input)));
            }
            path.push_str(piece);
        }
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(content_type) = match input.u8() % 16 {
            0 => None,
            1 => Some("text/plain"),
            2 => Some("application/problem+json"),
            3 => Some("application/json; charset=utf-8"),
            4 => Some("APPLICATION/JSON"),
            5 => Some("application/jsonx"),
            6 => Some(""),
            7 => Some("application/x-www-form-urlencoded"),
            _ => Some("application/json"),
        } {
            builder = builder.header("content-type", content_type);
        }
        let auth = match input.u8() % 16 {
            0 => Auth::None,
            1 => Auth::Ana,
            2 => Auth::Ben,
            3 => Auth::Admin,
            4 => Auth::Revoked,
            5 => Auth::Forged,
            6 => Auth::NotBearer,
            _ => Auth::Usual,
        };
        let admin_route = route.path.starts_with("/admin/");
        let token = match auth {
            Auth::Usual if admin_route => Some(format!("Bearer {}", self.admin)),
            Auth::Usual | Auth::Ana => Some(format!("Bearer {}", self.ana)),
            Auth::Ben => Some(format!("Bearer {}", self.ben)),
            Auth::Admin => Some(format!("Bearer {}", self.admin)),
            Auth::Revoked => Some(format!("Bearer {}", self.revoked)),
            Auth::Forged => Some(format!("Bearer {}x", self.ana)),
            Auth::NotBearer => Some(format!("Basic {}", self.ana)),
            Auth::None => None,
        };
        if let Some(token) = token {
            builder = builder.header("authorization", token);
        }
        if route.keyed {
            let key = match input.u8() % 8 {
                0 => None,
                1 => Some("fuzz-key-again".to_string()),
                2 => Some("k".to_string()),
                3 => Some(input.text()),
                _ => Some(format!(
                    "fuzz-{}",
                    self.sent.fetch_add(1, Ordering::Relaxed)
                )),
            };
            if let Some(key) = key
                && let Ok(value) = axum::http::HeaderValue::try_from(key)
            {
                builder = builder.header("idempotency-key", value);
            }
        }
        let body = self.body(route, input);
        let shown = format!(
            "{} {} {:?} {:.400}",
            builder.method_ref().map(Method::as_str).unwrap_or(""),
            builder.uri_ref().map(|u| u.to_string()).unwrap_or_default(),
            builder.headers_ref(),
            String::from_utf8_lossy(&body),
        );
        let request = builder
            .body(Body::from(body))
            .unwrap_or_else(|e| harness_failed("a request", e));
        (request, shown)
    }

    /// The body: the route's fields (mostly), or raw input, or JSON of
    /// another shape; sometimes cut short or over the size limit.
    fn body(&self, route: &Route, input: &mut Input) -> Vec<u8> {
        match input.u8() % 16 {
            0 | 1 => input.0.to_vec(),
            2 => serde_json::to_vec(&any_json(input, 3)).unwrap_or_default(),
            3 => {
                let mut bytes = serde_json::to_vec(&self.fields(route, input)).unwrap_or_default();
                let cut = input.pick(bytes.len().max(1));
                bytes.truncate(cut);
                bytes
            }
            4 => {
                let mut bytes = serde_json::to_vec(&self.fields(route, input)).unwrap_or_default();
                let limit = self.host.config().max_json_body_bytes;
                bytes.resize(limit + 1, b' ');
                bytes
            }
            _ => serde_json::to_vec(&self.fields(route, input)).unwrap_or_default(),
        }
    }

    /// A JSON object with the route's fields, each present, absent, null or
    /// of the wrong type, and sometimes one field too many.
    fn fields(&self, route: &Route, input: &mut Input) -> Value {
        let mut object = Map::new();
        for (name, kind) in route.fields {
            if let Kind::Message = kind {
                return self.message(input);
            }
            match input.u8() % 10 {
                0 => {}
                1 => {
                    object.insert(name.to_string(), Value::Null);
                }
                2 => {
                    object.insert(name.to_string(), any_json(input, 1));
                }
                _ => {
                    object.insert(name.to_string(), self.value(*kind, input));
                }
            }
        }
        if input.u8().is_multiple_of(16) {
            object.insert(input.text(), self.value(Kind::Text, input));
        }
        Value::Object(object)
    }

    /// A message to send into a conversation, of each kind.
    fn message(&self, input: &mut Input) -> Value {
        let kind = ["text", "app-card", "red-packet", "card", ""][input.pick(5)];
        let mut fields = Map::new();
        fields.insert("kind".into(), json!(kind));
        let all: [(&str, Kind); 5] = [
            ("text", Kind::Text),
            ("app", Kind::App),
            ("path", Kind::Path),
            ("title", Kind::Name),
            ("packet", Kind::Packet),
        ];
        let takes = kind_fields(kind);
        for (name, field) in all {
            // Mostly the fields this kind takes, sometimes others.
            let include = if takes.contains(&name) {
                !input.u8().is_multiple_of(8)
            } else {
                input.u8() % 16 == 15
            };
            if include {
                fields.insert(name.into(), self.value(field, input));
            }
        }
        Value::Object(fields)
    }

    /// A path parameter.
    fn param(&self, kind: Kind, input: &mut Input) -> String {
        match input.u8() % 8 {
            0 => input.text(),
            _ => match self.value(kind, input) {
                Value::String(s) => s,
                other => other.to_string(),
            },
        }
    }

    /// A value for a field or parameter of `kind`: mostly ones that mean
    /// something to the host, sometimes the edges and sometimes noise.
    fn value(&self, kind: Kind, input: &mut Input) -> Value {
        // One of `options`, or (one time in n + 1) noise from the input.
        let pick_or = |input: &mut Input, options: &[Value], noise: fn(&mut Input) -> Value| {
            let i = input.pick(options.len() + 1);
            options.get(i).cloned().unwrap_or_else(|| noise(input))
        };
        let pick =
            |input: &mut Input, options: &[Value]| pick_or(input, options, |i| json!(i.text()));
        match kind {
            Kind::App => pick(input, &[json!("shop"), json!("red-packet"), json!("nope")]),
            Kind::Handle => pick(
                input,
                &[
                    json!("ana"),
                    json!("ben"),
                    json!("nobody"),
                    json!(""),
                    json!("ANA"),
                    json!("x".repeat(65)),
                ],
            ),
            Kind::Password => pick(input, &[json!(PASSWORD), json!("short"), json!("")]),
            Kind::Name => pick(
                input,
                &[
                    json!("Ana"),
                    json!(""),
                    json!("a\u{0}b"),
                    json!("n".repeat(600)),
                ],
            ),
            Kind::Text => pick(
                input,
                &[
                    json!(""),
                    json!("hi"),
                    json!("恭喜发财"),
                    json!("line\nbreak\u{7}"),
                    json!("\u{202e}rtl"),
                    json!("t".repeat(5000)),
                ],
            ),
            Kind::Amount => pick_or(
                input,
                &[
                    json!(0),
                    json!(1),
                    json!(100),
                    json!(10_000),
                    json!(100_000_000),
                    json!(100_000_001),
                    json!(u64::MAX),
                    json!(-1),
                    json!(1.5),
                    json!(1e30),
                    json!("100"),
                ],
                |i| json!(i.u64()),
            ),
            Kind::Count => pick(
                input,
                &[
                    json!(0),
                    json!(1),
                    json!(5),
                    json!(100),
                    json!(101),
                    json!(u32::MAX),
                    json!(u64::from(u32::MAX) + 1),
                    json!(-3),
                ],
            ),
            Kind::Seq => pick_or(input, &[json!(0), json!(1), json!(u64::MAX)], |i| {
                json!(i.u64())
            }),
            Kind::Path => pick(
                input,
                &[
                    json!("/"),
                    json!("/orders/1?x=1#y"),
                    json!(""),
                    json!("no-slash"),
                    json!(format!("/{}", "p".repeat(3000))),
                    json!("//evil.example"),
                    json!("/\u{0}"),
                ],
            ),
            Kind::Scene => pick(
                input,
                &[
                    json!("direct"),
                    json!("qr"),
                    json!("chat-card"),
                    json!(""),
                    json!("s".repeat(33)),
                    json!("bad scene!"),
                ],
            ),
            Kind::Decision => pick(
                input,
                &[
                    json!("grant"),
                    json!("deny"),
                    json!("revoke"),
                    json!("GRANT"),
                ],
            ),
            Kind::Split => pick(input, &[json!("random"), json!("equal"), json!("Equal")]),
            Kind::Topic => pick(
                input,
                &[
                    json!("order-shipped"),
                    json!("ride.accepted"),
                    json!(""),
                    json!("Upper"),
                    json!("t".repeat(65)),
                ],
            ),
            Kind::Date => pick(
                input,
                &[
                    json!("1990-01-01"),
                    json!("2999-12-31"),
                    json!("1990-13-40"),
                    json!("1990-1-1"),
                    json!("0000-02-29"),
                ],
            ),
            Kind::PublicKey => pick(
                input,
                &[
                    json!(self.trusted_key),
                    json!(""),
                    json!("ed25519:"),
                    json!("ed25519:AAAA"),
                ],
            ),
            Kind::Conversation => {
                let mut options: Vec<Value> = self.conversations.iter().map(|c| json!(c)).collect();
                options.push(json!("c_nope"));
                pick(input, &options)
            }
            Kind::Payment => {
                let mut options: Vec<Value> = self.payments.iter().map(|p| json!(p)).collect();
                options.push(json!("pay_nope"));
                pick(input, &options)
            }
            Kind::Packet => {
                let mut options: Vec<Value> = self.packets.iter().map(|p| json!(p)).collect();
                options.push(json!("rp_nope"));
                pick(input, &options)
            }
            Kind::Scope => pick(
                input,
                &[
                    json!("profile"),
                    json!("real-name"),
                    json!("wallet"),
                    json!("storage"),
                ],
            ),
            Kind::Members => {
                let n = input.pick(4);
                let members: Vec<Value> = (0..n).map(|_| self.value(Kind::Handle, input)).collect();
                Value::Array(members)
            }
            Kind::Message => self.message(input),
        }
    }

    /// Sends `request` to the router; returns the status, headers and body
    /// of the answer.
    fn send(&self, request: Request<Body>) -> (u16, HeaderMap, Vec<u8>) {
        let router = self.router.clone();
        self.rt.block_on(async move {
            let Ok(response) = router.oneshot(request).await;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap_or_else(|e| harness_failed("reading an answer", e));
            (status, headers, body.to_vec())
        })
    }
}

/// A header's value as text ("" when missing or not text).
fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The fields a message of `kind` takes.
fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "text" => &["text"],
        "app-card" => &["app", "path", "title"],
        "red-packet" => &["packet"],
        _ => &[],
    }
}

/// A JSON value of any shape, nested at most `depth` deep.
fn any_json(input: &mut Input, depth: u8) -> Value {
    match input.u8() % 8 {
        0 => Value::Null,
        1 => json!(input.u8() & 1 == 1),
        2 => json!(input.u64()),
        3 => json!(-(input.u8() as i64)),
        4 => json!(f64::from(input.u8()) / 7.0),
        5 if depth > 0 => {
            let n = input.pick(4);
            Value::Array((0..n).map(|_| any_json(input, depth - 1)).collect())
        }
        6 if depth > 0 => {
            let n = input.pick(4);
            Value::Object(
                (0..n)
                    .map(|_| (input.text(), any_json(input, depth - 1)))
                    .collect(),
            )
        }
        _ => json!(input.text()),
    }
}

/// `text` as one path segment: every byte but unreserved ones escaped.
fn encode_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod replay {
    use super::{Fixture, check_answer, header};
    use axum::body::Body;
    use axum::http::Request;

    fn open() -> Fixture {
        Fixture::open().unwrap_or_else(|e| panic!("cannot open the fuzz host: {e}"))
    }

    /// Sends one request to `host`; checks the rules every answer keeps and
    /// returns (status, problem code, `allow` header).
    fn send(
        host: &Fixture,
        method: &str,
        path: &str,
        token: &str,
        body: (&str, &str),
    ) -> (u16, String, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", body.0)
            .body(Body::from(body.1.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        let (status, headers, bytes) = host.send(request);
        check_answer(
            &format!("{method} {path}"),
            status,
            &header(&headers, "content-type"),
            Some(&bytes),
        );
        let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = problem["title"].as_str().unwrap_or("").to_string();
        (status, code, header(&headers, "allow"))
    }

    #[test]
    fn a_route_asked_with_another_method_answers_problem_json_405() {
        let host = open();
        let json = ("application/json", "{}");
        let (status, code, allow) = send(&host, "GET", "/auth/login", &host.ana, json);
        assert_eq!((status, code.as_str()), (405, "method-not-allowed"));
        assert_eq!(allow, "POST");
        let (status, code, _) = send(&host, "DELETE", "/admin/users", &host.admin, json);
        assert_eq!((status, code.as_str()), (405, "method-not-allowed"));
    }

    #[test]
    fn a_trust_request_that_is_not_json_answers_problem_json() {
        let host = open();
        let trust = |body| send(&host, "POST", "/admin/trust", &host.admin, body);
        let (status, code, _) = trust(("text/plain", "{}"));
        assert_eq!((status, code.as_str()), (415, "unsupported-media-type"));
        let (status, code, _) = trust(("application/json", "{"));
        assert_eq!((status, code.as_str()), (400, "invalid-json"));
    }

    /// Every saved input of the `http_json` fuzz target keeps the API's
    /// rules: `cargo test` replays the corpus, in order, on one host as the
    /// fuzzer does, without a sanitizer build.
    #[test]
    fn every_saved_http_input_keeps_the_api_rules() {
        let dir = crate::root().join("fuzz/corpus/http_json");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        assert!(!files.is_empty(), "no saved inputs in {}", dir.display());
        files.sort();
        let host = open();
        for path in files {
            let data = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let replayed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host.run(&data)));
            if replayed.is_err() {
                panic!("{} breaks an API rule", path.display());
            }
        }
    }
}
