//! Signed packages and the install lifecycle through the `superapp` command
//! line: keys, pack, verify, trust, install, upgrade, rollback, remove — and
//! every bad input refused with its own message, leaving the installed set
//! unchanged.

use std::path::{Path, PathBuf};
use superapp_tests::{HELLO_CAPS, cli, guest, manifest};

struct Env {
    dir: tempfile::TempDir,
    data: String,
    key: PathBuf,
    pubkey: String,
}

impl Env {
    fn new() -> anyhow::Result<Env> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data").display().to_string();
        let key = dir.path().join("dev.key");
        let (ok, out, err) = cli(&["keys", "new", "--out", &key.display().to_string()]);
        anyhow::ensure!(ok, "keys new: {err}");
        let pubkey = out.lines().last().unwrap_or_default().to_string();
        Ok(Env {
            dir,
            data,
            key,
            pubkey,
        })
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut all = vec!["--data", &self.data];
        all.extend_from_slice(args);
        cli(&all)
    }

    fn trust(&self) {
        let (ok, _, err) = self.run(&["trust", "add", &self.pubkey, "--name", "Test Dev"]);
        assert!(ok, "{err}");
    }

    /// Packs `wasm` as app `id` at `version` and returns the package path.
    fn pack(&self, id: &str, version: &str, wasm: &Path, extra: &str) -> PathBuf {
        let m = manifest(self.dir.path(), id, wasm, extra);
        let text = std::fs::read_to_string(&m).unwrap_or_default();
        std::fs::write(&m, text.replace("1.0.0", version)).unwrap_or_default();
        let out = self.dir.path().join(format!("{id}-{version}.sapp"));
        let (ok, _, err) = cli(&[
            "pack",
            &m.display().to_string(),
            "--key",
            &self.key.display().to_string(),
            "-o",
            &out.display().to_string(),
        ]);
        assert!(ok, "pack: {err}");
        out
    }

    fn install(&self, pkg: &Path) -> (bool, String, String) {
        self.run(&["install", &pkg.display().to_string()])
    }

    fn listed(&self) -> String {
        self.run(&["apps", "list"]).1
    }

    fn files(&self) -> usize {
        superapp_tests::component_files(&self.dir.path().join("data"))
    }
}

fn hello() -> PathBuf {
    guest("hello")
}

#[test]
fn keys_new_writes_an_owner_only_key_and_never_overwrites() -> anyhow::Result<()> {
    let env = Env::new()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env.key)?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        env.pubkey.starts_with("ed25519:") && env.pubkey.len() == 51,
        "{}",
        env.pubkey
    );
    let (ok, _, err) = cli(&["keys", "new", "--out", &env.key.display().to_string()]);
    assert!(!ok && err.contains("[key-exists]"), "{err}");
    Ok(())
}

#[test]
fn a_package_from_a_trusted_key_installs_and_runs() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.trust();
    let pkg = env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS);
    let (ok, out, _) = env.run(&["verify", &pkg.display().to_string()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("signature: valid") && out.contains("trusted:   yes"),
        "{out}"
    );
    let (ok, out, err) = env.install(&pkg);
    assert!(ok, "{err}");
    assert!(out.contains("installed greeter 1.0.0 (signed by"), "{out}");
    let (ok, out, _) = env.run(&["call", "greeter", "/greet/Li"]);
    assert!(ok && out.contains("Hello, Li!"), "{out}");
    let list = env.listed();
    assert!(!list.contains("UNSIGNED"), "{list}");
    let (_, trusted, _) = env.run(&["trust", "list"]);
    assert!(
        trusted.contains(&env.pubkey) && trusted.contains("Test Dev"),
        "{trusted}"
    );
    Ok(())
}

#[test]
fn dev_installs_are_marked_unsigned() -> anyhow::Result<()> {
    let env = Env::new()?;
    let m = manifest(env.dir.path(), "devapp", &hello(), HELLO_CAPS);
    let (ok, out, _) = env.run(&["install", "--dev", &m.display().to_string()]);
    assert!(ok && out.contains("unsigned developer install"), "{out}");
    assert!(env.listed().contains("UNSIGNED (dev)"));
    Ok(())
}

