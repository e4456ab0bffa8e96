//! The host's one configuration struct: every limit and default in one place.

use std::path::PathBuf;
use std::time::Duration;

/// Limits and defaults for a running host. Manifests may lower the per-app
/// limits, never raise them above the `max_*` values here.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where the sled database and compiled components live.
    pub data_dir: PathBuf,
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
    /// Guest stdout/stderr kept per call (the rest is dropped, not an error).
    pub max_guest_output_bytes: usize,
    /// Log lines a guest may emit per call through the `log` interface.
    pub max_log_lines_per_call: usize,
    /// Per-app storage quota unless the manifest lowers it.
    pub default_storage_quota_bytes: u64,
    /// Largest stored value unless the manifest lowers it.
    pub default_storage_value_bytes: u64,
    /// Largest component an install accepts.
    pub max_component_bytes: u64,
    /// Largest package file an install accepts.
    pub max_package_bytes: u64,
    /// Instances that may run at once (pooling allocator slots).
    pub max_concurrent_calls: u32,
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
}

/// Epoch ticks drive deadlines; this is their period.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl HostConfig {
    /// Defaults for a host whose data lives in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            data_dir: data_dir.into(),
            default_memory_bytes: 64 << 20,
            max_memory_bytes: 256 << 20,
            default_deadline: Duration::from_secs(1),
            max_deadline: Duration::from_secs(10),
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
            max_headers: 64,
            max_guest_output_bytes: 64 << 10,
            max_log_lines_per_call: 256,
            default_storage_quota_bytes: 10 << 20,
            default_storage_value_bytes: 1 << 20,
            max_component_bytes: 2 << 20,
            max_package_bytes: 30 << 20,
            max_concurrent_calls: 256,
            pooling: true,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            request_timeout: Duration::from_secs(30),
            max_json_body_bytes: 64 << 10,
            public_url: None,
        }
    }
}

/// The operator's config file (`superapp --config FILE`), TOML. Every field
/// is optional; unknown fields are refused so a typo is not silently ignored.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
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
        if let Some(h) = self.session_ttl_hours {
            config.session_ttl = Duration::from_secs(h.saturating_mul(3600));
        }
        if let Some(s) = self.request_timeout_secs {
            config.request_timeout = Duration::from_secs(s);
        }
        if let Some(url) = &self.public_url {
            config.public_url = Some(url.trim_end_matches('/').to_string());
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
