//! Per-call resource limits: linear memory and tables, with a flag that tells
//! a memory-limit failure apart from any other trap.

use wasmtime::ResourceLimiter;

/// Most table elements one instance may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;

pub struct CallLimiter {
    memory_bytes: u64,
    hit_memory: bool,
}

impl CallLimiter {
    pub fn new(memory_bytes: u64) -> Self {
        CallLimiter {
            memory_bytes,
            hit_memory: false,
        }
    }

    pub fn hit_memory_limit(&self) -> bool {
        self.hit_memory
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_bytes {
            self.hit_memory = true;
            // Trap at the growth itself rather than let the guest's allocator
            // abort somewhere later with a less precise message.
            wasmtime::bail!(
                "memory limit of {} bytes reached (asked for {desired})",
                self.memory_bytes
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
