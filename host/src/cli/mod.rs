//! The `superapp` command line: parses arguments with clap, calls the
//! library, prints. Lives in the library so tests drive it as a user would;
//! `main.rs` only sets up logging and the exit code. This file holds the
//! parser, the global settings and the dispatch; each command family has
//! its own file with its subcommands and handler.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `writeln!` whose I/O error ends the command (a closed pipe, say).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err($crate::cli::CliError::output)?
    };
}

mod apps;
mod call;
mod error;
mod grants;
mod keys;
mod new;
mod operator;
mod output;
mod package;
pub mod remote;
mod serve;
mod store;
mod users;
mod wallet;

pub use error::CliError;
pub use operator::Operator;

use crate::config::ConfigFile;
use crate::fsutil::read_bounded;
use crate::{HostConfig, Superapp};

/// `--log-format`'s value.
fn log_format(s: &str) -> Result<crate::config::LogFormat, String> {
    s.parse()
}

/// Whether `run` sets up logging (the binary asks; tests driving the CLI
/// in their own process do not).
static LOGGING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the next `run` set up logging to standard error as the command
/// line and config file say (`--log-format`, `log_format`, `RUST_LOG`).
pub fn log_to_stderr() {
    LOGGING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Run and manage a Superapp host: sandboxed mini-apps with one identity,
/// one wallet and one messenger.
#[derive(Parser)]
#[command(name = "superapp", version, about)]
struct Cli {
    /// Data folder: the sled database and compiled components.
    #[arg(
        long,
        global = true,
        env = "SUPERAPP_DATA",
        default_value = "./superapp-data",
        help_heading = GLOBAL
    )]
    data: PathBuf,
    // The limits go before the command (`superapp --max-component-kib 4096
    // install …`): not global, so they are listed once, here, and not in
    // every subcommand's help.
    /// Largest component an install accepts, in KiB.
    #[arg(
        long,
        env = "SUPERAPP_MAX_COMPONENT_KIB",
        default_value_t = 2048,
        value_name = "KIB",
        help_heading = "Limits (before the command)"
    )]
    max_component_kib: u64,
    /// Largest package file an install accepts, in KiB.
    #[arg(
        long,
        env = "SUPERAPP_MAX_PACKAGE_KIB",
        default_value_t = 30720,
        value_name = "KIB",
        help_heading = "Limits (before the command)"
    )]
    max_package_kib: u64,
    /// Largest app UI an install accepts (its files added up), in KiB.
    /// Default: the config file's `max_ui_kib`, else 8192.
    #[arg(
        long,
        env = "SUPERAPP_MAX_UI_KIB",
        value_name = "KIB",
        help_heading = "Limits (before the command)"
    )]
    max_ui_kib: Option<u64>,
    /// Where the data is kept: `embedded` (sled in the data folder, the
    /// default) or a `postgres://user:password@host:port/database` URL of a
    /// database several hosts share. Default: the config file's `store`.
    #[arg(long, global = true, env = "SUPERAPP_STORE", help_heading = GLOBAL)]
    store: Option<String>,
    /// Config file (TOML): store, listen, public_url, admin_token, session_ttl_hours,
    /// request_timeout_secs, max_ui_kib, [wallet]. See the README.
    #[arg(long, global = true, env = "SUPERAPP_CONFIG", help_heading = GLOBAL)]
    config: Option<PathBuf>,
    /// Log lines on standard error as `text` or `json` (one object per
    /// line, with the request id and app). Default: the config file's
    /// `log_format`, else text. `RUST_LOG` filters them (default `info`).
    #[arg(long, global = true, env = "SUPERAPP_LOG_FORMAT", value_name = "text|json",
          value_parser = log_format, help_heading = GLOBAL)]
    log_format: Option<crate::config::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install a signed package (.sapp) from a trusted developer, or with
    /// --dev an unsigned app straight from its manifest and built component.
    Install(apps::InstallArgs),
    /// List, show, upgrade, roll back and remove installed mini-apps.
    Apps {
        #[command(subcommand)]
        command: apps::AppsCommand,
    },
    /// Call a mini-app's handler once and print the status and body.
    Call(call::CallArgs),
    /// Serve the HTTP API.
    Serve(serve::ServeArgs),
    /// People: add, list, and record real-name verification.
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// The wallet: operator top-ups and withdrawals (the only ways money
    /// enters or leaves), balances and the ledger audit.
    Wallet {
        #[command(subcommand)]
        command: wallet::WalletCommand,
    },
    /// The keys that sign launch tokens.
    HostKeys {
        #[command(subcommand)]
        command: keys::HostKeysCommand,
    },
    /// Developer signing keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Build a signed package from a manifest, its built component and its
    /// UI folder (`[ui] dir`).
    Pack(package::PackArgs),
    /// Check a package's format and signature, and whether this host trusts its signer.
    Verify(package::VerifyArgs),
    /// The developer keys this host trusts to sign packages.
    Trust {
        #[command(subcommand)]
        command: keys::TrustCommand,
    },
    /// Where the data lives: move an embedded deployment into a database.
    Store {
        #[command(subcommand)]
        command: store::StoreCommand,
    },
    /// A person's consent decisions (grant, deny, revoke a scope such as
    /// `profile`) on this data folder, so `call --user` can try consent
    /// locally. People decide for themselves over HTTP on a served host.
    Grants {
        #[command(subcommand)]
        command: grants::GrantsCommand,
    },
    /// Scaffold a mini-app crate: Cargo.toml, code, manifest, a mock-host
    /// test and a README; prints the commands that build and install it.
    New(new::NewArgs),
    /// Print a shell completion script: `superapp completions bash >
    /// ~/.local/share/bash-completion/completions/superapp`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// Commands that only read the data folder: on a folder that does not
    /// exist they say so instead of creating an empty one.
    fn reads_only(&self) -> bool {
        use apps::AppsCommand as A;
        use keys::{HostKeysCommand as H, TrustCommand as T};
        use wallet::WalletCommand as W;
        match self {
            Command::Apps { command } => matches!(command, A::List { .. } | A::Show { .. }),
            Command::Users { command } => matches!(command, users::UsersCommand::List { .. }),
            Command::Wallet { command } => {
                matches!(
                    command,
                    W::Balance { .. } | W::Merchants { .. } | W::Audit { .. }
                )
            }
            Command::HostKeys { command } => matches!(command, H::List { .. }),
            Command::Trust { command } => matches!(command, T::List { .. }),
            Command::Grants { command } => matches!(command, grants::GrantsCommand::List { .. }),
            _ => false,
        }
    }
}

