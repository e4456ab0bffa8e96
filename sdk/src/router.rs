//! A small router: dispatch on method and path patterns with `{name}`
//! parameters and a trailing `{*rest}` wildcard.

use crate::http::{Error, Request, Response};

/// A route handler. Errors become JSON error responses.
pub type Handler = fn(&Request) -> Result<Response, Error>;

struct Route {
    method: &'static str,
    pattern: Vec<Segment>,
    /// How specific the pattern is, compared lexicographically: per
    /// segment a literal 2, a `{param}` 1, a `{*rest}` 0, and a pattern
    /// without a wildcard ends in 3 (so `/files` beats `/files/{*rest}`).
    rank: Vec<u8>,
    handler: Handler,
}

enum Segment {
    Literal(&'static str),
    Param(&'static str),
    Rest(&'static str),
}

/// Routes requests to handlers by method and path.
///
/// ```
/// use superapp_sdk::{Error, Request, Response, Router};
///
/// fn show_item(req: &Request) -> Result<Response, Error> {
///     Ok(Response::text(format!("item {}", req.param("id").unwrap_or(""))))
/// }
/// fn create_item(_req: &Request) -> Result<Response, Error> {
///     Ok(Response::text("created").with_status(201))
/// }
///
/// let router = Router::new()
///     .get("/items/{id}", show_item)
///     .post("/items", create_item);
/// assert_eq!(router.handle(Request::new("GET", "/items/7", "")).body_text(), "item 7");
/// assert_eq!(router.handle(Request::new("POST", "/items", "")).status, 201);
/// assert_eq!(router.handle(Request::new("DELETE", "/items", "")).status, 405);
/// ```
///
/// The most specific pattern wins, whatever the order of registration: at
/// the first segment where two matching patterns differ, a literal beats a
/// `{param}`, which beats a `{*rest}` (`/rides/open` beats `/rides/{id}`).
/// As in axum, the path is chosen first, then the method: an unknown path
/// answers `404 not-found`; a path whose most specific pattern has no route
/// for the method answers `405 method-not-allowed`.
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
            .collect::<Vec<_>>();
        let mut rank: Vec<u8> = pattern
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 2,
                Segment::Param(_) => 1,
                Segment::Rest(_) => 0,
            })
            .collect();
        if !matches!(pattern.last(), Some(Segment::Rest(_))) {
            rank.push(3);
        }
        self.routes.push(Route {
            method,
            pattern,
            rank,
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

    /// Dispatches the request to the route of the most specific matching
    /// pattern that takes its method.
    pub fn handle(&self, mut req: Request) -> Response {
        let segments: Vec<&str> = req.path().split('/').filter(|s| !s.is_empty()).collect();
        let matching: Vec<(&Route, Vec<(String, String)>)> = self
            .routes
            .iter()
            .filter_map(|r| match_path(&r.pattern, &segments).map(|p| (r, p)))
            .collect();
        let Some(best) = matching.iter().map(|(r, _)| &r.rank).max() else {
            return Error::not_found(format!("no route for {}", req.path())).into();
        };
        // Patterns of one rank that match one path have the same literals:
        // they are the same path, registered once per method.
        let chosen = matching
            .iter()
            .find(|(r, _)| &r.rank == best && r.method.eq_ignore_ascii_case(req.method()));
        match chosen {
            Some((route, params)) => {
                req.set_params(params.clone());
                (route.handler)(&req).unwrap_or_else(Response::from)
            }
            None => Error::new(
                405,
                "method-not-allowed",
                format!("{} is not allowed on {}", req.method(), req.path()),
            )
            .into(),
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

    fn named(name: &'static str) -> Handler {
        match name {
            "open" => |_| Ok(Response::text("open")),
            "id" => |r| {
                Ok(Response::text(format!(
                    "id {}",
                    r.param("id").unwrap_or("")
                )))
            },
            "edit" => |_| Ok(Response::text("edit")),
            "rest" => |r| {
                Ok(Response::text(format!(
                    "rest {}",
                    r.param("rest").unwrap_or("")
                )))
            },
            _ => |_| Ok(Response::text("exact")),
        }
    }

    #[test]
    fn the_most_specific_route_wins_whatever_the_order_of_registration() {
        let forwards = Router::new()
            .get("/rides/open", named("open"))
            .get("/rides/{id}", named("id"))
            .get("/rides/{id}/edit", named("edit"))
            .get("/rides/{*rest}", named("rest"))
            .get("/files", named("exact"))
            .get("/files/{*rest}", named("rest"));
        let backwards = Router::new()
            .get("/files/{*rest}", named("rest"))
            .get("/files", named("exact"))
            .get("/rides/{*rest}", named("rest"))
            .get("/rides/{id}/edit", named("edit"))
            .get("/rides/{id}", named("id"))
            .get("/rides/open", named("open"));
        for r in [forwards, backwards] {
            let answer = |path: &str| r.handle(Request::new("GET", path, "")).body_text();
            assert_eq!(answer("/rides/open"), "open");
            assert_eq!(answer("/rides/r7"), "id r7");
            assert_eq!(answer("/rides/r7/edit"), "edit");
            assert_eq!(answer("/rides/r7/seats/2"), "rest r7/seats/2");
            assert_eq!(answer("/files"), "exact");
            assert_eq!(answer("/files/a/b"), "rest a/b");
        }
    }

    #[test]
    fn a_path_is_chosen_before_its_method_as_in_axum() {
        let r = Router::new()
            .get("/rides/{id}", named("id"))
            .post("/rides/open", named("open"));
        assert_eq!(
            r.handle(Request::new("POST", "/rides/open", ""))
                .body_text(),
            "open"
        );
        assert_eq!(
            r.handle(Request::new("GET", "/rides/open", "")).status,
            405,
            "/rides/open is its own path, which takes only POST"
        );
        assert_eq!(
            r.handle(Request::new("GET", "/rides/r1", "")).body_text(),
            "id r1"
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
