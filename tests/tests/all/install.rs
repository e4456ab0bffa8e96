//! Installing, listing, showing and removing apps through the `superapp`
//! command line, on real sled folders: bad input is refused with a message
//! naming what was wrong, and leaves nothing behind.

use superapp_tests::{HELLO_CAPS, STORAGE, cli, guest, manifest, root};

fn data_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("data").display().to_string()
}

fn hello_manifest() -> String {
    root()
        .join("examples/hello/superapp.toml")
        .display()
        .to_string()
}

/// `install --dev` of the tutorial app. Its manifest names the component in
/// the workspace's build folder, outside the manifest's folder, so it is
/// named on the command line.
fn hello_dev(data: &str, extra: &[&str]) -> (bool, String, String) {
    let wasm = guest("hello").display().to_string();
    let manifest = hello_manifest();
    let mut args = vec![
        "--data",
        data,
        "install",
        "--dev",
        &manifest,
        "--component",
        &wasm,
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

fn component_files(dir: &tempfile::TempDir) -> usize {
    superapp_tests::component_files(&dir.path().join("data"))
}

#[test]
fn the_tutorial_app_installs_and_answers_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let (ok, out, err) = hello_dev(&data, &[]);
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
    hello_dev(&data, &[]);
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
fn every_undeclared_import_refuses_the_install_named_in_one_error_with_the_lines_to_add()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    // The shop imports storage, wallet and messaging (the notify capability).
    let m = manifest(dir.path(), "sneaky", &guest("shop"), "");
    let (ok, _, err) = cli(&[
        "--data",
        &data,
        "install",
        "--dev",
        &m.display().to_string(),
    ]);
    assert!(!ok);
    assert!(err.contains("[undeclared-import]"), "{err}");
    let import = format!(
        "superapp:platform/storage@{}",
        superapp_host::packages::PLATFORM_VERSION
    );
    assert!(err.contains(&import), "{err}");
    for cap in ["storage", "wallet", "notify"] {
        assert!(
            err.contains(&format!("needs the `{cap}` capability")),
            "{cap}: {err}"
        );
        assert!(
            err.contains(&format!("[capabilities.{cap}]\npurpose = ")),
            "{cap}: {err}"
        );
    }
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
    hello_dev(&data, &[]);
    cli(&["--data", &data, "call", "hello", "/visits", "-X", "POST"]);
    let (ok, _, err) = hello_dev(&data, &[]);
    assert!(!ok);
    assert!(err.contains("[already-installed]"), "{err}");
    // A developer build is told the flag that reinstalls it, not `apps upgrade`.
    assert!(err.contains("--replace"), "{err}");
    assert!(!err.contains("apps upgrade"), "{err}");
    let (ok, _, err) = hello_dev(&data, &["--replace"]);
    assert!(ok, "{err}");
    let (_, out, _) = cli(&["--data", &data, "call", "hello", "/visits"]);
    assert_eq!(out, "200\n{\"count\":1}\n");
    // hello has a UI (examples/hello/ui), stored beside its component.
    assert_eq!(
        component_files(&dir),
        3,
        "one component, its artifact and its UI"
    );
    Ok(())
}

#[test]
fn remove_keeps_data_unless_purged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    hello_dev(&data, &[]);
    cli(&["--data", &data, "call", "hello", "/visits", "-X", "POST"]);
    let (ok, out, _) = cli(&["--data", &data, "apps", "remove", "hello"]);
    assert!(ok && out.contains("its data is kept"), "{out}");
    assert_eq!(component_files(&dir), 0);
    let (ok, _, err) = cli(&["--data", &data, "call", "hello", "/"]);
    assert!(!ok && err.contains("[app-not-found]"), "{err}");
    hello_dev(&data, &[]);
    let (_, out, _) = cli(&["--data", &data, "call", "hello", "/visits"]);
    assert_eq!(out, "200\n{\"count\":1}\n");
    cli(&["--data", &data, "apps", "remove", "hello", "--purge-data"]);
    hello_dev(&data, &[]);
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
    hello_dev(&data, &[]);
    let data_dir = dir.path().join("data");
    let folder = data_dir.join("components/hello");
    let mut artifact = None;
    for entry in std::fs::read_dir(&folder)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            artifact = Some(path);
        }
    }
    let artifact = artifact.unwrap_or_default();
    // The component is a blob of the store (a file, or a database row).
    let blobs = superapp_tests::blobs(&data_dir)?;
    let names = superapp_tests::blob_names(&data_dir, "components/hello/")?;
    let wasm = names
        .iter()
        .find(|n| n.ends_with(".wasm"))
        .ok_or_else(|| anyhow::anyhow!("no component among {names:?}"))?;
    // Without the source component, only the artifact can serve the call.
    let saved = blobs
        .get(wasm)?
        .ok_or_else(|| anyhow::anyhow!("no {wasm}"))?;
    assert!(blobs.remove(wasm)?);
    let (ok, out, _) = cli(&["--data", &data, "call", "hello", "/"]);
    assert!(ok, "{out}");
    // A damaged artifact is rebuilt from the component.
    blobs.put(wasm, &saved)?;
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

