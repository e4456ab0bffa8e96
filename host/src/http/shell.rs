//! The web shell's own files — `host/shell/`, embedded in the binary at
//! build time (see `build.rs`) — at `/`, `/index.html` and `/shell/{file}`,
//! each with the shell's CSP and frame headers, and the bridge client a
//! mini-app UI loads at `/bridge/v1.js`. Every file is revalidated
//! (`no-cache`) against an ETag of its content hash. A mini-app's own files
//! are never served here.

use super::Problem;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/shell_files.rs"));
}

/// The shell page's policy: only its own scripts, styles, images, frames
/// and connections; no inline code; never framed itself.
pub const SHELL_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-src 'self'; \
form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// Where the bridge client lies among the embedded files.
const BRIDGE: &str = "bridge/v1.js";

struct File {
    bytes: &'static [u8],
    etag: String,
}

fn files() -> &'static HashMap<&'static str, File> {
    static FILES: LazyLock<HashMap<&'static str, File>> = LazyLock::new(|| {
        embedded::FILES
            .iter()
            .map(|(path, bytes)| {
                let digest = Sha256::digest(bytes);
                let etag = format!("\"{}\"", crate::text::hex(&digest[..16]));
                (*path, File { bytes, etag })
            })
            .collect()
    });
    &FILES
}

/// The type a file is served as: the UI file types' table (one list of
/// what the host serves as what), and text for the rest (licences, notes).
fn content_type(path: &str) -> &'static str {
    crate::packages::ui_content_type(path).unwrap_or("text/plain; charset=utf-8")
}

/// Whether the client's `If-None-Match` already names `etag` (the weak
/// comparison of RFC 9110: `W/` is ignored). Shared with the UI files.
pub(super) fn fresh(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

fn not_found(what: &str) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("the shell has no file `{what}`"),
    )
    .into_response()
}

/// One embedded file with `extra` headers; 304 when the client has it.
fn answer(
    path: &str,
    request: &HeaderMap,
    extra: &[(header::HeaderName, &'static str)],
) -> Response {
    let Some(file) = files().get(path) else {
        return not_found(path);
    };
    let mut response = if fresh(request, &file.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = file.bytes.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        );
        r
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::try_from(file.etag.as_str()) {
        h.insert(header::ETAG, etag);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    for (name, value) in extra {
        h.insert(name.clone(), HeaderValue::from_static(value));
    }
    response
}

/// Headers on the shell page and every one of its files.
fn shell_headers() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CONTENT_SECURITY_POLICY, SHELL_CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}

/// The shell page (also the entry for links: `/?app=shop&path=/orders/o1`,
/// which the shell reads itself).
pub(super) async fn index(headers: HeaderMap) -> Response {
    answer("index.html", &headers, &shell_headers())
}

/// One of the shell's modules, styles, vendor files or icons.
pub(super) async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // The bridge client is served to mini-app UIs at its own address.
    if path == BRIDGE || path.starts_with("bridge/") {
        return not_found(&path);
    }
    answer(&path, &headers, &shell_headers())
}

/// The bridge client for mini-app UIs: loadable from their opaque origin.
pub(super) async fn bridge(headers: HeaderMap) -> Response {
    answer(
        BRIDGE,
        &headers,
        &[
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_and_its_bridge_client_are_embedded() {
        for path in ["index.html", "app.js", "strings.js", "style.css", BRIDGE] {
            assert!(files().contains_key(path), "{path} is not embedded");
        }
        assert!(
            files()
                .keys()
                .all(|p| !p.starts_with('.') && !p.contains("/."))
        );
    }

    #[test]
    fn etags_match_exactly_or_by_star() {
        let mut h = HeaderMap::new();
        assert!(!fresh(&h, "\"ab\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"ab\""),
        );
        assert!(fresh(&h, "\"ab\""));
        assert!(!fresh(&h, "\"abc\""));
    }
}
