// SPDX-License-Identifier: GPL-2.0

//! The allocator's debug messages, tracepoints and counters.
//!
//! Messages: the `alloc_debug_mask` module parameter (defined in the C glue,
//! same bits and default as the C allocator) selects them; each message has
//! its own ratelimit, as each call site of the C allocator has. Formats are
//! those of the C allocator, so logs read the same with either module. The
//! mask is tested here, before the arguments are evaluated and the C
//! function is called, as the C allocator tests it inline.
//!
//! Tracepoints: binder.c defines them; the C glue fires them. A disabled
//! tracepoint costs one load here (its key's enable count, which is what C
//! tests when the kernel has no jump labels), not a call.
//!
//! Counters (debugfs `binder_alloc/stats`): events of the page installation
//! and reclaim paths, global to the module, updated without locks.

use core::sync::atomic::{AtomicU64, Ordering};

pub(crate) const USER_ERROR: u32 = 1 << 0;
pub(crate) const OPEN_CLOSE: u32 = 1 << 1;
pub(crate) const BUFFER_ALLOC: u32 = 1 << 2;
pub(crate) const BUFFER_ALLOC_ASYNC: u32 = 1 << 3;

/// One ratelimit state per message (index into the C glue's arrays: keep
/// `binder_alloc_site_func[]` there in this order). As in C, where every
/// `pr_info_ratelimited()` call site has its own state, and a suppressed
/// burst is reported with the name of the C function holding the site.
#[repr(u32)]
pub(crate) enum Site {
    NoAsyncSpace = 0,
    NoAddressSpace = 1,
    NoSpaceSummary = 2,
    GotBuffer = 3,
    AllocAsync = 4,
    Spamming = 5,
    NoVma = 6,
    InvalidSize = 7,
    FreeBuf = 8,
    FreeAsync = 9,
    MmapFailed = 10,
    ReleasePage = 11,
    ReleaseSummary = 12,
    // Errors of the install path (pr_err, ratelimited like the rest).
    InstallNoVma = 13,
    PageAllocFailed = 14,
    InsertFailed = 15,
    InstallUnstable = 16,
    AddFreeBuffer = 17,
}

/// Whether any of the bits of `mask` is enabled in `alloc_debug_mask`.
#[inline]
pub(crate) fn enabled(mask: u32) -> bool {
    // SAFETY: the module parameter lives as long as the module; a volatile
    // load (READ_ONCE) of a u32 that sysfs may write concurrently.
    let bits = unsafe { core::ptr::addr_of!(crate::ffi::binder_alloc_debug_mask).read_volatile() };
    bits & mask != 0
}

/// Prints a C-format message if `$mask` is enabled in `alloc_debug_mask`.
/// The format and the argument types must agree as for printk. The
/// arguments are evaluated only when the message is enabled.
macro_rules! alloc_debug {
    ($mask:expr, $site:expr, $fmt:literal $(, $arg:expr)* $(,)?) => {
        if $crate::debug::enabled($mask) {
            // SAFETY: the format is a NUL-terminated literal whose
            // conversions match the argument types (checked by review: %d
            // c_int, %zd usize, %lx c_ulong, %p pointer, %s C string).
            unsafe {
                $crate::ffi::binder_alloc_debug_msg(
                    $mask,
                    $site as kernel::ffi::c_uint,
                    kernel::c_str!($fmt).as_char_ptr() $(, $arg)*
                )
            }
        }
    };
}
pub(crate) use alloc_debug;

/// Prints a C-format error message (pr_err), ratelimited per `$site`:
/// a receiver can make these happen at will, so they must not flood the
/// log.
macro_rules! alloc_err {
    ($site:expr, $fmt:literal $(, $arg:expr)* $(,)?) => {
        // SAFETY: as in `alloc_debug!`.
        unsafe {
            $crate::ffi::binder_alloc_err_msg(
                $site as kernel::ffi::c_uint,
                kernel::c_str!($fmt).as_char_ptr() $(, $arg)*
            )
        }
    };
}
pub(crate) use alloc_err;

/// Points of the install and reclaim paths where a test build of the
/// module calls the KUnit suite's hook (`binder_alloc_test_hook`), so
/// that it can run a concurrent party's step there and make an
/// interleaving deterministic. Same values as `enum binder_test_point`.
#[cfg(binder_alloc_test)]
#[repr(u32)]
pub(crate) enum TestPoint {
    BeforeInsert,
    AfterInsert,
    AfterBusy,
    ShrinkerBeforeUnlock,
    ShrinkerAfterUnlock,
}

