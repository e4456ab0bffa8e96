//! The host's one configuration struct: every limit and default in one place.

use std::path::PathBuf;
use std::time::Duration;

/// Limits and defaults for a running host. Manifests may lower the per-app
/// limits, never raise them above the `max_*` values here.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where the sled database (with the embedded store) and this host's
    /// compiled components live.
    pub data_dir: PathBuf,
    /// Which backend holds the data: the embedded sled database in
    /// `data_dir` (default) or a PostgreSQL-protocol database several
    /// hosts share.
    pub store: superapp_store::StoreSpec,
    /// Linear memory a mini-app gets per call unless its manifest lowers it.
    pub default_memory_bytes: u64,
    /// The most memory any manifest may ask for.
    pub max_memory_bytes: u64,
    /// Wall-clock deadline per call unless the manifest lowers it.
    pub default_deadline: Duration,
    /// The longest deadline any manifest may ask for.
    pub max_deadline: Duration,
    /// Largest request body handed to a guest.
    pub max_request_bytes: usize,
    /// Largest response body a guest may return.
    pub max_response_bytes: usize,
    /// Most headers in a request or response.
    pub max_headers: usize,
    /// Most bytes of header names and values passed on to a mini-app.
    pub max_request_header_bytes: usize,
    /// Most bytes of header names and values a mini-app may answer with.
    pub max_response_header_bytes: usize,
    /// Largest request head (request line and headers) the HTTP server
    /// reads; a larger one is answered 431 before any route runs.
    pub max_request_head_bytes: usize,
    /// How long a client may take to send a request's head (slow clients
    /// that dribble headers are cut off).
    pub header_read_timeout: Duration,
    /// Most open client connections; past it new ones are closed at once.
    pub max_connections: usize,
    /// Most live event streams (`/me/events`) one person may have open.
    pub max_streams_per_person: usize,
    /// Guest stdout/stderr kept per call (the rest is dropped, not an error).
    pub max_guest_output_bytes: usize,
    /// Log lines a guest may emit per call through the `log` interface.
    pub max_log_lines_per_call: usize,
    /// Notifications and answers each mini-app may send per minute.
    pub app_messages_per_minute: u32,
    /// Per-app storage quota unless the manifest lowers it.
    pub default_storage_quota_bytes: u64,
    /// Largest stored value unless the manifest lowers it.
    pub default_storage_value_bytes: u64,
    /// Largest component an install accepts.
    pub max_component_bytes: u64,
    /// Largest package file an install accepts.
    pub max_package_bytes: u64,
    /// Largest app UI an install accepts: its files' sizes added up.
    pub max_ui_bytes: u64,
    /// Instances that may run at once (pooling allocator slots).
    pub max_concurrent_calls: u32,
    /// How many of those one app may hold at once (capped at
    /// `max_concurrent_calls`); further calls of that app wait for one of
    /// its own slots, at most as long as its deadline, then answer `busy`.
    pub max_concurrent_calls_per_app: u32,
    /// Try the pooling allocator at start (falls back to on-demand if the
    /// machine refuses the reservation).
    pub pooling: bool,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Longest time the HTTP API spends on one request, body upload
    /// included, before answering 503 `request-timeout` (operator routes,
    /// which may compile large components, are exempt).
    pub request_timeout: Duration,
    /// Largest JSON body the API's own routes accept (logins, grants…).
    pub max_json_body_bytes: usize,
    /// The URL people and mini-app backends reach this host at; the `iss`
    /// of launch tokens. None: `http://<listen address>`.
    pub public_url: Option<String>,
    /// The wallet's currency, limits and periods.
    pub wallet: superapp_core::wallet::Rules,
}

