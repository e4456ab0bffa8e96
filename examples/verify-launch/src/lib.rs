//! What a mini-app's own backend does with a launch token: the client opens
//! the app in the host (`POST /apps/{id}/launch`), hands the token to the
//! app's backend, and the backend learns who came — as the app's open id —
//! without trusting the client. The token is an EdDSA JWT; the backend
//! checks it against the host's published keys (`/.well-known/jwks.json`,
//! fetched again when a token names a key it has not seen: the host rotated),
//! checks issuer, audience and expiry, and accepts each token once.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// Why a launch token was refused. `code()` is stable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a launch token: {0}")]
    Malformed(String),
    #[error("signed with key `{0}`, which the host does not publish")]
    UnknownKey(String),
    #[error("the token does not verify: {0}")]
    Invalid(String),
    #[error("this token was used already")]
    Replayed,
    #[error("cannot fetch the host's keys: {0}")]
    Keys(String),
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed-token",
            VerifyError::UnknownKey(_) => "unknown-key",
            VerifyError::Invalid(_) => "invalid-token",
            VerifyError::Replayed => "replayed-token",
            VerifyError::Keys(_) => "keys-unavailable",
        }
    }
}

/// The claims of a launch token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Launch {
    /// The person's open id in this app.
    #[serde(rename = "sub")]
    pub open_id: String,
    pub union_id: String,
    pub scene: String,
    pub path: String,
    pub exp: i64,
    pub jti: String,
}

/// Verifies launch tokens for one app of one host.
pub struct Verifier {
    host: String,
    app: String,
    keys: RwLock<JwkSet>,
    /// Token ids already accepted, until they expire.
    seen: Mutex<HashMap<String, i64>>,
}

impl Verifier {
    /// For app `app` on the host at `host` (its public URL, the tokens' issuer).
    pub fn new(host: &str, app: &str) -> Verifier {
        Verifier {
            host: host.trim_end_matches('/').to_string(),
            app: app.to_string(),
            keys: RwLock::new(JwkSet { keys: Vec::new() }),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn refresh(&self) -> Result<(), VerifyError> {
        let url = format!("{}/.well-known/jwks.json", self.host);
        let set: JwkSet = ureq::get(&url)
            .call()
            .map_err(|e| VerifyError::Keys(e.to_string()))?
            .body_mut()
            .read_json()
            .map_err(|e| VerifyError::Keys(e.to_string()))?;
        *self
            .keys
            .write()
            .map_err(|_| VerifyError::Keys("lock".into()))? = set;
        Ok(())
    }

    fn key(&self, kid: &str) -> Result<Option<DecodingKey>, VerifyError> {
        let keys = self
            .keys
            .read()
            .map_err(|_| VerifyError::Keys("lock".into()))?;
        match keys.find(kid) {
            Some(jwk) => DecodingKey::from_jwk(jwk)
                .map(Some)
                .map_err(|e| VerifyError::Keys(e.to_string())),
            None => Ok(None),
        }
    }

    /// The person behind `token`, once per token. `now` is Unix seconds.
    pub fn verify(&self, token: &str, now: i64) -> Result<Launch, VerifyError> {
        let header = decode_header(token).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(VerifyError::Invalid(format!(
                "{:?} is not EdDSA",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::Malformed("no key id".into()))?;
        let key = match self.key(&kid)? {
            Some(k) => k,
            None => {
                // A new key: the host rotated since we last looked.
                self.refresh()?;
                self.key(&kid)?.ok_or(VerifyError::UnknownKey(kid))?
            }
        };
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[&self.app]);
        v.set_issuer(&[&self.host]);
        v.leeway = 30;
        let launch = decode::<Launch>(token, &key, &v)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?
            .claims;
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| VerifyError::Keys("lock".into()))?;
        seen.retain(|_, exp| *exp + 60 > now);
        if seen.insert(launch.jti.clone(), launch.exp).is_some() {
            return Err(VerifyError::Replayed);
        }
        Ok(launch)
    }
}

#[derive(Deserialize)]
struct SessionRequest {
    launch_token: String,
}

/// The backend's one route: `POST /session {"launch_token"}` → who came
/// (200) or why not (401 `{"error": code, "message"}`).
pub fn router(verifier: std::sync::Arc<Verifier>) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::post;
    axum::Router::new().route(
        "/session",
        post(move |axum::Json(req): axum::Json<SessionRequest>| {
            let verifier = verifier.clone();
            async move {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                // Fetching keys blocks: off the async workers.
                let r =
                    tokio::task::spawn_blocking(move || verifier.verify(&req.launch_token, now))
                        .await
                        .unwrap_or_else(|e| Err(VerifyError::Keys(e.to_string())));
                match r {
                    Ok(l) => (StatusCode::OK, axum::Json(serde_json::json!(l))),
                    Err(e) => (
                        StatusCode::UNAUTHORIZED,
                        axum::Json(
                            serde_json::json!({"error": e.code(), "message": e.to_string()}),
                        ),
                    ),
                }
            }
        }),
    )
}
