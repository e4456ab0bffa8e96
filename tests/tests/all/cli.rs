//! The command line for people and scripts: JSON output, completions,
//! consent from the CLI, read-only commands on a missing folder, the hint
//! when a server holds the folder, and `superapp new`.

use std::path::{Path, PathBuf};
use std::process::Command;
use superapp_tests::{HELLO_CAPS, cli, guest, manifest, reader_build, reader_cargo};

fn json(out: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(out).map_err(|e| anyhow::anyhow!("not JSON ({e}): {out}"))
}

/// Runs the CLI on `data`, failing the test with its error output.
fn ok(data: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["--data", data];
    all.extend_from_slice(args);
    let (ok, out, err) = cli(&all);
    anyhow::ensure!(ok, "{args:?}: {err}");
    Ok(out)
}

/// A folder with hello installed (a developer install), ann (with money)
/// and a trusted key.
fn set_up(dir: &Path) -> anyhow::Result<String> {
    let data = dir.join("data").display().to_string();
    let m = manifest(dir, "hello", &guest("hello"), HELLO_CAPS);
    ok(&data, &["install", "--dev", &m.display().to_string()])?;
    ok(&data, &["users", "add", "ann"])?;
    ok(&data, &["wallet", "topup", "ann", "12.34"])?;
    let key = dir.join("dev.key").display().to_string();
    ok(&data, &["keys", "new", "--out", &key])?;
    let shown = json(&ok(&data, &["keys", "show", &key, "-o", "json"])?)?;
    let public = shown["public_key"].as_str().unwrap_or_default().to_string();
    ok(&data, &["trust", "add", &public, "--name", "Dev"])?;
    Ok(data)
}

/// The listing and show commands with `-o json` (and `verify`, below).
const JSON_COMMANDS: &[&[&str]] = &[
    &["apps", "list"],
    &["apps", "show", "hello"],
    &["users", "list"],
    &["trust", "list"],
    &["host-keys", "list"],
    &["wallet", "balance", "ann"],
    &["wallet", "merchants"],
    &["wallet", "audit"],
];

fn all_json(data: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    JSON_COMMANDS
        .iter()
        .map(|c| {
            let mut args = c.to_vec();
            args.extend(["-o", "json"]);
            json(&ok(data, &args)?)
        })
        .collect()
}

#[test]
fn listings_and_shows_print_json_in_one_shape_from_the_folder_and_through_a_server()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = set_up(dir.path())?;
    let local = all_json(&data)?;
    let [
        apps,
        app,
        users,
        trust,
        host_keys,
        balance,
        merchants,
        audit,
    ] = local.as_slice()
    else {
        anyhow::bail!("{local:?}");
    };
    assert_eq!(
        apps[0]["record"]["current"]["manifest"]["id"], "hello",
        "{apps}"
    );
    assert_eq!(app["record"]["current"]["manifest"]["id"], "hello", "{app}");
    assert!(app["storage_used"].is_u64(), "{app}");
    assert_eq!(users[0]["handle"], "ann", "{users}");
    assert_eq!(trust[0]["name"], "Dev", "{trust}");
    assert_eq!(host_keys[0]["active"], true, "{host_keys}");
    assert_eq!(balance["balance"], 1234, "{balance}");
    assert!(merchants.is_array(), "{merchants}");
    assert!(audit["batches"].is_u64(), "{audit}");
    // `verify` shows a package: trusted here (the key set_up trusted).
    let key = dir.path().join("dev.key").display().to_string();
    let manifest = dir.path().join("hello.toml").display().to_string();
    let sapp = dir.path().join("hello.sapp").display().to_string();
    ok(&data, &["pack", &manifest, "--key", &key, "-o", &sapp])?;
    let verified = json(&ok(&data, &["verify", &sapp, "-o", "json"])?)?;
    assert_eq!(verified["app"], "hello", "{verified}");
    assert_eq!(verified["trusted"], true, "{verified}");
    assert!(
        verified["signer"]
            .as_str()
            .is_some_and(|s| s.starts_with("ed25519:")),
        "{verified}"
    );

    // Through a running server (the admin routes) the same documents come
    // back: one shape for scripts either way.
    let path = PathBuf::from(&data);
    let (base, _host, _rt) = superapp_tests::serve_with_admin(superapp_tests::open_host(&path)?)?;
    assert!(superapp_host::remote::ServeInfo::read(&path).is_some());
    let remote = all_json(&data)?;
    for ((command, here), there) in JSON_COMMANDS.iter().zip(&local).zip(&remote) {
        assert_eq!(here, there, "{command:?} through {base}");
    }
    // Text stays the default.
    let text = ok(&data, &["apps", "list"])?;
    assert!(text.starts_with("ID "), "{text}");
    Ok(())
}

