// The Rides UI: ask for a ride with an upfront estimate, confirm the hold in
// the host's sheet, follow the ride and rate the driver; drivers register,
// take open requests, drive and complete with the distance driven.
import { api, parsePath, start } from "./kit.js";
import { strings } from "./strings.js";
import { history, request, ride } from "./rides.js";
import { driver } from "./driver.js";

start({
  strings,
  screens: { request, ride, history, driver },
  tabs: [
    { screen: "request", label: "tab.request" },
    { screen: "history", label: "tab.history" },
    { screen: "driver", label: "tab.driver" },
  ],
  async setup(app) {
    app.state.rules = await api("/").catch(() => null);
  },
  // Notifications and links open the app at /rides/{id} or /drive.
  first(app) {
    const { parts } = parsePath(app.ctx.path);
    if (parts[0] === "rides" && parts[1]) return ["ride", { id: parts[1] }];
    if (parts[0] === "rides") return ["history", {}];
    if (parts[0] === "drive" || parts[0] === "drivers") return ["driver", {}];
    return ["request", {}];
  },
});
