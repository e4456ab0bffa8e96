//! The host's one configuration struct: every limit and default in one place.

use std::path::PathBuf;
use std::time::Duration;

/// Limits and defaults for a running host. Manifests may lower the per-app
/// limits, never raise them above the `max_*` values here.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where the sled database and compiled components live.
    pub data_dir: PathBuf,
    /// Linear memory a mini-app gets per call unless its manifest lowers it.
    pub default_memory_bytes: u64,
    /// The most memory any manifest may ask for.
    pub max_memory_bytes: u64,
    /// Wall-clock deadline per call unless the manifest lowers it.
    pub default_deadline: Duration,
    /// The longest deadline any manifest may ask for.
    pub max_deadline: Duration,
    /// Largest request body handed to a guest.
    pub max_request_bytes: usize,
    /// Largest response body a guest may return.
    pub max_response_bytes: usize,
    /// Most headers in a request or response.
    pub max_headers: usize,
    /// Guest stdout/stderr kept per call (the rest is dropped, not an error).
    pub max_guest_output_bytes: usize,
    /// Log lines a guest may emit per call through the `log` interface.
    pub max_log_lines_per_call: usize,
    /// Per-app storage quota unless the manifest lowers it.
    pub default_storage_quota_bytes: u64,
    /// Largest stored value unless the manifest lowers it.
    pub default_storage_value_bytes: u64,
    /// Largest component an install accepts.
    pub max_component_bytes: u64,
    /// Largest package file an install accepts.
    pub max_package_bytes: u64,
    /// Instances that may run at once (pooling allocator slots).
    pub max_concurrent_calls: u32,
    /// Try the pooling allocator at start (falls back to on-demand if the
    /// machine refuses the reservation).
    pub pooling: bool,
}

/// Epoch ticks drive deadlines; this is their period.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl HostConfig {
    /// Defaults for a host whose data lives in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            data_dir: data_dir.into(),
            default_memory_bytes: 64 << 20,
            max_memory_bytes: 256 << 20,
            default_deadline: Duration::from_secs(1),
            max_deadline: Duration::from_secs(10),
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
            max_headers: 64,
            max_guest_output_bytes: 64 << 10,
            max_log_lines_per_call: 256,
            default_storage_quota_bytes: 10 << 20,
            default_storage_value_bytes: 1 << 20,
            max_component_bytes: 2 << 20,
            max_package_bytes: 30 << 20,
            max_concurrent_calls: 256,
            pooling: true,
        }
    }
}
