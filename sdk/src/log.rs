//! Structured logging through the host: lines land in the host's logs tagged
//! with this app's id. Prefer these over `println!`, which the host also
//! captures but without levels.

use crate::backend::log::log;
use crate::bindings::superapp::platform::log::Level;

/// Logs at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}
/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}
/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}
/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}
/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