#[test]
fn an_unknown_signer_is_refused_and_nothing_is_installed() -> anyhow::Result<()> {
    let env = Env::new()?;
    let pkg = env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS);
    let (ok, out, _) = env.run(&["verify", &pkg.display().to_string()]);
    assert!(!ok && out.contains("trusted:   no"), "{out}");
    let (ok, _, err) = env.install(&pkg);
    assert!(
        !ok && err.contains("[unknown-signer]") && err.contains(&env.pubkey),
        "{err}"
    );
    assert!(env.listed().contains("no apps installed"));
    assert_eq!(env.files(), 0);
    // Trust, install, then revoke: installed apps keep running, new installs are refused.
    env.trust();
    assert!(env.install(&pkg).0);
    let (ok, _, _) = env.run(&["trust", "remove", &env.pubkey]);
    assert!(ok);
    assert!(env.run(&["call", "greeter", "/"]).0);
    let pkg2 = env.pack("greeter", "1.1.0", &hello(), HELLO_CAPS);
    let (ok, _, err) = env.run(&["apps", "upgrade", &pkg2.display().to_string()]);
    assert!(!ok && err.contains("[unknown-signer]"), "{err}");
    let (ok, _, err) = env.run(&["trust", "add", "ed25519:nope"]);
    assert!(!ok && err.contains("[bad-public-key]"), "{err}");
    Ok(())
}

/// Installs `bytes` as a package and expects the error `code`, with the
/// installed set and the component files unchanged.
fn refused(env: &Env, name: &str, bytes: &[u8], code: &str) {
    let path = env.dir.path().join(format!("{name}.sapp"));
    std::fs::write(&path, bytes).unwrap_or_default();
    let before = (env.listed(), env.files());
    let (ok, _, err) = env.install(&path);
    assert!(!ok, "{name}: installed");
    assert!(
        err.contains(&format!("[{code}]")),
        "{name}: expected [{code}], got: {err}"
    );
    assert_eq!(
        (env.listed(), env.files()),
        before,
        "{name}: the installed set changed"
    );
}

#[test]
fn every_kind_of_bad_package_is_refused_with_its_own_message() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.trust();
    let good_path = env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS);
    let good = std::fs::read(&good_path)?;
    // Something installed already, so "unchanged" means more than "empty".
    let other = env.pack("other", "1.0.0", &hello(), HELLO_CAPS);
    assert!(env.install(&other).0);

    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x40;
        b
    };
    let len = good.len();
    refused(&env, "flip-header", &flip(2), "not-a-package");
    refused(
        &env,
        "flip-version",
        &flip(4),
        "unsupported-package-version",
    );
    refused(&env, "flip-manifest", &flip(20), "bad-signature");
    refused(&env, "flip-component", &flip(len / 2), "bad-signature");
    refused(&env, "flip-signature", &flip(len - 10), "bad-signature");
    refused(&env, "flip-signer-key", &flip(len - 90), "bad-signature");
    refused(&env, "truncated", &good[..len - 30], "truncated-package");
    refused(&env, "empty", b"", "empty-file");
    refused(
        &env,
        "wasm-not-package",
        &std::fs::read(hello())?,
        "not-a-package",
    );

    let key = superapp_host::packages::load_signing_key(&env.key)?;
    let signed = |manifest: &str, wasm: &[u8]| {
        superapp_host::packages::encode_package(manifest, wasm, Some(&key)).unwrap_or_default()
    };
    let wasm = std::fs::read(hello())?;
    let base = "id = \"xy\"\nname = \"X\"\nversion = \"1.0.0\"\ndeveloper = \"D\"\ncomponent = \"x.wasm\"\n[capabilities.storage]\npurpose = \"p\"\n";
    refused(
        &env,
        "unknown-field",
        &signed(&format!("{base}colour = 1\n"), &wasm),
        "invalid-manifest",
    );
    refused(
        &env,
        "bad-version",
        &signed(&base.replace("1.0.0", "1.0"), &wasm),
        "invalid-manifest",
    );
    let no_storage = base.replace("[capabilities.storage]\npurpose = \"p\"\n", "");
    refused(
        &env,
        "undeclared",
        &signed(&no_storage, &std::fs::read(guest("fixture_kv"))?),
        "undeclared-import",
    );
    refused(
        &env,
        "oversized",
        &signed(base, &vec![0u8; (2 << 20) + 1]),
        "too-large",
    );
    refused(
        &env,
        "not-wasm",
        &signed(base, b"not wasm at all"),
        "invalid-component",
    );
    refused(
        &env,
        "unsigned",
        &superapp_host::packages::encode_package(base, &wasm, None)?,
        "unsigned-package",
    );
    refused(
        &env,
        "existing-id",
        &std::fs::read(&other)?,
        "already-installed",
    );
    Ok(())
}

