//! A small router: dispatch on method and path patterns with `{name}`
//! parameters and a trailing `{*rest}` wildcard.

use crate::http::{Error, Request, Response};

/// A route handler. Errors become JSON error responses.
pub type Handler = fn(&Request) -> Result<Response, Error>;

struct Route {
    method: &'static str,
    pattern: Vec<Segment>,
    handler: Handler,
}

enum Segment {
    Literal(&'static str),
    Param(&'static str),
    Rest(&'static str),
}

/// Routes requests to handlers by method and path.
///
/// ```ignore
/// Router::new()
///     .get("/items/{id}", show_item)
///     .post("/items", create_item)
///     .handle(req)
/// ```
///
/// An unknown path answers `404 not-found`; a known path with another
/// method answers `405 method-not-allowed`.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds a route for any method name (`"PATCH"`, …).
    pub fn route(mut self, method: &'static str, pattern: &'static str, handler: Handler) -> Self {
        let pattern = pattern
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if let Some(name) = s.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
                    Segment::Rest(name)
                } else if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Segment::Param(name)
                } else {
                    Segment::Literal(s)
                }
            })
            .collect();
        self.routes.push(Route {
            method,
            pattern,
            handler,
        });
        self
    }

    /// Adds a `GET` route.
    pub fn get(self, pattern: &'static str, handler: Handler) -> Self {
        self.route("GET", pattern, handler)
    }
    /// Adds a `POST` route.
    pub fn post(self, pattern: &'static str, handler: Handler) -> Self {
        self.route("POST", pattern, handler)
    }
    /// Adds a `PUT` route.
    pub fn put(self, pattern: &'static str, handler: Handler) -> Self {
        self.route("PUT", pattern, handler)
    }
    /// Adds a `DELETE` route.
    pub fn delete(self, pattern: &'static str, handler: Handler) -> Self {
        self.route("DELETE", pattern, handler)
    }

    /// Dispatches the request to the first matching route.
    pub fn handle(&self, mut req: Request) -> Response {
        let segments: Vec<&str> = req.path().split('/').filter(|s| !s.is_empty()).collect();
        let mut path_matched = false;
        for route in &self.routes {
            let Some(params) = match_path(&route.pattern, &segments) else {
                continue;
            };
            path_matched = true;
            if !route.method.eq_ignore_ascii_case(req.method()) {
                continue;
            }
            req.set_params(params);
            return (route.handler)(&req).unwrap_or_else(Response::from);
        }
        if path_matched {
            Error::new(
                405,
                "method-not-allowed",
                format!("{} is not allowed on {}", req.method(), req.path()),
            )
            .into()
        } else {
            Error::not_found(format!("no route for {}", req.path())).into()
        }
    }
}

fn match_path(pattern: &[Segment], segments: &[&str]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            Segment::Rest(name) => {
                params.push((name.to_string(), segments.get(i..)?.join("/")));
                return Some(params);
            }
            Segment::Literal(lit) => {
                if segments.get(i) != Some(lit) {
                    return None;
                }
            }
            Segment::Param(name) => params.push((name.to_string(), segments.get(i)?.to_string())),
        }
    }
    (pattern.len() == segments.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(req: &Request) -> Result<Response, Error> {
        Ok(Response::text(format!(
            "id={:?} rest={:?}",
            req.param("id"),
            req.param("rest")
        )))
    }

    fn router() -> Router {
        Router::new()
            .get("/", |_| Ok(Response::text("root")))
            .get("/items/{id}", echo)
            .get("/files/{*rest}", echo)
    }

    #[test]
    fn params_and_wildcards_are_captured() {
        let r = router();
        assert_eq!(r.handle(Request::new("GET", "/", "")).body_text(), "root");
        assert_eq!(
            r.handle(Request::new("GET", "/items/42", "")).body_text(),
            "id=Some(\"42\") rest=None"
        );
        assert_eq!(
            r.handle(Request::new("GET", "/files/a/b.txt", ""))
                .body_text(),
            "id=None rest=Some(\"a/b.txt\")"
        );
    }

    #[test]
    fn unknown_path_is_404_and_wrong_method_is_405() {
        let r = router();
        assert_eq!(r.handle(Request::new("GET", "/nope", "")).status, 404);
        assert_eq!(r.handle(Request::new("POST", "/items/1", "")).status, 405);
        assert_eq!(
            r.handle(Request::new("GET", "/items/1/extra", "")).status,
            404
        );
    }
}
