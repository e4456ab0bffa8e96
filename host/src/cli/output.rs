//! `-o text|json` for the listing and show commands: JSON in the shapes the
//! HTTP API's admin routes answer with, so a script reads one shape whether
//! the command worked on the data folder or through a running server.

use super::CliError;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::io::Write;

/// How a listing or show command prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// Columns and lines for people.
    #[default]
    Text,
    /// One JSON document (pretty-printed), the admin API's shape.
    Json,
}

/// The `--output` flag, flattened into each listing and show command.
#[derive(Args, Clone, Copy, Debug, Default)]
pub(super) struct OutputArgs {
    /// Print as `text` (columns) or `json` (the admin API's shape, for scripts).
    #[arg(long = "output", short = 'o', value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

impl OutputArgs {
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }
}

/// Writes `value` as pretty JSON and a newline.
pub(super) fn json(out: &mut dyn Write, value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::plain(format!("cannot encode the output as JSON: {e}")))?;
    w!(out, "{text}");
    Ok(())
}
