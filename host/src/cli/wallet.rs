//! `wallet`: operator top-ups and withdrawals, balances, merchant accounts
//! and the ledger audit.

use super::CliError;
use super::operator::Operator;
use super::output::{self, OutputArgs};
use crate::HostConfig;
use crate::platform::HolderRef;
use clap::Subcommand;
use std::io::Write;

#[derive(Subcommand)]
pub(super) enum WalletCommand {
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
    Balance {
        /// The person's handle.
        handle: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Every app's merchant balance.
    Merchants {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Replay the journal and check every ledger invariant.
    Audit {
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Amounts are parsed and printed with the wallet rules of the CLI's own
/// settings (`config`), whichever host the command reaches.
pub(super) fn run(
    host: &dyn Operator,
    config: &HostConfig,
    command: WalletCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let rules = &config.wallet;
    let amount = |text: &str| {
        rules
            .parse(text)
            .map_err(|e| CliError::new("invalid-amount", e))
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
            let t = host.top_up(&handle, amount(&text)?, &key)?;
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
                    return Err(CliError::new(
                        "invalid-arguments",
                        "use `wallet withdraw <handle> <amount>` or `wallet withdraw --app <id> <amount>`",
                    ));
                }
            };
            let key = key(idempotency_key);
            let who = match &holder {
                HolderRef::Person(h) => format!("@{h}"),
                HolderRef::App(a) => format!("app {a}"),
            };
            let t = host.withdraw(holder, amount(&text)?, &key)?;
            w!(
                out,
                "withdrew {} {} from {who} (ledger #{}, idempotency key {key})",
                rules.format(t.amount),
                rules.currency,
                t.seq
            );
        }
        WalletCommand::Balance { handle, output } => {
            let v = host.balance(&handle)?;
            if output.json() {
                return output::json(out, &v);
            }
            w!(out, "@{handle}: {} {}", v.balance_text, v.currency);
        }
        WalletCommand::Merchants { output } => {
            let all = host.merchants()?;
            if output.json() {
                return output::json(out, &all);
            }
            w!(out, "{:<32} BALANCE ({})", "APP", rules.currency);
            for m in all {
                w!(out, "{:<32} {}", m.app, m.balance_text);
            }
        }
        WalletCommand::Audit { output } => {
            let a = host.audit()?;
            if output.json() {
                return output::json(out, &a);
            }
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
