//! The `store` commands: moving a deployment from its embedded data folder
//! into a database several hosts share.

use super::{CliError, Settings};
use crate::store::{Backend, StoreSpec};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Subcommand)]
pub(super) enum StoreCommand {
    /// Copy an embedded deployment (its data folder) into an empty
    /// PostgreSQL-protocol database: ledger, people, sessions, consent,
    /// keys, per-app storage, messages and installed apps. Stop the host
    /// first; the folder is left as it was. Both ledgers are audited and
    /// every balance compared before this reports success.
    Copy {
        /// The data folder to copy from (its host must not be running).
        #[arg(long)]
        from: PathBuf,
        /// The database to copy into: a `postgres://…` URL. It must hold
        /// nothing yet (a new database, or one made by no host).
        #[arg(long)]
        to: String,
    },
}

pub(super) fn run(
    settings: &Settings,
    command: StoreCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        StoreCommand::Copy { from, to } => {
            let spec = StoreSpec::parse(&to)
                .map_err(|e| CliError::new("invalid-store", format!("--to: {e}")))?;
            if spec == StoreSpec::Embedded {
                return Err(CliError::new(
                    "invalid-store",
                    "--to: copy into a postgres:// database (the embedded store is where a deployment starts)",
                ));
            }
            if !from.join("db").exists() {
                return Err(CliError::new(
                    "not-a-data-folder",
                    format!(
                        "--from: {} holds no superapp data (no db/ in it)",
                        from.display()
                    ),
                ));
            }
            let source: Arc<dyn Backend> = crate::store::open(&StoreSpec::Embedded, &from)?;
            let target = crate::store::open(&spec, &from)?;
            let rules = settings.config().wallet;
            let report = crate::platform::block_on(crate::copy::copy_store(
                &source, &from, &target, &rules,
            ))?;
            let t = &report.audit.totals;
            w!(out, "copied {} into {}", from.display(), target.describe());
            w!(
                out,
                "  records:     {} in {} trees",
                report.records,
                report.trees
            );
            w!(out, "  app storage: {} keys", report.kv_keys);
            w!(
                out,
                "  ledger:      {} batches, {} transfers, {} events waiting",
                report.batches,
                t.transfers,
                report.events
            );
            w!(out, "  messages:    {} records", report.messaging_records);
            w!(out, "  app files:   {}", report.blobs);
            w!(
                out,
                "audit passed on both: issued {}, redeemed {}, held {}; all {} balances the same",
                t.issued,
                t.redeemed,
                t.held,
                report.balances
            );
            w!(
                out,
                "next: run each host with --store {}",
                target.describe()
            );
        }
    }
    Ok(())
}