#[test]
fn size_limits_are_configurable() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.trust();
    let pkg = env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS);
    let pkg = pkg.display().to_string();
    let (ok, _, err) = env.run(&["--max-component-kib", "64", "install", &pkg]);
    assert!(
        !ok && err.contains("[too-large]") && err.contains("component"),
        "{err}"
    );
    let (ok, _, err) = env.run(&["--max-package-kib", "64", "install", &pkg]);
    assert!(
        !ok && err.contains("[too-large]") && err.contains("package"),
        "{err}"
    );
    assert!(env.listed().contains("no apps installed"));
    assert!(env.run(&["install", &pkg]).0, "the defaults allow it");
    Ok(())
}

#[test]
fn upgrade_keeps_data_refuses_downgrades_and_rollback_returns() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.trust();
    let v1 = env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS);
    let v2 = env.pack("greeter", "1.1.0", &hello(), HELLO_CAPS);
    let v0 = env.pack("greeter", "0.9.0", &hello(), HELLO_CAPS);
    assert!(env.install(&v1).0);
    env.run(&["call", "greeter", "/visits", "-X", "POST"]);

    let (ok, out, err) = env.run(&["apps", "upgrade", &v2.display().to_string()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("upgraded greeter from 1.0.0 to 1.1.0"),
        "{out}"
    );
    let (_, out, _) = env.run(&["call", "greeter", "/visits"]);
    assert!(out.contains("\"count\":1"), "data kept: {out}");

    for (pkg, what) in [(&v0, "downgrade"), (&v2, "same version")] {
        let (ok, _, err) = env.run(&["apps", "upgrade", &pkg.display().to_string()]);
        assert!(!ok && err.contains("[not-newer]"), "{what}: {err}");
    }
    let (ok, _, err) = env.install(&v2);
    assert!(
        !ok && err.contains("`superapp apps upgrade <package>`"),
        "{err}"
    );
    let other = env.pack("nobody", "1.0.0", &hello(), HELLO_CAPS);
    let (ok, _, err) = env.run(&["apps", "upgrade", &other.display().to_string()]);
    assert!(!ok && err.contains("[not-installed]"), "{err}");

    let (_, show, _) = env.run(&["apps", "show", "greeter"]);
    assert!(
        show.contains("version:     1.1.0") && show.contains("rollback to: 1.0.0"),
        "{show}"
    );
    let (ok, out, _) = env.run(&["apps", "rollback", "greeter"]);
    assert!(ok && out.contains("rolled greeter back to 1.0.0"), "{out}");
    let (ok, _, err) = env.run(&["apps", "rollback", "greeter"]);
    assert!(!ok && err.contains("[no-previous-version]"), "{err}");
    let (_, out, _) = env.run(&["call", "greeter", "/visits"]);
    assert!(out.contains("\"count\":1"), "{out}");
    assert_eq!(env.files(), 2, "only the running version's files remain");
    Ok(())
}

#[test]
fn only_the_last_five_versions_are_kept_for_rollback() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.trust();
    assert!(
        env.install(&env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS))
            .0
    );
    for minor in 1..=6 {
        let pkg = env.pack("greeter", &format!("1.{minor}.0"), &hello(), HELLO_CAPS);
        let (ok, _, err) = env.run(&["apps", "upgrade", &pkg.display().to_string()]);
        assert!(ok, "{err}");
    }
    let (_, show, _) = env.run(&["apps", "show", "greeter"]);
    assert!(
        show.contains("rollback to: 1.5.0, 1.4.0, 1.3.0, 1.2.0, 1.1.0"),
        "{show}"
    );
    // The same component under every version: files are per version, so 6 versions → 12 files.
    assert_eq!(env.files(), 12);
    let (ok, _, _) = env.run(&["apps", "remove", "greeter"]);
    assert!(ok);
    assert_eq!(env.files(), 0);
    Ok(())
}