/// Calls the test hook at `$point` in test builds; nothing otherwise
/// (the arguments are not even evaluated).
macro_rules! test_hook {
    ($point:ident, $alloc:expr, $index:expr, $arg:expr) => {
        #[cfg(binder_alloc_test)]
        // SAFETY: the hook is the KUnit suite's; it gets a live allocator
        // and the page being installed (install points) or the allocator's
        // state (shrinker points).
        unsafe {
            $crate::ffi::binder_alloc_test_hook(
                $crate::debug::TestPoint::$point as kernel::ffi::c_uint,
                $alloc,
                $index,
                $arg,
            )
        };
        #[cfg(not(binder_alloc_test))]
        let _ = &$index;
    };
}
pub(crate) use test_hook;

/// Whether the tracepoint `tp` (one of binder.c's) has probes attached.
#[cfg(CONFIG_TRACEPOINTS)]
#[inline]
pub(crate) fn tracing(tp: *const kernel::bindings::tracepoint) -> bool {
    // SAFETY: `tp` is one of binder.c's tracepoints, which live as long as
    // the module; a volatile load (atomic_read) of its key's enable count.
    unsafe { core::ptr::addr_of!((*tp).key.enabled.counter).read_volatile() > 0 }
}

/// Fires binder.c's tracepoint `binder_$event` through the C glue, with no
/// call at all while the tracepoint is disabled. Without
/// `CONFIG_TRACEPOINTS` (binder.c has no tracepoints then) it only
/// evaluates its arguments.
macro_rules! trace {
    ($event:ident, $($arg:expr),* $(,)?) => {
        #[cfg(CONFIG_TRACEPOINTS)]
        kernel::macros::paste! {
            // Older compilers (6.12 supports 1.78) require `unsafe` here.
            #[allow(unused_unsafe)]
            // SAFETY: only the address of the C static is taken.
            let tp = unsafe { core::ptr::addr_of!($crate::ffi::[<__tracepoint_binder_ $event>]) };
            if $crate::debug::tracing(tp) {
                // SAFETY: the glue's wrapper of the tracepoint; the
                // arguments are those of the event (callers pass a live
                // allocator).
                unsafe { $crate::ffi::[<binder_glue_trace_ $event>]($($arg),*) };
            }
        }
        #[cfg(not(CONFIG_TRACEPOINTS))]
        let _ = ($($arg,)*);
    };
}
pub(crate) use trace;

/// Counters shown in debugfs, in the order the C glue names them.
#[repr(usize)]
#[derive(Clone, Copy)]
pub(crate) enum Counter {
    /// vm_insert_page() put one of our pages into a mapping.
    PagesInstalled,
    /// An installer lost the race for a page and uses the winner's: it
    /// found the slot claimed by another installer but not ready yet, or
    /// lost the compare-and-exchange of its own claim.
    InstallRacesRecovered,
    /// The shrinker freed an unused page.
    PagesReclaimed,
    /// Installing a page failed; the error reached binder.c.
    InstallErrors,
    /// The shrinker freed a page without a zap: the process had no users
    /// left, or no mapping of this allocator was at the page's address
    /// (unmapped, moved, replaced). Any PTE of the page elsewhere holds
    /// its own reference.
    PagesFreedUnmapped,
    /// An installer inserted again: it met -EBUSY but the PTE was zapped
    /// before it could look at the page mapped there, or the claim it
    /// mapped was withdrawn after the claimer's insert failed.
    InstallRetries,
    /// An installer met -EBUSY and found a page mapped there that the slot
    /// does not hold (left in the page table while the slot was empty; no
    /// known path does that, the check is defensive): it zapped it and
    /// mapped the slot's.
    InstallStalePtesReplaced,
    /// Page-fault mode: the receiver faulted on its binder mapping.
    Faults,
    /// Page-fault mode: a fault mapped the slot's page.
    FaultPagesMapped,
    /// Page-fault mode: the shrinker freed a page that was never mapped,
    /// without touching the receiver's mm.
    ReclaimsWithoutZap,
    /// The shrinker zapped through the VMA its previous reclaim of this
    /// allocator found: the receiver's mmap lock had no writer since.
    ReclaimVmaReused,
}

const NR_COUNTERS: usize = 11;
static COUNTERS: [AtomicU64; NR_COUNTERS] = [const { AtomicU64::new(0) }; NR_COUNTERS];

pub(crate) fn count(counter: Counter) {
    add(counter, 1);
}

/// Adds `n` to `counter` (one atomic operation for a whole batch).
pub(crate) fn add(counter: Counter, n: usize) {
    if n != 0 {
        COUNTERS[counter as usize].fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Fills `out` with the counters (the debugfs file's show callback).
///
/// # Safety
///
/// `out` must be valid for writing `n` values.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_rs_read_stats(out: *mut u64, n: usize) {
    for (i, counter) in COUNTERS.iter().enumerate().take(n) {
        // SAFETY: `i < n` and the caller provides room for `n` values.
        unsafe { out.add(i).write(counter.load(Ordering::Relaxed)) };
    }
}
