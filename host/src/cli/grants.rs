//! `grants`: a person's consent decisions on the data folder itself, so a
//! developer can try consent with `call --user`. On a served host people
//! decide for themselves over HTTP; the operator's admin routes never do.

use super::output::{self, OutputArgs};
use super::{CliError, Settings, open};
use crate::http::GrantList;
use crate::identity::Decision;
use clap::{Subcommand, ValueEnum};
use std::io::Write;

#[derive(Subcommand)]
pub(super) enum GrantsCommand {
    /// The scopes each app asks the person for, and their decision on each.
    List {
        /// The person's handle.
        handle: String,
        /// Only this app.
        #[arg(long)]
        app: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Record the person's decision on one scope of one app, as they would
    /// in the host's consent sheet.
    Set {
        /// The person's handle.
        handle: String,
        /// The app id.
        app: String,
        /// The scope: `profile` or `real-name` (the app's manifest must ask for it).
        scope: String,
        /// `grant`; `deny` (sticks: the app is told not to ask again); or
        /// `revoke` (back to undecided).
        decision: Choice,
    },
}

/// A decision as the command line spells it.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum Choice {
    /// Let the app use the scope.
    Grant,
    /// Refuse it, for good until changed.
    Deny,
    /// Withdraw the decision.
    Revoke,
}

impl Choice {
    /// As the HTTP API spells it.
    fn name(self) -> &'static str {
        match self {
            Choice::Grant => "grant",
            Choice::Deny => "deny",
            Choice::Revoke => "revoke",
        }
    }
}

pub(super) fn run(
    settings: &Settings,
    command: GrantsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if let Some(server) = super::remote::Remote::connect(&settings.data) {
        // Consent is the person's: the admin API has no route for it.
        let base = server.base();
        let over_http = match &command {
            GrantsCommand::List { app, .. } => format!(
                "GET {base}/me/apps/{}/grants",
                app.as_deref().unwrap_or("<app>")
            ),
            GrantsCommand::Set {
                app,
                scope,
                decision,
                ..
            } => format!(
                "PUT {base}/me/apps/{app}/grants/{scope} with {{\"decision\":\"{}\"}}",
                decision.name()
            ),
        };
        return Err(CliError::new(
            "server-running",
            format!(
                "`superapp serve` holds this data folder, and there a person sees and makes \
                 their own decisions: {over_http}, signed in as them (or stop the server to use \
                 this command)"
            ),
        ));
    }
    let host = open(settings)?;
    match command {
        GrantsCommand::List {
            handle,
            app,
            output,
        } => {
            let user = host.identity().user_by_handle(&handle)?;
            let apps = match app {
                Some(id) => vec![id],
                None => host
                    .apps()
                    .map_err(CliError::plain)?
                    .iter()
                    .map(|r| r.id().to_string())
                    .collect(),
            };
            let mut lists = Vec::new();
            for app in apps {
                let scopes = host.scopes(&user.id, &app)?;
                if !scopes.is_empty() {
                    lists.push(GrantList { app, scopes });
                }
            }
            if output.json() {
                return output::json(out, &lists);
            }
            if lists.is_empty() {
                w!(out, "no app installed asks @{handle} for a scope");
                return Ok(());
            }
            w!(
                out,
                "{:<24} {:<10} {:<10} {:<26} PURPOSE",
                "APP",
                "SCOPE",
                "STATE",
                "DECIDED"
            );
            for list in lists {
                for s in list.scopes {
                    w!(
                        out,
                        "{:<24} {:<10} {:<10} {:<26} {}",
                        list.app,
                        s.scope,
                        s.state,
                        s.decided_at.as_deref().unwrap_or("-"),
                        s.purpose
                    );
                }
            }
        }
        GrantsCommand::Set {
            handle,
            app,
            scope,
            decision,
        } => {
            let user = host.identity().user_by_handle(&handle)?;
            let decision = match decision {
                Choice::Grant => Decision::Grant,
                Choice::Deny => Decision::Deny,
                Choice::Revoke => Decision::Revoke,
            };
            let view = host.decide_scope(&user.id, &app, &scope, decision)?;
            w!(out, "@{handle} in {app}: {} is {}", view.scope, view.state);
        }
    }
    Ok(())
}
