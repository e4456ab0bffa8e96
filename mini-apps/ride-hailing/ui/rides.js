// The rider's screens (ask for a ride, follow it, history) and the ride
// itself as either side sees it. The hold on the rider's wallet is confirmed
// in the host's sheet (superapp.requestPayment); the app never moves money
// the person did not confirm.
import { api, field, h, newKey, poll } from "./kit.js";
import { PLACES, placeName } from "./places.js";

const bridge = window.superapp;
const ACTIVE = ["awaiting-payment", "requested", "accepted", "in-progress"];

function trip(app) {
  if (!app.state.trip) {
    app.state.trip = {
      pickup: "peoples-square",
      dropoff: "lujiazui",
      custom: { pickup: { lat: "", lng: "" }, dropoff: { lat: "", lng: "" } },
      estimate: null,
      key: null,
    };
  }
  return app.state.trip;
}

/** The chosen point, or throws naming the field that is wrong. */
function point(app, which) {
  const t = trip(app);
  if (t[which] !== "custom") {
    const p = PLACES.find((x) => x.id === t[which]);
    return { lat: p.lat, lng: p.lng };
  }
  const lat = Number(t.custom[which].lat);
  const lng = Number(t.custom[which].lng);
  const ok = t.custom[which].lat !== "" && t.custom[which].lng !== "" && Math.abs(lat) <= 90 && Math.abs(lng) <= 180;
  if (!ok) throw Object.assign(new Error(app.t(`request.${which}-invalid`)), { code: `invalid-${which}` });
  return { lat, lng };
}

function placePicker(app, which) {
  const t = trip(app);
  const select = field(
    app.t(`request.${which}`),
    "select",
    {
      "data-key": `${which}-place`,
      onchange: (e) => {
        t[which] = e.currentTarget.value;
        t.estimate = null;
        app.refresh();
      },
    },
    PLACES.map((p) => h("option", { value: p.id, selected: t[which] === p.id, text: p[app.lang] || p.en })),
    h("option", { value: "custom", selected: t[which] === "custom", text: app.t("request.custom") }),
  );
  if (t[which] !== "custom") return select.field;
  const coord = (axis) =>
    field(app.t(`request.${axis}`, { place: app.t(`request.${which}`) }), "input", {
      inputmode: "decimal",
      autocomplete: "off",
      "data-key": `${which}-${axis}`,
      value: t.custom[which][axis],
      oninput: (e) => {
        t.custom[which][axis] = e.currentTarget.value.trim();
        t.estimate = null;
      },
    }).field;
  return h("fieldset", { class: "card" }, h("legend", { text: app.t(`request.${which}`) }), select.field, h("div", { class: "inline" }, coord("lat"), coord("lng")));
}

export async function request(app) {
  const t = trip(app);
  const mine = (await api("/rides")).filter((r) => r.role === "rider" && ACTIVE.includes(r.status));
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("request.title") }),
    mine.map((r) =>
      h(
        "div",
        { class: "card" },
        h("div", { class: "row" }, h("strong", { text: app.t("request.current") }), statusBadge(app, r.status)),
        h("p", { class: "muted", text: `${placeName(r.pickup, app.lang)} → ${placeName(r.dropoff, app.lang)}` }),
        h("button", { type: "button", text: app.t("request.follow"), onclick: () => app.go("ride", { id: r.id }) }),
      ),
    ),
    h(
      "form",
      {
        "aria-label": app.t("request.title"),
        onsubmit: (e) => {
          e.preventDefault();
          app.act(e.submitter, async () => {
            t.estimate = await api("/estimate", {
              method: "POST",
              body: { pickup: point(app, "pickup"), dropoff: point(app, "dropoff") },
            });
            t.key = null;
          });
        },
      },
      placePicker(app, "pickup"),
      placePicker(app, "dropoff"),
      h("button", { type: "submit", "data-key": "estimate", text: app.t("request.estimate") }),
    ),
    t.estimate
      ? h(
          "div",
          { class: "card", "aria-live": "polite" },
          h("p", {}, app.t("request.distance", { km: t.estimate.distance_km })),
          h("p", { class: "amount", text: app.t("request.fare", { fare: app.money(t.estimate.fare) }) }),
          h("p", { class: "muted", text: app.t("request.hold-note") }),
          h("button", {
            type: "button",
            class: "primary",
            "data-key": "request",
            text: app.t("request.button", { fare: app.money(t.estimate.fare) }),
            onclick: (e) => app.act(e.currentTarget, () => requestRide(app)),
          }),
        )
      : h("p", { class: "muted", text: app.t("request.rules", rules(app)) }),
  );
}

