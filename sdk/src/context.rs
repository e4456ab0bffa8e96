//! Who is calling: the app's id, the user's per-app open id and union id, and the launch scene.

use crate::backend::context as host;
use crate::bindings::superapp::platform::context as raw;

/// The context of the current call, as the host set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The installed id of this mini-app.
    pub app_id: String,
    /// The current user's open id in this app (stable per user and app), if any.
    pub open_id: Option<String>,
    /// The current user's union id, shared by every app of this app's
    /// developer key (see the WIT docs), if any.
    pub union_id: Option<String>,
    /// The launch scene, if the call came from a launch.
    pub scene: Option<String>,
}

/// Reads the context of the current call from the host.
pub fn current() -> CallContext {
    let raw::CallContext {
        app_id,
        open_id,
        union_id,
        scene,
    } = host::current();
    CallContext {
        app_id,
        open_id,
        union_id,
        scene,
    }
}

/// The current user's open id, or `None` when the call has no user.
pub fn open_id() -> Option<String> {
    current().open_id
}