/// Epoch ticks drive deadlines; this is their period.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl HostConfig {
    /// Defaults for a host whose data lives in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            data_dir: data_dir.into(),
            store: superapp_store::StoreSpec::Embedded,
            default_memory_bytes: 64 << 20,
            max_memory_bytes: 256 << 20,
            default_deadline: Duration::from_secs(1),
            max_deadline: Duration::from_secs(10),
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
            max_headers: 64,
            max_request_header_bytes: 16 << 10,
            max_response_header_bytes: 16 << 10,
            max_request_head_bytes: 64 << 10,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_streams_per_person: 10,
            max_guest_output_bytes: 64 << 10,
            max_log_lines_per_call: 256,
            app_messages_per_minute: 600,
            default_storage_quota_bytes: 10 << 20,
            default_storage_value_bytes: 1 << 20,
            max_component_bytes: 2 << 20,
            max_package_bytes: 30 << 20,
            max_ui_bytes: 8 << 20,
            max_concurrent_calls: 256,
            max_concurrent_calls_per_app: 64,
            pooling: true,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            request_timeout: Duration::from_secs(30),
            max_json_body_bytes: 64 << 10,
            public_url: None,
            wallet: superapp_core::wallet::Rules::default(),
        }
    }
}

/// The operator's config file (`superapp --config FILE`), TOML. Every field
/// is optional; unknown fields are refused so a typo is not silently ignored.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Where the data is kept: `embedded` (sled in the data folder, the
    /// default) or `postgres://user:password@host:port/database` for a
    /// PostgreSQL-protocol database several hosts share. `--store` and
    /// `SUPERAPP_STORE` win.
    pub store: Option<String>,
    /// Address `serve` listens on. Default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// The URL people and mini-app backends reach the host at (the `iss` of
    /// launch tokens). Default `http://<listen address>`.
    pub public_url: Option<String>,
    /// The operator token for `/admin` routes, at least 32 characters.
    /// `SUPERAPP_ADMIN_TOKEN` overrides it. Default: a fresh random token per
    /// run, written to `DATA/serve.json` (mode 0600) for the CLI.
    pub admin_token: Option<String>,
    /// How long a login session lasts, in hours. Default 720 (30 days).
    pub session_ttl_hours: Option<u64>,
    /// Longest time a public request may take, in seconds. Default 30.
    pub request_timeout_secs: Option<u64>,
    /// The wallet's currency, limits and periods.
    pub wallet: Option<WalletFile>,
    /// Notifications and answers each mini-app may send per minute.
    /// Default 600.
    pub app_messages_per_minute: Option<u64>,
    /// Mini-app instances that may run at once, 1–10000. Default 256.
    pub max_concurrent_calls: Option<u32>,
    /// How many of those one app may hold, 1–`max_concurrent_calls`.
    /// Default 64.
    pub max_concurrent_calls_per_app: Option<u32>,
    /// Most open client connections, 1–1000000. Default 4096.
    pub max_connections: Option<u64>,
    /// Seconds a client may take to send a request's head. Default 10.
    pub header_read_timeout_secs: Option<u64>,
    /// Most live event streams one person may hold open. Default 10.
    pub max_streams_per_person: Option<u64>,
    /// Largest app UI an install accepts, in KiB (its files added up).
    /// Default 8192 (8 MiB); `--max-ui-kib` wins.
    pub max_ui_kib: Option<u64>,
    /// `text` (the default) or `json` (one object per line); `--log-format`
    /// and `SUPERAPP_LOG_FORMAT` win.
    pub log_format: Option<LogFormat>,
    /// A second address `serve` listens on for `GET /metrics` alone,
    /// without the admin token (keep it private). Without it, `/metrics`
    /// is on the API's address and needs the admin token.
    /// `--metrics-listen` wins.
    pub metrics_listen: Option<String>,
}

/// How the host writes its log lines (to standard error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines; colour only on a terminal, never with `NO_COLOR`.
    #[default]
    Text,
    /// One JSON object per line, with the spans it happened in (`request_id`, `app`).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not a log format (text or json)")),
        }
    }
}

