//! Installing, listing, showing and removing apps through the `superapp`
//! command line, on real sled folders: bad input is refused with a message
//! naming what was wrong, and leaves nothing behind.

use superapp_tests::{STORAGE, cli, count_files, guest, manifest, root};

fn data_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("data").display().to_string()
}

fn hello_manifest() -> String {
    root()
        .join("examples/hello/superapp.toml")
        .display()
        .to_string()
}

fn component_files(dir: &tempfile::TempDir) -> usize {
    count_files(&dir.path().join("data/components"))
}

#[test]
fn the_tutorial_app_installs_and_answers_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let (ok, out, err) = cli(&["--data", &data, "install", "--dev", &hello_manifest()]);
    assert!(ok, "{err}");
    assert!(out.starts_with("installed hello 0.1.0"), "{out}");
    for handle in ["ann", "bob"] {
        let (ok, out, err) = cli(&["--data", &data, "users", "add", handle]);
        assert!(
            ok && out.contains("initial password (shown once): "),
            "{err}"
        );
    }

    let (ok, out, _) = cli(&["--data", &data, "call", "hello", "/"]);
    assert!(ok);
    assert_eq!(out, "200\nHello from a Superapp mini-app!\n");

    let (ok, out, _) = cli(&["--data", &data, "call", "hello", "/greet/ann"]);
    assert!(ok);
    assert_eq!(out, "200\n{\"greeting\":\"Hello, ann!\"}\n");

    let (ok, out, _) = cli(&[
        "--data",
        &data,
        "call",
        "hello",
        "/note",
        "-X",
        "PUT",
        "--user",
        "ann",
        "--body",
        r#"{"text":"buy milk"}"#,
    ]);
    assert!(ok, "{out}");
    let (_, out, _) = cli(&["--data", &data, "call", "hello", "/note", "--user", "ann"]);
    assert_eq!(out, "200\n{\"text\":\"buy milk\"}\n");
    let (ok, out, _) = cli(&["--data", &data, "call", "hello", "/note", "--user", "bob"]);
    assert!(!ok, "a 404 from the app is a failed command");
    assert!(out.starts_with("404\n"), "{out}");

    let (ok, out, _) = cli(&["--data", &data, "apps", "list"]);
    assert!(ok);
    assert!(
        out.contains("hello") && out.contains("0.1.0") && out.contains("storage"),
        "{out}"
    );
    let (ok, out, _) = cli(&["--data", &data, "apps", "show", "hello"]);
    assert!(ok);
    assert!(out.contains("storage: Count visits"), "{out}");
    assert!(out.contains("memory:      64 MiB per call"), "{out}");
    Ok(())
}

#[test]
fn the_app_sees_an_open_id_never_the_user_id() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    cli(&["--data", &data, "install", "--dev", &hello_manifest()]);
    let (ok, _, err) = cli(&["--data", &data, "users", "add", "alice"]);
    assert!(ok, "{err}");
    let (_, list, _) = cli(&["--data", &data, "users", "list"]);
    assert!(list.contains("alice"), "{list}");
    let (ok, out, _) = cli(&[
        "--data", &data, "call", "hello", "/whoami", "--user", "alice", "--scene", "qr",
    ]);
    assert!(ok);
    assert!(!out.contains("alice") && !out.contains("\"u_"), "{out}");
    assert!(
        out.contains("\"profile_withheld\":\"not-granted\""),
        "no profile before a grant: {out}"
    );
    let (ok, _, err) = cli(&["--data", &data, "call", "hello", "/", "--user", "nobody"]);
    assert!(!ok && err.contains("[unknown-user]"), "{err}");
    assert!(
        out.contains("\"open_id\":\"ou_") && out.contains("\"scene\":\"qr\""),
        "{out}"
    );
    Ok(())
}

#[test]
fn an_undeclared_import_refuses_the_install_and_names_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let m = manifest(dir.path(), "sneaky", &guest("fixture_kv"), "");
    let (ok, _, err) = cli(&[
        "--data",
        &data,
        "install",
        "--dev",
        &m.display().to_string(),
    ]);
    assert!(!ok);
    assert!(err.contains("[undeclared-import]"), "{err}");
    assert!(err.contains("superapp:platform/storage@0.1.0"), "{err}");
    let (_, out, _) = cli(&["--data", &data, "apps", "list"]);
    assert!(out.contains("no apps installed"), "{out}");
    assert_eq!(component_files(&dir), 0);
    Ok(())
}

#[test]
fn bad_manifests_are_refused_naming_the_file_and_field() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let wasm = guest("hello");
    let cases = [
        ("unknown", format!("{STORAGE}\n[limits]\ncpu = 3"), "cpu"),
        ("badver", String::new(), "version"),
        (
            "biglimit",
            format!("{STORAGE}[limits]\nmemory_mib = 100000"),
            "limits.memory_mib",
        ),
    ];
    for (id, extra, field) in cases {
        let m = manifest(dir.path(), id, &wasm, &extra);
        if id == "badver" {
            let text = std::fs::read_to_string(&m)?.replace("1.0.0", "one");
            std::fs::write(&m, text)?;
        }
        let (ok, _, err) = cli(&[
            "--data",
            &data,
            "install",
            "--dev",
            &m.display().to_string(),
        ]);
        assert!(!ok, "{id} installed");
        assert!(err.contains(&format!("{id}.toml")), "{id}: {err}");
        assert!(err.contains(field), "{id}: {err}");
    }
    let missing = dir.path().join("nope.toml").display().to_string();
    let (ok, _, err) = cli(&["--data", &data, "install", "--dev", &missing]);
    assert!(!ok);
    assert!(err.contains("nope.toml: cannot read"), "{err}");
    assert_eq!(component_files(&dir), 0);
    Ok(())
}