function rules(app) {
  const r = app.state.rules || {};
  return {
    base: app.money(r.base_fare || 0),
    per_km: app.money(r.per_km || 0),
    min: app.money(r.min_fare || 0),
  };
}

async function requestRide(app) {
  const t = trip(app);
  // One key per request: a retry after a lost answer finds the same ride.
  t.key = t.key || newKey("ride");
  const ride = await api("/rides", {
    method: "POST",
    body: { pickup: point(app, "pickup"), dropoff: point(app, "dropoff"), key: t.key },
  });
  t.key = null;
  t.estimate = null;
  await confirmHold(app, ride);
  await app.go("ride", { id: ride.id });
}

async function confirmHold(app, ride) {
  const r = await bridge.requestPayment(ride.payment);
  if (r.status === "confirmed") {
    app.say(app.t("hold.confirmed"));
    await poll(
      () => api(`/rides/${encodeURIComponent(ride.id)}`),
      (x) => x.status !== "awaiting-payment",
    );
  } else if (r.status === "declined") {
    app.say(app.t("hold.declined"));
  } else {
    app.say(app.t("hold.dismissed"));
  }
}

export function statusBadge(app, status) {
  return h("span", { class: `badge status-${status}`, text: app.t(`status.${status}`) });
}

function ratingForm(app, ride, whom) {
  const comment = field(app.t("rate.comment"), "textarea", { maxlength: "280", "data-key": "comment" });
  const stars = [1, 2, 3, 4, 5].map((n) =>
    h(
      "label",
      { class: "star" },
      h("input", { type: "radio", name: "stars", value: String(n), checked: n === 5 }),
      h("span", { "aria-hidden": "true", text: "★".repeat(n) }),
      h("span", { class: "sr-only", text: app.t("rate.stars", { n }) }),
    ),
  );
  return h(
    "form",
    {
      class: "card",
      "aria-label": app.t(`rate.${whom}`),
      onsubmit: (e) => {
        e.preventDefault();
        const chosen = e.currentTarget.querySelector("input[name=stars]:checked");
        app.act(e.submitter, async () => {
          await api(`/rides/${encodeURIComponent(ride.id)}/rate`, {
            method: "POST",
            body: { stars: Number(chosen ? chosen.value : 5), comment: comment.input.value.trim() },
          });
          app.say(app.t("rate.thanks"));
        });
      },
    },
    h("fieldset", { class: "stars" }, h("legend", { text: app.t(`rate.${whom}`) }), stars),
    comment.field,
    h("button", { type: "submit", class: "primary", "data-key": "rate", text: app.t("rate.send") }),
  );
}

