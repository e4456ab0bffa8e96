// Hello's UI: the smallest complete use of the bridge. It calls its own
// app (superapp.call), counts a visit, and asks for the `profile` scope in
// the shell's consent sheet (superapp.requestScope) to greet by name.
const $ = (id) => document.getElementById(id);

/** Calls the app and parses its JSON answer; app errors become exceptions. */
async function call(path, options) {
  const r = await superapp.call(path, options);
  const data = r.body ? r.json() : null;
  if (r.status >= 400) throw new Error((data && data.message) || `HTTP ${r.status}`);
  return data;
}

async function showWho() {
  const me = await call("/whoami");
  if (me.profile) {
    $("greeting").textContent = `Hello, ${me.profile.display_name}!`;
    $("who").textContent = "You let Hello see your name.";
    $("ask").hidden = true;
  } else {
    $("greeting").textContent = "Hello!";
    // "refused" sticks: the person changes it in the shell's settings.
    $("who").textContent =
      me.profile_withheld === "refused"
        ? "You chose not to share your name with Hello (change it in Settings)."
        : "Hello does not know your name.";
    $("ask").hidden = me.profile_withheld === "refused";
  }
}

async function main() {
  const visits = await call("/visits", { method: "POST" });
  $("visits").textContent = `This is visit number ${visits.count} to Hello, by anyone.`;
  await showWho();
}

$("ask").addEventListener("click", async () => {
  $("ask").disabled = true;
  try {
    const { state } = await superapp.requestScope("profile");
    if (state === "granted") await showWho();
    else $("who").textContent = "No problem: Hello stays on first-name-free terms.";
  } catch (e) {
    fail(e);
  } finally {
    $("ask").disabled = false;
  }
});

function fail(e) {
  $("error").textContent = `${e.message}${e.code ? ` (${e.code})` : ""}`;
  $("error").hidden = false;
}

// Say ready once the first screen is drawn, so the shell stops its spinner.
main()
  .catch(fail)
  .finally(() => superapp.ready().catch(() => {}));
