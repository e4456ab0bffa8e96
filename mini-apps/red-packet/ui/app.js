// The Red Packets UI: send a packet into a chat the person picks in the
// shell, confirm it in the host's sheet, open packets, see who got what.
import { parsePath, start } from "./kit.js";
import { strings } from "./strings.js";
import { mine, packet, send } from "./packets.js";

start({
  strings,
  screens: { send, packet, mine },
  tabs: [
    { screen: "send", label: "tab.send" },
    { screen: "mine", label: "tab.mine" },
  ],
  // Cards in chats open the app at /packets/{id}.
  first(app) {
    const { parts } = parsePath(app.ctx.path);
    if (parts[0] === "packets" && parts[1]) return ["packet", { id: parts[1] }];
    if (parts[0] === "packets") return ["mine", {}];
    return ["send", {}];
  },
});
