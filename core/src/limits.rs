//! What one call of an app may use, as its manifest sets it (within the
//! host's caps): the runtime enforces it, the package rules compute it.

use std::time::Duration;

/// Per-call limits of one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    pub memory_bytes: u64,
    pub deadline: Duration,
}
