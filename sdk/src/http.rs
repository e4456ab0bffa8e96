//! Request and response types for mini-app handlers, with JSON helpers and a
//! typed error that renders as a JSON body with a stable code.

use crate::bindings::superapp::platform::types as raw;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One request to the mini-app.
#[derive(Debug, Clone)]
pub struct Request {
    raw: raw::Request,
    params: Vec<(String, String)>,
}

impl Request {
    pub(crate) fn from_raw(raw: raw::Request) -> Self {
        Request {
            raw,
            params: Vec::new(),
        }
    }

    /// Builds a request by hand, e.g. in native unit tests of a handler.
    pub fn new(method: &str, path_and_query: &str, body: impl Into<Vec<u8>>) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path_and_query, ""),
        };
        Request::from_raw(raw::Request {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
            body: body.into(),
        })
    }

    pub(crate) fn set_params(&mut self, params: Vec<(String, String)>) {
        self.params = params;
    }

    /// The HTTP method, upper-case (`GET`, `POST`, …).
    pub fn method(&self) -> &str {
        &self.raw.method
    }

    /// The path inside the app, starting with `/`.
    pub fn path(&self) -> &str {
        &self.raw.path
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> &str {
        &self.raw.query
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.raw
            .query
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k) == name).then(|| percent_decode(v))
            })
            .next()
    }

    /// A path parameter captured by the router (`/items/{id}` → `param("id")`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a header (names are matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header as (lower-case name, value), in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        &self.raw.headers
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.raw.body
    }

    /// Parses the body as JSON; a `400 invalid-json` error says what was wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.raw.body)
            .map_err(|e| Error::bad_request("invalid-json", format!("request body: {e}")))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mini-app's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl Response {
    /// An empty response with this status.
    pub fn status(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `200` with a `text/plain` body.
    pub fn text(body: impl Into<String>) -> Self {
        Response::status(200)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// `200` with a JSON body.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::status(200)
                .with_header("content-type", "application/json")
                .with_body(body),
            Err(e) => Error::internal(format!("could not encode the response: {e}")).into(),
        }
    }

    /// Replaces the status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The body as UTF-8 text (lossy), handy in tests.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn into_raw(self) -> raw::Response {
        raw::Response {
            status: self.status,
            headers: self.headers,
            body: self.body,
        }
    }
}

/// A handler error: rendered as problem+json with `status` (see
/// `From<Error> for Response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// HTTP status code of the error response.
    pub status: u16,
    /// A stable, machine-readable code such as `not-found`.
    pub code: String,
    /// A human-readable explanation naming what was wrong.
    pub message: String,
}

impl Error {
    /// An error with any status and code.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
    /// `400` with a code and a message naming what was wrong.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(400, code, message)
    }
    /// `404 not-found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(404, "not-found", message)
    }
    /// `401 sign-in-required`, for routes that need a user.
    pub fn sign_in_required() -> Self {
        Error::new(401, "sign-in-required", "this needs a signed-in user")
    }
    /// `500 internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(500, "internal", message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// The host's own error shape (RFC 9457 problem+json, `type`
/// `urn:superapp:problem:<code>`), so a client reads an app's errors and
/// the host's alike. `error` and `message` repeat the code and detail for
/// clients written against the earlier `{"error", "message"}` body.
impl From<Error> for Response {
    fn from(e: Error) -> Self {
        let body = serde_json::json!({
            "type": format!("urn:superapp:problem:{}", e.code),
            "title": e.code,
            "status": e.status,
            "detail": e.message,
            "error": e.code,
            "message": e.message,
        });
        Response::status(e.status)
            .with_header("content-type", "application/problem+json")
            .with_body(body.to_string().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_percent_decoded() {
        let req = Request::new("get", "/x?name=J%C3%BCrgen+K&empty=&bad=%zz", "");
        assert_eq!(req.query_param("name").as_deref(), Some("Jürgen K"));
        assert_eq!(req.query_param("empty").as_deref(), Some(""));
        assert_eq!(req.query_param("bad").as_deref(), Some("%zz"));
        assert_eq!(req.query_param("missing"), None);
        assert_eq!(req.method(), "GET");
    }

    #[test]
    fn errors_render_as_problem_json_with_their_status() {
        let resp: Response = Error::bad_request("invalid-name", "name is empty").into();
        assert_eq!(resp.status, 400);
        assert_eq!(
            resp.headers,
            [(
                "content-type".to_string(),
                "application/problem+json".to_string()
            )]
        );
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:superapp:problem:invalid-name",
                "title": "invalid-name",
                "status": 400,
                "detail": "name is empty",
                "error": "invalid-name",
                "message": "name is empty",
            })
        );
    }
}
