//! Mini-app UIs in packages, end to end: `pack` reads a manifest's `[ui]`
//! folder into the signed package, `verify` and `install` check it, the
//! host serves each file at `/ui/{app}/{tag}/…` with the UI's headers, and
//! upgrade, rollback and developer installs (local and through a running
//! server) switch the UI together with the component. Bad UIs are refused
//! naming the file, and leave nothing behind.

use std::path::{Path, PathBuf};
use superapp_tests::{HELLO_CAPS, cli, guest, manifest, open_host, root, send};

/// The files of `tests/ui-sample`, with their types.
const SAMPLE: &[(&str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8"),
    ("icon.svg", "image/svg+xml"),
    ("img/data.json", "application/json"),
    ("index.html", "text/html; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
];

/// The `[ui]` table of the sample, its folder at `ui` next to the manifest.
const UI_TABLE: &str = "[ui]\ndir = \"ui\"\nicon = \"icon.svg\"\n";

struct Env {
    dir: tempfile::TempDir,
    data: String,
    key: String,
}

impl Env {
    fn new() -> anyhow::Result<Env> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data").display().to_string();
        let key = dir.path().join("dev.key").display().to_string();
        let (ok, out, err) = cli(&["keys", "new", "--out", &key]);
        anyhow::ensure!(ok, "keys new: {err}");
        let pubkey = out.lines().last().unwrap_or_default().to_string();
        let env = Env { dir, data, key };
        let (ok, _, err) = env.run(&["trust", "add", &pubkey]);
        anyhow::ensure!(ok, "trust add: {err}");
        Ok(env)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut all = vec!["--data", &self.data];
        all.extend_from_slice(args);
        cli(&all)
    }

    /// A copy of the sample UI at `name` under the test folder.
    fn ui(&self, name: &str) -> anyhow::Result<PathBuf> {
        let to = self.path(name);
        superapp_tests::copy_dir(&root().join("tests/ui-sample"), &to)?;
        Ok(to)
    }

    /// The tutorial app's manifest as app `id` at `version`, with `extra`
    /// (a `[ui]` table) appended.
    fn manifest(&self, id: &str, version: &str, extra: &str) -> anyhow::Result<String> {
        let m = manifest(
            self.dir.path(),
            id,
            &guest("hello"),
            &format!("{HELLO_CAPS}{extra}"),
        );
        let text = std::fs::read_to_string(&m)?.replace("1.0.0", version);
        std::fs::write(&m, text)?;
        Ok(m.display().to_string())
    }

    /// Packs `manifest` into `<name>.sapp`; `more` are extra arguments.
    fn pack(&self, manifest: &str, name: &str, more: &[&str]) -> (bool, String, String, String) {
        let out = self.path(&format!("{name}.sapp")).display().to_string();
        let mut args = vec!["pack", manifest, "--key", &self.key, "-o", &out];
        args.extend_from_slice(more);
        let (ok, stdout, err) = self.run(&args);
        (ok, stdout, err, out)
    }

    fn files(&self) -> usize {
        superapp_tests::component_files(&self.path("data"))
    }
}

/// The `ui` of app `id` in `GET /apps`.
fn listed_ui(base: &str, id: &str) -> anyhow::Result<serde_json::Value> {
    let r = send("GET", &format!("{base}/apps"), None, None)?;
    anyhow::ensure!(r.status == 200, "{}", r.body);
    let apps = r.json()["apps"].as_array().cloned().unwrap_or_default();
    let app = apps
        .into_iter()
        .find(|a| a["id"] == id)
        .ok_or_else(|| anyhow::anyhow!("{id} is not listed: {}", r.body))?;
    Ok(app["ui"].clone())
}

/// The tag in a `/ui/{app}/{tag}/…` link.
fn tag_in(link: &serde_json::Value) -> String {
    link.as_str()
        .unwrap_or("")
        .split('/')
        .nth(3)
        .unwrap_or("")
        .to_string()
}

/// The UI's content security policy, as the design states it.
fn expected_policy(origin: &str, app: &str, tag: &str) -> String {
    let own = format!("{origin}/ui/{app}/{tag}/");
    format!(
        "sandbox allow-scripts allow-forms; default-src 'none'; script-src {own} {origin}/bridge/; \
         style-src {own} 'unsafe-inline'; img-src {own} data: blob:; font-src {own}; \
         media-src {own}; connect-src 'none'; frame-src 'none'; worker-src 'none'; \
         form-action 'none'; base-uri 'none'; object-src 'none'"
    )
}

#[test]
fn a_packed_ui_is_verified_installed_and_every_file_served_with_the_ui_headers()
-> anyhow::Result<()> {
    let env = Env::new()?;
    let ui = env.ui("ui")?;
    let m = env.manifest("greeter", "1.0.0", UI_TABLE)?;
    let (ok, out, err, pkg) = env.pack(&m, "greeter", &[]);
    assert!(ok, "{err}");
    let sample_bytes: u64 = SAMPLE
        .iter()
        .map(|(p, _)| std::fs::metadata(ui.join(p)).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        out.contains(&format!("ui: 5 files, {sample_bytes} bytes")),
        "{out}"
    );
    let (ok, out, err) = env.run(&["verify", &pkg]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("ui:        5 files, {sample_bytes} bytes, tag ")),
        "{out}"
    );
    let (ok, out, err) = env.run(&["install", &pkg]);
    assert!(ok, "{err}");
    assert!(out.contains("ui: 5 files"), "{out}");
    // An app without a UI, and one without an icon, next to it.
    let plain = env.manifest("plain", "1.0.0", "")?;
    assert!(env.run(&["install", "--dev", &plain]).0);
    let no_icon = env.manifest("noicon", "1.0.0", "[ui]\ndir = \"ui\"\n")?;
    assert!(env.run(&["install", "--dev", &no_icon]).0);

    let host = open_host(Path::new(&env.data))?;
    superapp_tests::person(&host, "ann")?;
    let (base, _rt) = superapp_tests::serve(host)?;
    let links = listed_ui(&base, "greeter")?;
    let tag = tag_in(&links["entry"]);
    assert_eq!(tag.len(), 16, "{links}");
    assert_eq!(links["entry"], format!("/ui/greeter/{tag}/index.html"));
    assert_eq!(links["icon"], format!("/ui/greeter/{tag}/icon.svg"));
    assert!(
        out.contains(&format!("/ui/greeter/{tag}/index.html")),
        "{out}"
    );
    let policy = expected_policy(&base, "greeter", &tag);
    for (path, content_type) in SAMPLE {
        let r = send(
            "GET",
            &format!("{base}/ui/greeter/{tag}/{path}"),
            None,
            None,
        )?;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.body, std::fs::read_to_string(ui.join(path))?, "{path}");
        assert_eq!(r.content_type, *content_type, "{path}");
        for (name, value) in [
            ("content-security-policy", policy.as_str()),
            ("x-content-type-options", "nosniff"),
            ("access-control-allow-origin", "*"),
            ("cross-origin-resource-policy", "cross-origin"),
            ("cache-control", "public, max-age=31536000, immutable"),
        ] {
            assert_eq!(r.header(name), Some(value), "{path}: {name}");
        }
        let etag = r.header("etag").unwrap_or("").to_string();
        assert!(etag.starts_with('"') && etag.len() == 18, "{path}: {etag}");
        let again = superapp_tests::send_with(
            "GET",
            &format!("{base}/ui/greeter/{tag}/{path}"),
            None,
            None,
            &[("if-none-match", &etag)],
        )?;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
    }
    // The origin in the policy is the one the request named.
    let r = superapp_tests::send_with(
        "GET",
        &format!("{base}/ui/greeter/{tag}/index.html"),
        None,
        None,
        &[
            ("host", "shell.example:8443"),
            ("x-forwarded-proto", "https"),
        ],
    )?;
    assert_eq!(
        r.header("content-security-policy"),
        Some(expected_policy("https://shell.example:8443", "greeter", &tag).as_str())
    );

    for (path, status, code) in [
        (format!("/ui/greeter/{tag}/missing.js"), 404, "ui-not-found"),
        (format!("/ui/greeter/{tag}/img"), 404, "ui-not-found"),
        (
            "/ui/greeter/0000000000000000/index.html".into(),
            404,
            "ui-not-found",
        ),
        (format!("/ui/nobody/{tag}/index.html"), 404, "app-not-found"),
        (
            "/ui/plain/0000000000000000/index.html".into(),
            404,
            "ui-not-found",
        ),
        (
            format!("/ui/greeter/{tag}/%2e%2e/greeter.toml"),
            400,
            "invalid-path",
        ),
        (
            format!("/ui/greeter/{tag}/img%2Fdata.json"),
            400,
            "invalid-path",
        ),
    ] {
        let r = send("GET", &format!("{base}{path}"), None, None)?;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert_eq!(r.content_type, "application/problem+json", "{path}");
        assert_eq!(r.problem(), code, "{path}");
    }
    // The app without a UI keeps working, listed with `"ui": null`.
    assert_eq!(listed_ui(&base, "plain")?, serde_json::Value::Null);
    let links = listed_ui(&base, "noicon")?;
    assert!(
        links["icon"].is_null() && links["entry"].is_string(),
        "{links}"
    );
    let token = superapp_tests::login(&base, "ann")?;
    for app in ["plain", "greeter"] {
        let r = send(
            "GET",
            &format!("{base}/apps/{app}/call/"),
            Some(&token),
            None,
        )?;
        assert_eq!(r.status, 200, "{app}: {}", r.body);
    }
    Ok(())
}

