//! Builds the example and fixture mini-apps for wasm32-wasip2 so that
//! `cargo test` needs no manual step (as wasmtime's test-programs do). The
//! nested cargo uses its own target folder, `target/guests`, so it never
//! waits on the outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[&str] = &[
    "hello",
    "fixture-loop",
    "fixture-membomb",
    "fixture-stack",
    "fixture-panic",
    "fixture-bigresponse",
    "fixture-kv",
    "fixture-wallet",
    "fixture-hostile",
    "red-packet",
    "shop",
    "ride-hailing",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .parent()
        .unwrap_or(Path::new(".."))
        .to_path_buf();
    for watched in [
        "sdk/src",
        "sdk/wit",
        "sdk/Cargo.toml",
        // Not examples/tutorial: its own workspace, built by its test.
        "examples/hello",
        "mini-apps",
        "tests/fixtures",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    ensure_wasm_target();
    let target_dir = root.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--profile",
            "guest",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    for g in GUESTS {
        cmd.args(["-p", g]);
    }
    let status = cmd.status();
    if !matches!(status, Ok(s) if s.success()) {
        println!("cargo:warning=building the guest components failed: {status:?}");
        std::process::exit(1);
    }
    let out = target_dir.join("wasm32-wasip2").join("guest");
    println!("cargo:rustc-env=SUPERAPP_GUEST_DIR={}", out.display());
    println!("cargo:rustc-env=SUPERAPP_ROOT={}", root.display());
}

/// Installs the wasm32-wasip2 standard library with rustup if it is missing.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let installed = libdir.is_some_and(|d| !d.is_empty() && Path::new(&d).exists());
    if !installed {
        let ok = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            println!(
                "cargo:warning=could not install the wasm32-wasip2 target; run `rustup target add wasm32-wasip2`"
            );
        }
    }
}
