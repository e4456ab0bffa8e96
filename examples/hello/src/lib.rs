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
    let store = storage::app();
    let mut visits: Visits = store.get_json("visits")?.unwrap_or_default();
    visits.count += 1;
    store.set_json("visits", &visits)?;
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