#[test]
fn a_command_that_only_reads_names_a_missing_data_folder_and_creates_none() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("superapp-data");
    let data_s = data.display().to_string();
    // The folder is the embedded store's (on a database it holds only a
    // cache), so this runs on it whichever backend the suite runs on.
    let more: &[&[&str]] = &[&["grants", "list", "ann"], &["call", "hello", "/"]];
    for args in JSON_COMMANDS.iter().chain(more) {
        let mut all = vec!["--store", "embedded", "--data", &data_s];
        all.extend_from_slice(args);
        let (ok, _, err) = cli(&all);
        assert!(!ok, "{args:?}");
        assert!(err.contains("[no-data-folder]"), "{args:?}: {err}");
        assert!(err.contains(&data_s), "{args:?} names the folder: {err}");
        assert!(!data.exists(), "{args:?} created {data_s}");
    }
    // A folder that exists but holds nothing says which folder it read.
    ok(&data_s, &["users", "add", "ann"])?;
    let out = ok(&data_s, &["apps", "list"])?;
    assert!(
        out.contains(&format!("no apps installed in {data_s}")),
        "{out}"
    );
    assert_eq!(
        json(&ok(&data_s, &["apps", "list", "-o", "json"])?)?,
        serde_json::json!([])
    );
    Ok(())
}

#[test]
fn grants_set_lets_call_user_see_the_profile_and_a_running_server_points_to_http()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = set_up(dir.path())?;
    let whoami = |data: &str| -> anyhow::Result<serde_json::Value> {
        let out = ok(data, &["call", "hello", "/whoami", "--user", "ann"])?;
        json(
            out.split_once('\n')
                .map(|(_, body)| body)
                .unwrap_or_default(),
        )
    };
    assert_eq!(whoami(&data)?["profile_withheld"], "not-granted");
    let listed = json(&ok(&data, &["grants", "list", "ann", "-o", "json"])?)?;
    assert_eq!(listed[0]["app"], "hello", "{listed}");
    assert_eq!(listed[0]["scopes"][0]["state"], "undecided", "{listed}");

    let out = ok(
        &data,
        &["grants", "set", "ann", "hello", "profile", "grant"],
    )?;
    assert!(out.contains("profile is granted"), "{out}");
    let me = whoami(&data)?;
    assert!(me["profile_withheld"].is_null(), "{me}");
    assert!(me["profile"].to_string().contains("\"ann\""), "{me}");
    let listed = json(&ok(
        &data,
        &["grants", "list", "ann", "--app", "hello", "-o", "json"],
    )?)?;
    assert_eq!(listed[0]["scopes"][0]["state"], "granted", "{listed}");

    ok(&data, &["grants", "set", "ann", "hello", "profile", "deny"])?;
    assert_eq!(whoami(&data)?["profile_withheld"], "refused");
    ok(
        &data,
        &["grants", "set", "ann", "hello", "profile", "revoke"],
    )?;
    assert_eq!(whoami(&data)?["profile_withheld"], "not-granted");

    // Bad input names what was wrong and changes nothing.
    for (args, code) in [
        (
            &["grants", "set", "ann", "hello", "wallet", "grant"][..],
            "[unknown-scope]",
        ),
        (
            &["grants", "set", "nobody", "hello", "profile", "grant"],
            "nobody",
        ),
        (
            &["grants", "set", "ann", "ghost", "profile", "grant"],
            "ghost",
        ),
    ] {
        let mut all = vec!["--data", &data];
        all.extend_from_slice(args);
        let (ok, _, err) = cli(&all);
        assert!(!ok && err.contains(code), "{args:?}: {err}");
    }
    let (ok_, _, err) = cli(&[
        "--data", &data, "grants", "set", "ann", "hello", "profile", "maybe",
    ]);
    assert!(
        !ok_ && err.contains("grant") && err.contains("revoke"),
        "{err}"
    );
    assert_eq!(whoami(&data)?["profile_withheld"], "not-granted");

    // While a server holds the folder, both point to HTTP with the URL.
    let path = PathBuf::from(&data);
    let (base, _host, _rt) = superapp_tests::serve_with_admin(superapp_tests::open_host(&path)?)?;
    let (ok_, _, err) = cli(&[
        "--data",
        &data,
        "call",
        "hello",
        "/whoami?x=1",
        "--user",
        "ann",
    ]);
    assert!(!ok_ && err.contains("[server-running]"), "{err}");
    assert!(
        err.contains(&format!("GET {base}/apps/hello/call/whoami?x=1")),
        "{err}"
    );
    let (ok_, _, err) = cli(&[
        "--data", &data, "grants", "set", "ann", "hello", "profile", "grant",
    ]);
    assert!(!ok_ && err.contains("[server-running]"), "{err}");
    assert!(
        err.contains(&format!(
            "PUT {base}/me/apps/hello/grants/profile with {{\"decision\":\"grant\"}}"
        )),
        "{err}"
    );
    let (ok_, _, err) = cli(&["--data", &data, "grants", "list", "ann", "--app", "hello"]);
    assert!(
        !ok_ && err.contains(&format!("GET {base}/me/apps/hello/grants")),
        "{err}"
    );
    Ok(())
}