/// A manifest for `component` (a path as written in the manifest) in `dir`.
fn manifest_naming(dir: &std::path::Path, component: &str) -> String {
    let path = dir.join("app.toml");
    let text = format!(
        "id = \"probe\"\nname = \"Probe\"\nversion = \"1.0.0\"\ndeveloper = \"Tests\"\ncomponent = \"{component}\"\n{HELLO_CAPS}"
    );
    std::fs::write(&path, text).unwrap_or_default();
    path.display().to_string()
}

/// A file of `len` bytes that takes no space (the bytes read as zeros).
fn sparse(path: &std::path::Path, len: u64) -> anyhow::Result<String> {
    std::fs::File::create(path)?.set_len(len)?;
    Ok(path.display().to_string())
}

#[cfg(unix)]
#[test]
fn files_that_are_not_regular_files_are_refused_before_anything_is_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let key = dir.path().join("dev.key").display().to_string();
    assert!(cli(&["keys", "new", "--out", &key]).0);
    let m = manifest(dir.path(), "probe", &guest("hello"), HELLO_CAPS);
    let m = m.display().to_string();
    let folder = dir.path().display().to_string();
    let out = dir.path().join("out.sapp").display().to_string();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("/dev/zero", vec!["verify", "/dev/zero"]),
        ("/dev/zero", vec!["install", "/dev/zero"]),
        ("/dev/zero", vec!["install", "--dev", "/dev/zero"]),
        (
            "/dev/zero",
            vec!["install", "--dev", &m, "--component", "/dev/zero"],
        ),
        ("/dev/zero", vec!["apps", "upgrade", "/dev/zero"]),
        (&folder, vec!["install", &folder]),
        (
            "/dev/zero",
            vec!["pack", &m, "--key", "/dev/zero", "-o", &out],
        ),
        (
            "/dev/zero",
            vec![
                "pack",
                &m,
                "--key",
                &key,
                "-o",
                &out,
                "--component",
                "/dev/zero",
            ],
        ),
        (
            "/dev/zero",
            vec!["call", "probe", "/", "--body-file", "/dev/zero"],
        ),
    ];
    for (file, args) in cases {
        let mut all = vec!["--data", data.as_str()];
        all.extend_from_slice(&args);
        let (ok, _, err) = cli(&all);
        assert!(!ok, "{args:?} succeeded");
        assert!(
            err.contains("[not-a-file]") && err.contains(&format!("{file}: not a regular file")),
            "{args:?}: {err}"
        );
    }
    assert!(!std::path::Path::new(&out).exists());
    assert_eq!(component_files(&dir), 0);
    Ok(())
}

#[test]
fn huge_files_are_refused_by_their_size_without_being_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let huge = 8u64 << 30;
    let component = sparse(&dir.path().join("huge.wasm"), huge)?;
    let package = sparse(&dir.path().join("huge.sapp"), huge)?;
    let key = sparse(&dir.path().join("huge.key"), huge)?;
    let big_manifest = sparse(&dir.path().join("huge.toml"), huge)?;
    let m = manifest_naming(dir.path(), "huge.wasm");
    let out = dir.path().join("out.sapp").display().to_string();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "the component is 8589934592 bytes",
            vec!["install", "--dev", &m],
        ),
        (
            "the component is 8589934592 bytes",
            vec!["install", "--dev", &m, "--component", &component],
        ),
        (
            "the manifest is 8589934592 bytes",
            vec!["install", "--dev", &big_manifest],
        ),
        ("the package is 8589934592 bytes", vec!["install", &package]),
        ("the package is 8589934592 bytes", vec!["verify", &package]),
        (
            "the package is 8589934592 bytes",
            vec!["apps", "upgrade", &package],
        ),
        (
            "the key file is 8589934592 bytes",
            vec!["pack", &m, "--key", &key, "-o", &out],
        ),
    ];
    for (what, args) in cases {
        let mut all = vec!["--data", data.as_str()];
        all.extend_from_slice(&args);
        let (ok, _, err) = cli(&all);
        assert!(!ok, "{args:?} succeeded");
        assert!(
            err.contains("[too-large]") && err.contains(what) && err.contains("over the limit"),
            "{args:?}: {err}"
        );
    }
    // The limits are the host's: the component cap follows --max-component-kib.
    let small = dir.path().join("small.wasm");
    std::fs::write(&small, vec![0u8; 3000])?;
    let m = manifest_naming(dir.path(), "small.wasm");
    let (ok, _, err) = cli(&[
        "--data",
        &data,
        "--max-component-kib",
        "2",
        "install",
        "--dev",
        &m,
    ]);
    assert!(
        !ok && err.contains("[too-large]") && err.contains("limit of 2048 bytes"),
        "{err}"
    );
    assert!(!std::path::Path::new(&out).exists());
    assert_eq!(component_files(&dir), 0);
    Ok(())
}

