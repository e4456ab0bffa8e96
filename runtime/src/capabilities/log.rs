//! `superapp:platform/log`: guest log lines into tracing, tagged with the app
//! id, bounded per call so a guest cannot flood the host's logs.

use super::CallCaps;
use super::superapp::platform::log::{Host, Level};

/// Longest message kept; the rest is cut.
const MAX_MESSAGE_CHARS: usize = 2048;

impl Host for CallCaps {
    fn log(&mut self, level: Level, message: String) {
        if self.log_budget == 0 {
            return;
        }
        self.log_budget -= 1;
        let app = self.grants.app_id.as_str();
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        match level {
            Level::Trace => tracing::trace!(target: "superapp::guest", app, "{message}"),
            Level::Debug => tracing::debug!(target: "superapp::guest", app, "{message}"),
            Level::Info => tracing::info!(target: "superapp::guest", app, "{message}"),
            Level::Warn => tracing::warn!(target: "superapp::guest", app, "{message}"),
            Level::Error => tracing::error!(target: "superapp::guest", app, "{message}"),
        }
    }
}