#[test]
fn a_changed_ui_byte_breaks_the_signature() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.ui("ui")?;
    let m = env.manifest("greeter", "1.0.0", UI_TABLE)?;
    let (ok, _, err, pkg) = env.pack(&m, "greeter", &[]);
    assert!(ok, "{err}");
    let mut bytes = std::fs::read(&pkg)?;
    let at = bytes
        .windows(5)
        .position(|w| w == b"Ready")
        .ok_or_else(|| anyhow::anyhow!("the UI script is not in the package"))?;
    bytes[at] = b'S';
    let tampered = env.path("tampered.sapp");
    std::fs::write(&tampered, &bytes)?;
    let tampered = tampered.display().to_string();
    for args in [vec!["verify", &tampered], vec!["install", &tampered]] {
        let (ok, _, err) = env.run(&args);
        assert!(!ok && err.contains("[bad-signature]"), "{args:?}: {err}");
    }
    assert_eq!(env.files(), 0);
    Ok(())
}

/// Expects `args` to fail with `[invalid-ui]` and every one of `words` in
/// the message.
fn refused(env: &Env, args: &[&str], words: &[&str]) {
    let (ok, _, err) = env.run(args);
    assert!(!ok, "{args:?} succeeded");
    assert!(err.contains("[invalid-ui]"), "{args:?}: {err}");
    for w in words {
        assert!(err.contains(w), "{args:?}: `{w}` not in: {err}");
    }
}

