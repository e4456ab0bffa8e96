//! The one error every command fails with: a stable code and a message,
//! printed after `error: ` as `[code] message`.

use crate::CallError;
use crate::identity::IdentityError;
use crate::packages::{FileError, InstallError, KeyError, PackageError, UiError};
use crate::wallet::WalletError;
use std::borrow::Cow;
use std::fmt;

/// Why a command failed. The code is the same one the HTTP API puts in a
/// problem's `title`, so an operator sees one code whether the CLI worked
/// on the data folder or on a running server. Some failures have none
/// (writing to the terminal, a flag the CLI checks itself, storage trouble):
/// they print the message alone.
/// The code of a write to a closed pipe.
pub const OUTPUT_CLOSED: &str = "output-closed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    code: Option<Cow<'static, str>>,
    message: String,
}

impl CliError {
    /// A failure with a stable code.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl fmt::Display) -> Self {
        CliError {
            code: Some(code.into()),
            message: message.to_string(),
        }
    }

    /// A failure without a code: only the message is printed.
    pub fn plain(message: impl fmt::Display) -> Self {
        CliError {
            code: None,
            message: message.to_string(),
        }
    }

    /// Writing the output failed; a reader that closed the pipe gets the
    /// code [`OUTPUT_CLOSED`] (the command then ends quietly).
    pub fn output(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe => CliError::new(OUTPUT_CLOSED, "the output was closed"),
            _ => CliError::plain(format!("cannot write output: {e}")),
        }
    }

    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "[{code}] {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CliError {}

/// `From` for the typed errors that carry a stable `code()`.
macro_rules! from_coded {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for CliError {
            fn from(e: $error) -> Self {
                CliError::new(e.code(), e)
            }
        })*
    };
}

from_coded!(
    InstallError,
    WalletError,
    IdentityError,
    PackageError,
    KeyError,
    FileError,
    UiError,
    CallError,
    crate::copy::CopyError,
    crate::store::StoreError,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_code_in_brackets_or_the_message_alone() {
        let e = CliError::from(InstallError::NotInstalled("hello".into()));
        assert_eq!(e.code(), Some("not-installed"));
        assert_eq!(
            e.to_string(),
            "[not-installed] no app with id `hello` is installed"
        );
        assert_eq!(CliError::plain("no code").to_string(), "no code");
        assert_eq!(
            CliError::new("invalid-amount".to_string(), "x").to_string(),
            "[invalid-amount] x"
        );
    }
}
