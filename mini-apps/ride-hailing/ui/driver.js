// The driver's side: register (or update the car), earnings and rating, the
// ride one is on, and the queue of open requests to accept.
import { AppError, api, field, h } from "./kit.js";
import { placeName } from "./places.js";

async function me() {
  try {
    return await api("/drivers/me");
  } catch (e) {
    if (e instanceof AppError && e.code === "not-a-driver") return null;
    throw e;
  }
}

function registration(app, d) {
  const name = field(app.t("driver.name"), "input", { maxlength: "40", required: true, autocomplete: "name", value: d ? d.name : "" });
  const car = field(app.t("driver.car"), "input", { maxlength: "40", required: true, autocomplete: "off", value: d ? d.car : "" });
  const plate = field(app.t("driver.plate"), "input", { maxlength: "16", required: true, autocomplete: "off", value: d ? d.plate : "" });
  return h(
    "form",
    {
      class: "card",
      "aria-label": app.t(d ? "driver.edit" : "driver.register-title"),
      onsubmit: (e) => {
        e.preventDefault();
        const body = { name: name.input.value.trim(), car: car.input.value.trim(), plate: plate.input.value.trim() };
        if (!body.name || !body.car || !body.plate) return app.fail({ message: app.t("driver.missing") });
        app.act(e.submitter, async () => {
          await api("/drivers", { method: "POST", body });
          app.state.editDriver = false;
          app.say(app.t(d ? "driver.saved" : "driver.registered"));
        });
      },
    },
    h("h2", { text: app.t(d ? "driver.edit" : "driver.register-title") }),
    name.field,
    car.field,
    plate.field,
    h("button", { type: "submit", class: "primary", "data-key": "register", text: app.t(d ? "driver.save" : "driver.register") }),
  );
}

export async function driver(app) {
  const d = await me();
  if (!d) {
    return h(
      "section",
      {},
      h("h1", { tabindex: "-1", text: app.t("driver.title") }),
      h("p", { text: app.t("driver.pitch", { share: (app.state.rules || {}).driver_share_percent || 80 }) }),
      registration(app, null),
    );
  }
  const parts = [
    h("h1", { tabindex: "-1", text: app.t("driver.title") }),
    h(
      "div",
      { class: "card" },
      h("div", { class: "row" }, h("h2", { text: d.name }), d.rating !== null ? h("span", { text: `★ ${d.rating}` }) : null),
      h("p", {}, `${d.car} · `, h("span", { class: "plate", text: d.plate })),
      h("p", { text: app.t("driver.earned", { amount: app.money(d.earned) }) }),
      app.state.editDriver
        ? null
        : h("button", {
            type: "button",
            "data-key": "edit",
            text: app.t("driver.edit"),
            onclick: () => {
              app.state.editDriver = true;
              app.refresh();
            },
          }),
    ),
  ];
  if (app.state.editDriver) parts.push(registration(app, d));
  if (d.current) {
    parts.push(
      h(
        "div",
        { class: "card" },
        h("h2", { text: app.t("driver.current") }),
        h("button", { type: "button", class: "primary", text: app.t("driver.open-ride", { id: d.current }), onclick: () => app.go("ride", { id: d.current }) }),
      ),
    );
    return h("section", {}, parts);
  }
  const open = await api("/rides/open");
  parts.push(
    h("h2", { text: app.t("queue.title") }),
    open.length === 0 ? h("p", { class: "empty", text: app.t("queue.empty") }) : null,
    h(
      "ul",
      { class: "list", "aria-label": app.t("queue.title") },
      open.map((r) => {
        const route = `${placeName(r.pickup, app.lang)} → ${placeName(r.dropoff, app.lang)}`;
        return h(
          "li",
          { class: "card" },
          h("h3", { text: route }),
          h(
            "p",
            { class: "muted" },
            app.t("queue.details", { km: r.estimate_km, fare: app.money(r.fare), earn: app.money(r.you_earn) }),
            r.rider_rating !== null ? ` · ${app.t("queue.rider", { stars: r.rider_rating })}` : "",
          ),
          h("button", {
            type: "button",
            class: "primary",
            "data-key": `accept-${r.id}`,
            "aria-label": app.t("queue.accept-named", { route }),
            text: app.t("drive.accept"),
            onclick: (e) =>
              app.act(e.currentTarget, async () => {
                await api(`/rides/${encodeURIComponent(r.id)}/accept`, { method: "POST" });
                await app.go("ride", { id: r.id });
              }),
          }),
        );
      }),
    ),
  );
  // New requests arrive while the driver waits (not while they type).
  if (!app.state.editDriver) app.later(5000);
  return h("section", {}, parts);
}
