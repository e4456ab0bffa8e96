//! The tutorial mini-app: greets people (by name, once they grant the
//! `profile` scope), counts visits in app storage and keeps a private note
//! per user in user storage.

use serde::{Deserialize, Serialize};
use superapp_sdk::identity::{self, ProfileError};
use superapp_sdk::{App, Error, Request, Response, Router, context, log, storage};

struct Hello;

impl App for Hello {
    fn handle(req: Request) -> Response {
        Router::new()
            .get("/", |_| {
                Ok(Response::text("Hello from a Superapp mini-app!\n"))
            })
            .get("/greet/{name}", greet)
            .get("/whoami", whoami)
            .post("/visits", visit)
            .get("/visits", visits)
            .get("/note", get_note)
            .put("/note", put_note)
            .handle(req)
    }
}

fn greet(req: &Request) -> Result<Response, Error> {
    let name = req.param("name").unwrap_or("stranger");
    Ok(Response::json(
        &serde_json::json!({ "greeting": format!("Hello, {name}!") }),
    ))
}

/// Who the app sees: ids always, the profile only if the person granted it.
fn whoami(_: &Request) -> Result<Response, Error> {
    let ctx = context::current();
    let (profile, withheld) = match identity::profile() {
        Ok(p) => (Some(p), None),
        Err(ProfileError::NotGranted) => (None, Some("not-granted")),
        Err(ProfileError::Refused) => (None, Some("refused")),
        Err(ProfileError::NoUser) => (None, Some("no-user")),
        Err(ProfileError::Internal(_)) => (None, Some("host-error")),
    };
    Ok(Response::json(&serde_json::json!({
        "app": ctx.app_id,
        "open_id": ctx.open_id,
        "union_id": ctx.union_id,
        "scene": ctx.scene,
        "profile": profile,
        "profile_withheld": withheld,
    })))
}

#[derive(Serialize, Deserialize, Default)]
struct Visits {
    count: u64,
}

fn visit(_: &Request) -> Result<Response, Error> {
    // Swapped in: concurrent visits are all counted.
    let visits = storage::app()
        .update_json::<Visits>("visits", |v| {
            let mut v = v.unwrap_or_default();
            v.count += 1;
            Ok(Some(v))
        })?
        .unwrap_or_default();
    log::info(&format!("visit number {}", visits.count));
    Ok(Response::json(&visits))
}

fn visits(_: &Request) -> Result<Response, Error> {
    let visits: Visits = storage::app().get_json("visits")?.unwrap_or_default();
    Ok(Response::json(&visits))
}

#[derive(Serialize, Deserialize)]
struct Note {
    text: String,
}

fn get_note(_: &Request) -> Result<Response, Error> {
    match storage::user().get_json::<Note>("note")? {
        Some(note) => Ok(Response::json(&note)),
        None => Err(Error::not_found("you have no note yet")),
    }
}

fn put_note(req: &Request) -> Result<Response, Error> {
    let note: Note = req.json()?;
    if note.text.chars().count() > 280 {
        return Err(Error::bad_request(
            "note-too-long",
            "a note holds at most 280 characters",
        ));
    }
    storage::user().set_json("note", &note)?;
    Ok(Response::json(&note))
}

superapp_sdk::export!(Hello);

/// Unit tests run natively against the SDK's mock host: `cargo test -p hello`.
#[cfg(test)]
mod tests {
    use super::Hello;
    use superapp_sdk::mock::{Consent, MockHost};

    #[test]
    fn visits_are_counted_for_everyone_and_notes_are_private() {
        let host = MockHost::<Hello>::new("hello");
        let (ann, bob) = (host.person("ann"), host.person("bob"));
        host.post(&ann, "/visits", &serde_json::json!({}));
        let r = host.post(&bob, "/visits", &serde_json::json!({}));
        assert_eq!(r.body_text(), r#"{"count":2}"#);
        host.put(&ann, "/note", &serde_json::json!({"text": "buy tea"}));
        assert_eq!(host.get(&ann, "/note").body_text(), r#"{"text":"buy tea"}"#);
        assert_eq!(host.get(&bob, "/note").status, 404);
        assert_eq!(
            host.logs()[1],
            ("info".to_string(), "visit number 2".to_string())
        );
    }

    #[test]
    fn the_profile_shows_only_once_granted() {
        let host = MockHost::<Hello>::new("hello");
        let ann = host.person("ann");
        let before = host.get(&ann, "/whoami").body_text();
        assert!(
            before.contains(r#""profile_withheld":"not-granted""#),
            "{before}"
        );
        host.set_consent(&ann, Consent::Granted);
        let after = host.get(&ann, "/whoami").body_text();
        assert!(after.contains(r#""display_name":"ann""#), "{after}");
    }
}