/// The `[wallet]` table. Amounts are in minor units (cents).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletFile {
    /// ISO 4217 code (three capital letters). Default `CNY`.
    pub currency: Option<String>,
    /// Digits after the decimal point, 0–4. Default 2.
    pub decimals: Option<u32>,
    /// Largest amount of one operation. Default 100000000 (1,000,000.00).
    pub max_amount: Option<u64>,
    /// Minutes a payment intent waits for the person. Default 15.
    pub intent_ttl_minutes: Option<u64>,
    /// Days until escrow is released without a receipt. Default 10.
    pub escrow_release_days: Option<u64>,
    /// Days until an uncaptured hold is voided. Default 7.
    pub hold_ttl_days: Option<u64>,
    /// Hours until unclaimed red-packet money returns. Default 24.
    pub red_packet_ttl_hours: Option<u64>,
    /// Largest red packet. Default 20000 (200.00).
    pub max_red_packet_amount: Option<u64>,
    /// Most shares in a red packet. Default 100.
    pub max_red_packet_count: Option<u32>,
    /// Most payment requests one app may have waiting for one person.
    /// Default 20.
    pub max_pending_per_person: Option<u32>,
    /// Most payment requests one app may have waiting in all. Default 10000.
    pub max_pending_per_app: Option<u32>,
}

/// Fewest characters an operator-chosen admin token may have.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