#[test]
fn a_file_that_is_not_a_component_is_refused_naming_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let fake = dir.path().join("fake.wasm");
    std::fs::write(&fake, b"definitely not wasm")?;
    let m = manifest(dir.path(), "fake", &fake, STORAGE);
    let (ok, _, err) = cli(&[
        "--data",
        &data,
        "install",
        "--dev",
        &m.display().to_string(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("[invalid-component]") && err.contains("fake.wasm"),
        "{err}"
    );
    let gone = manifest(dir.path(), "gone", &dir.path().join("gone.wasm"), STORAGE);
    let (ok, _, err) = cli(&[
        "--data",
        &data,
        "install",
        "--dev",
        &gone.display().to_string(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("gone.wasm") && err.contains("cannot read"),
        "{err}"
    );
    assert_eq!(component_files(&dir), 0);
    Ok(())
}

#[test]
fn installing_an_existing_id_is_refused_and_replace_keeps_the_data() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    cli(&["--data", &data, "install", "--dev", &hello_manifest()]);
    cli(&["--data", &data, "call", "hello", "/visits", "-X", "POST"]);
    let (ok, _, err) = cli(&["--data", &data, "install", "--dev", &hello_manifest()]);
    assert!(!ok);
    assert!(err.contains("[already-installed]"), "{err}");
    let (ok, _, err) = cli(&[
        "--data",
        &data,
        "install",
        "--dev",
        "--replace",
        &hello_manifest(),
    ]);
    assert!(ok, "{err}");
    let (_, out, _) = cli(&["--data", &data, "call", "hello", "/visits"]);
    assert_eq!(out, "200\n{\"count\":1}\n");
    assert_eq!(component_files(&dir), 2, "one component and its artifact");
    Ok(())
}

#[test]
fn remove_keeps_data_unless_purged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    cli(&["--data", &data, "install", "--dev", &hello_manifest()]);
    cli(&["--data", &data, "call", "hello", "/visits", "-X", "POST"]);
    let (ok, out, _) = cli(&["--data", &data, "apps", "remove", "hello"]);
    assert!(ok && out.contains("its data is kept"), "{out}");
    assert_eq!(component_files(&dir), 0);
    let (ok, _, err) = cli(&["--data", &data, "call", "hello", "/"]);
    assert!(!ok && err.contains("[app-not-found]"), "{err}");
    cli(&["--data", &data, "install", "--dev", &hello_manifest()]);
    let (_, out, _) = cli(&["--data", &data, "call", "hello", "/visits"]);
    assert_eq!(out, "200\n{\"count\":1}\n");
    cli(&["--data", &data, "apps", "remove", "hello", "--purge-data"]);
    cli(&["--data", &data, "install", "--dev", &hello_manifest()]);
    let (_, out, _) = cli(&["--data", &data, "call", "hello", "/visits"]);
    assert_eq!(out, "200\n{\"count\":0}\n");
    let (ok, _, err) = cli(&["--data", &data, "apps", "remove", "nobody"]);
    assert!(!ok && err.contains("[not-installed]"), "{err}");
    Ok(())
}

#[test]
fn a_restarted_host_runs_apps_from_their_precompiled_artifacts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    cli(&["--data", &data, "install", "--dev", &hello_manifest()]);
    let folder = dir.path().join("data/components/hello");
    let mut wasm = None;
    let mut artifact = None;
    for entry in std::fs::read_dir(&folder)? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("wasm") => wasm = Some(path),
            Some("cwasm") => artifact = Some(path),
            _ => {}
        }
    }
    let (wasm, artifact) = (wasm.unwrap_or_default(), artifact.unwrap_or_default());
    // Without the source component, only the artifact can serve the call.
    let saved = std::fs::read(&wasm)?;
    std::fs::remove_file(&wasm)?;
    let (ok, out, _) = cli(&["--data", &data, "call", "hello", "/"]);
    assert!(ok, "{out}");
    // A damaged artifact is rebuilt from the component.
    std::fs::write(&wasm, saved)?;
    std::fs::write(&artifact, b"garbage")?;
    let (ok, out, _) = cli(&["--data", &data, "call", "hello", "/"]);
    assert!(ok, "{out}");
    assert!(std::fs::read(&artifact)?.len() > 1000, "artifact rewritten");
    Ok(())
}

#[test]
fn every_command_has_help_and_bad_arguments_are_named() {
    for args in [
        vec!["--help"],
        vec!["install", "--help"],
        vec!["apps", "--help"],
        vec!["apps", "list", "--help"],
        vec!["apps", "show", "--help"],
        vec!["apps", "remove", "--help"],
        vec!["call", "--help"],
        vec!["serve", "--help"],
    ] {
        let (ok, out, _) = cli(&args);
        assert!(ok && out.contains("Usage:"), "{args:?}: {out}");
    }
    let (ok, _, err) = cli(&["call", "hello", "/", "--body", "{nope"]);
    assert!(!ok && err.contains("--body is not valid JSON"), "{err}");
    let (ok, _, err) = cli(&["frobnicate"]);
    assert!(!ok && err.contains("frobnicate"), "{err}");
}
