//! `users`: adding people, listing them, recording real-name verification.

use super::CliError;
use super::operator::Operator;
use super::output::{self, OutputArgs};
use clap::Subcommand;
use std::io::Write;

#[derive(Subcommand)]
pub(super) enum UsersCommand {
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
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Record that the operator verified a person's real name.
    Verify {
        /// The person's handle.
        handle: String,
        /// Their birth date, YYYY-MM-DD (tells policy who is a minor).
        #[arg(long)]
        birth_date: String,
    },
}

pub(super) fn run(
    host: &dyn Operator,
    data: &std::path::Path,
    command: UsersCommand,
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
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
        UsersCommand::List { output } => {
            let users = host.users()?;
            if output.json() {
                return output::json(out, &users);
            }
            if users.is_empty() {
                w!(
                    out,
                    "no users in {} (add one with `superapp users add`)",
                    data.display()
                );
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

/// The password for `users add`: the first line of `input`, or a fresh one
/// (printed once) when `from_input` is off.
fn new_password(
    from_input: bool,
    input: &mut dyn std::io::BufRead,
) -> Result<(String, bool), CliError> {
    if !from_input {
        return Ok((crate::identity::random_token()[..20].to_string(), true));
    }
    let mut line = String::new();
    input.read_line(&mut line).map_err(|e| {
        CliError::plain(format!("cannot read the password from standard input: {e}"))
    })?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(CliError::plain(
            "--password-stdin: standard input had no password on its first line",
        ));
    }
    Ok((password, false))
}
