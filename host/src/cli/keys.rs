//! The key commands: `keys` (a developer's signing key), `trust` (the
//! developer keys this host accepts) and `host-keys` (launch-token keys).

use super::CliError;
use super::operator::Operator;
use super::output::{self, OutputArgs};
use crate::packages::{
    TrustedKey, fingerprint, generate_key_file, load_signing_key, parse_public_key, public_key_text,
};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Create a new key pair; prints the public key to give to operators.
    New {
        /// The private key file to create (mode 0600; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key (and its fingerprint) of a private key file.
    Show {
        /// The private key file (Ed25519 PKCS#8 PEM, as `keys new` writes).
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Subcommand)]
pub(super) enum TrustCommand {
    /// Trust a developer's public key (`ed25519:…`, as `keys new` prints it).
    Add {
        /// The public key.
        pubkey: String,
        /// A name to remember the developer by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List trusted keys.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Stop trusting a key (installed apps keep running; new installs are refused).
    Remove {
        /// The public key.
        pubkey: String,
    },
}

#[derive(Subcommand)]
pub(super) enum HostKeysCommand {
    /// Sign new launch tokens with a new key; the old key stays published in
    /// the JWKS until the tokens it signed have expired.
    Rotate,
    /// List the keys.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `keys`: works on files only, never on a host.
pub(super) fn keys(command: KeysCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        KeysCommand::New { out: path } => {
            let public = generate_key_file(&path)?;
            w!(
                out,
                "wrote the private key to {} (keep it secret)",
                path.display()
            );
            w!(out, "public key (give this to operators):");
            w!(out, "{}", public_key_text(&public));
        }
        KeysCommand::Show { file, output } => {
            let public = load_signing_key(&file)?.verifying_key().to_bytes();
            if output.json() {
                let shown = serde_json::json!({
                    "public_key": public_key_text(&public),
                    "fingerprint": fingerprint(&public),
                });
                return output::json(out, &shown);
            }
            w!(out, "fingerprint {}", fingerprint(&public));
            w!(out, "{}", public_key_text(&public));
        }
    }
    Ok(())
}

pub(super) fn trust(
    host: &dyn Operator,
    command: TrustCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        TrustCommand::Add { pubkey, name } => {
            let k = host.trust(&pubkey, name)?;
            w!(out, "trusted {}", describe_key(&k));
        }
        TrustCommand::List { output } => {
            let keys = host.trusted_keys()?;
            if output.json() {
                return output::json(out, &keys);
            }
            if keys.is_empty() {
                w!(out, "no trusted keys (add one with `superapp trust add`)");
            }
            for k in keys {
                w!(out, "{}", describe_key(&k));
            }
        }
        TrustCommand::Remove { pubkey } => {
            let k = host.distrust(&pubkey)?;
            w!(out, "no longer trusted: {}", describe_key(&k));
        }
    }
    Ok(())
}

pub(super) fn host_keys(
    host: &dyn Operator,
    command: HostKeysCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let keys = match command {
        HostKeysCommand::Rotate => {
            let keys = host.rotate_host_key()?;
            if let Some(k) = keys.first() {
                w!(out, "now signing launch tokens with key {}", k.kid);
            }
            keys
        }
        HostKeysCommand::List { output } => {
            let keys = host.host_keys()?;
            if output.json() {
                return output::json(out, &keys);
            }
            keys
        }
    };
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

fn describe_key(k: &TrustedKey) -> String {
    let fp = parse_public_key(&k.public_key)
        .map(|p| fingerprint(&p))
        .unwrap_or_default();
    match &k.name {
        Some(n) => format!("{} ({fp}, {n})", k.public_key),
        None => format!("{} ({fp})", k.public_key),
    }
}
