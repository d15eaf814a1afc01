// SPDX-License-Identifier: GPL-2.0

//! The global list_lru of installed-but-unused binder pages
//! (`binder_freelist`, a C symbol so that the kernel's selftest can walk
//! it), and the 6.12 isolate-callback contract as types.
//!
//! 6.12's list_lru walk calls the isolate callback with the LRU spinlock
//! held. A callback that needs to sleep (to zap a user mapping) must
//! isolate the item, drop the lock, and take it again before returning
//! `LRU_REMOVED_RETRY`. [`IsolateCtx::isolate_and_unlock`] returns an
//! [`LruUnlocked`] token whose drop re-takes the lock, so no path can
//! return to the walker without it.
//!
//! Lock order: allocator mutex -> LRU lock. Code under the LRU lock only
//! ever trylocks the allocator mutex and the mmap lock.
//!
//! C header: [`include/linux/list_lru.h`](srctree/include/linux/list_lru.h)

use crate::ffi;
use core::ptr::{addr_of_mut, NonNull};
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;

fn freelist() -> *mut bindings::list_lru {
    // Older compilers (6.12 supports 1.78) require `unsafe` here.
    #[allow(unused_unsafe)]
    // SAFETY: taking the address of the C global creates no reference.
    unsafe {
        addr_of_mut!(ffi::binder_freelist)
    }
}

/// Initialises `binder_freelist`.
///
/// # Safety
///
/// Called once before any other function of this file, and not again
/// until [`destroy`] ran.
pub(crate) unsafe fn init() -> Result {
    // SAFETY: the caller guarantees nobody uses the list yet.
    to_result(unsafe { ffi::binder_glue_list_lru_init(freelist()) })
}

/// Tears `binder_freelist` down.
///
/// # Safety
///
/// The list must be empty and unused (the shrinker freed first).
pub(crate) unsafe fn destroy() {
    // SAFETY: the caller guarantees the list is idle.
    unsafe { bindings::list_lru_destroy(freelist()) };
}

/// Puts `item` on the LRU, on the NUMA node of `page`. Returns false if it
/// was already there.
///
/// # Safety
///
/// `item` is the `lru` head of a live page slot whose page is `page`, and
/// the slot's allocator mutex is held.
pub(crate) unsafe fn add(item: *mut bindings::list_head, page: NonNull<bindings::page>) -> bool {
    // SAFETY: the list is initialised (module init) and the caller
    // guarantees the item and page.
    unsafe { ffi::binder_glue_list_lru_add(freelist(), item, page.as_ptr()) }
}

/// Takes `item` off the LRU. Returns false if it was not there.
///
/// # Safety
///
/// As for [`add`].
pub(crate) unsafe fn del(item: *mut bindings::list_head, page: NonNull<bindings::page>) -> bool {
    // SAFETY: as in `add`.
    unsafe { ffi::binder_glue_list_lru_del(freelist(), item, page.as_ptr()) }
}

/// Whether `item` is on the LRU.
///
/// # Safety
///
/// `item` is a live, initialised list head.
pub(crate) unsafe fn is_on_lru(item: *const bindings::list_head) -> bool {
    // SAFETY: the caller guarantees the list head.
    !unsafe { ffi::binder_glue_list_empty(item) }
}

/// Number of unused pages on the LRU of NUMA node `nid` (the shrinker's
/// node: a valid node id).
pub(crate) fn count_node(nid: c_int) -> c_ulong {
    // SAFETY: the list is initialised while the module is loaded; the
    // shrinker core passes a valid node id.
    unsafe { ffi::binder_glue_list_lru_count_node(freelist(), nid) }
}

/// Walks up to `nr` items of node `nid`'s LRU with the allocator's
/// isolate callback; returns the number freed.
pub(crate) fn walk_node(nid: c_int, nr: c_ulong) -> c_ulong {
    // SAFETY: as in `count_node`; the callback is binder_alloc_free_page.
    unsafe { ffi::binder_glue_list_lru_walk_node(freelist(), nid, nr) }
}

/// What the walker hands the isolate callback, with the LRU lock held.
///
/// # Invariants
///
/// `lock` is held by the current task, `item` is on `lru`, for as long as
/// this value exists.
pub(crate) struct IsolateCtx {
    lru: *mut bindings::list_lru_one,
    item: *mut bindings::list_head,
    lock: *mut bindings::spinlock_t,
}

impl IsolateCtx {
    /// # Safety
    ///
    /// The arguments are those of a list_lru isolate callback of 6.12,
    /// called by the walker with `lock` held.
    pub(crate) unsafe fn new(
        item: *mut bindings::list_head,
        lru: *mut bindings::list_lru_one,
        lock: *mut bindings::spinlock_t,
    ) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self { lru, item, lock }
    }

    pub(crate) fn item(&self) -> *mut bindings::list_head {
        self.item
    }

    /// Removes the item from the LRU and drops the LRU lock. The returned
    /// token re-takes the lock when dropped; the callback must then return
    /// `LRU_REMOVED_RETRY`.
    pub(crate) fn isolate_and_unlock(self) -> LruUnlocked {
        // SAFETY: the lock is held and the item is on `lru` (invariant).
        unsafe { bindings::list_lru_isolate(self.lru, self.item) };
        // SAFETY: the walker's lock is held by us (invariant).
        unsafe { bindings::spin_unlock(self.lock) };
        LruUnlocked { lock: self.lock }
    }
}

/// The LRU lock of a walk, dropped by [`IsolateCtx::isolate_and_unlock`].
/// Dropping this value takes it again, as the walker requires.
pub(crate) struct LruUnlocked {
    lock: *mut bindings::spinlock_t,
}

impl Drop for LruUnlocked {
    fn drop(&mut self) {
        // SAFETY: the walker's lock stays valid during the walk, and we
        // released it in isolate_and_unlock.
        unsafe { bindings::spin_lock(self.lock) };
    }
}
