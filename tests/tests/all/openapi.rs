//! The OpenAPI document at `/openapi.json`, loaded from a real server, tells
//! the truth: query parameters are in the query, every error is
//! `application/problem+json` with the problem schema, the paged routes share
//! one `limit` rule (declared and enforced), and every status a route's
//! handler can send is documented — checked against a table of what the
//! handlers send and by provoking the answers every route can give — and
//! the document lists exactly the routes the router registers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::collections::BTreeSet;
use superapp_tests::{Reply, TestServer, login, send, send_with};

const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn server() -> anyhow::Result<(TestServer, Value)> {
    let s = TestServer::start(
        &["examples/hello/superapp.toml"],
        &[("ann", "Ann"), ("ben", "Ben")],
    )?;
    let doc = send("GET", &s.url("/openapi.json"), None, None)?;
    assert_eq!(doc.status, 200, "{}", doc.body);
    let doc = doc.json();
    assert!(doc["paths"].is_object(), "no paths in {doc}");
    Ok((s, doc))
}

/// Every (path, method, operation) in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if HTTP_METHODS.contains(&method.as_str()) {
                ops.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    ops
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method.to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    op
}

fn documented(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

fn parameter<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter `{name}` in {op}"))
}

/// Resolves a local `$ref`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => schema,
    }
}

#[test]
fn query_parameters_are_optional_query_parameters_with_their_types() -> anyhow::Result<()> {
    let (_s, doc) = server()?;
    // Nothing the route template does not name is declared in the path.
    for (path, method, op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] == "path" {
                let name = p["name"].as_str().unwrap_or("");
                assert!(
                    path.contains(&format!("{{{name}}}")),
                    "{method} {path} declares `{name}` in the path, but the path has no such segment"
                );
                assert_eq!(p["required"], true, "{method} {path} {name}");
            }
        }
    }
    for (path, name, kind) in [
        ("/me/access-log", "app", "string"),
        ("/me/access-log", "limit", "integer"),
        ("/me/conversations/{id}/messages", "before", "integer"),
        ("/me/conversations/{id}/messages", "after", "integer"),
        ("/me/conversations/{id}/messages", "limit", "integer"),
        ("/me/events", "after", "integer"),
        ("/me/wallet/transactions", "before", "integer"),
        ("/me/wallet/transactions", "limit", "integer"),
    ] {
        let p = parameter(operation(&doc, "get", path), name);
        assert_eq!(p["in"], "query", "{path} {name}: {p}");
        assert_eq!(p["required"], false, "{path} {name}: {p}");
        let schema = resolve(&doc, &p["schema"]);
        assert_eq!(schema["type"], kind, "{path} {name}: {schema}");
    }
    Ok(())
}

#[test]
fn every_error_answer_is_documented_as_problem_json() -> anyhow::Result<()> {
    let (_s, doc) = server()?;
    let problem = &doc["components"]["schemas"]["ProblemBody"];
    for field in ["type", "title", "status", "detail"] {
        assert!(
            problem["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!(field))),
            "the problem schema does not require `{field}`: {problem}"
        );
    }
    let mut errors = 0;
    for (path, method, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            errors += 1;
            let content = &response["content"];
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/ProblemBody",
                "{method} {path} {status}: {response}"
            );
            assert!(
                content.get("application/json").is_none(),
                "{method} {path} {status} still says application/json"
            );
        }
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            assert_eq!(
                response["headers"]["x-request-id"]["required"], true,
                "{method} {path} {status} does not document x-request-id"
            );
        }
    }
    assert!(errors > 100, "only {errors} error answers documented");
    Ok(())
}

const PAGED: &[&str] = &[
    "/me/access-log",
    "/me/conversations/{id}/messages",
    "/me/wallet/transactions",
];

