//! The README's tutorial ("Write a mini-app in 5 minutes") works as
//! written: the files it shows are `examples/tutorial/` byte for byte, and
//! that crate, copied out of the checkout as a reader would make it, builds
//! for wasm32-wasip2, passes its mock-host tests, installs and answers
//! through the command line, and answers a signed-in person over HTTP,
//! with the profile only once she grants it and a tip counted once she
//! confirms it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use superapp_tests::{
    HostProcess, cli, reader_build, reader_cargo, root, send, send_json, wait_until,
};

const MARKER_START: &str = "<!-- examples/tutorial/";
const MARKER_END: &str = " -->";
const SECTION: &str = "## Write a mini-app in 5 minutes";

fn tutorial_dir() -> PathBuf {
    root().join("examples/tutorial")
}

fn readme() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(root().join("README.md"))?)
}

/// The README's tutorial section: from its heading to the next `## `.
fn section(readme: &str) -> anyhow::Result<&str> {
    let start = readme
        .find(SECTION)
        .ok_or_else(|| anyhow::anyhow!("README.md has no `{SECTION}`"))?;
    let rest = &readme[start + SECTION.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    Ok(&rest[..end])
}

/// Each code block right after a `<!-- examples/tutorial/FILE -->` line, as
/// (FILE, the block's text without the fence's indentation).
fn shown_files(section: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut shown = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(file) = line
            .trim()
            .strip_prefix(MARKER_START)
            .and_then(|l| l.strip_suffix(MARKER_END))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        let indent = &fence[..fence.len() - fence.trim_start().len()];
        anyhow::ensure!(
            fence.trim_start().starts_with("```"),
            "README.md: the line after the marker of {file} is not a code fence: {fence:?}"
        );
        let mut text = String::new();
        loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("README.md: the block of {file} never ends"))?;
            if line.trim() == "```" {
                break;
            }
            if !line.is_empty() {
                let unindented = line.strip_prefix(indent).ok_or_else(|| {
                    anyhow::anyhow!(
                        "README.md: a line of {file} is less indented than its fence: {line:?}"
                    )
                })?;
                text.push_str(unindented);
            }
            text.push('\n');
        }
        shown.push((file.to_string(), text));
    }
    Ok(shown)
}

/// The tutorial crate's own files (no build output, no lock file), as
/// paths relative to it with `/`.
fn crate_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if ["target", "Cargo.lock", ".gitignore", "superapp-data"].contains(&name.as_str()) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            crate_files(&entry.path(), &format!("{prefix}{name}/"), out)?;
        } else {
            out.push(format!("{prefix}{name}"));
        }
    }
    Ok(())
}

#[test]
fn the_readme_shows_every_file_of_the_tutorial_crate_as_it_is() -> anyhow::Result<()> {
    let readme = readme()?;
    let section = section(&readme)?;
    let shown = shown_files(section)?;
    let mut files = Vec::new();
    crate_files(&tutorial_dir(), "", &mut files)?;
    files.sort();
    let mut shown_names: Vec<String> = shown.iter().map(|(f, _)| f.clone()).collect();
    shown_names.sort();
    assert_eq!(
        shown_names, files,
        "the README shows each file of examples/tutorial once, after `<!-- examples/tutorial/FILE -->`"
    );
    for (file, text) in &shown {
        let real = as_the_reader_has_it(file, std::fs::read_to_string(tutorial_dir().join(file))?)?;
        if *text != real {
            let line = text
                .lines()
                .zip(real.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "its end".to_string(), |i| format!("line {}", i + 1));
            anyhow::bail!(
                "README.md shows examples/tutorial/{file} otherwise than it is (first difference at {line}); \
                 copy the file into its block"
            );
        }
    }
    // No Rust the reader copies that the build below does not compile.
    let rust_blocks = section.lines().filter(|l| l.trim() == "```rust").count();
    let shown_rust = shown.iter().filter(|(f, _)| f.ends_with(".rs")).count();
    assert_eq!(
        rust_blocks, shown_rust,
        "every Rust block of the tutorial is a marked file of examples/tutorial"
    );
    Ok(())
}

/// The SDK dependency as examples/tutorial has it, and as the README shows
/// it: from `~/greeter`, beside the checkout in `~/superapp`.
const SDK_IN_PLACE: &str = "superapp-sdk = { path = \"../../sdk\" }";
const SDK_FOR_THE_READER: &str = "superapp-sdk = { path = \"../superapp/sdk\" }";

/// A file of examples/tutorial as the README shows it (and a reader copies
/// it): the same, but for where Cargo.toml finds the SDK.
fn as_the_reader_has_it(file: &str, text: String) -> anyhow::Result<String> {
    if file != "Cargo.toml" {
        return Ok(text);
    }
    anyhow::ensure!(
        text.matches(SDK_IN_PLACE).count() == 1,
        "examples/tutorial/Cargo.toml has no `{SDK_IN_PLACE}` line (the one the README shows as `{SDK_FOR_THE_READER}`)"
    );
    Ok(text.replace(SDK_IN_PLACE, SDK_FOR_THE_READER))
}