#[test]
fn bad_ui_folders_are_refused_by_pack_and_dev_install_naming_the_file() -> anyhow::Result<()> {
    let env = Env::new()?;
    let m = env.manifest("greeter", "1.0.0", UI_TABLE)?;
    let ui = env.path("ui");
    let out = env.path("bad.sapp");
    let out_s = out.display().to_string();
    let pack = ["pack", &m, "--key", &env.key, "-o", &out_s];
    let dev = ["install", "--dev", &m];
    // Each case: a change to a fresh copy of the sample, and what the
    // message must name.
    type Change = fn(&Path) -> std::io::Result<()>;
    #[allow(unused_mut)]
    let mut cases: Vec<(&str, Change, Vec<&str>)> = vec![
        (
            "a space",
            |u| std::fs::write(u.join("my app.js"), "x"),
            vec!["my app.js", "not allowed"],
        ),
        (
            "hidden",
            |u| std::fs::write(u.join(".env"), "x"),
            vec![".env", "starts with `.`"],
        ),
        (
            "upper case",
            |u| std::fs::write(u.join("logo.PNG"), "x"),
            vec!["logo.PNG", "lower case"],
        ),
        (
            "unknown type",
            |u| std::fs::write(u.join("tool.exe"), "x"),
            vec!["tool.exe", "`.exe` is not a file type"],
        ),
        (
            "no type",
            |u| std::fs::write(u.join("LICENSE"), "x"),
            vec!["LICENSE", "no file extension"],
        ),
        (
            "no entry",
            |u| std::fs::remove_file(u.join("index.html")),
            vec!["index.html", "[ui] entry is not a file"],
        ),
        (
            "no icon",
            |u| std::fs::remove_file(u.join("icon.svg")),
            vec!["icon.svg", "[ui] icon"],
        ),
    ];
    #[cfg(unix)]
    cases.extend([
        (
            "symlink out",
            (|u: &Path| std::os::unix::fs::symlink("../greeter.toml", u.join("leak.js"))) as Change,
            vec!["leak.js", "outside the UI folder"],
        ),
        (
            "symlinked folder",
            |u: &Path| std::os::unix::fs::symlink("img", u.join("more")),
            vec!["more", "symlink to a folder"],
        ),
    ]);
    for (what, change, words) in cases {
        let _ = std::fs::remove_dir_all(&ui);
        env.ui("ui")?;
        change(&ui)?;
        refused(&env, &pack, &words);
        refused(&env, &dev, &words);
        assert!(!out.exists(), "{what}: a package was written");
        assert_eq!(env.files(), 0, "{what}: files were written");
    }
    // A symlink to a file inside the folder is read like the file.
    let _ = std::fs::remove_dir_all(&ui);
    env.ui("ui")?;
    #[cfg(unix)]
    std::os::unix::fs::symlink("app.js", ui.join("alias.js"))?;
    let (ok, _, err) = env.run(&pack);
    assert!(ok, "{err}");
    std::fs::remove_file(&out)?;

    // Too big: the host's cap, from the command line or the config file.
    std::fs::write(ui.join("big.json"), vec![b' '; 3000])?;
    let small = ["--max-ui-kib", "2"];
    for args in [&pack[..], &dev[..]] {
        let mut all = small.to_vec();
        all.extend_from_slice(args);
        refused(&env, &all, &["big.json", "limit of 2048 bytes"]);
    }
    let config = env.path("small.toml");
    std::fs::write(&config, "max_ui_kib = 2\n")?;
    let config_s = config.display().to_string();
    let mut all = vec!["--config", &config_s];
    all.extend_from_slice(&dev);
    refused(&env, &all, &["big.json", "limit of 2048 bytes"]);
    // The command line wins over the file.
    let mut all = vec!["--config", &config_s, "--max-ui-kib", "64"];
    all.extend_from_slice(&pack);
    let (ok, _, err) = env.run(&all);
    assert!(ok, "{err}");
    assert_eq!(env.files(), 0);
    Ok(())
}