#[test]
fn paged_routes_declare_and_enforce_one_limit_rule() -> anyhow::Result<()> {
    let (s, doc) = server()?;
    let bounds = |path: &str| {
        let schema = resolve(
            &doc,
            &parameter(operation(&doc, "get", path), "limit")["schema"],
        );
        (
            schema["minimum"].as_f64(),
            schema["maximum"].as_f64(),
            schema["default"].as_f64(),
        )
    };
    for path in PAGED {
        assert_eq!(
            bounds(path),
            (Some(1.0), Some(200.0), Some(50.0)),
            "{path} declares other limit bounds"
        );
    }

    // The server keeps the rule it declares, on every paged route.
    let ann = login(&s.base, "ann")?;
    let conv = superapp_tests::send_json(
        "POST",
        &s.url("/me/conversations"),
        Some(&ann),
        &json!({ "members": ["ben"] }),
    )?;
    assert_eq!(conv.status, 201, "{}", conv.body);
    let conv = conv.json()["id"].as_str().unwrap_or("").to_string();
    for path in PAGED {
        let path = path.replace("{id}", &conv);
        for bad in ["0", "201", "100000", "-1", "lots"] {
            let r = send(
                "GET",
                &s.url(&format!("{path}?limit={bad}")),
                Some(&ann),
                None,
            )?;
            assert_eq!(
                (r.status, r.problem().as_str()),
                (400, "invalid-query"),
                "{path}?limit={bad}: {}",
                r.body
            );
            assert!(
                r.json()["detail"].as_str().unwrap_or("").contains("limit"),
                "{path}?limit={bad} does not name `limit`: {}",
                r.body
            );
        }
        for good in ["1", "200"] {
            let r = send(
                "GET",
                &s.url(&format!("{path}?limit={good}")),
                Some(&ann),
                None,
            )?;
            assert_eq!(r.status, 200, "{path}?limit={good}: {}", r.body);
        }
    }
    Ok(())
}

/// The methods an `ANY` route of an app call is documented with.
const CALL_METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// Served, and deliberately not in the API document: the web shell's own
/// files (a page and its scripts, not JSON operations), the document
/// itself, and the call root with a trailing slash (the same operation as
/// without).
const NOT_API: &[&str] = &[
    "/openapi.json",
    "/",
    "/index.html",
    "/shell/{path}",
    "/bridge/v1.js",
    "/apps/{id}/call/",
];

#[test]
fn the_document_lists_exactly_the_routes_the_router_serves() -> anyhow::Result<()> {
    let (_s, doc) = server()?;
    // The router's table, in the document's syntax (`{*rest}` → `{rest}`).
    let served: BTreeSet<(String, String)> = superapp_host::http::route_table()
        .into_iter()
        .filter(|(_, path)| !NOT_API.contains(&path.replace("{*", "{").as_str()))
        .flat_map(|(method, path)| {
            let path = path.replace("{*", "{");
            let methods: Vec<String> = if method == "ANY" {
                CALL_METHODS.iter().map(|m| m.to_string()).collect()
            } else {
                vec![method.to_ascii_lowercase()]
            };
            methods.into_iter().map(move |m| (m, path.clone()))
        })
        .collect();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(path, method, _)| (method, path))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    assert!(
        served.len() > 60,
        "the router's table is read: {} routes",
        served.len()
    );
    Ok(())
}