#[test]
fn completions_are_printed_for_every_shell_and_bash_completes_the_commands() -> anyhow::Result<()> {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (ok, out, err) = cli(&["completions", shell]);
        assert!(ok, "{shell}: {err}");
        assert!(
            out.contains("superapp") && out.contains("grants"),
            "{shell}: {out}"
        );
    }
    let (_, script, _) = cli(&["completions", "bash"]);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("superapp.bash");
    std::fs::write(&file, script)?;
    // What bash does on `superapp ap<TAB>` and `superapp apps <TAB>`.
    let probe = format!(
        "source {}; COMP_WORDS=(superapp ap); COMP_CWORD=1; _superapp superapp ap superapp; \
         echo \"${{COMPREPLY[*]}}\"; COMP_WORDS=(superapp apps ''); COMP_CWORD=2; \
         _superapp superapp '' apps; echo \"${{COMPREPLY[*]}}\"",
        file.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines.first().map(|l| l.trim()), Some("apps"), "{text}");
    for sub in ["list", "show", "upgrade", "rollback", "remove", "rekey"] {
        assert!(
            lines.get(1).is_some_and(|l| l.split(' ').any(|w| w == sub)),
            "{sub}: {text}"
        );
    }
    Ok(())
}

/// Runs `cmd` in `dir`, failing with its output.
fn run_in(dir: &Path, mut cmd: Command) -> anyhow::Result<String> {
    let out = cmd.current_dir(dir).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn superapp_new_scaffolds_a_crate_that_builds_installs_and_answers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data").display().to_string();
    let crate_dir = dir.path().join("demo");
    let crate_s = crate_dir.display().to_string();
    let printed = ok(&data, &["new", "demo", "--path", &crate_s])?;
    for line in [
        "rustup target add wasm32-wasip2",
        "cargo build --release --target wasm32-wasip2",
        "superapp install --dev demo.toml",
        "superapp call demo /",
    ] {
        assert!(printed.contains(line), "{line}: {printed}");
    }
    for file in ["Cargo.toml", "src/lib.rs", "demo.toml", "README.md"] {
        assert!(crate_dir.join(file).is_file(), "{file}");
    }
    // Again over it: refused, nothing touched.
    let before = std::fs::read_to_string(crate_dir.join("src/lib.rs"))?;
    let (again, _, err) = cli(&["--data", &data, "new", "demo", "--path", &crate_s]);
    assert!(!again && err.contains("[path-exists]"), "{err}");
    assert_eq!(
        std::fs::read_to_string(crate_dir.join("src/lib.rs"))?,
        before
    );
    let (bad, _, err) = cli(&["new", "Not_An_Id"]);
    assert!(!bad && err.contains("[invalid-app-id]"), "{err}");

    // The printed commands.
    std::fs::copy(
        superapp_tests::root().join("Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )?;
    reader_build(&crate_dir, "demo", &crate_dir.join("target"))?;
    let installed = run_printed_install(&printed, &crate_dir, &data)?;
    assert!(installed.contains("installed demo 0.1.0"), "{installed}");
    let out = ok(&data, &["call", "demo", "/"])?;
    assert_eq!(out, "200\nHello from demo!\n");
    let out = ok(&data, &["call", "demo", "/visits", "-X", "POST"])?;
    assert_eq!(out, "200\n1\n");
    // Its mock-host test passes natively.
    reader_cargo(&crate_dir, &["test"])?;
    Ok(())
}

#[test]
fn superapp_new_inside_a_workspace_makes_a_member_only_where_the_workspace_lists_it()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws)?;
    let sdk = superapp_tests::root().join("sdk");
    std::fs::write(
        ws.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [\"apps/*\"]\n\n[workspace.dependencies]\n\
             superapp-sdk = {{ path = {:?} }}\n",
            sdk.display().to_string()
        ),
    )?;
    let member = ws.join("apps/member");
    let member_printed = ok(
        "unused",
        &["new", "member", "--path", &member.display().to_string()],
    )?;
    let printed = &member_printed;
    assert!(printed.contains("a member of the workspace"), "{printed}");
    assert!(
        printed.contains("--component ../../target/wasm32-wasip2/release/member.wasm"),
        "{printed}"
    );
    let manifest = std::fs::read_to_string(member.join("member.toml"))?;
    assert!(
        manifest.contains("component = \"../../target/wasm32-wasip2/release/member.wasm\""),
        "{manifest}"
    );
    let toml = std::fs::read_to_string(member.join("Cargo.toml"))?;
    assert!(
        toml.contains("superapp-sdk = { workspace = true }"),
        "{toml}"
    );
    assert!(!toml.contains("[workspace]"), "{toml}");

    let loose = ws.join("tools/loose");
    let printed = ok(
        "unused",
        &["new", "loose", "--path", &loose.display().to_string()],
    )?;
    assert!(printed.contains("its own workspace"), "{printed}");
    let toml = std::fs::read_to_string(loose.join("Cargo.toml"))?;
    assert!(toml.contains("[workspace]"), "{toml}");
    // The temporary folder shares no folder with the checkout: absolute.
    let sdk_text = std::fs::canonicalize(&sdk)?.display().to_string();
    assert!(toml.contains(&format!("path = \"{sdk_text}\"")), "{toml}");

    // Cargo agrees on where each belongs (no build needed to know).
    std::fs::copy(
        superapp_tests::root().join("Cargo.lock"),
        ws.join("Cargo.lock"),
    )?;
    std::fs::copy(
        superapp_tests::root().join("Cargo.lock"),
        loose.join("Cargo.lock"),
    )?;
    for (crate_dir, root) in [(&member, &ws), (&loose, &loose)] {
        let meta = reader_cargo(
            crate_dir,
            &[
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ],
        )?;
        let out: serde_json::Value = serde_json::from_str(&meta)?;
        let found = out["workspace_root"].as_str().map(PathBuf::from);
        assert_eq!(
            found,
            Some(std::fs::canonicalize(root)?),
            "{}",
            crate_dir.display()
        );
    }

    // The member builds into the workspace's target/ and installs with the
    // command `new` printed (which names the component there).
    reader_build(&member, "member", &ws.join("target"))?;
    let data = dir.path().join("data").display().to_string();
    let installed = run_printed_install(&member_printed, &member, &data)?;
    assert!(installed.contains("installed member 0.1.0"), "{installed}");
    assert_eq!(
        ok(&data, &["call", "member", "/"])?,
        "200\nHello from member!\n"
    );
    Ok(())
}

/// Runs the `superapp install …` line `new` printed, word for word, in the
/// crate's folder, on `data`.
fn run_printed_install(printed: &str, dir: &Path, data: &str) -> anyhow::Result<String> {
    let line = printed
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("superapp install"))
        .ok_or_else(|| anyhow::anyhow!("no install line: {printed}"))?;
    let mut install = Command::new(env!("CARGO_BIN_EXE_superapp-under-test"));
    if let Some(url) = superapp_tests::store_for(Path::new(data)) {
        install.args(["--store", &url]);
    }
    install.args(["--data", data]);
    install.args(line.split_whitespace().skip(1));
    run_in(dir, install)
}

#[test]
fn a_limit_given_after_the_command_is_refused_with_where_it_goes() {
    let (ok, _, err) = cli(&["install", "--dev", "x.toml", "--max-component-kib", "100"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("--max-component-kib goes before the command"),
        "{err}"
    );
    let (ok, _, err) = cli(&["apps", "list", "--max-ui-kib=5"]);
    assert!(
        !ok && err.contains("--max-ui-kib goes before the command"),
        "{err}"
    );
}
