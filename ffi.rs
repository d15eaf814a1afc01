// SPDX-License-Identifier: GPL-2.0

//! The C side as Rust sees it: `#[repr(C)]` mirrors of the structs of
//! `binder_alloc.h` and the functions of `binder_alloc_glue.c`.
//!
//! The mirrors must match the header exactly. `binder_layout.c` is
//! compiled to assembly at build time and turned into `binder_layout.rs`
//! (sizes and offsets as the C compiler sees them); the `const` assertions
//! below compare them with Rust's view, so any drift fails the build.

use core::mem::{offset_of, size_of};
use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

/// Mirror of `struct binder_buffer`.
#[repr(C)]
pub(crate) struct binder_buffer {
    pub(crate) transaction: *mut c_void,
    pub(crate) target_node: *mut c_void,
    pub(crate) data_size: usize,
    pub(crate) offsets_size: usize,
    pub(crate) extra_buffers_size: usize,
    pub(crate) user_data: c_ulong,
    pub(crate) pid: c_int,
    pub(crate) debug_id: c_int,
    pub(crate) clear_on_free: bool,
    pub(crate) allow_user_free: bool,
    pub(crate) async_transaction: bool,
    pub(crate) oneway_spam_suspect: bool,
}

/// Mirror of `struct binder_lru_page`.
#[repr(C)]
pub(crate) struct binder_lru_page {
    pub(crate) lru: bindings::list_head,
    pub(crate) page_ptr: *mut bindings::page,
    pub(crate) alloc: *mut binder_alloc,
}

/// Mirror of `struct binder_alloc`.
#[repr(C)]
pub(crate) struct binder_alloc {
    pub(crate) state: *mut c_void,
    pub(crate) vma: *mut bindings::vm_area_struct,
    pub(crate) mm: *mut bindings::mm_struct,
    pub(crate) buffer: c_ulong,
    pub(crate) buffer_size: usize,
    pub(crate) pages: *mut binder_lru_page,
    pub(crate) binder_vm_ops: *const c_void,
    pub(crate) pid: c_int,
    /// Memory for the allocator's state (`struct binder_alloc_room`).
    pub(crate) room: AllocRoom,
}

/// Mirror of `struct binder_alloc_room`: bytes only, whose size the C
/// compiler decides (it contains a `struct mutex`).
#[repr(C, align(8))]
pub(crate) struct AllocRoom(
    pub(crate) core::mem::MaybeUninit<[u8; layout::BINDER_ALLOC_ROOM_SIZE]>,
);

mod layout {
    // Generated at build time from binder_layout.c (common.mk): its path
    // in the build tree, which is not this file's directory when a kernel
    // tree is built with O=.
    include!(env!("BINDER_ALLOC_LAYOUT_RS"));
}

macro_rules! assert_layout {
    ($ty:ident, $size:ident, $( $field:ident => $off:ident ),* $(,)?) => {
        const _: () = assert!(size_of::<$ty>() == layout::$size);
        $( const _: () = assert!(offset_of!($ty, $field) == layout::$off); )*
    };
}

assert_layout!(binder_buffer, BINDER_BUFFER_SIZE,
    transaction => BINDER_BUFFER_TRANSACTION,
    target_node => BINDER_BUFFER_TARGET_NODE,
    data_size => BINDER_BUFFER_DATA_SIZE,
    offsets_size => BINDER_BUFFER_OFFSETS_SIZE,
    extra_buffers_size => BINDER_BUFFER_EXTRA_BUFFERS_SIZE,
    user_data => BINDER_BUFFER_USER_DATA,
    pid => BINDER_BUFFER_PID,
    debug_id => BINDER_BUFFER_DEBUG_ID,
    clear_on_free => BINDER_BUFFER_CLEAR_ON_FREE,
    allow_user_free => BINDER_BUFFER_ALLOW_USER_FREE,
    async_transaction => BINDER_BUFFER_ASYNC_TRANSACTION,
    oneway_spam_suspect => BINDER_BUFFER_ONEWAY_SPAM_SUSPECT,
);
assert_layout!(binder_lru_page, BINDER_LRU_PAGE_SIZE,
    lru => BINDER_LRU_PAGE_LRU,
    page_ptr => BINDER_LRU_PAGE_PAGE_PTR,
    alloc => BINDER_LRU_PAGE_ALLOC,
);
assert_layout!(binder_alloc, BINDER_ALLOC_SIZE,
    state => BINDER_ALLOC_STATE,
    vma => BINDER_ALLOC_VMA,
    mm => BINDER_ALLOC_MM,
    buffer => BINDER_ALLOC_BUFFER,
    buffer_size => BINDER_ALLOC_BUFFER_SIZE,
    pages => BINDER_ALLOC_PAGES,
    binder_vm_ops => BINDER_ALLOC_BINDER_VM_OPS,
    pid => BINDER_ALLOC_PID,
    room => BINDER_ALLOC_ROOM,
);
const _: () = assert!(size_of::<AllocRoom>() == layout::BINDER_ALLOC_ROOM_SIZE);

