//! The ride-hailing mini-app: a rider asks for a ride and the fare
//! estimate is held on their wallet (a pre-authorization they confirm in
//! the host); registered drivers see open requests and accept one; the
//! trip starts and ends; the actual fare is captured (never above the
//! hold, the rest returns to the rider) and the driver is paid their share
//! from the app's merchant balance; cancelling is free until a driver
//! accepts, then costs a fee that goes to the driver; both rate each other.
//!
//! Routes (amounts in minor units, distances in km):
//! - `POST /estimate` `{pickup:{lat,lng}, dropoff:{lat,lng}}` → distance and fare
//! - `POST /rides` `{pickup, dropoff, key?}` → 201: the ride and the hold to
//!   confirm at `/me/payments/{id}/confirm`
//! - `GET /rides` (yours, as rider or driver), `GET /rides/{id}`; each ride
//!   says the caller's `role` in it (`rider`, `driver`, or null for a driver
//!   looking at an open request)
//! - `POST /rides/{id}/cancel` (rider: free before a driver accepts, then
//!   the fee; driver: gives the ride back to the queue)
//! - `POST /rides/{id}/rate` `{stars: 1..5, comment?}` after the trip, once each side
//! - drivers: `POST /drivers` `{name, car, plate}`, `GET /drivers/me`,
//!   `GET /rides/open`, `POST /rides/{id}/accept`, `POST /rides/{id}/start`,
//!   `POST /rides/{id}/complete` `{distance_km}`

use serde::{Deserialize, Serialize};
use serde_json::json;
use superapp_sdk::messaging::{self, MessagingError};
use superapp_sdk::wallet::{self, PaymentMode};
use superapp_sdk::{
    App, Error, Event, EventBody, Request, Response, Router, WalletEventKind, context, storage,
};

struct Rides;

impl App for Rides {
    fn handle(req: Request) -> Response {
        Router::new()
            .get("/", info)
            .post("/estimate", estimate)
            .post("/drivers", register_driver)
            .get("/drivers/me", my_driver)
            .get("/rides/open", open_rides)
            .get("/rides", my_rides)
            .post("/rides", request_ride)
            .get("/rides/{id}", show_ride)
            .post("/rides/{id}/accept", accept)
            .post("/rides/{id}/start", start)
            .post("/rides/{id}/complete", complete)
            .post("/rides/{id}/cancel", cancel)
            .post("/rides/{id}/rate", rate)
            .handle(req)
    }

    fn on_event(event: Event) -> Result<(), String> {
        handle_event(&event).map_err(|e| e.to_string())
    }
}

superapp_sdk::export!(Rides);

// ---- fares ------------------------------------------------------------

/// Flag fall, per km, the least a ride costs, and what a rider pays for
/// cancelling after a driver accepted.
const BASE_FARE: u64 = 1000;
const PER_KM: u64 = 250;
const MIN_FARE: u64 = 1500;
const CANCEL_FEE: u64 = 500;
/// Roads are longer than the straight line.
const ROAD_FACTOR: f64 = 1.3;
/// The driver's share of every fare and fee, in percent; the app keeps the rest.
const DRIVER_SHARE: u64 = 80;
const MAX_TRIP_KM: f64 = 500.0;

fn fare(km: f64) -> u64 {
    // Whole tenths of a km, so the fare does not depend on float noise.
    let tenths = (km * 10.0).round() as u64;
    (BASE_FARE + PER_KM * tenths / 10).max(MIN_FARE)
}