/// A second developer key pair, trusted or not.
fn other_key(env: &Env, name: &str) -> (PathBuf, String) {
    let key = env.dir.path().join(format!("{name}.key"));
    let (ok, out, err) = cli(&["keys", "new", "--out", &key.display().to_string()]);
    assert!(ok, "keys new: {err}");
    (key, out.lines().last().unwrap_or_default().to_string())
}

/// The short fingerprint of a public key, as errors name it.
fn fp(public_key: &str) -> String {
    superapp_host::packages::parse_public_key(public_key)
        .map(|k| superapp_host::packages::fingerprint(&k))
        .unwrap_or_default()
}

impl Env {
    /// `pack` with another developer's key.
    fn pack_with(&self, key: &Path, id: &str, version: &str, extra: &str) -> PathBuf {
        let m = manifest(self.dir.path(), id, &hello(), extra);
        let text = std::fs::read_to_string(&m).unwrap_or_default();
        std::fs::write(&m, text.replace("1.0.0", version)).unwrap_or_default();
        let key_name = key.file_stem().unwrap_or_default().to_string_lossy();
        let out = self
            .dir
            .path()
            .join(format!("{id}-{version}-{key_name}.sapp"));
        let (ok, _, err) = cli(&[
            "pack",
            &m.display().to_string(),
            "--key",
            &key.display().to_string(),
            "-o",
            &out.display().to_string(),
        ]);
        assert!(ok, "pack: {err}");
        out
    }

    fn upgrade(&self, pkg: &Path) -> (bool, String, String) {
        self.run(&["apps", "upgrade", &pkg.display().to_string()])
    }

    fn visits(&self, id: &str) -> String {
        self.run(&["call", id, "/visits"]).1
    }
}

#[test]
fn an_upgrade_signed_by_another_trusted_key_is_refused_even_after_a_restart() -> anyhow::Result<()>
{
    let env = Env::new()?;
    env.trust();
    let (other, other_pub) = other_key(&env, "other");
    assert!(env.run(&["trust", "add", &other_pub]).0);
    assert!(
        env.install(&env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS))
            .0
    );
    env.run(&["call", "greeter", "/visits", "-X", "POST"]);

    // Every command reopens the data folder: the binding is on disk.
    let takeover = env.pack_with(&other, "greeter", "2.0.0", HELLO_CAPS);
    for (ok, _, err) in [env.upgrade(&takeover), env.install(&takeover)] {
        assert!(!ok, "another developer's package replaced the app");
        assert!(
            err.contains("[developer-key-mismatch]")
                && err.contains(&fp(&env.pubkey))
                && err.contains(&fp(&other_pub))
                && err.contains("superapp apps rekey greeter --key"),
            "{err}"
        );
    }
    let (_, show, _) = env.run(&["apps", "show", "greeter"]);
    assert!(
        show.contains("version:     1.0.0")
            && show.contains(&format!("developer key: {}", env.pubkey)),
        "{show}"
    );
    assert!(env.visits("greeter").contains("\"count\":1"));
    // The app's own developer still upgrades it.
    let (ok, _, err) = env.upgrade(&env.pack("greeter", "1.1.0", &hello(), HELLO_CAPS));
    assert!(ok, "{err}");
    Ok(())
}