/// The parser, for completions and for tests that walk every command.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Runs the command line `args` (the first item is the program name),
/// writing results to `out` and errors to `err`.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run_with_input(args, &mut std::io::stdin().lock(), out, err)
}

/// `run`, reading standard input (`--password-stdin`) from `input`.
pub fn run_with_input<I, T>(
    args: I,
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            return match e.use_stderr() {
                true => {
                    let _ = write!(err, "{}", e.render());
                    if let Some(flag) = misplaced_limit(&e, &args) {
                        let _ = writeln!(
                            err,
                            "note: {flag} goes before the command: `superapp {flag} <KIB> install …`"
                        );
                    }
                    ExitCode::from(2)
                }
                false => {
                    let _ = write!(out, "{}", e.render());
                    ExitCode::SUCCESS
                }
            };
        }
    };
    match dispatch(cli, input, out) {
        Ok(code) => code,
        // The reader went away (`| head`): nothing more to say to anyone.
        Err(e) if e.code() == Some(error::OUTPUT_CLOSED) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The limit flag a parse error is about when it was given after the
/// command (they are the top level's only).
fn misplaced_limit(e: &clap::Error, args: &[std::ffi::OsString]) -> Option<&'static str> {
    if e.kind() != clap::error::ErrorKind::UnknownArgument {
        return None;
    }
    ["--max-component-kib", "--max-package-kib", "--max-ui-kib"]
        .into_iter()
        .find(|flag| {
            args.iter().any(|a| {
                let a = a.to_string_lossy();
                a == *flag || a.starts_with(&format!("{flag}="))
            })
        })
}

/// The host configuration the command line describes.
#[derive(Clone)]
struct Settings {
    data: PathBuf,
    max_component_kib: u64,
    max_package_kib: u64,
    max_ui_kib: Option<u64>,
    /// `--store`, checked.
    store: Option<crate::store::StoreSpec>,
    file: ConfigFile,
}

impl Settings {
    fn config(&self) -> HostConfig {
        let mut c = HostConfig::new(&self.data);
        c.max_component_bytes = self.max_component_kib.saturating_mul(1024);
        c.max_package_bytes = self.max_package_kib.saturating_mul(1024);
        self.file.apply(&mut c);
        if let Some(k) = self.max_ui_kib {
            c.max_ui_bytes = k.saturating_mul(1024);
        }
        if let Some(spec) = &self.store {
            c.store = spec.clone();
        }
        c
    }
}

impl Settings {
    /// For commands that only read: a data folder that does not exist is
    /// named in an error rather than created empty.
    fn require_data(&self) -> Result<(), CliError> {
        let embedded = matches!(self.config().store, crate::store::StoreSpec::Embedded);
        if embedded && !self.data.exists() {
            return Err(CliError::new(
                "no-data-folder",
                format!(
                    "there is no data folder at {}: nothing is installed or stored there, and a \
                     command that only reads does not create one (give the host's folder with \
                     --data DIR or SUPERAPP_DATA)",
                    self.data.display()
                ),
            ));
        }
        Ok(())
    }
}