fn driver_share(amount: u64) -> u64 {
    amount * DRIVER_SHARE / 100
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
#[serde(deny_unknown_fields)]
struct Place {
    lat: f64,
    lng: f64,
}

impl Place {
    fn check(&self, field: &str) -> Result<(), Error> {
        if !(-90.0..=90.0).contains(&self.lat) || !(-180.0..=180.0).contains(&self.lng) {
            return Err(Error::bad_request(
                format!("invalid-{field}"),
                format!("the {field} needs lat in -90..90 and lng in -180..180"),
            ));
        }
        Ok(())
    }
}

/// Great-circle distance in km.
fn haversine(a: Place, b: Place) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dla = la2 - la1;
    let dlo = (b.lng - a.lng).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Trip {
    pickup: Place,
    dropoff: Place,
    key: Option<String>,
}

/// (road km, estimated fare) of a trip, after checking it.
fn quote(t: &Trip) -> Result<(f64, u64), Error> {
    t.pickup.check("pickup")?;
    t.dropoff.check("dropoff")?;
    let km = (haversine(t.pickup, t.dropoff) * ROAD_FACTOR * 10.0).round() / 10.0;
    if km < 0.1 {
        return Err(Error::bad_request(
            "invalid-dropoff",
            "the drop-off is where the pickup is",
        ));
    }
    if km > MAX_TRIP_KM {
        return Err(Error::bad_request(
            "invalid-dropoff",
            format!("rides go up to {MAX_TRIP_KM} km, this one is {km} km"),
        ));
    }
    Ok((km, fare(km)))
}

// ---- data -------------------------------------------------------------

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
enum Status {
    /// Waiting for the rider to confirm the hold in the host.
    AwaitingPayment,
    /// Held; open for drivers.
    Requested,
    Accepted,
    InProgress,
    Completed,
    Cancelled,
}

#[derive(Serialize, Deserialize, Clone)]
struct Rating {
    stars: u8,
    comment: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct Ride {
    id: String,
    rider: String,
    pickup: Place,
    dropoff: Place,
    estimate_km: f64,
    /// The estimate, held on the rider's wallet.
    held: u64,
    payment: String,
    status: Status,
    driver: Option<String>,
    distance_km: Option<f64>,
    /// What the rider paid in the end: the fare, or the cancellation fee.
    charged: u64,
    driver_paid: u64,
    cancelled_by: Option<String>,
    rider_rating: Option<Rating>,
    driver_rating: Option<Rating>,
}

impl Ride {
    fn view(&self) -> serde_json::Value {
        let driver = self
            .driver
            .as_deref()
            .and_then(|d| driver(d).ok().flatten())
            .map(|d| json!({"name": d.name, "car": d.car, "plate": d.plate, "rating": average(&d.open_id)}));
        // Which side the caller is on, so a client knows whose rating to ask for.
        let me = context::open_id();
        let role = if me.as_deref() == Some(self.rider.as_str()) {
            Some("rider")
        } else if me.is_some() && me == self.driver {
            Some("driver")
        } else {
            None
        };
        json!({
            "id": self.id,
            "pickup": self.pickup,
            "dropoff": self.dropoff,
            "estimate_km": self.estimate_km,
            "held": self.held,
            "payment": self.payment,
            "status": self.status,
            "driver": driver,
            "distance_km": self.distance_km,
            "charged": self.charged,
            "cancelled_by": self.cancelled_by,
            "role": role,
            "rider_rating": average(&self.rider),
            "rated_by_rider": self.rider_rating.is_some(),
            "rated_by_driver": self.driver_rating.is_some(),
            "confirm_payment": (self.status == Status::AwaitingPayment)
                .then(|| format!("/me/payments/{}/confirm", self.payment)),
        })
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct Driver {
    open_id: String,
    name: String,
    car: String,
    plate: String,
    /// The ride they are on, if any.
    current: Option<String>,
    earned: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct Stars {
    sum: u64,
    count: u64,
}

// ---- helpers ----------------------------------------------------------

fn me() -> Result<String, Error> {
    context::open_id().ok_or_else(Error::sign_in_required)
}

fn driver(open_id: &str) -> Result<Option<Driver>, Error> {
    storage::app().get_json::<Driver>(&format!("driver:{open_id}"))
}

fn me_as_driver() -> Result<Driver, Error> {
    driver(&me()?)?.ok_or_else(|| {
        Error::new(
            403,
            "not-a-driver",
            "register as a driver first: POST /drivers",
        )
    })
}

fn load(id: &str) -> Result<Ride, Error> {
    storage::app()
        .get_json::<Ride>(&format!("ride:{id}"))?
        .ok_or_else(|| Error::not_found(format!("no ride `{id}`")))
}

fn save(r: &Ride) -> Result<(), Error> {
    storage::app().set_json(&format!("ride:{}", r.id), r)?;
    index_open(r)
}

/// Changes ride `id` safely against concurrent calls (the rider, drivers
/// and the host's events write rides): `change` runs on a fresh copy, again
/// if someone wrote in between; its error leaves the ride as it is.
fn change_ride(
    id: &str,
    mut change: impl FnMut(&mut Ride) -> Result<(), Error>,
) -> Result<Ride, Error> {
    let r = storage::app()
        .update_json::<Ride>(&format!("ride:{id}"), |r| {
            let mut r = r.ok_or_else(|| Error::not_found(format!("no ride `{id}`")))?;
            change(&mut r)?;
            Ok(Some(r))
        })?
        .ok_or_else(|| Error::not_found(format!("no ride `{id}`")))?;
    index_open(&r)?;
    Ok(r)
}

/// Sets which ride a driver is on, only over `from` (their ride now).
fn set_current(driver_id: &str, from: Option<&str>, to: Option<&str>) -> Result<Driver, Error> {
    storage::app()
        .update_json::<Driver>(&format!("driver:{driver_id}"), |d| {
            let mut d = d.ok_or_else(|| {
                Error::new(
                    403,
                    "not-a-driver",
                    "register as a driver first: POST /drivers",
                )
            })?;
            if d.current.as_deref() != from {
                return Err(Error::new(
                    409,
                    "driver-busy",
                    format!(
                        "finish ride {} first",
                        d.current.clone().unwrap_or_default()
                    ),
                ));
            }
            d.current = to.map(str::to_string);
            Ok(Some(d))
        })?
        .ok_or_else(|| Error::internal("driver vanished"))
}

/// Adds to a driver's earnings.
fn credit(driver_id: &str, amount: u64) -> Result<(), Error> {
    storage::app().update_json::<Driver>(&format!("driver:{driver_id}"), |d| {
        Ok(d.map(|mut d| {
            d.earned += amount;
            d
        }))
    })?;
    Ok(())
}

/// Keeps the index of open requests in step with a ride's status.
fn index_open(r: &Ride) -> Result<(), Error> {
    let open = format!("open:{}", r.id);
    if r.status == Status::Requested {
        storage::app().set_json(&open, &true)
    } else {
        storage::app().delete(&open).map(|_| ())?;
        Ok(())
    }
}

/// A ride the caller may see: their own, one they drive, or an open
/// request when they are a driver.
fn visible(req: &Request) -> Result<(Ride, String), Error> {
    let id = req.param("id").unwrap_or_default();
    let who = me()?;
    let r = load(id)?;
    let allowed = r.rider == who
        || r.driver.as_deref() == Some(who.as_str())
        || (r.status == Status::Requested && driver(&who)?.is_some());
    if !allowed {
        return Err(Error::not_found(format!("no ride `{id}`")));
    }
    Ok((r, who))
}

fn wrong_state(r: &Ride, action: &str) -> Error {
    Error::new(
        409,
        "wrong-state",
        format!("ride {} is {:?}: cannot {action}", r.id, r.status),
    )
}

fn average(open_id: &str) -> Option<f64> {
    let s = storage::app()
        .get_json::<Stars>(&format!("stars:{open_id}"))
        .ok()
        .flatten()?;
    (s.count > 0).then(|| (s.sum as f64 / s.count as f64 * 10.0).round() / 10.0)
}

/// Tells the rider, if they subscribed to ride news.
fn tell(open_id: &str, text: &str) {
    match messaging::notify(open_id, "ride-status", text) {
        Ok(_) | Err(MessagingError::NoSubscription(_)) => {}
        Err(e) => superapp_sdk::log::warn(&format!("ride notice: {e:?}")),
    }
}

fn check_text(field: &str, text: &str, max: usize) -> Result<String, Error> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(Error::bad_request(
            format!("invalid-{field}"),
            format!("the {field} must be 1 to {max} characters"),
        ));
    }
    Ok(t.to_string())
}

// ---- routes -----------------------------------------------------------

fn info(_: &Request) -> Result<Response, Error> {
    Ok(Response::json(&json!({
        "base_fare": BASE_FARE,
        "per_km": PER_KM,
        "min_fare": MIN_FARE,
        "cancel_fee_after_accept": CANCEL_FEE,
        "driver_share_percent": DRIVER_SHARE,
    })))
}

fn estimate(req: &Request) -> Result<Response, Error> {
    let t: Trip = req.json()?;
    let (km, fare) = quote(&t)?;
    Ok(Response::json(&json!({ "distance_km": km, "fare": fare })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDriver {
    name: String,
    car: String,
    plate: String,
}

fn register_driver(req: &Request) -> Result<Response, Error> {
    let who = me()?;
    let n: NewDriver = req.json()?;
    let (name, car, plate) = (
        check_text("name", &n.name, 40)?,
        check_text("car", &n.car, 40)?,
        check_text("plate", &n.plate, 16)?,
    );
    // Re-registering updates the details and keeps the rest (swapped, so
    // a ride accepted meanwhile is not lost).
    let d = storage::app()
        .update_json::<Driver>(&format!("driver:{who}"), |d| {
            Ok(Some(match d {
                Some(d) => Driver {
                    name: name.clone(),
                    car: car.clone(),
                    plate: plate.clone(),
                    ..d
                },
                None => Driver {
                    open_id: who.clone(),
                    name: name.clone(),
                    car: car.clone(),
                    plate: plate.clone(),
                    current: None,
                    earned: 0,
                },
            }))
        })?
        .ok_or_else(|| Error::internal("driver vanished"))?;
    Ok(Response::json(&d).with_status(201))
}

fn my_driver(_: &Request) -> Result<Response, Error> {
    let d = me_as_driver()?;
    let rating = average(&d.open_id);
    let mut v = json!(d);
    v["rating"] = json!(rating);
    Ok(Response::json(&v))
}

fn request_ride(req: &Request) -> Result<Response, Error> {
    let rider = me()?;
    let t: Trip = req.json()?;
    let (km, held) = quote(&t)?;
    let user = storage::user();
    if let Some(key) = &t.key {
        check_text("key", key, 64)?;
        if let Some(id) = user.get_json::<String>(&format!("request:{key}"))? {
            return Ok(Response::json(&load(&id)?.view()).with_status(201));
        }
    }
    // Swapped, so two requests at once never share a number.
    let n = user
        .update_json::<u64>("rides-made", |n| Ok(Some(n.unwrap_or(0) + 1)))?
        .unwrap_or(1);
    let who: String = rider
        .trim_start_matches("ou_")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    let id = format!("r{n}-{who}");
    if let Some(key) = &t.key {
        // Two concurrent retries: only one may ask for the hold.
        let claim = serde_json::to_vec(&id).unwrap_or_default();
        if !user.compare_and_swap(&format!("request:{key}"), None, Some(&claim))? {
            return Err(Error::new(
                409,
                "request-in-progress",
                format!("a request with key `{key}` is running; ask again for its ride"),
            ));
        }
    }
    let payment = match wallet::request_payment(held, &format!("ride {id}"), PaymentMode::Hold, &id)
    {
        Ok(p) => p,
        Err(e) => {
            if let Some(key) = &t.key {
                // Nothing was asked: the key is free for a retry.
                user.delete(&format!("request:{key}"))?;
            }
            return Err(e.into());
        }
    };
    let ride = Ride {
        id: id.clone(),
        rider,
        pickup: t.pickup,
        dropoff: t.dropoff,
        estimate_km: km,
        held,
        payment: payment.id.clone(),
        status: Status::AwaitingPayment,
        driver: None,
        distance_km: None,
        charged: 0,
        driver_paid: 0,
        cancelled_by: None,
        rider_rating: None,
        driver_rating: None,
    };
    save(&ride)?;
    storage::app().set_json(&format!("payment:{}", payment.id), &id)?;
    user.set_json(&format!("mine:{id}"), &true)?;
    Ok(Response::json(&ride.view()).with_status(201))
}

fn my_rides(_: &Request) -> Result<Response, Error> {
    me()?;
    let mut out = Vec::new();
    for k in storage::user().list("mine:")? {
        out.push(load(k.trim_start_matches("mine:"))?.view());
    }
    Ok(Response::json(&out))
}

fn show_ride(req: &Request) -> Result<Response, Error> {
    Ok(Response::json(&visible(req)?.0.view()))
}

fn open_rides(_: &Request) -> Result<Response, Error> {
    me_as_driver()?;
    let mut out = Vec::new();
    for k in storage::app().list("open:")? {
        let r = load(k.trim_start_matches("open:"))?;
        out.push(json!({
            "id": r.id,
            "pickup": r.pickup,
            "dropoff": r.dropoff,
            "estimate_km": r.estimate_km,
            "fare": r.held,
            "you_earn": driver_share(r.held),
            "rider_rating": average(&r.rider),
        }));
    }
    Ok(Response::json(&out))
}

fn accept(req: &Request) -> Result<Response, Error> {
    let d = me_as_driver()?;
    let (r, who) = visible(req)?;
    if r.rider == who {
        return Err(Error::new(
            409,
            "own-ride",
            "a driver cannot take their own ride",
        ));
    }
    // The driver first, then the ride, each swapped: two drivers racing for
    // one ride, or one driver for two, leave exactly one pairing.
    set_current(&who, None, Some(&r.id))?;
    let taken = change_ride(&r.id, |r| {
        if r.status != Status::Requested {
            return Err(wrong_state(r, "accept it"));
        }
        r.status = Status::Accepted;
        r.driver = Some(who.clone());
        Ok(())
    });
    let r = match taken {
        Ok(r) => r,
        Err(e) => {
            set_current(&who, Some(&r.id), None)?;
            return Err(e);
        }
    };
    storage::user().set_json(&format!("mine:{}", r.id), &true)?;
    tell(
        &r.rider,
        &format!("{} is coming in a {} ({}).", d.name, d.car, d.plate),
    );
    Ok(Response::json(&r.view()))
}

/// The caller's ride as its driver.
fn driving(req: &Request) -> Result<(Ride, Driver), Error> {
    let d = me_as_driver()?;
    let (r, who) = visible(req)?;
    if r.driver.as_deref() != Some(who.as_str()) {
        return Err(Error::new(
            403,
            "not-your-ride",
            "you are not driving this ride",
        ));
    }
    Ok((r, d))
}

fn start(req: &Request) -> Result<Response, Error> {
    let (r, _) = driving(req)?;
    let r = change_ride(&r.id, |r| {
        if r.status != Status::Accepted {
            return Err(wrong_state(r, "start it"));
        }
        r.status = Status::InProgress;
        Ok(())
    })?;
    Ok(Response::json(&r.view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Done {
    distance_km: f64,
}

fn complete(req: &Request) -> Result<Response, Error> {
    let (r, d) = driving(req)?;
    let Done { distance_km } = req.json()?;
    if !(0.0..=MAX_TRIP_KM).contains(&distance_km) {
        return Err(Error::bad_request(
            "invalid-distance",
            format!("distance_km is 0 to {MAX_TRIP_KM}, not {distance_km}"),
        ));
    }
    if r.status != Status::InProgress {
        return Err(wrong_state(&r, "complete it"));
    }
    // Never above what the rider agreed to hold; the rest goes back to them.
    let charged = fare(distance_km).min(r.held);
    // Keys name the ride, so a retry after a failure captures and pays once.
    let p = wallet::capture(&r.payment, charged, &format!("{}:capture", r.id))?;
    let share = driver_share(p.captured);
    if share > 0 {
        wallet::pay_out(
            &d.open_id,
            share,
            &format!("ride {}", r.id),
            &format!("{}:driver", r.id),
        )?;
    }
    let mut first = false;
    let r = change_ride(&r.id, |r| {
        first = r.status == Status::InProgress;
        if first {
            r.status = Status::Completed;
            r.distance_km = Some(distance_km);
            r.charged = p.captured;
            r.driver_paid = share;
        }
        Ok(())
    })?;
    if first {
        set_current(&d.open_id, Some(&r.id), None)?;
        credit(&d.open_id, share)?;
        tell(
            &r.rider,
            &format!("You arrived. Fare {}; rate your driver.", p.captured),
        );
    }
    Ok(Response::json(&r.view()))
}

fn cancel(req: &Request) -> Result<Response, Error> {
    let (r, who) = visible(req)?;
    if r.driver.as_deref() == Some(who.as_str()) && r.rider != who {
        // The driver gives the ride back: the rider keeps waiting, free.
        let r = change_ride(&r.id, |r| {
            if r.status != Status::Accepted || r.driver.as_deref() != Some(who.as_str()) {
                return Err(wrong_state(r, "give it back"));
            }
            r.status = Status::Requested;
            r.driver = None;
            Ok(())
        })?;
        set_current(&who, Some(&r.id), None)?;
        tell(
            &r.rider,
            "Your driver could not come; we are finding another.",
        );
        return Ok(Response::json(&r.view()));
    }
    if r.rider != who {
        return Err(Error::not_found(format!("no ride `{}`", r.id)));
    }
    // The ride is cancelled first (swapped, so a driver accepting at the
    // same moment either wins or sees it cancelled), then settled.
    let mut was = Status::Cancelled;
    let r = change_ride(&r.id, |r| {
        was = r.status;
        match r.status {
            Status::AwaitingPayment | Status::Requested | Status::Accepted => {
                r.status = Status::Cancelled;
                r.cancelled_by = Some("rider".into());
                Ok(())
            }
            _ => Err(wrong_state(r, "cancel it")),
        }
    })?;
    match was {
        // The pending hold expires by itself if never confirmed (and is
        // voided at once if confirmed later: see the events).
        Status::Requested => {
            wallet::void(&r.payment, &format!("{}:void", r.id))?;
        }
        Status::Accepted => {
            let fee = CANCEL_FEE.min(r.held);
            let p = wallet::capture(&r.payment, fee, &format!("{}:capture", r.id))?;
            let mut share = 0;
            if let Some(driver_id) = &r.driver {
                share = driver_share(p.captured);
                wallet::pay_out(
                    driver_id,
                    share,
                    &format!("ride {} cancelled", r.id),
                    &format!("{}:driver", r.id),
                )?;
                set_current(driver_id, Some(&r.id), None)?;
                credit(driver_id, share)?;
            }
            let r = change_ride(&r.id, |r| {
                r.charged = p.captured;
                r.driver_paid = share;
                Ok(())
            })?;
            return Ok(Response::json(&r.view()));
        }
        _ => {}
    }
    Ok(Response::json(&r.view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rate {
    stars: u8,
    #[serde(default)]
    comment: String,
}

fn rate(req: &Request) -> Result<Response, Error> {
    let (r, who) = visible(req)?;
    let Rate { stars, comment } = req.json()?;
    if !(1..=5).contains(&stars) {
        return Err(Error::bad_request(
            "invalid-stars",
            format!("stars are 1 to 5, not {stars}"),
        ));
    }
    if comment.chars().count() > 280 {
        return Err(Error::bad_request(
            "invalid-comment",
            "a comment is at most 280 characters",
        ));
    }
    // The rider rates the driver; the driver rates the rider.
    let by_rider = who == r.rider;
    let rated = if by_rider {
        r.driver.clone().unwrap_or_default()
    } else {
        r.rider.clone()
    };
    let r = change_ride(&r.id, |r| {
        if r.status != Status::Completed {
            return Err(wrong_state(r, "rate it before the trip ends"));
        }
        let slot = if by_rider {
            &mut r.rider_rating
        } else {
            &mut r.driver_rating
        };
        if slot.is_some() {
            return Err(Error::new(
                409,
                "already-rated",
                "you rated this ride already",
            ));
        }
        *slot = Some(Rating {
            stars,
            comment: comment.clone(),
        });
        Ok(())
    })?;
    storage::app().update_json::<Stars>(&format!("stars:{rated}"), |s| {
        let mut s = s.unwrap_or_default();
        s.sum += u64::from(stars);
        s.count += 1;
        Ok(Some(s))
    })?;
    Ok(Response::json(&r.view()))
}

// ---- events -----------------------------------------------------------

fn handle_event(event: &Event) -> Result<(), Error> {
    let EventBody::Wallet(w) = &event.body else {
        return Ok(());
    };
    let Some(id) = storage::app().get_json::<String>(&format!("payment:{}", w.subject))? else {
        return Ok(());
    };
    // Each transition checks where it starts, so a redelivery is harmless.
    let mut late = false;
    let r = change_ride(&id, |r| {
        late = false;
        match (w.kind, r.status) {
            (WalletEventKind::PaymentConfirmed, Status::AwaitingPayment) => {
                r.status = Status::Requested;
            }
            // The rider cancelled before confirming, then confirmed anyway.
            (WalletEventKind::PaymentConfirmed, Status::Cancelled) => late = true,
            (
                WalletEventKind::PaymentDeclined | WalletEventKind::PaymentExpired,
                Status::AwaitingPayment,
            )
            | (WalletEventKind::HoldExpired, Status::Requested) => {
                r.status = Status::Cancelled;
                r.cancelled_by = Some("host".into());
            }
            _ => {}
        }
        Ok(())
    })?;
    if late && r.charged == 0 {
        wallet::void(&r.payment, &format!("{}:void", r.id))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