#[test]
fn a_rekey_moves_upgrades_to_the_new_key_and_rollback_keeps_the_binding() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.trust();
    let (new, new_pub) = other_key(&env, "new");
    assert!(
        env.install(&env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS))
            .0
    );
    env.run(&["call", "greeter", "/visits", "-X", "POST"]);

    let (ok, _, err) = env.run(&["apps", "rekey", "greeter", "--key", &new_pub]);
    assert!(
        !ok && err.contains("[untrusted-key]") && err.contains("trust add"),
        "{err}"
    );
    assert!(env.run(&["trust", "add", &new_pub]).0);
    let (ok, out, err) = env.run(&["apps", "rekey", "greeter", "--key", &new_pub]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("greeter is now bound to {new_pub}"))
            && out.contains(&format!("instead of {}", fp(&env.pubkey))),
        "{out}"
    );
    // The old key's version keeps running; the old key may no longer upgrade.
    assert!(env.visits("greeter").contains("\"count\":1"));
    let (ok, _, err) = env.upgrade(&env.pack("greeter", "1.1.0", &hello(), HELLO_CAPS));
    assert!(!ok && err.contains("[developer-key-mismatch]"), "{err}");
    let (ok, _, err) = env.upgrade(&env.pack_with(&new, "greeter", "1.1.0", HELLO_CAPS));
    assert!(ok, "{err}");
    let (_, show, _) = env.run(&["apps", "show", "greeter"]);
    assert!(
        show.contains(&format!("developer key: {new_pub}"))
            && show.contains(&format!("before: {}", fp(&env.pubkey))),
        "{show}"
    );

    // Rollback returns to the old key's version; the binding stays new.
    let (ok, out, _) = env.run(&["apps", "rollback", "greeter"]);
    assert!(ok && out.contains("back to 1.0.0"), "{out}");
    let (_, show, _) = env.run(&["apps", "show", "greeter"]);
    assert!(
        show.contains(&format!("signed:      yes, by {}", env.pubkey))
            && show.contains(&format!("developer key: {new_pub}")),
        "{show}"
    );
    let (ok, _, err) = env.upgrade(&env.pack("greeter", "1.2.0", &hello(), HELLO_CAPS));
    assert!(!ok && err.contains("[developer-key-mismatch]"), "{err}");
    let (ok, _, err) = env.upgrade(&env.pack_with(&new, "greeter", "1.2.0", HELLO_CAPS));
    assert!(ok, "{err}");
    assert!(env.visits("greeter").contains("\"count\":1"));

    let (ok, out, _) = env.run(&["apps", "rekey", "greeter", "--key", &new_pub]);
    assert!(ok && out.contains("already bound"), "{out}");
    let (ok, _, err) = env.run(&["apps", "rekey", "nobody", "--key", &new_pub]);
    assert!(!ok && err.contains("[not-installed]"), "{err}");
    let (ok, _, err) = env.run(&["apps", "rekey", "greeter", "--key", "ed25519:nope"]);
    assert!(!ok && err.contains("[bad-public-key]"), "{err}");
    Ok(())
}

#[test]
fn a_dev_replace_over_a_signed_app_needs_replace_signed() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.trust();
    let (other, other_pub) = other_key(&env, "other");
    assert!(env.run(&["trust", "add", &other_pub]).0);
    assert!(
        env.install(&env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS))
            .0
    );
    env.run(&["call", "greeter", "/visits", "-X", "POST"]);
    let dev = manifest(env.dir.path(), "greeter", &hello(), HELLO_CAPS);
    let dev = dev.display().to_string();
    for args in [
        vec!["install", "--dev", "--replace", &dev],
        vec!["install", "--dev", &dev],
    ] {
        let (ok, _, err) = env.run(&args);
        assert!(!ok, "{args:?} replaced a signed app");
        assert!(
            err.contains("[signed-app]")
                && err.contains(&fp(&env.pubkey))
                && err.contains("--replace-signed"),
            "{args:?}: {err}"
        );
    }
    assert!(!env.listed().contains("UNSIGNED"));
    let (ok, _, err) = env.run(&["install", "--dev", "--replace-signed", &dev]);
    assert!(ok, "{err}");
    assert!(env.listed().contains("UNSIGNED (dev)"));
    assert!(env.visits("greeter").contains("\"count\":1"), "data kept");
    // The binding is kept: only the app's developer signs its next version.
    let (ok, _, err) = env.upgrade(&env.pack_with(&other, "greeter", "2.0.0", HELLO_CAPS));
    assert!(!ok && err.contains("[developer-key-mismatch]"), "{err}");
    let (ok, _, err) = env.upgrade(&env.pack("greeter", "2.0.0", &hello(), HELLO_CAPS));
    assert!(ok, "{err}");
    Ok(())
}

