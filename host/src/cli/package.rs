//! Package files: `pack` builds and signs one, `verify` checks one (and
//! asks the host whether it trusts the signer).

use super::operator;
use super::{CliError, Settings, read_package};
use crate::HostConfig;
use crate::packages::{
    Manifest, PackageError, Ui, check_ui, decode_package, encode_package_with_ui, fingerprint,
    load_signing_key, public_key_text,
};
use clap::Args;
use sha2::Digest;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

// No doc comment: `Command::Pack`'s is the command's help.
#[derive(Args)]
pub(super) struct PackArgs {
    /// The manifest (TOML); its `component` names the built .wasm.
    manifest: PathBuf,
    /// The developer's private key file (from `superapp keys new`).
    #[arg(long)]
    key: PathBuf,
    /// Where to write the package.
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// The built component, instead of the manifest's `component`
    /// (which must lie in the manifest's folder).
    #[arg(long)]
    component: Option<PathBuf>,
    /// The UI folder, instead of the manifest's `[ui] dir` (which must
    /// lie in the manifest's folder).
    #[arg(long, value_name = "DIR")]
    ui: Option<PathBuf>,
}

// No doc comment: `Command::Verify`'s is the command's help.
#[derive(Args)]
pub(super) struct VerifyArgs {
    /// The package file.
    package: PathBuf,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

pub(super) fn pack(
    config: &HostConfig,
    args: PackArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let key = load_signing_key(&args.key)?;
    let app = super::read_dev_app(
        &args.manifest,
        args.component.as_ref(),
        args.ui.as_ref(),
        config,
    )?;
    let parsed = &app.manifest;
    let bytes = encode_package_with_ui(
        &app.manifest_toml,
        &app.component,
        app.ui.as_ref().map(Ui::body),
        Some(&key),
    )?;
    PackageError::check_size("package", bytes.len(), config.max_package_bytes)?;
    let target = &args.out;
    crate::fsutil::write_atomic(target, &bytes)
        .map_err(|e| CliError::plain(format!("{}: {e}", target.display())))?;
    let public = key.verifying_key().to_bytes();
    w!(
        out,
        "packed {} {} into {} ({} bytes; ui: {}), signed by {} ({})",
        parsed.id,
        parsed.version,
        target.display(),
        bytes.len(),
        describe_ui(app.ui.as_ref()),
        public_key_text(&public),
        fingerprint(&public)
    );
    Ok(())
}

/// Exits 1 when the package is sound but its signer is not trusted here
/// (or the host cannot be asked).
pub(super) fn verify(
    settings: &Settings,
    args: VerifyArgs,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let package = &args.package;
    let config = settings.config();
    let bytes = read_package(package, &config)?;
    let p = decode_package(&bytes)?;
    let signer = p.signer.ok_or(PackageError::Unsigned)?;
    let manifest = Manifest::parse(
        &p.manifest_toml,
        &format!("{} (manifest)", package.display()),
    )
    .map_err(|e| CliError::new("invalid-manifest", e))?;
    let sha = crate::text::hex(&sha2::Sha256::digest(&p.component));
    let ui = check_ui(manifest.ui.as_ref(), p.ui, config.max_ui_bytes)?;
    let signer_text = public_key_text(&signer);
    let trusted = trusted_here(settings, &signer_text);
    if args.output.json() {
        let (trusted, why) = match &trusted {
            Trust::Yes => (Some(true), None),
            Trust::No | Trust::NoFolder => (Some(false), None),
            Trust::Unknown(e) => (None, Some(e.to_string())),
        };
        let shown = serde_json::json!({
            "package": package.display().to_string(),
            "app": manifest.id,
            "version": manifest.version.to_string(),
            "component_bytes": p.component.len(),
            "component_sha256": sha,
            "ui": ui.as_ref().map(|u| serde_json::json!({
                "files": u.file_count(),
                "bytes": u.total_bytes(),
                "tag": u.tag(),
            })),
            "signer": signer_text,
            "fingerprint": fingerprint(&signer),
            "trusted": trusted,
            "trust_unknown_because": why,
        });
        super::output::json(out, &shown)?;
        return Ok(match trusted {
            Some(true) => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        });
    }
    w!(out, "package:   {}", package.display());
    w!(out, "app:       {} {}", manifest.id, manifest.version);
    w!(out, "component: {} bytes, sha256 {sha}", p.component.len());
    w!(out, "ui:        {}", describe_ui(ui.as_ref()));
    w!(
        out,
        "signature: valid, by {signer_text} ({})",
        fingerprint(&signer)
    );
    match trusted {
        Trust::Yes => {
            w!(out, "trusted:   yes");
            Ok(ExitCode::SUCCESS)
        }
        Trust::No => {
            w!(
                out,
                "trusted:   no (add the key with `superapp trust add` to install it)"
            );
            Ok(ExitCode::FAILURE)
        }
        Trust::NoFolder => {
            w!(
                out,
                "trusted:   no (there is no data folder at {}, so it trusts no key; give the host's with --data)",
                settings.data.display()
            );
            Ok(ExitCode::FAILURE)
        }
        Trust::Unknown(e) => {
            w!(out, "trusted:   unknown ({e})");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Whether the host on the data folder trusts a package's signer.
enum Trust {
    Yes,
    No,
    /// There is no data folder, so no key is trusted (checking a package
    /// needs no host, and asking one must not make one).
    NoFolder,
    /// The host could not be asked.
    Unknown(CliError),
}

fn trusted_here(settings: &Settings, signer: &str) -> Trust {
    if settings.require_data().is_err() {
        return Trust::NoFolder;
    }
    let keys = operator::connect(settings).and_then(|host| host.trusted_keys());
    match keys {
        Ok(keys) if keys.iter().any(|k| k.public_key == signer) => Trust::Yes,
        Ok(_) => Trust::No,
        Err(e) => Trust::Unknown(e),
    }
}

fn describe_ui(ui: Option<&Ui>) -> String {
    match ui {
        Some(ui) => format!(
            "{} files, {} bytes, tag {}",
            ui.file_count(),
            ui.total_bytes(),
            ui.tag()
        ),
        None => "none".to_string(),
    }
}
