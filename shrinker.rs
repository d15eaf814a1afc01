// SPDX-License-Identifier: GPL-2.0

//! Registration of the binder page shrinker ("android-binder", as the C
//! allocator names it). The count and scan callbacks are C trampolines in
//! the glue (kCFI) that call [`binder_alloc_rs_shrink_count`] and
//! [`binder_alloc_rs_shrink_scan`].
//!
//! Shrinker callbacks may sleep, but ours never do: the scan only walks
//! the LRU, whose isolate callback only trylocks.
//!
//! The shrinker is NUMA aware (6.12's is not): a page sits on the list of
//! its own node, and each count and scan is for the one node reclaim asks
//! for. A walk over all nodes at once would spend every batch on the
//! first node with a batch of items, and busy pages there (rotated to
//! that node's tail) would keep the other nodes' pages forever.
//!
//! C header: [`include/linux/shrinker.h`](srctree/include/linux/shrinker.h)

use crate::{ffi, lru};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;

/// A registered shrinker; unregistered and freed on drop.
///
/// # Invariants
///
/// `shrinker` was returned by shrinker_alloc() and registered.
pub(crate) struct Shrinker {
    shrinker: NonNull<bindings::shrinker>,
}

// SAFETY: the shrinker core serialises registration and freeing; the
// handle is only a pointer to memory it owns.
unsafe impl Send for Shrinker {}
// SAFETY: `Shrinker` has no `&self` methods that touch the shrinker.
unsafe impl Sync for Shrinker {}

impl Shrinker {
    /// Allocates and registers the shrinker; -ENOMEM if that fails.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: FFI call without preconditions (process context).
        let shrinker = unsafe { ffi::binder_glue_shrinker_register() };
        // INVARIANT: non-NULL means allocated and registered.
        NonNull::new(shrinker)
            .map(|shrinker| Shrinker { shrinker })
            .ok_or(ENOMEM)
    }
}

impl Drop for Shrinker {
    fn drop(&mut self) {
        // SAFETY: registered by `register` (type invariant); shrinker_free
        // waits for running callbacks.
        unsafe { ffi::binder_glue_shrinker_free(self.shrinker.as_ptr()) };
    }
}

/// The shrinker's count callback: pages of NUMA node `nid` reclaimable now.
#[no_mangle]
pub(crate) extern "C" fn binder_alloc_rs_shrink_count(nid: c_int) -> c_ulong {
    lru::count_node(nid)
}

/// The shrinker's scan callback: frees up to `nr_to_scan` pages of NUMA
/// node `nid`.
#[no_mangle]
pub(crate) extern "C" fn binder_alloc_rs_shrink_scan(nid: c_int, nr_to_scan: c_ulong) -> c_ulong {
    lru::walk_node(nid, nr_to_scan)
}