/// Opens the data folder in this process (and so locks it).
fn open(settings: &Settings) -> Result<Superapp, CliError> {
    Superapp::open(settings.config()).map_err(CliError::plain)
}

fn dispatch(
    cli: Cli,
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let file = match &cli.config {
        Some(path) => ConfigFile::load(path).map_err(|e| CliError::new("invalid-config", e))?,
        None => ConfigFile::default(),
    };
    if LOGGING.load(std::sync::atomic::Ordering::Relaxed) {
        crate::telemetry::init_logging(cli.log_format.or(file.log_format).unwrap_or_default());
    }
    let store = match &cli.store {
        Some(s) => Some(
            crate::store::StoreSpec::parse(s)
                .map_err(|e| CliError::new("invalid-store", format!("--store: {e}")))?,
        ),
        None => None,
    };
    let settings = Settings {
        store,
        data: cli.data.clone(),
        max_component_kib: cli.max_component_kib,
        max_package_kib: cli.max_package_kib,
        max_ui_kib: cli.max_ui_kib,
        file,
    };
    // Operator commands reach the host through `connect`; the CLI's own
    // limits and wallet rules come from its settings either way.
    let config = settings.config();
    if cli.command.reads_only() {
        settings.require_data()?;
    }
    let connect = || operator::connect(&settings);
    match cli.command {
        Command::Install(args) => apps::install(&settings, args, out)?,
        Command::Apps { command } => apps::run(&*connect()?, &config, command, out)?,
        Command::Call(args) => return call::run(&settings, args, out),
        Command::Serve(args) => serve::run(&settings, args, out)?,
        Command::Users { command } => {
            users::run(&*connect()?, &settings.data, command, input, out)?
        }
        Command::Wallet { command } => wallet::run(&*connect()?, &config, command, out)?,
        Command::HostKeys { command } => keys::host_keys(&*connect()?, command, out)?,
        Command::Keys { command } => keys::keys(command, out)?,
        Command::Pack(args) => package::pack(&config, args, out)?,
        Command::Verify(args) => return package::verify(&settings, args, out),
        Command::Trust { command } => keys::trust(&*connect()?, command, out)?,
        Command::Store { command } => store::run(&settings, command, out)?,
        Command::Grants { command } => grants::run(&settings, command, out)?,
        Command::New(args) => new::run(args, out)?,
        Command::Completions { shell } => {
            // Into a buffer first: the generator panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command(), "superapp", &mut script);
            out.write_all(&script).map_err(CliError::output)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a package file: a regular file of at most the host's package cap.
/// Reads a developer app (`install --dev`, `pack`): its manifest, and the
/// component and UI the flags name, or else the ones the manifest names
/// inside its own folder.
fn read_dev_app(
    manifest: &Path,
    component: Option<&PathBuf>,
    ui: Option<&PathBuf>,
    config: &HostConfig,
) -> Result<crate::packages::DevApp, CliError> {
    use crate::packages::{ComponentFile, DevApp, UiFolder};
    let which = match component {
        Some(p) => ComponentFile::Given(p),
        None => ComponentFile::Confined,
    };
    let ui = match ui {
        Some(dir) => UiFolder::Given(dir),
        None => UiFolder::Confined,
    };
    Ok(DevApp::read(manifest, which, ui, config)?)
}

fn read_package(path: &Path, config: &HostConfig) -> Result<Vec<u8>, CliError> {
    Ok(read_bounded(path, "package", config.max_package_bytes)?)
}

#[cfg(test)]
mod tests {
    /// Every command and every argument of every command, by path.
    fn undescribed(cmd: &clap::Command, path: &str, found: &mut Vec<String>) {
        if cmd.get_about().is_none() {
            found.push(format!("{path}: the command"));
        }
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                found.push(format!("{path}: {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() != "help" {
                undescribed(sub, &format!("{path} {}", sub.get_name()), found);
            }
        }
    }

    #[test]
    fn every_command_and_argument_has_a_description() {
        let cmd = super::command();
        cmd.clone().debug_assert();
        let mut found = Vec::new();
        undescribed(&cmd, "superapp", &mut found);
        assert!(found.is_empty(), "no help text: {found:#?}");
    }

    #[test]
    fn the_limits_are_listed_once_at_the_top_and_in_no_subcommand() {
        let cmd = super::command();
        let limits = ["max_component_kib", "max_package_kib", "max_ui_kib"];
        for id in limits {
            assert!(cmd.get_arguments().any(|a| a.get_id() == id), "{id}");
        }
        let mut cmd = cmd;
        cmd.build();
        for sub in cmd.get_subcommands() {
            for id in limits {
                assert!(
                    !sub.get_arguments().any(|a| a.get_id() == id),
                    "{id} in {}",
                    sub.get_name()
                );
            }
        }
    }
}