#[test]
fn a_removed_app_stays_bound_to_its_key_until_its_data_is_purged() -> anyhow::Result<()> {
    let env = Env::new()?;
    env.trust();
    let (other, other_pub) = other_key(&env, "other");
    assert!(env.run(&["trust", "add", &other_pub]).0);
    let mine = env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS);
    assert!(env.install(&mine).0);
    env.run(&["call", "greeter", "/visits", "-X", "POST"]);
    let (ok, out, _) = env.run(&["apps", "remove", "greeter"]);
    assert!(
        ok && out.contains("its data is kept")
            && out.contains(&format!("bound to developer key {}", fp(&env.pubkey))),
        "{out}"
    );

    // Someone else's package, or unsigned code, does not inherit the data.
    let theirs = env.pack_with(&other, "greeter", "1.0.0", HELLO_CAPS);
    let (ok, _, err) = env.install(&theirs);
    assert!(!ok && err.contains("[developer-key-mismatch]"), "{err}");
    let dev = manifest(env.dir.path(), "greeter", &hello(), HELLO_CAPS);
    let (ok, _, err) = env.run(&["install", "--dev", &dev.display().to_string()]);
    assert!(!ok && err.contains("[signed-app]"), "{err}");
    assert!(env.listed().contains("no apps installed"));
    // Its own developer's package does, with the data.
    assert!(env.install(&mine).0);
    assert!(env.visits("greeter").contains("\"count\":1"));

    // Purging the data of a removed app frees the id for a fresh start.
    assert!(env.run(&["apps", "remove", "greeter"]).0);
    let (ok, out, err) = env.run(&["apps", "remove", "greeter", "--purge-data"]);
    assert!(
        ok && out.contains("purged what the removed app greeter left"),
        "{err}"
    );
    let (ok, _, err) = env.run(&["apps", "remove", "greeter", "--purge-data"]);
    assert!(!ok && err.contains("[not-installed]"), "{err}");
    let (ok, _, err) = env.install(&theirs);
    assert!(ok, "{err}");
    assert!(env.visits("greeter").contains("\"count\":0"));
    let (_, show, _) = env.run(&["apps", "show", "greeter"]);
    assert!(
        show.contains(&format!("developer key: {other_pub}")),
        "{show}"
    );
    // Removed with its data at once: free as well.
    let (ok, out, _) = env.run(&["apps", "remove", "greeter", "--purge-data"]);
    assert!(ok && out.contains("and its data"), "{out}");
    assert!(env.install(&mine).0);
    Ok(())
}

#[test]
fn the_key_rules_hold_through_a_running_server() -> anyhow::Result<()> {
    let env = Env::new()?;
    let (other, other_pub) = other_key(&env, "other");
    let data = PathBuf::from(&env.data);
    let (base, _host, _rt) = superapp_tests::serve_with_admin(superapp_tests::open_host(&data)?)?;
    let admin = superapp_host::remote::ServeInfo::read(&data)
        .map(|i| i.token)
        .unwrap_or_default();
    env.trust();
    assert!(env.run(&["trust", "add", &other_pub]).0);
    let (ok, _, err) = env.install(&env.pack("greeter", "1.0.0", &hello(), HELLO_CAPS));
    assert!(ok, "{err}");

    let (ok, _, err) = env.upgrade(&env.pack_with(&other, "greeter", "1.1.0", HELLO_CAPS));
    assert!(
        !ok && err.contains("[developer-key-mismatch]") && err.contains(&fp(&other_pub)),
        "{err}"
    );
    let dev = manifest(env.dir.path(), "greeter", &hello(), HELLO_CAPS);
    let dev = dev.display().to_string();
    let (ok, _, err) = env.run(&["install", "--dev", "--replace", &dev]);
    assert!(
        !ok && err.contains("[signed-app]") && err.contains("--replace-signed"),
        "{err}"
    );

    // The route itself: the admin token, a trusted key, a known app.
    let url = format!("{base}/admin/apps/greeter/developer-key");
    let body = serde_json::json!({ "public_key": other_pub });
    let r = superapp_tests::send_json("PUT", &url, None, &body)?;
    assert_eq!(
        (r.status, r.problem().as_str()),
        (401, "admin-token-required")
    );
    let untrusted = other_key(&env, "untrusted").1;
    let r = superapp_tests::send_json(
        "PUT",
        &url,
        Some(&admin),
        &serde_json::json!({ "public_key": untrusted }),
    )?;
    assert_eq!(
        (r.status, r.problem().as_str()),
        (422, "untrusted-key"),
        "{}",
        r.body
    );
    let r = superapp_tests::send_json(
        "PUT",
        &format!("{base}/admin/apps/nobody/developer-key"),
        Some(&admin),
        &body,
    )?;
    assert_eq!(
        (r.status, r.problem().as_str()),
        (404, "not-installed"),
        "{}",
        r.body
    );

    let (ok, out, err) = env.run(&["apps", "rekey", "greeter", "--key", &other_pub]);
    assert!(ok && out.contains("now bound to"), "{err}");
    let r = superapp_tests::send(
        "GET",
        &format!("{base}/admin/apps/greeter"),
        Some(&admin),
        None,
    )?;
    assert_eq!(
        r.json()["developer_key"]["key"],
        other_pub.as_str(),
        "{}",
        r.body
    );
    assert_eq!(
        r.json()["developer_key"]["earlier"][0]["key"],
        env.pubkey.as_str()
    );
    let (ok, _, err) = env.upgrade(&env.pack_with(&other, "greeter", "1.1.0", HELLO_CAPS));
    assert!(ok, "{err}");
    let (ok, _, err) = env.run(&["install", "--dev", "--replace-signed", &dev]);
    assert!(ok, "{err}");
    let doc = superapp_tests::send("GET", &format!("{base}/openapi.json"), None, None)?;
    assert!(doc.body.contains("/admin/apps/{id}/developer-key"));
    Ok(())
}

