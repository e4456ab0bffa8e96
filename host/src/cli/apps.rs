//! `install` and `apps`: putting mini-apps on the host and managing the
//! installed ones (list, show, upgrade, rollback, remove, rekey).

use super::operator::{self, Operator};
use super::output::{self, OutputArgs};
use super::{CliError, Settings, read_package};
use crate::HostConfig;
use crate::http::admin::AdminApp;
use crate::packages::{
    AppRecord, CommitMode, DevApp, KeyBinding, Manifest, decode_package, fingerprint,
    key_fingerprint, parse_public_key,
};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

// No doc comment: `Command::Install`'s is the command's help.
#[derive(Args)]
pub(super) struct InstallArgs {
    /// The package, or with --dev the manifest (TOML).
    file: PathBuf,
    /// Developer install from a manifest: unsigned, marked so in `apps list`.
    #[arg(long)]
    dev: bool,
    /// With --dev: replace an installed app with the same id, keeping its
    /// data. Refused for a signed app (see --replace-signed).
    #[arg(long, requires = "dev")]
    replace: bool,
    /// With --dev: replace even a signed app (one bound to a developer
    /// key) with this unsigned code; its data and key binding are kept.
    #[arg(long, requires = "dev")]
    replace_signed: bool,
    /// With --dev: the built component, instead of the manifest's
    /// `component` (which must lie in the manifest's folder).
    #[arg(long, requires = "dev")]
    component: Option<PathBuf>,
    /// With --dev: the UI folder, instead of the manifest's `[ui] dir`
    /// (which must lie in the manifest's folder).
    #[arg(long, value_name = "DIR", requires = "dev")]
    ui: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(super) enum AppsCommand {
    /// List installed apps.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show one app: manifest, limits, capabilities, signer, versions, storage use.
    Show {
        /// The app id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Upgrade an installed app to a signed package of a higher version; its data is kept.
    Upgrade {
        /// The package file.
        package: PathBuf,
    },
    /// Return an app to its previous version (the last 5 are kept), whichever
    /// key signed it; the app stays bound to its current developer key.
    Rollback {
        /// The app id.
        id: String,
    },
    /// Remove an app. Its storage and developer-key binding are kept unless
    /// --purge-data (which also purges what a removed app left behind).
    Remove {
        /// The app id.
        id: String,
        /// Also erase everything the app stored, and forget its developer key.
        #[arg(long)]
        purge_data: bool,
    },
    /// Bind an app to a new developer key: its next upgrade must be signed
    /// with it. For a developer who really changed keys; the running version
    /// and those kept for rollback stay.
    Rekey {
        /// The app id.
        id: String,
        /// The developer's new public key (`ed25519:…`), already trusted.
        #[arg(long)]
        key: String,
    },
}

/// What `install` was given, read before the data folder is opened.
enum InstallInput {
    Dev(Box<DevApp>, CommitMode),
    Package(Vec<u8>),
}

pub(super) fn install(
    settings: &Settings,
    args: InstallArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // Files are read (bounded) before the data folder is touched.
    let host_config = settings.config();
    let input = match args.dev {
        true => {
            let mode = match (args.replace, args.replace_signed) {
                (_, true) => CommitMode::ReplaceSigned,
                (true, false) => CommitMode::Replace,
                (false, false) => CommitMode::Install,
            };
            let app = super::read_dev_app(
                &args.file,
                args.component.as_ref(),
                args.ui.as_ref(),
                &host_config,
            )?;
            InstallInput::Dev(Box::new(app), mode)
        }
        false => InstallInput::Package(read_package(&args.file, &host_config)?),
    };
    let host = operator::connect(settings)?;
    let r = with_progress(|| match input {
        InstallInput::Dev(app, mode) => host.install_dev(*app, mode),
        InstallInput::Package(bytes) => host.install_package(bytes, CommitMode::Install),
    })?;
    let v = &r.current;
    w!(
        out,
        "installed {} {} ({}; {} bytes, sha256 {}; ui: {})",
        v.manifest.id,
        v.manifest.version,
        signed_by(v.signer.as_deref()),
        v.component_bytes,
        &v.component_sha256[..16],
        installed_ui(&r)
    );
    Ok(())
}

pub(super) fn run(
    host: &dyn Operator,
    config: &HostConfig,
    command: AppsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        AppsCommand::List { output } => {
            let apps = host.apps()?;
            if output.json() {
                let views = apps
                    .into_iter()
                    .map(|(record, used)| admin_view(host, record, used))
                    .collect::<Result<Vec<_>, _>>()?;
                return output::json(out, &views);
            }
            if apps.is_empty() {
                w!(
                    out,
                    "no apps installed in {} (install one with `superapp install`)",
                    config.data_dir.display()
                );
                return Ok(());
            }
            w!(
                out,
                "{:<24} {:<10} {:<24} {:<18} CAPABILITIES",
                "ID",
                "VERSION",
                "NAME",
                "SIGNER"
            );
            for (r, _) in apps {
                let m = &r.current.manifest;
                let caps: Vec<String> = m.capabilities.keys().map(|c| c.to_string()).collect();
                let signer = match r.current.signer.as_deref().map(parse_public_key) {
                    Some(Ok(k)) => fingerprint(&k),
                    _ => "UNSIGNED (dev)".to_string(),
                };
                w!(
                    out,
                    "{:<24} {:<10} {:<24} {:<18} {}",
                    m.id,
                    m.version.to_string(),
                    m.name,
                    signer,
                    if caps.is_empty() {
                        "-".to_string()
                    } else {
                        caps.join(",")
                    }
                );
            }
        }
        AppsCommand::Show { id, output } => {
            let (r, used) = host.app(&id)?;
            if output.json() {
                return output::json(out, &admin_view(host, r, used)?);
            }
            let v = &r.current;
            let m = &v.manifest;
            let (limits, storage) = m.effective_limits(config, &id).map_err(CliError::plain)?;
            w!(out, "id:          {}", m.id);
            w!(out, "name:        {}", m.name);
            w!(out, "version:     {}", m.version);
            w!(out, "developer:   {}", m.developer);
            w!(out, "description: {}", m.description);
            w!(
                out,
                "component:   {} bytes, sha256 {}",
                v.component_bytes,
                v.component_sha256
            );
            w!(out, "ui:          {}", installed_ui(&r));
            w!(
                out,
                "signed:      {}",
                match &v.signer {
                    Some(k) => format!("yes, by {k}"),
                    None => "no (unsigned developer install)".to_string(),
                }
            );
            let binding = host.developer_key(&id)?;
            w!(out, "developer key: {}", describe_binding(binding.as_ref()));
            let earlier: Vec<String> = r
                .previous
                .iter()
                .map(|p| p.manifest.version.to_string())
                .collect();
            w!(
                out,
                "rollback to: {}",
                if earlier.is_empty() {
                    "-".to_string()
                } else {
                    earlier.join(", ")
                }
            );
            w!(
                out,
                "memory:      {} MiB per call",
                limits.memory_bytes >> 20
            );
            w!(
                out,
                "deadline:    {} ms per call",
                limits.deadline.as_millis()
            );
            w!(
                out,
                "storage:     {used} of {} bytes used, values up to {} bytes",
                storage.quota_bytes,
                storage.value_bytes
            );
            w!(out, "capabilities:");
            if m.capabilities.is_empty() {
                w!(out, "  (none)");
            }
            for (cap, req) in &m.capabilities {
                w!(out, "  {cap}: {}", req.purpose);
            }
        }
        AppsCommand::Upgrade { package } => {
            let bytes = read_package(&package, config)?;
            let before = decode_package(&bytes)
                .ok()
                .and_then(|p| Manifest::parse(&p.manifest_toml, "package").ok())
                .and_then(|m| host.app(&m.id).ok())
                .map(|(r, _)| r.current.manifest.version.to_string());
            let r = with_progress(|| host.install_package(bytes, CommitMode::Upgrade))?;
            w!(
                out,
                "upgraded {} {}to {} (its data is kept)",
                r.id(),
                before.map(|v| format!("from {v} ")).unwrap_or_default(),
                r.current.manifest.version
            );
        }
        AppsCommand::Rollback { id } => {
            let r = host.rollback(&id)?;
            w!(
                out,
                "rolled {} back to {}",
                r.id(),
                r.current.manifest.version
            );
        }
        AppsCommand::Remove { id, purge_data } => {
            let r = host.remove(&id, purge_data)?;
            let kept = match &r.developer_key {
                Some(b) => format!(
                    " (its data is kept, and it stays bound to developer key {}: only that key can install it again, until `--purge-data`)",
                    key_fingerprint(&b.key)
                ),
                None => " (its data is kept)".to_string(),
            };
            match (&r.record, purge_data) {
                (Some(record), true) => w!(
                    out,
                    "removed {} {} and its data",
                    r.app,
                    record.current.manifest.version
                ),
                (Some(record), false) => w!(
                    out,
                    "removed {} {}{kept}",
                    r.app,
                    record.current.manifest.version
                ),
                (None, _) => w!(
                    out,
                    "purged what the removed app {} left: its data and developer key",
                    r.app
                ),
            }
        }
        AppsCommand::Rekey { id, key } => {
            // Unknown for an app removed with its binding kept (the server
            // shows only installed apps); the rekey itself still applies.
            let before = host.developer_key(&id).ok().flatten();
            let b = host.rekey(&id, &key)?;
            let now = format!("{} ({})", b.key, key_fingerprint(&b.key));
            match before {
                Some(old) if old.key == b.key => w!(out, "{id} is already bound to {now}"),
                Some(old) => w!(
                    out,
                    "{id} is now bound to {now} instead of {}; its next upgrade must be signed with the new key",
                    key_fingerprint(&old.key)
                ),
                None => w!(
                    out,
                    "{id} is now bound to {now}; its next signed package must be signed with it"
                ),
            }
        }
    }
    Ok(())
}

/// An app as the admin API shows it (`GET /admin/apps/{id}`).
fn admin_view(host: &dyn Operator, record: AppRecord, used: u64) -> Result<AdminApp, CliError> {
    Ok(AdminApp {
        developer_key: host.developer_key(record.id())?,
        record,
        storage_used: used,
    })
}

/// The running version's UI, as `install` and `apps show` print it.
fn installed_ui(r: &AppRecord) -> String {
    match (&r.current.ui, &r.current.manifest.ui) {
        (Some(ui), Some(m)) => format!(
            "{} files, {} bytes, at /ui/{}/{}/{}",
            ui.files,
            ui.bytes,
            r.id(),
            ui.tag,
            m.entry
        ),
        _ => "none".to_string(),
    }
}

fn signed_by(signer: Option<&str>) -> String {
    match signer.and_then(|s| parse_public_key(s).ok()) {
        Some(k) => format!("signed by {}", fingerprint(&k)),
        None => "unsigned developer install".to_string(),
    }
}

fn describe_binding(b: Option<&KeyBinding>) -> String {
    let Some(b) = b else {
        return "none (never signed)".to_string();
    };
    let mut text = format!("{} ({})", b.key, key_fingerprint(&b.key));
    if !b.earlier.is_empty() {
        let earlier: Vec<String> = b.earlier.iter().map(|e| key_fingerprint(&e.key)).collect();
        text.push_str(&format!("; before: {}", earlier.join(", ")));
    }
    text
}

/// Runs an install step, telling the operator on stderr when compiling
/// takes more than a moment.
fn with_progress<T>(f: impl FnOnce() -> Result<T, CliError>) -> Result<T, CliError> {
    use std::io::IsTerminal;
    // Only for a person watching: in a pipe it would break log lines.
    if !std::io::stderr().is_terminal() {
        return f();
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let ticker = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let mut shown = false;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if start.elapsed() > std::time::Duration::from_millis(700) {
                eprint!(
                    "{}",
                    if shown {
                        "."
                    } else {
                        "compiling the component…"
                    }
                );
                shown = true;
                std::thread::sleep(std::time::Duration::from_millis(450));
            }
        }
        if shown {
            eprintln!(" done");
        }
    });
    let result = f();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    result
}