impl ConfigFile {
    /// Reads and checks the file at `path`; errors name the file and field.
    pub fn load(path: &std::path::Path) -> Result<ConfigFile, String> {
        let file = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
        let config: ConfigFile = toml::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
        if let Some(t) = &config.admin_token {
            check_admin_token(t).map_err(|e| format!("{file}: field `admin_token`: {e}"))?;
        }
        let positive = |name: &str, v: Option<u64>| match v {
            Some(0) => Err(format!("{file}: field `{name}`: must be greater than 0")),
            _ => Ok(()),
        };
        positive("session_ttl_hours", config.session_ttl_hours)?;
        positive("request_timeout_secs", config.request_timeout_secs)?;
        positive("app_messages_per_minute", config.app_messages_per_minute)?;
        positive("max_connections", config.max_connections)?;
        positive("header_read_timeout_secs", config.header_read_timeout_secs)?;
        positive("max_streams_per_person", config.max_streams_per_person)?;
        positive("max_ui_kib", config.max_ui_kib)?;
        positive(
            "max_concurrent_calls",
            config.max_concurrent_calls.map(u64::from),
        )?;
        positive(
            "max_concurrent_calls_per_app",
            config.max_concurrent_calls_per_app.map(u64::from),
        )?;
        let at_most = |name: &str, v: Option<u64>, max: u64| match v {
            Some(n) if n > max => Err(format!("{file}: field `{name}`: at most {max}")),
            _ => Ok(()),
        };
        at_most(
            "max_concurrent_calls",
            config.max_concurrent_calls.map(u64::from),
            10_000,
        )?;
        at_most("max_connections", config.max_connections, 1_000_000)?;
        at_most(
            "header_read_timeout_secs",
            config.header_read_timeout_secs,
            3600,
        )?;
        at_most(
            "max_streams_per_person",
            config.max_streams_per_person,
            1000,
        )?;
        let calls = config.max_concurrent_calls.unwrap_or(256);
        if config
            .max_concurrent_calls_per_app
            .is_some_and(|n| n > calls)
        {
            return Err(format!(
                "{file}: field `max_concurrent_calls_per_app`: at most `max_concurrent_calls` ({calls})"
            ));
        }
        if config.app_messages_per_minute.is_some_and(|n| n > 100_000) {
            return Err(format!(
                "{file}: field `app_messages_per_minute`: at most 100000"
            ));
        }
        if let Some(w) = &config.wallet {
            for (name, v) in [
                ("max_amount", w.max_amount),
                ("intent_ttl_minutes", w.intent_ttl_minutes),
                ("escrow_release_days", w.escrow_release_days),
                ("hold_ttl_days", w.hold_ttl_days),
                ("red_packet_ttl_hours", w.red_packet_ttl_hours),
                ("max_red_packet_amount", w.max_red_packet_amount),
                (
                    "max_red_packet_count",
                    w.max_red_packet_count.map(u64::from),
                ),
                (
                    "max_pending_per_person",
                    w.max_pending_per_person.map(u64::from),
                ),
                ("max_pending_per_app", w.max_pending_per_app.map(u64::from)),
            ] {
                positive(&format!("wallet.{name}"), v)?;
            }
            if let Some(c) = &w.currency
                && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return Err(format!(
                    "{file}: field `wallet.currency`: `{c}` is not an ISO 4217 code (three capital letters)"
                ));
            }
            if w.decimals.is_some_and(|d| d > 4) {
                return Err(format!("{file}: field `wallet.decimals`: must be 0 to 4"));
            }
            // Periods far beyond any real use would overflow time arithmetic.
            let ten_years_days = 3650;
            for (name, days) in [
                ("intent_ttl_minutes", w.intent_ttl_minutes.map(|m| m / 1440)),
                ("escrow_release_days", w.escrow_release_days),
                ("hold_ttl_days", w.hold_ttl_days),
                (
                    "red_packet_ttl_hours",
                    w.red_packet_ttl_hours.map(|h| h / 24),
                ),
            ] {
                if days.is_some_and(|d| d > ten_years_days) {
                    return Err(format!("{file}: field `wallet.{name}`: at most ten years"));
                }
            }
        }
        if let Some(store) = &config.store {
            superapp_store::StoreSpec::parse(store)
                .map_err(|e| format!("{file}: field `store`: {e}"))?;
        }
        if let Some(url) = &config.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "{file}: field `public_url`: `{url}` must start with http:// or https://"
            ));
        }
        Ok(config)
    }

    /// Applies the file's settings to `config`.
    pub fn apply(&self, config: &mut HostConfig) {
        if let Some(spec) = self
            .store
            .as_deref()
            .and_then(|s| superapp_store::StoreSpec::parse(s).ok())
        {
            config.store = spec;
        }
        if let Some(h) = self.session_ttl_hours {
            config.session_ttl = Duration::from_secs(h.saturating_mul(3600));
        }
        if let Some(s) = self.request_timeout_secs {
            config.request_timeout = Duration::from_secs(s);
        }
        if let Some(n) = self.app_messages_per_minute {
            config.app_messages_per_minute = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(url) = &self.public_url {
            config.public_url = Some(url.trim_end_matches('/').to_string());
        }
        if let Some(n) = self.max_concurrent_calls {
            config.max_concurrent_calls = n;
            config.max_concurrent_calls_per_app = config.max_concurrent_calls_per_app.min(n);
        }
        if let Some(n) = self.max_concurrent_calls_per_app {
            config.max_concurrent_calls_per_app = n;
        }
        if let Some(n) = self.max_connections {
            config.max_connections = n as usize;
        }
        if let Some(s) = self.header_read_timeout_secs {
            config.header_read_timeout = Duration::from_secs(s);
        }
        if let Some(n) = self.max_streams_per_person {
            config.max_streams_per_person = n as usize;
        }
        if let Some(k) = self.max_ui_kib {
            config.max_ui_bytes = k.saturating_mul(1024);
        }
        if let Some(w) = &self.wallet {
            let r = &mut config.wallet;
            let secs = |v: u64, unit: i64| v as i64 * unit;
            if let Some(c) = &w.currency {
                r.currency = c.clone();
            }
            if let Some(d) = w.decimals {
                r.decimals = d;
            }
            if let Some(v) = w.max_amount {
                r.max_amount = v;
            }
            if let Some(v) = w.intent_ttl_minutes {
                r.intent_ttl_secs = secs(v, 60);
            }
            if let Some(v) = w.escrow_release_days {
                r.escrow_release_secs = secs(v, 86_400);
            }
            if let Some(v) = w.hold_ttl_days {
                r.hold_ttl_secs = secs(v, 86_400);
            }
            if let Some(v) = w.red_packet_ttl_hours {
                r.red_packet_ttl_secs = secs(v, 3600);
            }
            if let Some(v) = w.max_red_packet_amount {
                r.max_red_packet_amount = v;
            }
            if let Some(v) = w.max_red_packet_count {
                r.max_red_packet_count = v;
            }
            if let Some(v) = w.max_pending_per_person {
                r.max_pending_per_person = v;
            }
            if let Some(v) = w.max_pending_per_app {
                r.max_pending_per_app = v;
            }
        }
    }
}

/// An operator-chosen admin token must be long enough not to be guessed.
pub fn check_admin_token(token: &str) -> Result<(), String> {
    let n = token.chars().count();
    if n < MIN_ADMIN_TOKEN_CHARS || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the admin token must have at least {MIN_ADMIN_TOKEN_CHARS} characters and no spaces (has {n})"
        ));
    }
    Ok(())
}