/// `vm_fault_t` values a fault handler returns.
pub(crate) const VM_FAULT_OOM: c_uint = bindings::vm_fault_reason_VM_FAULT_OOM;
pub(crate) const VM_FAULT_SIGBUS: c_uint = bindings::vm_fault_reason_VM_FAULT_SIGBUS;
pub(crate) const VM_FAULT_NOPAGE: c_uint = bindings::vm_fault_reason_VM_FAULT_NOPAGE;

/// `enum lru_status` values of 6.12's list_lru.
pub(crate) const LRU_REMOVED_RETRY: c_uint = bindings::lru_status_LRU_REMOVED_RETRY;
pub(crate) const LRU_SKIP: c_uint = bindings::lru_status_LRU_SKIP;
pub(crate) const LRU_ROTATE: c_uint = bindings::lru_status_LRU_ROTATE;

// Pointers to bindgen structs that embed empty structs (lockdep maps with
// lockdep off) trip `improper_ctypes`; only pointers cross, never values.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) static mut binder_freelist: bindings::list_lru;
    // `mut`: C writes these (sysfs, tracepoint registration); Rust only
    // takes their addresses and reads them with volatile loads.
    /// The `alloc_debug_mask` module parameter.
    pub(crate) static mut binder_alloc_debug_mask: u32;

    // binder.c's tracepoints of the allocator (its CREATE_TRACE_POINTS);
    // only their keys are read, see `debug::trace!`. A kernel without
    // tracepoints has none (binder.c's trace calls compile away).
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_update_page_range: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_alloc_lru_start: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_alloc_lru_end: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_free_lru_start: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_free_lru_end: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_alloc_page_start: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_alloc_page_end: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_unmap_user_start: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_unmap_user_end: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_unmap_kernel_start: bindings::tracepoint;
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) static mut __tracepoint_binder_unmap_kernel_end: bindings::tracepoint;

    pub(crate) fn binder_alloc_debug_msg(mask: u32, site: c_uint, fmt: *const c_char, ...);

    pub(crate) fn binder_alloc_err_msg(site: c_uint, fmt: *const c_char, ...);
    pub(crate) fn binder_glue_install_on_fault() -> bool;
    pub(crate) fn binder_glue_fault_vm_ops() -> *const c_void;
    pub(crate) fn binder_glue_take_over_vm_ops(vma: *mut bindings::vm_area_struct);
    pub(crate) fn binder_glue_warn_live_transaction(what: *const c_char);
    pub(crate) fn binder_glue_quarantine(buffers: *const c_void, pages: *const c_void);

    #[cfg(binder_alloc_test)]
    pub(crate) fn binder_glue_test_install_delay();
    #[cfg(binder_alloc_test)]
    pub(crate) fn binder_alloc_test_hook(
        point: c_uint,
        alloc: *mut binder_alloc,
        index: usize,
        arg: *mut c_void,
    );
    pub(crate) fn binder_glue_mmget_not_zero(mm: *mut bindings::mm_struct) -> bool;
    pub(crate) fn binder_glue_mmgrab(mm: *mut bindings::mm_struct);
    pub(crate) fn binder_glue_mmdrop(mm: *mut bindings::mm_struct);
    pub(crate) fn binder_glue_mmap_read_lock(mm: *mut bindings::mm_struct);
    pub(crate) fn binder_glue_mmap_read_trylock(mm: *mut bindings::mm_struct) -> bool;
    pub(crate) fn binder_glue_mmap_read_unlock(mm: *mut bindings::mm_struct);
    pub(crate) fn binder_glue_mmap_wait_for_readers(mm: *mut bindings::mm_struct);
    pub(crate) fn binder_glue_vma_lookup(
        mm: *mut bindings::mm_struct,
        addr: c_ulong,
    ) -> *mut bindings::vm_area_struct;
    pub(crate) fn binder_glue_mmap_write_stamp(mm: *mut bindings::mm_struct) -> u64;
    pub(crate) fn binder_glue_current_mm() -> *mut bindings::mm_struct;
    pub(crate) fn binder_glue_current_tgid() -> c_int;
    pub(crate) fn binder_glue_current_group_leader_pid() -> c_int;
    pub(crate) fn binder_glue_gup_nofault(
        mm: *mut bindings::mm_struct,
        addr: c_ulong,
    ) -> *mut bindings::page;
    pub(crate) fn binder_glue_put_page(page: *mut bindings::page);

    pub(crate) fn binder_glue_alloc_zeroed_page() -> *mut bindings::page;
    /// Test build only: vm_insert_page(), or the error the KUnit suite set.
    #[cfg(binder_alloc_test)]
    pub(crate) fn binder_glue_vm_insert_page(
        vma: *mut bindings::vm_area_struct,
        addr: c_ulong,
        page: *mut bindings::page,
    ) -> c_int;
    pub(crate) fn binder_glue_memcpy_to_page(
        page: *mut bindings::page,
        offset: usize,
        src: *const c_void,
        len: usize,
    );
    pub(crate) fn binder_glue_memcpy_from_page(
        dst: *mut c_void,
        page: *mut bindings::page,
        offset: usize,
        len: usize,
    );
    pub(crate) fn binder_glue_memzero_page(page: *mut bindings::page, offset: usize, len: usize);
    pub(crate) fn binder_glue_copy_from_user_to_page(
        page: *mut bindings::page,
        offset: usize,
        from: *const c_void,
        len: usize,
    ) -> c_ulong;
    pub(crate) fn binder_glue_pages_alloc(
        alloc: *mut binder_alloc,
        count: usize,
    ) -> *mut binder_lru_page;
    pub(crate) fn binder_glue_pages_free(pages: *mut binder_lru_page);

    pub(crate) fn binder_glue_list_lru_init(lru: *mut bindings::list_lru) -> c_int;
    pub(crate) fn binder_glue_list_lru_add(
        lru: *mut bindings::list_lru,
        item: *mut bindings::list_head,
        page: *mut bindings::page,
    ) -> bool;
    pub(crate) fn binder_glue_list_lru_del(
        lru: *mut bindings::list_lru,
        item: *mut bindings::list_head,
        page: *mut bindings::page,
    ) -> bool;
    pub(crate) fn binder_glue_list_lru_count_node(
        lru: *mut bindings::list_lru,
        nid: c_int,
    ) -> c_ulong;
    pub(crate) fn binder_glue_list_lru_walk_node(
        lru: *mut bindings::list_lru,
        nid: c_int,
        nr_to_walk: c_ulong,
    ) -> c_ulong;
    pub(crate) fn binder_glue_list_empty(head: *const bindings::list_head) -> bool;
    pub(crate) fn binder_glue_shrinker_register() -> *mut bindings::shrinker;
    pub(crate) fn binder_glue_shrinker_free(shrinker: *mut bindings::shrinker);

    pub(crate) fn binder_glue_seq_buffer(
        m: *mut bindings::seq_file,
        debug_id: c_int,
        offset: c_ulong,
        data_size: usize,
        offsets_size: usize,
        extra_buffers_size: usize,
        active: bool,
    );
    pub(crate) fn binder_glue_seq_pages(
        m: *mut bindings::seq_file,
        active: c_int,
        lru: c_int,
        free: c_int,
        pages_high: usize,
    );
    pub(crate) fn binder_glue_debugfs_init();
    pub(crate) fn binder_glue_debugfs_exit();

    // The glue's wrappers of those tracepoints (none without them).
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_update_page_range(
        alloc: *mut binder_alloc,
        allocate: bool,
        start: c_ulong,
        end: c_ulong,
    );
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_alloc_lru_start(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_alloc_lru_end(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_free_lru_start(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_free_lru_end(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_alloc_page_start(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_alloc_page_end(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_unmap_user_start(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_unmap_user_end(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_unmap_kernel_start(alloc: *const binder_alloc, index: usize);
    #[cfg(CONFIG_TRACEPOINTS)]
    pub(crate) fn binder_glue_trace_unmap_kernel_end(alloc: *const binder_alloc, index: usize);

    pub(crate) fn binder_glue_mutex_init(lock: *mut bindings::mutex);
    pub(crate) fn binder_glue_mutex_destroy(lock: *mut bindings::mutex);
}
