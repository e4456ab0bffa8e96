//! The `superapp` command line: parses arguments with clap, calls the
//! library, prints. Lives in the library so tests drive it as a user would;
//! `main.rs` only sets up logging and the exit code.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
/// `writeln!` whose I/O error ends the command (a closed pipe, say).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(|e| format!("cannot write output: {e}"))?
    };
}

use crate::config::{ConfigFile, check_admin_token};
use crate::fsutil::read_bounded;
use crate::identity::{HostKeyInfo, IdentityError, UserView};
use crate::packages::{
    AppRecord, CommitMode, ComponentFile, DevApp, FileError, InstallError, KeyBinding, KeyError,
    Manifest, PackageError, Removal, TrustedKey, Ui, UiFolder, check_ui, decode_package,
    encode_package_with_ui, fingerprint, generate_key_file, key_fingerprint, load_signing_key,
    parse_public_key, public_key_text,
};
use crate::platform::{HolderRef, TransactionView, block_on};
use crate::remote::{Remote, ServeInfo};
use crate::{CallRequest, Caller, HostConfig, Superapp};
use sha2::Digest;
use std::io::Write;
use std::path::Path;

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
        default_value = "./superapp-data"
    )]
    data: PathBuf,
    /// Largest component an install accepts, in KiB.
    #[arg(
        long,
        global = true,
        env = "SUPERAPP_MAX_COMPONENT_KIB",
        default_value_t = 2048
    )]
    max_component_kib: u64,
    /// Largest package file an install accepts, in KiB.
    #[arg(
        long,
        global = true,
        env = "SUPERAPP_MAX_PACKAGE_KIB",
        default_value_t = 30720
    )]
    max_package_kib: u64,
    /// Largest app UI an install accepts (its files added up), in KiB.
    /// Default: the config file's `max_ui_kib`, else 8192.
    #[arg(long, global = true, env = "SUPERAPP_MAX_UI_KIB")]
    max_ui_kib: Option<u64>,
    /// Config file (TOML): listen, public_url, admin_token, session_ttl_hours,
    /// request_timeout_secs, max_ui_kib, [wallet]. See the README.
    #[arg(long, global = true, env = "SUPERAPP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install a signed package (.sapp) from a trusted developer, or with
    /// --dev an unsigned app straight from its manifest and built component.
    Install {
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
    },
    /// List, show, upgrade, roll back and remove installed mini-apps.
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// Call a mini-app's handler once and print the status and body.
    Call(CallArgs),
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on (default: the config file's, else 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// The operator token for /admin routes (at least 32 characters).
        /// Default: the config file's, else a fresh one per run.
        #[arg(long, env = "SUPERAPP_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// People: add, list, and record real-name verification.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// The wallet: operator top-ups and withdrawals (the only ways money
    /// enters or leaves), balances and the ledger audit.
    Wallet {
        #[command(subcommand)]
        command: WalletCommand,
    },
    /// The keys that sign launch tokens.
    HostKeys {
        #[command(subcommand)]
        command: HostKeysCommand,
    },
    /// Developer signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Build a signed package from a manifest, its built component and its
    /// UI folder (`[ui] dir`).
    Pack {
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
    },
    /// Check a package's format and signature, and whether this host trusts its signer.
    Verify {
        /// The package file.
        package: PathBuf,
    },
    /// The developer keys this host trusts to sign packages.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
}