/// What a reader does in step 1, in the layout the README assumes: the
/// checkout as `superapp` and the crate as `greeter` beside it, with the
/// files as the README shows them. The workspace's lock file goes along so
/// the versions are the ones already built here.
fn copy_tutorial(to: &Path) -> anyhow::Result<()> {
    let mut files = Vec::new();
    crate_files(&tutorial_dir(), "", &mut files)?;
    for file in &files {
        let target = to.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let text = std::fs::read_to_string(tutorial_dir().join(file))?;
        std::fs::write(target, as_the_reader_has_it(file, text)?)?;
    }
    let beside = to
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent", to.display()))?
        .join("superapp");
    std::os::unix::fs::symlink(root().canonicalize()?, &beside)?;
    std::fs::copy(root().join("Cargo.lock"), to.join("Cargo.lock"))?;
    Ok(())
}

/// `superapp --data DATA call greeter ARGS…`: (ok, what it printed).
fn call(data: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["--data", data, "call", "greeter"];
    all.extend_from_slice(args);
    let (ok, out, err) = cli(&all);
    (ok, format!("{out}{err}"))
}

#[test]
fn the_tutorial_crate_builds_tests_installs_and_answers_over_the_cli_and_http() -> anyhow::Result<()>
{
    let readme = readme()?;
    let section = section(&readme)?;
    // The steps below are the README's: it still says each of them.
    for step in [
        "cargo new --lib greeter",
        "rustup target add wasm32-wasip2",
        "cargo build --release --target wasm32-wasip2",
        "cargo test",
        "cargo install --locked --path host",
        "superapp install --dev greeter.toml",
        "superapp users add ann",
        "superapp call greeter /greet/Ann",
        "superapp call greeter /visits -X POST",
        "superapp call greeter /me --user ann",
        "superapp call greeter /profile --user ann",
        "superapp serve",
        "$H/auth/login",
        "$H/apps/greeter/call/greet/Ann",
        "$H/apps/greeter/call/visits",
        "$H/apps/greeter/call/profile",
        "$H/me/apps/greeter/grants/profile",
        r#"'{"decision":"grant"}'"#,
        r#"{"greeting":"Hello, Ann!"}"#,
        r#"{"greeting":"Hello, ann!","verified":false}"#,
        "profile-not-granted",
        "superapp wallet topup ann 10.00",
        r#"'{"amount":500,"key":"tip-0001"}' $H/apps/greeter/call/tips"#,
        "$H/me/payments/pay_…/confirm",
        "superapp grants set ann greeter profile grant",
        "superapp --data operator-data install greeter.sapp",
    ] {
        assert!(
            section.contains(step),
            "the README's tutorial no longer says `{step}`: change this test with it"
        );
    }

    // Steps 1 and 3: a fresh folder outside the checkout, built and tested.
    let dir = tempfile::tempdir()?;
    let checkout = root().canonicalize()?;
    let work = dir.path().canonicalize()?;
    anyhow::ensure!(
        !work.starts_with(&checkout),
        "the temporary folder {} is inside the checkout; set TMPDIR elsewhere",
        work.display()
    );
    let greeter = work.join("greeter");
    copy_tutorial(&greeter)?;
    let started = Instant::now();
    // The component goes where the reader's own build puts it, as
    // greeter.toml names it.
    reader_build(&greeter, "greeter", &greeter.join("target"))?;
    let tested = reader_cargo(&greeter, &["test"])?;
    assert!(
        tested.contains("test result: ok.") && !tested.contains("test result: FAILED"),
        "{tested}"
    );
    eprintln!("tutorial: built and tested in {:.1?}", started.elapsed());

    // Step 5: install and call with the command line.
    let data_dir = work.join("superapp-data");
    let data = data_dir.display().to_string();
    let manifest = greeter.join("greeter.toml").display().to_string();
    let (ok, out, err) = cli(&["--data", &data, "install", "--dev", &manifest]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("installed greeter 0.1.0"), "{out}");
    let (ok, out, err) = cli(&["--data", &data, "users", "add", "ann"]);
    assert!(ok, "{out}{err}");
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("initial password (shown once): "))
        .ok_or_else(|| anyhow::anyhow!("`users add` printed no password: {out}"))?
        .trim()
        .to_string();

    assert_eq!(
        call(&data, &["/greet/Ann"]),
        (true, "200\n{\"greeting\":\"Hello, Ann!\"}\n".to_string())
    );
    assert_eq!(
        call(&data, &["/visits", "-X", "POST"]),
        (true, "200\n1\n".to_string())
    );
    let (ok, me) = call(&data, &["/me", "--user", "ann"]);
    assert!(ok && me.starts_with("200\n{\"open_id\":\""), "{me}");
    let (ok, profile) = call(&data, &["/profile", "--user", "ann"]);
    assert!(
        !ok && profile.starts_with("403\n") && profile.contains("profile-not-granted"),
        "{profile}"
    );
    // The grant the README gives for local calls, and back to undecided.
    let (ok, out, err) = cli(&[
        "--data", &data, "grants", "set", "ann", "greeter", "profile", "grant",
    ]);
    assert!(ok, "{out}{err}");
    let (ok, profile) = call(&data, &["/profile", "--user", "ann"]);
    assert!(ok && profile.contains("Hello, ann!"), "{profile}");
    let (ok, out, err) = cli(&[
        "--data", &data, "grants", "set", "ann", "greeter", "profile", "revoke",
    ]);
    assert!(ok, "{out}{err}");

    // Step 8: signed, packed and installed on another host's folder.
    let key = greeter.join("greeter.key").display().to_string();
    let sapp = greeter.join("greeter.sapp").display().to_string();
    let operator = work.join("operator-data").display().to_string();
    let (ok, out, err) = cli(&["keys", "new", "--out", &key]);
    assert!(ok, "{out}{err}");
    let public = out
        .lines()
        .find(|l| l.starts_with("ed25519:"))
        .ok_or_else(|| anyhow::anyhow!("`keys new` printed no public key: {out}"))?
        .to_string();
    let (ok, out, err) = cli(&["pack", &manifest, "--key", &key, "-o", &sapp]);
    assert!(ok, "{out}{err}");
    for args in [
        &[
            "--data",
            &operator,
            "trust",
            "add",
            &public,
            "--name",
            "Greeter Inc",
        ][..],
        &["--data", &operator, "verify", &sapp],
        &["--data", &operator, "install", &sapp],
    ] {
        let (ok, out, err) = cli(args);
        assert!(ok, "{args:?}: {out}{err}");
    }
    let (ok, out, err) = cli(&["--data", &operator, "call", "greeter", "/greet/Ann"]);
    assert!(ok && out.contains("Hello, Ann!"), "{out}{err}");

    // Step 6: `superapp serve`, and ann over HTTP.
    let bin = Path::new(env!("CARGO_BIN_EXE_superapp-under-test"));
    let store = superapp_tests::store_for(&data_dir).unwrap_or_else(|| "embedded".into());
    let server = HostProcess::start(bin, &store, &data_dir, None)?;
    let h = &server.base;
    let login = send_json(
        "POST",
        &format!("{h}/auth/login"),
        None,
        &serde_json::json!({ "handle": "ann", "password": password }),
    )?;
    assert_eq!(login.status, 200, "{}", login.body);
    let ann = login.json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let app = |method: &str, path: &str| {
        send(
            method,
            &format!("{h}/apps/greeter/call{path}"),
            Some(&ann),
            None,
        )
    };

    let greeted = app("GET", "/greet/Ann")?;
    assert_eq!(
        (greeted.status, greeted.body.as_str()),
        (200, r#"{"greeting":"Hello, Ann!"}"#)
    );
    let visits = app("POST", "/visits")?;
    assert_eq!(
        (visits.status, visits.body.as_str()),
        (200, "2"),
        "the CLI's visit and this one"
    );
    let seen = app("GET", "/me")?;
    assert_eq!(
        format!("{}\n{}\n", seen.status, seen.body),
        me,
        "the same open id over HTTP as with `call --user ann`"
    );
    let withheld = app("GET", "/profile")?;
    assert_eq!(
        (withheld.status, withheld.problem()),
        (403, "profile-not-granted".to_string()),
        "{}",
        withheld.body
    );

    let grant = |decision: &str| {
        send_json(
            "PUT",
            &format!("{h}/me/apps/greeter/grants/profile"),
            Some(&ann),
            &serde_json::json!({ "decision": decision }),
        )
    };
    let granted = grant("grant")?;
    assert_eq!(granted.status, 200, "{}", granted.body);
    let shown = app("GET", "/profile")?;
    assert_eq!(
        (shown.status, shown.body.as_str()),
        (200, r#"{"greeting":"Hello, ann!","verified":false}"#)
    );
    let denied = grant("deny")?;
    assert_eq!(denied.status, 200, "{}", denied.body);
    let refused = app("GET", "/profile")?;
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (200, r#"{"greeting":"Hello!"}"#),
        "a refusal is answered without the name"
    );

    // A tip: topped up through the running server, asked, confirmed, heard.
    let (ok, out, err) = cli(&["--data", &data, "wallet", "topup", "ann", "10.00"]);
    assert!(ok, "{out}{err}");
    let asked = send_json(
        "POST",
        &format!("{h}/apps/greeter/call/tips"),
        Some(&ann),
        &serde_json::json!({ "amount": 500, "key": "tip-0001" }),
    )?;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let payment = asked.json()["payment"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(payment.starts_with("pay_"), "{}", asked.body);
    assert_eq!(
        app("GET", "/tips")?.body,
        "0",
        "nothing before she confirms"
    );
    let confirmed = send(
        "POST",
        &format!("{h}/me/payments/{payment}/confirm"),
        Some(&ann),
        None,
    )?;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    wait_until(
        "the app to hear of the confirmed tip",
        Duration::from_secs(30),
        || app("GET", "/tips").is_ok_and(|r| r.body == "500"),
    )?;
    Ok(())
}
