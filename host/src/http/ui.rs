//! Mini-app UI files: `GET /ui/{app}/{tag}/{path…}` serves one file of the
//! UI of the version an app runs now. Public, like any web app's assets;
//! sent with the UI's CSP (a sandboxed, opaque-origin document that reaches
//! only its own files and the bridge, and nothing over the network) and
//! cached for good: the tag is the UI's hash, so a new UI is a new address
//! and an old tag answers 404 once its version no longer runs.

use super::{AppState, Problem, blocking};
use crate::packages::{UiAsset, UiLookupError, check_app_id, check_ui_path};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

impl From<UiLookupError> for Problem {
    fn from(e: UiLookupError) -> Self {
        let status = match &e {
            UiLookupError::AppNotFound(_)
            | UiLookupError::NoSuchUi { .. }
            | UiLookupError::NoSuchFile { .. } => StatusCode::NOT_FOUND,
            UiLookupError::Io { .. } | UiLookupError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

/// A file of an app's UI.
#[utoipa::path(get, path = "/ui/{app}/{tag}/{path}", tag = "apps",
    params(
        ("app" = String, Path, description = "App id"),
        ("tag" = String, Path, description = "The running version's UI tag, as `GET /apps` gives it"),
        ("path" = String, Path, description = "The file's path inside the UI")),
    responses(
        (status = 200, description = "The file, typed by its extension, with the UI's content security policy"),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        (status = 400, description = "`invalid-path`: a dot segment, an encoded `/`, or not UTF-8", body = super::problem::ProblemBody),
        (status = 404, description = "`app-not-found`, or `ui-not-found`: no such UI tag (or not the running version's) or file", body = super::problem::ProblemBody)))]
pub(super) async fn file(State(s): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let (mut answer, csp) = match ui_target(parts.uri.path()) {
        Err(problem) => (problem.into_response(), None),
        Ok((app, tag, path)) => {
            let csp = policy(&origin(&s, &parts.headers), &app, &tag);
            let found = blocking(&s.host, move |h| Ok(h.ui_file(&app, &tag, &path)?)).await;
            let answer = match found {
                Ok(asset) => asset_response(asset, &parts.headers),
                Err(problem) => problem.into_response(),
            };
            (answer, Some(csp))
        }
    };
    let h = answer.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // On error answers too: whatever is opened from /ui/ is sandboxed.
    let csp = csp.unwrap_or_else(|| "sandbox; default-src 'none'".to_string());
    if let Ok(csp) = HeaderValue::try_from(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    answer
}

/// A UI file as an answer: 304 when the client's `If-None-Match` names it,
/// cacheable for good either way (its address changes with its content),
/// and loadable from the frame's opaque origin.
fn asset_response(asset: UiAsset, request: &HeaderMap) -> Response {
    let mut r = if super::shell::fresh(request, &asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(asset.bytes));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let h = r.headers_mut();
    if let Ok(etag) = HeaderValue::try_from(asset.etag) {
        h.insert(header::ETAG, etag);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    r
}

/// The UI's content security policy for app `app`'s UI `tag` served from
/// `origin`: scripts only from its own files and the bridge, styles and
/// media only from its own files (inline styles allowed, never inline
/// scripts), no network at all, and `sandbox` so the document has an
/// opaque origin even when opened on its own.
fn policy(origin: &str, app: &str, tag: &str) -> String {
    let own = format!("{origin}/ui/{app}/{tag}/");
    format!(
        "sandbox allow-scripts allow-forms; default-src 'none'; script-src {own} {origin}/bridge/; \
         style-src {own} 'unsafe-inline'; img-src {own} data: blob:; font-src {own}; \
         media-src {own}; connect-src 'none'; frame-src 'none'; worker-src 'none'; \
         form-action 'none'; base-uri 'none'; object-src 'none'"
    )
}

/// The host's origin as the request reached it: the `Host` header, with
/// the scheme of the configured public URL when that is the host asked
/// for, else of `x-forwarded-proto` (`http` or `https` only), else `http`.
/// Without a sane `Host`, the origin of the issuer URL.
fn origin(s: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| sane_host(h));
    let Some(host) = host else {
        return origin_of(&s.issuer).unwrap_or_else(|| s.issuer.to_string());
    };
    let public = s
        .host
        .config()
        .public_url
        .as_deref()
        .and_then(origin_of)
        .filter(|o| o.split_once("://").is_some_and(|(_, h)| h == host));
    if let Some(public) = public {
        return public;
    }
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|p| p == "http" || p == "https")
        .unwrap_or_else(|| "http".to_string());
    format!("{scheme}://{host}")
}

/// `scheme://host[:port]` of `url`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// A `Host` header that is a host name or address and an optional port:
/// nothing that could end or add a CSP directive.
fn sane_host(host: &str) -> bool {
    (1..=255).contains(&host.len())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// The app id, the UI tag and the file's path inside the UI, from the raw
/// request path `/ui/{app}/{tag}/{path…}`: the path is percent-decoded
/// segment by segment, as for calls; an encoded `/`, bytes that are not
/// UTF-8 and dot segments are refused. A path no UI file could have is
/// simply not found.
fn ui_target(raw: &str) -> Result<(String, String, String), Problem> {
    let invalid = |why: &str| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-path",
            format!("the path inside the UI {why}"),
        )
    };
    let after = raw.strip_prefix("/ui/").unwrap_or("");
    let mut parts = after.splitn(3, '/');
    let (app, tag, rest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if check_app_id(app).is_err() {
        return Err(UiLookupError::AppNotFound(app.to_string()).into());
    }
    let not_found = |path: &str| {
        Problem::from(UiLookupError::NoSuchFile {
            app: app.to_string(),
            path: path.to_string(),
        })
    };
    if tag.len() != 16
        || !tag
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(UiLookupError::NoSuchUi {
            app: app.to_string(),
            tag: tag.to_string(),
        }
        .into());
    }
    let mut segments = Vec::new();
    for segment in rest.split('/') {
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| invalid("is not UTF-8 once percent-decoded"))?;
        if decoded.contains('/') {
            return Err(invalid("contains an encoded `/` (%2F)"));
        }
        if decoded == "." || decoded == ".." {
            return Err(invalid("has a `.` or `..` segment"));
        }
        segments.push(decoded);
    }
    let path = segments.join("/");
    if check_ui_path(&path).is_err() {
        return Err(not_found(&path));
    }
    Ok((app.to_string(), tag.to_string(), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_paths_are_decoded_per_segment_and_tricks_are_refused() {
        let tag = "0123456789abcdef";
        let ok = |rest: &str| {
            ui_target(&format!("/ui/shop/{tag}/{rest}"))
                .map(|(_, _, p)| p)
                .map_err(|p| p.code)
        };
        assert_eq!(ok("index.html"), Ok("index.html".into()));
        assert_eq!(ok("img/icon.svg"), Ok("img/icon.svg".into()));
        assert_eq!(ok("img%2Dx/a.png"), Ok("img-x/a.png".into()));
        for bad in [
            "..%2f..%2fme.js",
            "a%2Fb.js",
            "../x.js",
            "%2e%2e/x.js",
            "./x.js",
            "%ff.js",
        ] {
            assert_eq!(ok(bad), Err("invalid-path"), "{bad}");
        }
        for missing in ["", "a//b.js", "x.exe", "a b.js", ".env.js", "dir/", "/x.js"] {
            assert_eq!(ok(missing), Err("ui-not-found"), "{missing}");
        }
        let e = ui_target("/ui/Shop!/0123456789abcdef/a.js").map_err(|p| p.code);
        assert_eq!(e.err(), Some("app-not-found"));
        let e = ui_target("/ui/shop/XYZ/a.js").map_err(|p| p.code);
        assert_eq!(e.err(), Some("ui-not-found"));
    }

    #[test]
    fn the_policy_names_only_the_uis_own_files_and_the_bridge() {
        let p = policy("https://host.example", "shop", "0123456789abcdef");
        assert!(p.starts_with("sandbox allow-scripts allow-forms; default-src 'none'; "));
        assert!(p.contains(
            "script-src https://host.example/ui/shop/0123456789abcdef/ https://host.example/bridge/;"
        ));
        assert!(p.contains("connect-src 'none'"));
        assert!(!p.contains("script-src 'unsafe-inline'"));
        assert!(sane_host("127.0.0.1:8080") && sane_host("[::1]:80"));
        assert!(!sane_host("evil; script-src *") && !sane_host(""));
    }
}