#[test]
fn a_component_outside_the_manifest_folder_is_read_only_when_named_on_the_command_line()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let app = dir.path().join("app");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(app.join("build"))?;
    std::fs::create_dir_all(&outside)?;
    let hello = outside.join("hello.wasm");
    std::fs::copy(guest("hello"), &hello)?;
    let key = dir.path().join("dev.key").display().to_string();
    assert!(cli(&["keys", "new", "--out", &key]).0);
    let out = dir.path().join("out.sapp");
    let out_s = out.display().to_string();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&hello, app.join("link.wasm"))?;
    let mut escapes = vec![
        "../outside/hello.wasm".to_string(),
        "build/../../outside/hello.wasm".to_string(),
        hello.display().to_string(),
    ];
    if cfg!(unix) {
        escapes.push("link.wasm".to_string());
    }
    for component in &escapes {
        let m = manifest_naming(&app, component);
        for args in [
            vec!["install", "--dev", &m],
            vec!["pack", &m, "--key", &key, "-o", &out_s],
        ] {
            let mut all = vec!["--data", data.as_str()];
            all.extend_from_slice(&args);
            let (ok, _, err) = cli(&all);
            assert!(!ok, "{component}: {args:?} succeeded");
            assert!(
                err.contains("[component-outside-folder]")
                    && err.contains("outside the manifest's folder")
                    && err.contains("--component PATH"),
                "{component}: {err}"
            );
        }
    }
    assert!(!out.exists());
    assert_eq!(component_files(&dir), 0);
    // Named on the command line, the same file is fine.
    let m = manifest_naming(&app, "../outside/hello.wasm");
    let hello_s = hello.display().to_string();
    let (ok, out_text, err) = cli(&[
        "pack",
        &m,
        "--key",
        &key,
        "-o",
        &out_s,
        "--component",
        &hello_s,
    ]);
    assert!(ok && out_text.contains("packed probe 1.0.0"), "{err}");
    let (ok, _, err) = cli(&[
        "--data",
        &data,
        "install",
        "--dev",
        &m,
        "--component",
        &hello_s,
    ]);
    assert!(ok, "{err}");
    // Inside the folder, through a subfolder, is fine without it.
    std::fs::copy(&hello, app.join("build/hello.wasm"))?;
    let m = manifest_naming(&app, "build/hello.wasm");
    let (ok, _, err) = cli(&["--data", &data, "install", "--dev", "--replace", &m]);
    assert!(ok, "{err}");
    Ok(())
}

#[test]
fn errors_never_quote_a_file_that_is_not_a_component_or_manifest() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = data_arg(&dir);
    let key = dir.path().join("dev.key").display().to_string();
    assert!(cli(&["keys", "new", "--out", &key]).0);
    let secret = "SECRET-TOKEN-abc123 hunter2\nsecond line hunter2\n";
    std::fs::write(dir.path().join("secret.txt"), secret)?;
    std::fs::write(
        dir.path().join("random.bin"),
        [0x5d_u8, 0xac, 0x17, 0x42, 0x99, 0x01],
    )?;
    // An empty core module: WebAssembly, but not a component.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0")?;
    let out = dir.path().join("out.sapp");
    let out_s = out.display().to_string();
    let quoted = |err: &str| {
        err.contains("hunter2")
            || err.contains("SECRET")
            || err.contains("0x53")
            || err.contains("0x5d")
            || err.contains("actual=")
    };
    for (component, expected) in [
        ("secret.txt", "not a WebAssembly component"),
        ("random.bin", "not a WebAssembly component"),
        ("core.wasm", "a core WebAssembly module, not a component"),
    ] {
        let m = manifest_naming(dir.path(), component);
        for args in [
            vec!["install", "--dev", &m],
            vec!["pack", &m, "--key", &key, "-o", &out_s],
        ] {
            let mut all = vec!["--data", data.as_str()];
            all.extend_from_slice(&args);
            let (ok, _, err) = cli(&all);
            assert!(!ok, "{component}: {args:?} succeeded");
            assert!(
                err.contains("[invalid-component]") && err.contains(expected),
                "{component}: {err}"
            );
            assert!(
                !quoted(&err),
                "{component}: the error quotes the file: {err}"
            );
        }
    }
    assert!(
        !out.exists(),
        "a file that is not a component was never signed"
    );
    // The secret given as the manifest, the package or the key.
    let secret_path = dir.path().join("secret.txt").display().to_string();
    let m = manifest_naming(dir.path(), "core.wasm");
    for (args, code) in [
        (vec!["install", "--dev", &secret_path], "invalid-manifest"),
        (vec!["install", &secret_path], "not-a-package"),
        (vec!["verify", &secret_path], "not-a-package"),
        (
            vec!["pack", &m, "--key", &secret_path, "-o", &out_s],
            "bad-key-file",
        ),
    ] {
        let mut all = vec!["--data", data.as_str()];
        all.extend_from_slice(&args);
        let (ok, _, err) = cli(&all);
        assert!(!ok && err.contains(&format!("[{code}]")), "{args:?}: {err}");
        assert!(!quoted(&err), "{args:?}: the error quotes the file: {err}");
    }
    let (_, _, err) = cli(&["--data", &data, "install", "--dev", &secret_path]);
    assert!(
        err.contains("line 1, column 21"),
        "the place is still named: {err}"
    );
    assert_eq!(component_files(&dir), 0);
    Ok(())
}
