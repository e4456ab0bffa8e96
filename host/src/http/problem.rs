//! RFC 9457 problem details: the one shape every HTTP error takes, with a
//! stable `type` per error code.

use crate::identity::IdentityError;
use crate::runtime::CallError;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// An error as the HTTP API reports it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, String)>,
}

/// The problem+json body (RFC 9457), as the OpenAPI document describes it:
/// what `Problem::into_response` writes.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// `urn:superapp:problem:<code>`: stable, match on it.
    #[schema(
        example = "urn:superapp:problem:invalid-token",
        pattern = "^urn:superapp:problem:[a-z0-9-]+$"
    )]
    pub r#type: String,
    /// The code alone.
    #[schema(example = "invalid-token", pattern = "^[a-z0-9-]+$")]
    pub title: String,
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<IdentityError> for Problem {
    fn from(e: IdentityError) -> Self {
        let status = match &e {
            IdentityError::InvalidUserId(_)
            | IdentityError::InvalidHandle(_)
            | IdentityError::InvalidDisplayName(_)
            | IdentityError::InvalidPassword(_)
            | IdentityError::InvalidBirthDate(_)
            | IdentityError::InvalidLaunch(_) => StatusCode::UNPROCESSABLE_ENTITY,
            IdentityError::HandleTaken(_) => StatusCode::CONFLICT,
            IdentityError::UnknownUser(_)
            | IdentityError::UnknownApp(_)
            | IdentityError::UnknownScope(_) => StatusCode::NOT_FOUND,
            IdentityError::ScopeNotRequested { .. } => StatusCode::CONFLICT,
            IdentityError::InvalidCredentials
            | IdentityError::TokenInvalid
            | IdentityError::TokenExpired
            | IdentityError::TokenRevoked => StatusCode::UNAUTHORIZED,
            IdentityError::LoginThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            IdentityError::Crypto(_) | IdentityError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let problem = Problem::new(status, e.code(), e.to_string());
        match e {
            IdentityError::LoginThrottled { retry_after_secs } => {
                problem.with_header(header::RETRY_AFTER, retry_after_secs.to_string())
            }
            IdentityError::TokenInvalid
            | IdentityError::TokenExpired
            | IdentityError::TokenRevoked => problem.with_header(
                header::WWW_AUTHENTICATE,
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    e.code()
                ),
            ),
            _ => problem,
        }
    }
}

/// A JSON request body, limited to `max_json_body_bytes`; every way it can
/// be wrong is a problem+json naming what was wrong.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync + AsLimit> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                mime.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as JSON with `content-type: application/json`",
            ));
        }
        let limit = state.json_limit();
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request-too-large",
                    format!("the JSON body is over the limit of {limit} bytes"),
                )
            })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-json",
                format!("the body is not the JSON this route takes: {e}"),
            )
        })
    }
}

/// Router state that knows the JSON body limit.
pub trait AsLimit {
    fn json_limit(&self) -> usize;
}

impl From<CallError> for Problem {
    fn from(e: CallError) -> Self {
        let status = match &e {
            CallError::AppNotFound(_) => StatusCode::NOT_FOUND,
            CallError::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CallError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            CallError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CallError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            CallError::OutOfMemory { .. }
            | CallError::Trap(_)
            | CallError::ResponseTooLarge { .. }
            | CallError::BadResponse(_) => StatusCode::BAD_GATEWAY,
            CallError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            CallError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

impl From<crate::wallet::WalletError> for Problem {
    fn from(e: crate::wallet::WalletError) -> Self {
        use crate::wallet::WalletError as W;
        let status = match &e {
            W::InvalidAmount(_)
            | W::InvalidKey(_)
            | W::InvalidText(_)
            | W::InvalidPacket(_)
            | W::LimitExceeded(_)
            | W::SelfTransfer => StatusCode::UNPROCESSABLE_ENTITY,
            W::UnknownUser(_) | W::UnknownApp(_) | W::PaymentNotFound(_) | W::PacketNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            W::InsufficientFunds { .. } | W::IdempotencyConflict { .. } | W::InvalidState(_) => {
                StatusCode::CONFLICT
            }
            W::PaymentExpired(_) | W::PacketExpired(_) | W::PacketEmpty(_) => StatusCode::GONE,
            W::TooManyPending(_) => StatusCode::TOO_MANY_REQUESTS,
            W::NotInConversation(_) => StatusCode::FORBIDDEN,
            W::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            W::Storage(_) | W::Corrupt(_) | W::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": format!("urn:superapp:problem:{}", self.code),
            "title": self.code,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::try_from(value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
