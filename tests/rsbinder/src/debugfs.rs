// SPDX-License-Identifier: GPL-2.0
//! The allocator state binder.c reports for one process in
//! /sys/kernel/debug/binder/stats ("proc PID" section): the values the
//! differential check compares between the stock module and ours.

use std::time::{Duration, Instant};

const STATS: &str = "/sys/kernel/debug/binder/stats";

/// One process's allocator state as debugfs prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct AllocState {
    /// Buffers allocated and not yet freed.
    pub buffers: u64,
    /// "active:lru:free" pages.
    pub pages: String,
    pub pages_high: u64,
    pub free_async: u64,
    /// Pool threads the driver asked for and the process started, "started/max".
    pub pool_threads: String,
}

/// The state of `pid`, or None when the process is not (or no longer)
/// known to binder.
pub fn alloc_state(pid: u32) -> Option<AllocState> {
    let stats = std::fs::read_to_string(STATS).ok()?;
    let header = format!("proc {pid}");
    let section: Vec<&str> = stats
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with("proc "))
        .collect();
    let field = |prefix: &str| -> Option<&str> {
        section
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(prefix))
            .map(str::trim)
    };
    // "requested threads: requested+started/max"
    let requested = field("requested threads:")?;
    Some(AllocState {
        buffers: field("buffers:")?.parse().ok()?,
        pages: field("pages:")?.to_owned(),
        pages_high: field("pages high watermark:")?.parse().ok()?,
        free_async: field("free async space")?.parse().ok()?,
        pool_threads: requested.split_once('+')?.1.to_owned(),
    })
}

/// Waits until `pid` holds exactly `buffers` allocated buffers (its threads
/// free a transaction's buffer shortly after replying).
pub fn wait_buffers(pid: u32, buffers: u64, timeout: Duration) -> Result<AllocState, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let state = alloc_state(pid).ok_or_else(|| format!("pid {pid} missing from {STATS}"))?;
        if state.buffers == buffers {
            return Ok(state);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "pid {pid} still holds {} buffers after {timeout:?} (expected {buffers})",
                state.buffers
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The new allocator's counters (debugfs binder_alloc/stats), or None on
/// the stock module, which has none.
pub fn rust_alloc_counters() -> Option<String> {
    std::fs::read_to_string("/sys/kernel/debug/binder_alloc/stats").ok()
}