/// What each route's handler (and the layers around it) can send, read off
/// the handlers and the error → status maps in `host/src/http`.
const SENT: &[(&str, &str, &[u16])] = &[
    ("get", "/healthz", &[200, 503]),
    (
        "get",
        "/ui/{app}/{tag}/{path}",
        &[200, 304, 400, 404, 500, 503],
    ),
    ("get", "/apps", &[200, 500, 503]),
    ("get", "/.well-known/jwks.json", &[200, 500, 503]),
    (
        "post",
        "/apps/{id}/launch",
        &[200, 400, 401, 404, 413, 415, 422, 500, 503],
    ),
    (
        "get",
        "/apps/{id}/call",
        &[400, 401, 404, 413, 431, 500, 502, 503, 504],
    ),
    (
        "post",
        "/apps/{id}/call",
        &[400, 401, 404, 413, 431, 500, 502, 503, 504],
    ),
    (
        "get",
        "/apps/{id}/call/{path}",
        &[400, 401, 404, 413, 431, 500, 502, 503, 504],
    ),
    (
        "put",
        "/apps/{id}/call/{path}",
        &[400, 401, 404, 413, 431, 500, 502, 503, 504],
    ),
    (
        "delete",
        "/apps/{id}/call/{path}",
        &[400, 401, 404, 413, 431, 500, 502, 503, 504],
    ),
    (
        "post",
        "/auth/login",
        &[200, 400, 401, 413, 415, 429, 500, 503],
    ),
    ("post", "/auth/logout", &[204, 401, 403, 500, 503]),
    (
        "post",
        "/auth/session",
        &[200, 400, 401, 403, 413, 415, 429, 500, 503],
    ),
    ("get", "/auth/session", &[200, 401, 500, 503]),
    ("delete", "/auth/session", &[204, 401, 403, 500, 503]),
    ("get", "/me", &[200, 401, 500, 503]),
    ("get", "/me/apps/{id}/grants", &[200, 401, 404, 500, 503]),
    (
        "put",
        "/me/apps/{id}/grants/{scope}",
        &[200, 400, 401, 404, 409, 413, 415, 500, 503],
    ),
    ("get", "/me/access-log", &[200, 400, 401, 404, 500, 503]),
    ("get", "/me/export", &[200, 401, 500, 503]),
    ("delete", "/me/apps/{id}/data", &[200, 401, 404, 500, 503]),
    ("get", "/me/wallet", &[200, 401, 500, 503]),
    ("get", "/me/wallet/transactions", &[200, 400, 401, 500, 503]),
    (
        "post",
        "/me/transfers",
        &[200, 400, 401, 404, 409, 413, 415, 422, 500, 503],
    ),
    ("get", "/me/payments/pending", &[200, 401, 500, 503]),
    ("get", "/me/payments/{id}", &[200, 401, 404, 500, 503]),
    (
        "post",
        "/me/payments/{id}/confirm",
        &[200, 401, 404, 409, 410, 500, 503],
    ),
    (
        "post",
        "/me/payments/{id}/decline",
        &[200, 401, 404, 409, 410, 500, 503],
    ),
    (
        "post",
        "/me/payments/{id}/confirm-receipt",
        &[200, 401, 404, 409, 500, 503],
    ),
    (
        "post",
        "/me/red-packets",
        &[201, 400, 401, 409, 413, 415, 422, 500, 503],
    ),
    (
        "get",
        "/me/red-packets/{id}",
        &[200, 401, 403, 404, 500, 503],
    ),
    (
        "post",
        "/me/red-packets/{id}/claim",
        &[200, 401, 403, 404, 410, 500, 503],
    ),
    ("get", "/me/conversations", &[200, 401, 500, 503]),
    (
        "post",
        "/me/conversations",
        &[201, 400, 401, 404, 409, 413, 415, 422, 500, 503],
    ),
    (
        "get",
        "/me/conversations/{id}",
        &[200, 401, 403, 404, 500, 503],
    ),
    (
        "post",
        "/me/conversations/{id}/members",
        &[200, 400, 401, 403, 404, 409, 413, 415, 422, 500, 503],
    ),
    (
        "post",
        "/me/conversations/{id}/leave",
        &[204, 401, 403, 404, 409, 500, 503],
    ),
    (
        "get",
        "/me/conversations/{id}/messages",
        &[200, 400, 401, 403, 404, 500, 503],
    ),
    (
        "post",
        "/me/conversations/{id}/messages",
        &[201, 400, 401, 403, 404, 413, 415, 422, 500, 503],
    ),
    (
        "post",
        "/me/conversations/{id}/read",
        &[200, 400, 401, 403, 404, 413, 415, 422, 500, 503],
    ),
    ("get", "/me/events", &[200, 400, 401, 429, 500]),
    (
        "get",
        "/me/apps/{id}/subscriptions",
        &[200, 401, 404, 422, 500, 503],
    ),
    (
        "post",
        "/me/apps/{id}/subscriptions",
        &[200, 400, 401, 404, 413, 415, 422, 500, 503],
    ),
    (
        "delete",
        "/me/apps/{id}/subscriptions/{topic}",
        &[204, 401, 404, 422, 500, 503],
    ),
    (
        "post",
        "/apps/{id}/messages",
        &[201, 400, 401, 404, 413, 415, 422, 500, 503],
    ),
    ("get", "/admin/apps", &[200, 401, 500]),
    (
        "post",
        "/admin/apps",
        &[201, 400, 401, 404, 409, 413, 422, 500],
    ),
    ("get", "/admin/apps/{id}", &[200, 401, 404, 500]),
    ("delete", "/admin/apps/{id}", &[200, 400, 401, 404, 500]),
    (
        "post",
        "/admin/apps/{id}/rollback",
        &[200, 401, 404, 409, 500],
    ),
    (
        "put",
        "/admin/apps/{id}/developer-key",
        &[200, 400, 401, 404, 413, 415, 422, 500],
    ),
    ("get", "/admin/trust", &[200, 401, 500]),
    ("post", "/admin/trust", &[201, 400, 401, 413, 415, 500]),
    ("delete", "/admin/trust/{key}", &[200, 400, 401, 404, 500]),
    ("get", "/admin/users", &[200, 401, 500]),
    (
        "post",
        "/admin/users",
        &[201, 400, 401, 409, 413, 415, 422, 500],
    ),
    (
        "post",
        "/admin/users/{handle}/verify",
        &[200, 400, 401, 404, 413, 415, 422, 500],
    ),
    ("get", "/admin/host-keys", &[200, 401, 500]),
    ("get", "/metrics", &[200, 401, 500]),
    ("post", "/admin/host-keys/rotate", &[200, 401, 500]),
    (
        "post",
        "/admin/wallet/topup",
        &[200, 400, 401, 404, 409, 413, 415, 422, 500, 503],
    ),
    (
        "post",
        "/admin/wallet/withdraw",
        &[200, 400, 401, 404, 409, 413, 415, 422, 500, 503],
    ),
    (
        "get",
        "/admin/wallet/users/{handle}",
        &[200, 401, 404, 500, 503],
    ),
    ("get", "/admin/wallet/merchants", &[200, 401, 500, 503]),
    ("get", "/admin/wallet/audit", &[200, 401, 500, 503]),
    (
        "get",
        "/admin/wallet/payments/{id}",
        &[200, 401, 404, 500, 503],
    ),
    (
        "post",
        "/admin/wallet/payments/{id}/refund",
        &[200, 400, 401, 404, 409, 413, 415, 422, 500, 503],
    ),
    (
        "post",
        "/admin/wallet/payments/{id}/capture",
        &[200, 400, 401, 404, 409, 410, 413, 415, 422, 500, 503],
    ),
    (
        "post",
        "/admin/wallet/payments/{id}/void",
        &[200, 400, 401, 404, 409, 422, 500, 503],
    ),
];