#[test]
fn a_ui_folder_outside_the_manifests_folder_is_read_only_when_named_with_ui() -> anyhow::Result<()>
{
    let env = Env::new()?;
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir_all(&elsewhere)?;
    let outside = env.ui("elsewhere/ui")?;
    let app = env.path("app");
    std::fs::create_dir_all(&app)?;
    let m = manifest(
        &app,
        "greeter",
        &guest("hello"),
        &format!("{HELLO_CAPS}[ui]\ndir = \"../elsewhere/ui\"\n"),
    )
    .display()
    .to_string();
    let out = env.path("out.sapp").display().to_string();
    let pack = ["pack", &m, "--key", &env.key, "-o", &out];
    let dev = ["install", "--dev", &m];
    for args in [&pack[..], &dev[..]] {
        refused(
            &env,
            args,
            &["outside the manifest's folder", "--ui DIR", "ui.dir"],
        );
    }
    #[cfg(unix)]
    {
        // A folder inside that is a symlink to the one outside.
        let linked = manifest(
            &app,
            "linked",
            &guest("hello"),
            &format!("{HELLO_CAPS}[ui]\ndir = \"ui\"\n"),
        )
        .display()
        .to_string();
        std::os::unix::fs::symlink(&outside, app.join("ui"))?;
        refused(
            &env,
            &["install", "--dev", &linked],
            &["outside the manifest's folder"],
        );
    }
    assert_eq!(env.files(), 0);
    let outside_s = outside.display().to_string();
    let (ok, out_text, err) = env.run(&[&pack[..], &["--ui", &outside_s]].concat());
    assert!(ok && out_text.contains("ui: 5 files"), "{err}");
    let (ok, out_text, err) = env.run(&[&dev[..], &["--ui", &outside_s]].concat());
    assert!(ok && out_text.contains("ui: 5 files"), "{err}");
    // --ui needs a [ui] table for the entry page.
    let plain = env.manifest("plain", "1.0.0", "")?;
    refused(
        &env,
        &["install", "--dev", &plain, "--ui", &outside_s],
        &["has no [ui] table"],
    );
    Ok(())
}

