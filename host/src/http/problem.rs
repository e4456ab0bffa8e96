//! RFC 9457 problem details: the one shape every HTTP error takes, with a
//! stable `type` per error code.

use crate::runtime::CallError;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error as the HTTP API reports it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            detail: detail.into(),
        }
    }
}

impl From<CallError> for Problem {
    fn from(e: CallError) -> Self {
        let status = match &e {
            CallError::AppNotFound(_) => StatusCode::NOT_FOUND,
            CallError::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
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

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": format!("urn:superapp:problem:{}", self.code),
            "title": self.code,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}