#[test]
fn every_status_a_handler_sends_is_documented() -> anyhow::Result<()> {
    let (_s, doc) = server()?;
    let mut missing = Vec::new();
    for (method, path, statuses) in SENT {
        let op = operation(&doc, method, path);
        let have = documented(op);
        for status in *statuses {
            if !have.contains(&status.to_string()) {
                missing.push(format!("{} {path} {status}", method.to_uppercase()));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
    // The app's own answer, with any status, is the calls' default.
    for path in ["/apps/{id}/call", "/apps/{id}/call/{path}"] {
        assert!(operation(&doc, "get", path)["responses"]["default"].is_object());
    }
    // Every route the document has is in the table, so a new one is checked too.
    for (path, method, _) in operations(&doc) {
        assert!(
            SENT.iter().any(|(m, p, _)| *m == method && *p == path)
                || path.starts_with("/apps/{id}/call"),
            "{method} {path} is not in the table of sent statuses"
        );
    }
    Ok(())
}

/// Checks `r` against the document's responses of `op`: its status is
/// documented, errors are problem+json with the schema's fields, and it
/// carries `x-request-id`.
fn conforms(what: &str, op: &Value, r: &Reply) -> Result<(), String> {
    let have = documented(op);
    if !have.contains(&r.status.to_string()) && !have.contains("default") {
        return Err(format!(
            "{what}: {} is not documented ({have:?}): {}",
            r.status, r.body
        ));
    }
    if r.status >= 400 {
        if !r.content_type.starts_with("application/problem+json") {
            return Err(format!("{what}: {} as {}", r.status, r.content_type));
        }
        let body = r.json();
        for field in ["type", "title", "status", "detail"] {
            if body.get(field).is_none() {
                return Err(format!("{what}: no `{field}` in {}", r.body));
            }
        }
    }
    if r.header("x-request-id").is_none() {
        return Err(format!("{what}: no x-request-id"));
    }
    Ok(())
}

#[test]
fn the_answers_every_route_gives_to_bad_requests_are_documented() -> anyhow::Result<()> {
    let (s, doc) = server()?;
    let ann = login(&s.base, "ann")?;
    let mut wrong = Vec::new();
    for (path, method, op) in operations(&doc) {
        let url = s.url(
            &path
                .replace("{id}", "nope")
                .replace("{path}", "nope")
                .replace("{scope}", "nope")
                .replace("{topic}", "nope")
                .replace("{handle}", "nope")
                .replace("{key}", "nope"),
        );
        let m = method.to_uppercase();
        let schemes: Vec<String> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|o| o.keys().cloned())
            .collect();
        let token = if schemes.iter().any(|s| s == "admin") {
            Some(s.admin.as_str())
        } else if schemes.iter().any(|s| s == "bearer") {
            Some(ann.as_str())
        } else {
            None
        };
        let mut check = |what: &str, r: anyhow::Result<Reply>| match r {
            Ok(r) => {
                if let Err(e) = conforms(&format!("{m} {path} {what}"), &op, &r) {
                    wrong.push(e);
                }
            }
            Err(e) => wrong.push(format!("{m} {path} {what}: {e}")),
        };
        if token.is_some() {
            check("without a token", send(&m, &url, None, None));
            check(
                "with a forged token",
                send(&m, &url, Some("forged-token-0000000000"), None),
            );
        }
        let json_body = op["requestBody"]["content"]
            .get("application/json")
            .is_some();
        if json_body {
            check(
                "with broken JSON",
                send(&m, &url, token, Some((b"{not json", "application/json"))),
            );
            check(
                "with a form body",
                send(&m, &url, token, Some((b"a=1", "text/plain"))),
            );
            let big = vec![b' '; 65 * 1024];
            check(
                "with a body over the JSON limit",
                send(&m, &url, token, Some((&big, "application/json"))),
            );
        }
        let has_query = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["in"] == "query");
        if has_query && !path.starts_with("/admin/apps") {
            check(
                "with an unknown query parameter",
                send(&m, &format!("{url}?colour=red"), token, None),
            );
        }
        for p in op["parameters"].as_array().into_iter().flatten() {
            let schema = resolve(&doc, &p["schema"]);
            if p["in"] == "query" && (schema["type"] == "integer" || schema["type"] == "boolean") {
                let name = p["name"].as_str().unwrap_or("");
                check(
                    &format!("with {name}=x"),
                    send_with(&m, &format!("{url}?{name}=x"), token, None, &[]),
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}