#[test]
fn crafted_packages_with_bad_uis_are_refused_and_nothing_is_installed() -> anyhow::Result<()> {
    use superapp_host::packages::encode_package_with_ui;
    let env = Env::new()?;
    let key = superapp_host::packages::load_signing_key(Path::new(&env.key))?;
    let wasm = std::fs::read(guest("hello"))?;
    let with_ui = format!(
        "id = \"crafted\"\nname = \"C\"\nversion = \"1.0.0\"\ndeveloper = \"D\"\ncomponent = \"x.wasm\"\n{HELLO_CAPS}[ui]\ndir = \"ui\"\n"
    );
    let without_ui = with_ui.replace("[ui]\ndir = \"ui\"\n", "");
    let entry = |path: &str, bytes: &[u8]| {
        let mut e = (path.len() as u16).to_le_bytes().to_vec();
        e.extend_from_slice(path.as_bytes());
        e.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        e.extend_from_slice(bytes);
        e
    };
    let page = entry("index.html", b"<p>");
    let cases: Vec<(&str, &str, Option<Vec<u8>>, &str)> = vec![
        (
            "dot segments",
            &with_ui,
            Some([entry("../x.js", b"x"), page.clone()].concat()),
            "../x.js",
        ),
        (
            "absolute",
            &with_ui,
            Some([entry("/x.js", b"x"), page.clone()].concat()),
            "/x.js",
        ),
        (
            "unsorted",
            &with_ui,
            Some([page.clone(), entry("app.js", b"x")].concat()),
            "sorted",
        ),
        (
            "twice",
            &with_ui,
            Some([page.clone(), page.clone()].concat()),
            "twice",
        ),
        (
            "unknown type",
            &with_ui,
            Some([page.clone(), entry("run.sh", b"x")].concat()),
            "run.sh",
        ),
        (
            "truncated",
            &with_ui,
            Some(page[..page.len() - 1].to_vec()),
            "index.html",
        ),
        (
            "no entry",
            &with_ui,
            Some(entry("main.html", b"<p>")),
            "index.html",
        ),
        ("no section", &with_ui, None, "no UI section"),
        ("no table", &without_ui, Some(page.clone()), "no [ui] table"),
    ];
    for (what, manifest, ui, word) in cases {
        let bytes = encode_package_with_ui(manifest, &wasm, ui.as_deref(), Some(&key))?;
        let path = env.path(&format!("{}.sapp", what.replace(' ', "-")));
        std::fs::write(&path, bytes)?;
        let path = path.display().to_string();
        refused(&env, &["verify", &path], &[word]);
        refused(&env, &["install", &path], &[word]);
    }
    let (_, list, _) = env.run(&["apps", "list"]);
    assert!(list.contains("no apps installed"), "{list}");
    assert_eq!(env.files(), 0);
    // The same package with a good UI installs.
    let good = encode_package_with_ui(&with_ui, &wasm, Some(&page), Some(&key))?;
    std::fs::write(env.path("good.sapp"), good)?;
    let (ok, _, err) = env.run(&["install", &env.path("good.sapp").display().to_string()]);
    assert!(ok, "{err}");
    Ok(())
}

/// The text of `path` in app `id`'s running UI, through `GET /apps`.
fn served(base: &str, id: &str, path: &str) -> anyhow::Result<(String, String)> {
    let tag = tag_in(&listed_ui(base, id)?["entry"]);
    let r = send("GET", &format!("{base}/ui/{id}/{tag}/{path}"), None, None)?;
    anyhow::ensure!(r.status == 200, "{path}: {} {}", r.status, r.body);
    Ok((tag, r.body))
}