/// `wasm` with a custom section of `pad` bytes appended: still the same
/// component, only bigger.
fn padded(wasm: &[u8], pad: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"padding";
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name);
    body.resize(body.len() + pad, 0);
    let mut out = wasm.to_vec();
    out.push(0);
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

#[test]
fn the_admin_api_takes_packages_up_to_the_host_cap_and_refuses_more_as_problem_json()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let mut config = superapp_tests::test_config(&data);
    config.max_component_bytes = 4 << 20;
    config.max_package_bytes = 4 << 20;
    let host = superapp_host::Superapp::open(config)?;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    host.trust().add(
        &superapp_host::packages::public_key_text(&key.verifying_key().to_bytes()),
        None,
    )?;
    let (base, _host, _rt) = superapp_tests::serve_with_admin(host)?;
    let admin = superapp_host::remote::ServeInfo::read(&data)
        .map(|i| i.token)
        .unwrap_or_default();
    let manifest = format!(
        "id = \"big\"\nname = \"Big\"\nversion = \"1.0.0\"\ndeveloper = \"D\"\ncomponent = \"x.wasm\"\n{HELLO_CAPS}"
    );
    // Over axum's default 2 MiB body limit, under the host's cap.
    let wasm = padded(&std::fs::read(hello())?, 3 << 20);
    let package = superapp_host::packages::encode_package(&manifest, &wasm, Some(&key))?;
    assert!(package.len() > 3 << 20);
    let url = format!("{base}/admin/apps");
    let r = superapp_tests::send(
        "POST",
        &url,
        Some(&admin),
        Some((&package, "application/octet-stream")),
    )?;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = superapp_tests::send("GET", &format!("{base}/apps"), None, None)?;
    assert!(r.body.contains("\"big\""), "{}", r.body);

    let over = vec![0u8; (4 << 20) + 1];
    let r = superapp_tests::send(
        "POST",
        &format!("{url}?mode=upgrade"),
        Some(&admin),
        Some((&over, "application/octet-stream")),
    )?;
    assert_eq!(r.status, 413);
    assert_eq!(r.content_type, "application/problem+json", "{}", r.body);
    assert_eq!(r.problem(), "request-too-large");
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("4194304 bytes"),
        "{}",
        r.body
    );
    Ok(())
}

#[test]
fn keys_show_prints_the_public_key_keys_new_printed_and_names_a_bad_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("dev.key");
    let key_text = key.display().to_string();
    let (ok, made, err) = cli(&["keys", "new", "--out", &key_text]);
    assert!(ok, "keys new: {err}");
    let public = made.lines().last().unwrap_or_default().to_string();
    let (ok, shown, err) = cli(&["keys", "show", &key_text]);
    assert!(ok, "keys show: {err}");
    assert_eq!(shown.lines().last(), Some(public.as_str()), "{shown}");
    assert!(
        shown.contains(&fp(&public)),
        "with its fingerprint: {shown}"
    );
    let bad = dir.path().join("not-a.key");
    std::fs::write(&bad, "hello")?;
    let (ok, _, err) = cli(&["keys", "show", &bad.display().to_string()]);
    assert!(!ok);
    assert!(err.contains("not-a.key"), "the error names the file: {err}");
    Ok(())
}