#[derive(Subcommand)]
enum AppsCommand {
    /// List installed apps.
    List,
    /// Show one app: manifest, limits, capabilities, signer, versions, storage use.
    Show {
        /// The app id.
        id: String,
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

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a person. Without --password-stdin a random initial password is
    /// made and printed once.
    Add {
        /// Login handle: 3–32 of a-z, 0-9, `.`, `_`, `-`, starting with a letter.
        handle: String,
        /// Display name (default: the handle).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List people.
    List,
    /// Record that the operator verified a person's real name.
    Verify {
        /// The person's handle.
        handle: String,
        /// Their birth date, YYYY-MM-DD (tells policy who is a minor).
        #[arg(long)]
        birth_date: String,
    },
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Add money to a person's wallet.
    Topup {
        /// The person's handle.
        handle: String,
        /// In major units, e.g. `12.34`.
        amount: String,
        /// Makes a retry safe: the same key tops up once (default: a fresh
        /// one, printed).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Take money out of a person's wallet (`withdraw <handle> <amount>`)
    /// or an app's merchant account (`withdraw --app <id> <amount>`).
    Withdraw {
        /// `<handle> <amount>`, or `<amount>` with --app.
        #[arg(num_args = 1..=2, required = true)]
        args: Vec<String>,
        /// Withdraw from this app's merchant account.
        #[arg(long)]
        app: Option<String>,
        /// Makes a retry safe: the same key withdraws once.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// A person's balance.
    Balance { handle: String },
    /// Every app's merchant balance.
    Merchants,
    /// Replay the journal and check every ledger invariant.
    Audit,
}

#[derive(Subcommand)]
enum HostKeysCommand {
    /// Sign new launch tokens with a new key; the old key stays published in
    /// the JWKS until the tokens it signed have expired.
    Rotate,
    /// List the keys.
    List,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new key pair; prints the public key to give to operators.
    New {
        /// The private key file to create (mode 0600; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TrustCommand {
    /// Trust a developer's public key (`ed25519:…`, as `keys new` prints it).
    Add {
        /// The public key.
        pubkey: String,
        /// A name to remember the developer by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List trusted keys.
    List,
    /// Stop trusting a key (installed apps keep running; new installs are refused).
    Remove {
        /// The public key.
        pubkey: String,
    },
}

#[derive(Args)]
struct CallArgs {
    /// The app id.
    app: String,
    /// Path inside the app, with an optional query: `/greet/ann?x=1`.
    path: String,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Run the call as the person with this handle (the app sees only
    /// their open id).
    #[arg(long)]
    user: Option<String>,
    /// Launch scene passed to the app.
    #[arg(long)]
    scene: Option<String>,
    /// JSON request body.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Request body read from a file, as is.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Extra request header, `name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
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
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            return match e.use_stderr() {
                true => {
                    let _ = write!(err, "{}", e.render());
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
        Err(message) => {
            let _ = writeln!(err, "error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The host configuration the command line describes.
#[derive(Clone)]
struct Settings {
    data: PathBuf,
    max_component_kib: u64,
    max_package_kib: u64,
    max_ui_kib: Option<u64>,
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
        c
    }
}

fn open(settings: &Settings) -> Result<Superapp, String> {
    Superapp::open(settings.config()).map_err(|e| e.to_string())
}

/// Where operator commands go: the data folder itself, or — while
/// `superapp serve` holds it — that server's admin routes, so the running
/// server picks the change up without a restart.
enum Target {
    Local(Box<Superapp>),
    Remote(Remote, Box<HostConfig>),
}

fn target(settings: &Settings) -> Result<Target, String> {
    if let Some(remote) = Remote::connect(&settings.data) {
        return Ok(Target::Remote(remote, Box::new(settings.config())));
    }
    open(settings).map(|h| Target::Local(Box::new(h)))
}

fn local_err(e: InstallError) -> String {
    format!("[{}] {e}", e.code())
}

impl Target {
    fn config(&self) -> &HostConfig {
        match self {
            Target::Local(h) => h.config(),
            Target::Remote(_, c) => c,
        }
    }

    fn install_package(&self, bytes: Vec<u8>, mode: CommitMode) -> Result<AppRecord, String> {
        match self {
            Target::Local(h) => h.install_package(&bytes, mode).map_err(local_err),
            Target::Remote(r, _) => {
                let mode = if mode == CommitMode::Upgrade {
                    "upgrade"
                } else {
                    "install"
                };
                r.install(bytes, mode).map(|a| a.record)
            }
        }
    }

    /// A developer install of `app` (already read, bounded and confined).
    fn install_dev(&self, app: DevApp, mode: CommitMode) -> Result<AppRecord, String> {
        match self {
            Target::Local(h) => h.install_dev_app(app, mode).map_err(local_err),
            Target::Remote(r, _) => {
                let ui = app.ui.as_ref().map(Ui::body);
                let bytes = encode_package_with_ui(&app.manifest_toml, &app.component, ui, None)
                    .map_err(coded(PackageError::code))?;
                let mode = match mode {
                    CommitMode::ReplaceSigned => "dev-replace-signed",
                    CommitMode::Replace => "dev-replace",
                    CommitMode::Install | CommitMode::Upgrade => "dev",
                };
                r.install(bytes, mode).map(|a| a.record)
            }
        }
    }

    /// The developer key `id` is bound to.
    fn developer_key(&self, id: &str) -> Result<Option<KeyBinding>, String> {
        match self {
            Target::Local(h) => h.developer_key(id).map_err(|e| e.to_string()),
            Target::Remote(r, _) => r.app(id).map(|a| a.developer_key),
        }
    }

    fn rekey(&self, id: &str, key: &str) -> Result<KeyBinding, String> {
        match self {
            Target::Local(h) => h.rekey(id, key).map_err(local_err),
            Target::Remote(r, _) => r.rekey(id, key),
        }
    }

    fn apps(&self) -> Result<Vec<(AppRecord, u64)>, String> {
        match self {
            Target::Local(h) => h
                .apps()
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|r| {
                    let used = h.storage_usage(r.id()).map_err(|e| e.to_string())?;
                    Ok((r, used))
                })
                .collect(),
            Target::Remote(r, _) => Ok(r
                .apps()?
                .into_iter()
                .map(|a| (a.record, a.storage_used))
                .collect()),
        }
    }

    fn app(&self, id: &str) -> Result<(AppRecord, u64), String> {
        match self {
            Target::Local(h) => {
                let r = h
                    .app(id)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| local_err(InstallError::NotInstalled(id.to_string())))?;
                let used = h.storage_usage(id).map_err(|e| e.to_string())?;
                Ok((r, used))
            }
            Target::Remote(r, _) => r.app(id).map(|a| (a.record, a.storage_used)),
        }
    }

    fn rollback(&self, id: &str) -> Result<AppRecord, String> {
        match self {
            Target::Local(h) => h.rollback(id).map_err(local_err),
            Target::Remote(r, _) => r.rollback(id).map(|a| a.record),
        }
    }

    fn remove(&self, id: &str, purge_data: bool) -> Result<Removal, String> {
        match self {
            Target::Local(h) => h.remove(id, purge_data).map_err(local_err),
            Target::Remote(r, _) => r.remove(id, purge_data),
        }
    }

    fn trust(&self, command: TrustCommand) -> Result<Vec<TrustedKey>, String> {
        let key_err = coded(KeyError::code);
        match (self, command) {
            (Target::Local(h), TrustCommand::Add { pubkey, name }) => h
                .trust()
                .add(&pubkey, name)
                .map(|k| vec![k])
                .map_err(key_err),
            (Target::Local(h), TrustCommand::List) => h.trust().list().map_err(|e| e.to_string()),
            (Target::Local(h), TrustCommand::Remove { pubkey }) => {
                h.trust().remove(&pubkey).map(|k| vec![k]).map_err(key_err)
            }
            (Target::Remote(r, _), TrustCommand::Add { pubkey, name }) => {
                r.trust_add(&pubkey, name).map(|k| vec![k])
            }
            (Target::Remote(r, _), TrustCommand::List) => r.trust_list(),
            (Target::Remote(r, _), TrustCommand::Remove { pubkey }) => {
                r.trust_remove(&pubkey).map(|k| vec![k])
            }
        }
    }
}

impl Target {
    fn add_user(
        &self,
        handle: &str,
        name: Option<String>,
        password: &str,
    ) -> Result<UserView, String> {
        match self {
            Target::Local(h) => h
                .identity()
                .add_user(handle, name.as_deref(), Some(password))
                .map(|u| u.view())
                .map_err(identity_err),
            Target::Remote(r, _) => r.add_user(handle, name, password),
        }
    }

    fn users(&self) -> Result<Vec<UserView>, String> {
        match self {
            Target::Local(h) => h
                .identity()
                .users()
                .map(|u| u.iter().map(|u| u.view()).collect())
                .map_err(identity_err),
            Target::Remote(r, _) => r.users(),
        }
    }

    fn verify_user(&self, handle: &str, birth_date: &str) -> Result<UserView, String> {
        match self {
            Target::Local(h) => h
                .identity()
                .verify_user(handle, birth_date)
                .map(|u| u.view())
                .map_err(identity_err),
            Target::Remote(r, _) => r.verify_user(handle, birth_date),
        }
    }

    fn host_keys(&self, rotate: bool) -> Result<Vec<HostKeyInfo>, String> {
        match (self, rotate) {
            (Target::Local(h), true) => h.identity().rotate_host_key().map_err(identity_err),
            (Target::Local(h), false) => h.identity().host_keys().map_err(identity_err),
            (Target::Remote(r, _), rotate) => r.host_keys(rotate),
        }
    }
}

impl Target {
    fn move_money(
        &self,
        withdraw: bool,
        holder: HolderRef,
        amount: u64,
        key: &str,
    ) -> Result<TransactionView, String> {
        match self {
            Target::Local(h) => block_on(async {
                if withdraw {
                    h.withdraw(holder, amount, key).await
                } else {
                    match holder {
                        HolderRef::Person(handle) => h.top_up(&handle, amount, key).await,
                        HolderRef::App(_) => Err(crate::wallet::WalletError::InvalidState(
                            "top-ups go to people, not merchant accounts".into(),
                        )),
                    }
                }
            })
            .map_err(wallet_err),
            Target::Remote(r, _) => r.move_money(withdraw, &holder, amount, key),
        }
    }
}

fn wallet_err(e: crate::wallet::WalletError) -> String {
    format!("[{}] {e}", e.code())
}

fn wallet(host: &Target, command: WalletCommand, out: &mut dyn Write) -> Result<(), String> {
    let rules = host.config().wallet.clone();
    let amount = |text: &str| {
        rules
            .parse(text)
            .map_err(|e| format!("[invalid-amount] {e}"))
    };
    let key = |given: Option<String>| {
        given.unwrap_or_else(|| format!("cli-{}", &crate::identity::random_token()[..24]))
    };
    match command {
        WalletCommand::Topup {
            handle,
            amount: text,
            idempotency_key,
        } => {
            let key = key(idempotency_key);
            let t = host.move_money(
                false,
                HolderRef::Person(handle.clone()),
                amount(&text)?,
                &key,
            )?;
            w!(
                out,
                "topped up @{handle} with {} {} (ledger #{}, idempotency key {key})",
                rules.format(t.amount),
                rules.currency,
                t.seq
            );
        }
        WalletCommand::Withdraw {
            args,
            app,
            idempotency_key,
        } => {
            let (holder, text) = match (app, args.as_slice()) {
                (Some(app), [a]) => (HolderRef::App(app), a.clone()),
                (None, [h, a]) => (HolderRef::Person(h.clone()), a.clone()),
                _ => {
                    return Err("[invalid-arguments] use `wallet withdraw <handle> <amount>` or `wallet withdraw --app <id> <amount>`".into());
                }
            };
            let key = key(idempotency_key);
            let who = match &holder {
                HolderRef::Person(h) => format!("@{h}"),
                HolderRef::App(a) => format!("app {a}"),
            };
            let t = host.move_money(true, holder, amount(&text)?, &key)?;
            w!(
                out,
                "withdrew {} {} from {who} (ledger #{}, idempotency key {key})",
                rules.format(t.amount),
                rules.currency,
                t.seq
            );
        }
        WalletCommand::Balance { handle } => {
            let v = match host {
                Target::Local(h) => block_on(h.balance_of(&handle)).map_err(wallet_err)?,
                Target::Remote(r, _) => r.balance(&handle)?,
            };
            w!(out, "@{handle}: {} {}", v.balance_text, v.currency);
        }
        WalletCommand::Merchants => {
            let all = match host {
                Target::Local(h) => block_on(h.merchant_balances()).map_err(wallet_err)?,
                Target::Remote(r, _) => r.merchants()?,
            };
            w!(out, "{:<32} BALANCE ({})", "APP", rules.currency);
            for m in all {
                w!(out, "{:<32} {}", m.app, m.balance_text);
            }
        }
        WalletCommand::Audit => {
            let a = match host {
                Target::Local(h) => block_on(h.wallet().audit()).map_err(wallet_err)?,
                Target::Remote(r, _) => r.audit()?,
            };
            w!(
                out,
                "ledger ok: {} transfers in {} batches; issued {}, redeemed {}, held {} {}",
                a.totals.transfers,
                a.batches,
                rules.format(a.totals.issued),
                rules.format(a.totals.redeemed),
                rules.format(a.totals.held),
                rules.currency
            );
        }
    }
    Ok(())
}

fn identity_err(e: IdentityError) -> String {
    format!("[{}] {e}", e.code())
}

/// The password for `users add`: the first line of `input`, or a fresh one
/// (printed once) when `from_input` is off.
fn new_password(
    from_input: bool,
    input: &mut dyn std::io::BufRead,
) -> Result<(String, bool), String> {
    if !from_input {
        return Ok((crate::identity::random_token()[..20].to_string(), true));
    }
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err("--password-stdin: standard input had no password on its first line".into());
    }
    Ok((password, false))
}

fn users(
    host: &Target,
    command: UsersCommand,
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
) -> Result<(), String> {
    match command {
        UsersCommand::Add {
            handle,
            name,
            password_stdin,
        } => {
            let (password, generated) = new_password(password_stdin, input)?;
            let u = host.add_user(&handle, name, &password)?;
            w!(out, "added {} ({})", u.handle, u.display_name);
            if generated {
                w!(out, "initial password (shown once): {password}");
            }
        }
        UsersCommand::List => {
            let users = host.users()?;
            if users.is_empty() {
                w!(out, "no users (add one with `superapp users add`)");
                return Ok(());
            }
            w!(
                out,
                "{:<24} {:<24} {:<12} {:<6} CREATED",
                "HANDLE",
                "NAME",
                "VERIFIED",
                "MINOR"
            );
            for u in users {
                w!(
                    out,
                    "{:<24} {:<24} {:<12} {:<6} {}",
                    u.handle,
                    u.display_name,
                    u.birth_date.as_deref().unwrap_or("no"),
                    match u.is_minor {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "-",
                    },
                    u.created_at
                );
            }
        }
        UsersCommand::Verify { handle, birth_date } => {
            let u = host.verify_user(&handle, &birth_date)?;
            w!(
                out,
                "verified {} (born {}{})",
                u.handle,
                u.birth_date.as_deref().unwrap_or("?"),
                if u.is_minor == Some(true) {
                    ", a minor"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

fn host_keys(host: &Target, command: HostKeysCommand, out: &mut dyn Write) -> Result<(), String> {
    let rotate = matches!(command, HostKeysCommand::Rotate);
    let keys = host.host_keys(rotate)?;
    if rotate && let Some(k) = keys.first() {
        w!(out, "now signing launch tokens with key {}", k.kid);
    }
    w!(
        out,
        "{:<18} {:<8} {:<10} {:<26} RETIRED",
        "KID",
        "ACTIVE",
        "PUBLISHED",
        "CREATED"
    );
    for k in keys {
        w!(
            out,
            "{:<18} {:<8} {:<10} {:<26} {}",
            k.kid,
            if k.active { "yes" } else { "no" },
            if k.published { "yes" } else { "no" },
            k.created_at,
            k.retired_at.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

fn dispatch(
    cli: Cli,
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
) -> Result<ExitCode, String> {
    let file = match &cli.config {
        Some(path) => ConfigFile::load(path).map_err(|e| format!("[invalid-config] {e}"))?,
        None => ConfigFile::default(),
    };
    let settings = Settings {
        data: cli.data.clone(),
        max_component_kib: cli.max_component_kib,
        max_package_kib: cli.max_package_kib,
        max_ui_kib: cli.max_ui_kib,
        file,
    };
    match cli.command {
        Command::Install {
            file,
            dev,
            replace,
            replace_signed,
            component,
            ui,
        } => {
            // Files are read (bounded) before the data folder is touched.
            let host_config = settings.config();
            let input = match dev {
                true => {
                    let which = match &component {
                        Some(p) => ComponentFile::Given(p),
                        None => ComponentFile::Confined,
                    };
                    let ui = match &ui {
                        Some(dir) => UiFolder::Given(dir),
                        None => UiFolder::Confined,
                    };
                    let mode = match (replace, replace_signed) {
                        (_, true) => CommitMode::ReplaceSigned,
                        (true, false) => CommitMode::Replace,
                        (false, false) => CommitMode::Install,
                    };
                    let app = DevApp::read(&file, which, ui, &host_config).map_err(local_err)?;
                    InstallInput::Dev(Box::new(app), mode)
                }
                false => InstallInput::Package(read_package(&file, &host_config)?),
            };
            let host = target(&settings)?;
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
        }
        Command::Apps { command } => apps(&target(&settings)?, command, out)?,
        Command::Call(args) => {
            // Check the arguments before touching the data folder.
            let req = call_request(&args, settings.config().max_request_bytes)?;
            return call(open(&settings)?, args, req, out);
        }
        Command::Serve {
            listen,
            admin_token,
        } => {
            let listen = listen
                .or_else(|| settings.file.listen.clone())
                .unwrap_or_else(|| "127.0.0.1:8080".to_string());
            let admin_token = match admin_token.or_else(|| settings.file.admin_token.clone()) {
                Some(t) => {
                    check_admin_token(&t).map_err(|e| format!("[invalid-config] {e}"))?;
                    t
                }
                // A fresh operator token per run, readable only through the
                // data folder: whoever may touch the folder may administer.
                None => crate::identity::random_token(),
            };
            serve(open(&settings)?, &listen, admin_token, out)?
        }
        Command::Users { command } => users(&target(&settings)?, command, input, out)?,
        Command::HostKeys { command } => host_keys(&target(&settings)?, command, out)?,
        Command::Wallet { command } => wallet(&target(&settings)?, command, out)?,
        Command::Keys {
            command: KeysCommand::New { out: path },
        } => {
            let public = generate_key_file(&path).map_err(coded(KeyError::code))?;
            w!(
                out,
                "wrote the private key to {} (keep it secret)",
                path.display()
            );
            w!(out, "public key (give this to operators):");
            w!(out, "{}", public_key_text(&public));
        }
        Command::Pack {
            manifest,
            key,
            out: target,
            component,
            ui,
        } => {
            let config = settings.config();
            let key = load_signing_key(&key).map_err(coded(KeyError::code))?;
            let which = match &component {
                Some(p) => ComponentFile::Given(p),
                None => ComponentFile::Confined,
            };
            let ui = match &ui {
                Some(dir) => UiFolder::Given(dir),
                None => UiFolder::Confined,
            };
            let app = DevApp::read(&manifest, which, ui, &config).map_err(local_err)?;
            let parsed = &app.manifest;
            let bytes = encode_package_with_ui(
                &app.manifest_toml,
                &app.component,
                app.ui.as_ref().map(Ui::body),
                Some(&key),
            )
            .map_err(coded(PackageError::code))?;
            PackageError::check_size("package", bytes.len(), config.max_package_bytes)
                .map_err(coded(PackageError::code))?;
            crate::fsutil::write_atomic(&target, &bytes)
                .map_err(|e| format!("{}: {e}", target.display()))?;
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
        }
        Command::Verify { package } => return verify(&settings, &package, out),
        Command::Trust { command } => {
            let listing = matches!(command, TrustCommand::List);
            let verb = match &command {
                TrustCommand::Add { .. } => "trusted ",
                TrustCommand::Remove { .. } => "no longer trusted: ",
                TrustCommand::List => "",
            };
            let keys = target(&settings)?.trust(command)?;
            if listing && keys.is_empty() {
                w!(out, "no trusted keys (add one with `superapp trust add`)");
            }
            for k in keys {
                w!(out, "{verb}{}", describe_key(&k));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `install` was given, read before the data folder is opened.
enum InstallInput {
    Dev(Box<DevApp>, CommitMode),
    Package(Vec<u8>),
}

/// Maps a typed error to `[code] message` for the terminal.
fn coded<E: std::fmt::Display>(code: fn(&E) -> &'static str) -> impl Fn(E) -> String {
    move |e| format!("[{}] {e}", code(&e))
}

/// Reads a package file: a regular file of at most the host's package cap.
fn read_package(path: &Path, config: &HostConfig) -> Result<Vec<u8>, String> {
    read_bounded(path, "package", config.max_package_bytes).map_err(coded(FileError::code))
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

fn describe_key(k: &TrustedKey) -> String {
    let fp = parse_public_key(&k.public_key)
        .map(|p| fingerprint(&p))
        .unwrap_or_default();
    match &k.name {
        Some(n) => format!("{} ({fp}, {n})", k.public_key),
        None => format!("{} ({fp})", k.public_key),
    }
}

/// Runs an install step, telling the operator on stderr when compiling
/// takes more than a moment.
fn with_progress<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
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

fn verify(settings: &Settings, package: &Path, out: &mut dyn Write) -> Result<ExitCode, String> {
    let bytes = read_package(package, &settings.config())?;
    let p = decode_package(&bytes).map_err(coded(PackageError::code))?;
    let signer = p
        .signer
        .ok_or_else(|| format!("[unsigned-package] {}", PackageError::Unsigned))?;
    let manifest = Manifest::parse(
        &p.manifest_toml,
        &format!("{} (manifest)", package.display()),
    )
    .map_err(|e| format!("[invalid-manifest] {e}"))?;
    let sha = crate::text::hex(&sha2::Sha256::digest(&p.component));
    let ui = check_ui(manifest.ui.as_ref(), p.ui, settings.config().max_ui_bytes)
        .map_err(coded(crate::packages::UiError::code))?;
    w!(out, "package:   {}", package.display());
    w!(out, "app:       {} {}", manifest.id, manifest.version);
    w!(out, "component: {} bytes, sha256 {sha}", p.component.len());
    w!(out, "ui:        {}", describe_ui(ui.as_ref()));
    w!(
        out,
        "signature: valid, by {} ({})",
        public_key_text(&signer),
        fingerprint(&signer)
    );
    let signer_text = public_key_text(&signer);
    let trusted = target(settings).and_then(|t| {
        let keys = t.trust(TrustCommand::List)?;
        Ok(keys.iter().any(|k| k.public_key == signer_text))
    });
    match trusted {
        Ok(true) => {
            w!(out, "trusted:   yes");
            Ok(ExitCode::SUCCESS)
        }
        Ok(false) => {
            w!(
                out,
                "trusted:   no (add the key with `superapp trust add` to install it)"
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            w!(out, "trusted:   unknown ({e})");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn apps(host: &Target, command: AppsCommand, out: &mut dyn Write) -> Result<(), String> {
    match command {
        AppsCommand::List => {
            let apps = host.apps()?;
            if apps.is_empty() {
                w!(out, "no apps installed");
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
        AppsCommand::Show { id } => {
            let (r, used) = host.app(&id)?;
            let v = &r.current;
            let m = &v.manifest;
            let (limits, storage) = m
                .effective_limits(host.config(), &id)
                .map_err(|e| e.to_string())?;
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
            let bytes = read_package(&package, host.config())?;
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

fn call_request(args: &CallArgs, max_body: usize) -> Result<CallRequest, String> {
    let (path, query) = match args.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (args.path.clone(), String::new()),
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("--header `{h}` must look like `name: value`"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let body = match (&args.body, &args.body_file) {
        (Some(json), _) => {
            serde_json::from_str::<serde_json::Value>(json)
                .map_err(|e| format!("--body is not valid JSON: {e}"))?;
            headers.push(("content-type".into(), "application/json".into()));
            json.as_bytes().to_vec()
        }
        (None, Some(file)) => read_bounded(file, "request body", max_body as u64)
            .map_err(|e| format!("--body-file: [{}] {e}", e.code()))?,
        (None, None) => Vec::new(),
    };
    Ok(CallRequest {
        method: args.method.to_ascii_uppercase(),
        path: if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        },
        query,
        headers,
        body,
    })
}

fn call(
    host: Superapp,
    args: CallArgs,
    req: CallRequest,
    out: &mut dyn Write,
) -> Result<ExitCode, String> {
    let user = match &args.user {
        Some(handle) => Some(
            host.identity()
                .user_by_handle(handle)
                .map_err(identity_err)?
                .id,
        ),
        None => None,
    };
    let caller = Caller {
        user,
        scene: args.scene,
    };
    match host.call(&args.app, caller, req) {
        Ok(resp) => {
            w!(out, "{}", resp.status);
            w!(out, "{}", String::from_utf8_lossy(&resp.body).trim_end());
            Ok(if resp.status < 400 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => Err(format!("[{}] {e}", e.code())),
    }
}

fn serve(host: Superapp, listen: &str, token: String, out: &mut dyn Write) -> Result<(), String> {
    let loaded = host.load_all().map_err(|e| e.to_string())?;
    let data = host.config().data_dir.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let result = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        ServeInfo {
            addr: addr.to_string(),
            token: token.clone(),
            pid: std::process::id(),
        }
        .write(&data)
        .map_err(|e| format!("cannot write {}/serve.json: {e}", data.display()))?;
        w!(
            out,
            "superapp listening on http://{addr} with {loaded} app(s); API description: http://{addr}/openapi.json"
        );
        let _ = out.flush();
        let pooling = host.runtime().pooling();
        tracing::info!(%addr, apps = loaded, pooling, "serving");
        let issuer = host
            .config()
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let options = crate::http::ServeOptions {
            admin_token: Some(token),
            issuer,
        };
        crate::http::serve(Arc::new(host), listener, options, shutdown_signal())
            .await
            .map_err(|e| format!("server failed: {e}"))
    });
    ServeInfo::remove(&data);
    result
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