#[test]
fn upgrade_switches_the_ui_with_the_component_and_rollback_brings_the_old_one_back()
-> anyhow::Result<()> {
    let env = Env::new()?;
    // Through a running server: the CLI's commands go to its admin routes.
    let (base, _host, _rt) = superapp_tests::serve_with_admin(open_host(Path::new(&env.data))?)?;
    let ui = env.ui("ui")?;
    let m = env.manifest("greeter", "1.0.0", UI_TABLE)?;
    let (ok, _, err, v1) = env.pack(&m, "v1", &[]);
    assert!(ok, "{err}");
    std::fs::write(ui.join("app.js"), "// version 2\n")?;
    let m = env.manifest("greeter", "2.0.0", UI_TABLE)?;
    let (ok, _, err, v2) = env.pack(&m, "v2", &[]);
    assert!(ok, "{err}");

    let (ok, _, err) = env.run(&["install", &v1]);
    assert!(ok, "{err}");
    let (tag1, script) = served(&base, "greeter", "app.js")?;
    assert!(script.contains("Ready"), "{script}");
    let (ok, _, err) = env.run(&["apps", "upgrade", &v2]);
    assert!(ok, "{err}");
    let (tag2, script) = served(&base, "greeter", "app.js")?;
    assert_ne!(tag1, tag2);
    assert_eq!(script, "// version 2\n");
    let (_, show, _) = env.run(&["apps", "show", "greeter"]);
    assert!(
        show.contains(&format!("/ui/greeter/{tag2}/index.html")),
        "{show}"
    );
    let old = send(
        "GET",
        &format!("{base}/ui/greeter/{tag1}/app.js"),
        None,
        None,
    )?;
    assert_eq!(
        (old.status, old.problem().as_str()),
        (404, "ui-not-found"),
        "{}",
        old.body
    );
    // Two versions kept: component, artifact and UI of each.
    assert_eq!(env.files(), 6);

    let (ok, _, err) = env.run(&["apps", "rollback", "greeter"]);
    assert!(ok, "{err}");
    let (tag, script) = served(&base, "greeter", "app.js")?;
    assert_eq!(tag, tag1);
    assert!(script.contains("Ready"), "{script}");
    let gone = send(
        "GET",
        &format!("{base}/ui/greeter/{tag2}/app.js"),
        None,
        None,
    )?;
    assert_eq!(gone.status, 404);
    assert_eq!(env.files(), 3, "the discarded version's files are removed");

    let (ok, _, err) = env.run(&["apps", "remove", "greeter"]);
    assert!(ok, "{err}");
    let r = send(
        "GET",
        &format!("{base}/ui/greeter/{tag1}/app.js"),
        None,
        None,
    )?;
    assert_eq!((r.status, r.problem().as_str()), (404, "app-not-found"));
    assert_eq!(env.files(), 0);
    Ok(())
}

#[test]
fn dev_installs_carry_the_ui_locally_and_through_a_running_server() -> anyhow::Result<()> {
    let env = Env::new()?;
    let ui = env.ui("ui")?;
    let m = env.manifest("devapp", "1.0.0", UI_TABLE)?;
    // Locally, on the data folder.
    let (ok, out, err) = env.run(&["install", "--dev", &m]);
    assert!(
        ok && out.contains("unsigned developer install") && out.contains("ui: 5 files"),
        "{err}"
    );
    let (_, show, _) = env.run(&["apps", "show", "devapp"]);
    assert!(show.contains("ui:          5 files"), "{show}");

    // Then through a server on it: the CLI sends an unsigned package.
    let (base, _host, _rt) = superapp_tests::serve_with_admin(open_host(Path::new(&env.data))?)?;
    let (tag1, page) = served(&base, "devapp", "index.html")?;
    assert!(page.contains("UI sample"), "{page}");
    std::fs::write(ui.join("index.html"), "<!doctype html><title>v2</title>\n")?;
    let (ok, _, err) = env.run(&["install", "--dev", "--replace", &m]);
    assert!(ok, "{err}");
    let (tag2, page) = served(&base, "devapp", "index.html")?;
    assert_ne!(tag1, tag2);
    assert!(page.contains("v2"), "{page}");
    // The cap applies before anything is sent.
    std::fs::write(ui.join("big.json"), vec![b' '; 3000])?;
    refused(
        &env,
        &["--max-ui-kib", "2", "install", "--dev", "--replace", &m],
        &["big.json"],
    );
    let (_, page) = served(&base, "devapp", "index.html")?;
    assert!(
        page.contains("v2"),
        "a refused install changed nothing: {page}"
    );
    assert_eq!(env.files(), 3);
    Ok(())
}