/** One ride, as its rider, its driver, or a driver looking at an open request. */
export async function ride(app, { id }) {
  const r = await api(`/rides/${encodeURIComponent(id)}`);
  const path = `/rides/${encodeURIComponent(r.id)}`;
  const asRider = r.role === "rider";
  const asDriver = r.role === "driver";
  const actions = [];
  const button = (label, key, work, cls) =>
    h("button", { type: "button", class: cls, "data-key": key, text: label, onclick: (e) => app.act(e.currentTarget, work) });

  if (asRider) {
    if (r.status === "awaiting-payment") {
      actions.push(button(app.t("hold.confirm", { amount: app.money(r.held) }), "hold", () => confirmHold(app, r), "primary"));
    }
    if (r.status === "requested") {
      actions.push(
        button(app.t("ride.notify"), "notify", async () => {
          const s = await bridge.subscribe("ride-status");
          app.say(s.state === "subscribed" ? app.t("ride.will-notify") : app.t("ride.not-subscribed"));
        }),
      );
    }
    if (["awaiting-payment", "requested"].includes(r.status)) {
      actions.push(button(app.t("ride.cancel-free"), "cancel", () => api(`${path}/cancel`, { method: "POST" }), "danger"));
    }
    if (r.status === "accepted") {
      const fee = app.money((app.state.rules || {}).cancel_fee_after_accept || 0);
      actions.push(button(app.t("ride.cancel-fee", { fee }), "cancel", () => api(`${path}/cancel`, { method: "POST" }), "danger"));
    }
  } else if (asDriver) {
    if (r.status === "accepted") {
      actions.push(button(app.t("drive.start"), "start", () => api(`${path}/start`, { method: "POST" }), "primary"));
      actions.push(button(app.t("drive.give-back"), "give-back", () => api(`${path}/cancel`, { method: "POST" }), "danger"));
    }
  } else if (r.status === "requested") {
    actions.push(
      button(app.t("drive.accept"), "accept", () => api(`${path}/accept`, { method: "POST" }), "primary"),
    );
  }

  let complete = null;
  if (asDriver && r.status === "in-progress") {
    const km = field(app.t("drive.distance"), "input", {
      inputmode: "decimal",
      autocomplete: "off",
      value: String(r.estimate_km),
      "data-key": "distance",
    });
    complete = h(
      "form",
      {
        class: "card",
        "aria-label": app.t("drive.complete-title"),
        onsubmit: (e) => {
          e.preventDefault();
          const n = Number(km.input.value.replace(",", "."));
          if (!Number.isFinite(n) || n < 0 || n > 500 || km.input.value.trim() === "") {
            return app.fail({ message: app.t("drive.distance-invalid") });
          }
          app.act(e.submitter, async () => {
            const done = await api(`${path}/complete`, { method: "POST", body: { distance_km: n } });
            app.say(app.t("drive.completed", { fare: app.money(done.charged) }));
          });
        },
      },
      h("h2", { text: app.t("drive.complete-title") }),
      h("p", { class: "muted", text: app.t("drive.complete-note", { held: app.money(r.held) }) }),
      km.field,
      h("button", { type: "submit", class: "primary", "data-key": "complete", text: app.t("drive.complete") }),
    );
  }

  let rating = null;
  if (r.status === "completed" && asRider && !r.rated_by_rider && r.driver) rating = ratingForm(app, r, "driver");
  if (r.status === "completed" && asDriver && !r.rated_by_driver) rating = ratingForm(app, r, "rider");

  // Follow the ride while the other side may change it.
  const moving = ["awaiting-payment", "requested", "accepted"].includes(r.status) || (r.status === "in-progress" && !asDriver);
  if (moving) app.later(4000);

  return h(
    "section",
    {},
    h("div", { class: "row" }, h("h1", { tabindex: "-1", text: app.t("ride.name", { id: r.id }) }), statusBadge(app, r.status)),
    h(
      "dl",
      { class: "card facts" },
      h("dt", { text: app.t("ride.from") }),
      h("dd", { text: placeName(r.pickup, app.lang) }),
      h("dt", { text: app.t("ride.to") }),
      h("dd", { text: placeName(r.dropoff, app.lang) }),
      h("dt", { text: app.t("ride.estimate") }),
      h("dd", { text: app.t("ride.km", { km: r.estimate_km }) }),
      h("dt", { text: asRider ? app.t("ride.held") : app.t("ride.fare-up-to") }),
      h("dd", { class: "amount", text: app.money(r.held) }),
      r.distance_km !== null ? [h("dt", { text: app.t("ride.driven") }), h("dd", { text: app.t("ride.km", { km: r.distance_km }) })] : null,
      r.charged ? [h("dt", { text: app.t("ride.charged") }), h("dd", { class: "amount", text: app.money(r.charged) })] : null,
      r.status === "completed" && asRider && r.held > r.charged
        ? [h("dt", { text: app.t("ride.returned") }), h("dd", { class: "amount", text: app.money(r.held - r.charged) })]
        : null,
      !asRider && r.rider_rating !== null ? [h("dt", { text: app.t("ride.rider-rating") }), h("dd", { text: `★ ${r.rider_rating}` })] : null,
    ),
    r.driver
      ? h(
          "div",
          { class: "card" },
          h("h2", { text: app.t("ride.driver") }),
          h("p", { text: `${r.driver.name} · ${r.driver.car}` }),
          h("p", {}, h("span", { class: "plate", text: r.driver.plate }), r.driver.rating !== null ? ` ★ ${r.driver.rating}` : ""),
        )
      : null,
    r.status === "requested" && asRider ? h("p", { class: "muted", text: app.t("ride.waiting") }) : null,
    r.status === "cancelled"
      ? h("p", { class: "card", text: app.t(`ride.cancelled-by-${r.cancelled_by || "host"}`, { fee: app.money(r.charged) }) })
      : null,
    actions.length ? h("div", { class: "actions" }, actions) : null,
    complete,
    rating,
  );
}

export async function history(app) {
  const list = (await api("/rides")).reverse();
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1", text: app.t("history.title") }),
    list.length === 0 ? h("p", { class: "empty", text: app.t("history.empty") }) : null,
    h(
      "ul",
      { class: "list" },
      list.map((r) =>
        h(
          "li",
          { class: "card" },
          h(
            "div",
            { class: "row" },
            h("button", {
              type: "button",
              class: "link",
              text: `${placeName(r.pickup, app.lang)} → ${placeName(r.dropoff, app.lang)}`,
              onclick: () => app.go("ride", { id: r.id }),
            }),
            statusBadge(app, r.status),
          ),
          h("p", { class: "muted", text: `${app.t(`history.as-${r.role || "rider"}`)} · ${app.money(r.charged || r.held)}` }),
        ),
      ),
    ),
  );
}
