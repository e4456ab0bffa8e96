//! `superapp:platform/context`: who is calling, as the host set it.

use super::CallCaps;
use super::superapp::platform::context::{CallContext, Host};

impl Host for CallCaps {
    fn current(&mut self) -> CallContext {
        CallContext {
            app_id: self.grants.app_id.clone(),
            open_id: self.user.as_ref().map(|u| u.open_id.clone()),
            union_id: self.user.as_ref().map(|u| u.union_id.clone()),
            scene: self.scene.clone(),
        }
    }
}
