// SPDX-License-Identifier: GPL-2.0

//! The Android binder buffer allocator in Rust: the crate root, holding
//! the C entry points that `binder.c` calls (`binder_alloc.h`).
//!
//! Per process, `struct binder_alloc` (C, embedded in `binder_proc`) holds
//! what C reads and the memory of the allocator's state ([`AllocState`]):
//! `binder_proc`'s kmalloc object has room for it, so a process costs no
//! allocation of its own for it. The state is created there at the first
//! mmap and dropped by deferred release, once no shrinker callback is left
//! inside its mutex_unlock():
//! - [`range_alloc::Ranges`]: which ranges of the mapping are free or
//!   allocated, under the allocator mutex;
//! - [`page_range::PageRange`]: the page slots, their installation and
//!   reclaim (its module documentation states the locking rules).
//!
//! The C contract: binder.c calls these functions only from sleepable
//! context, never under its spinlocks, so the allocator lock is a mutex.
//! A `struct binder_buffer *` that binder.c passes in is one this code
//! returned and has not freed yet.

#![deny(unsafe_op_in_unsafe_fn)]

mod debug;
mod ffi;
mod lock;
mod lru;
mod mm;
mod page_range;
mod range_alloc;
mod shrinker;

use core::mem::MaybeUninit;
use core::ptr::{addr_of, addr_of_mut, null_mut, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use debug::{alloc_debug, Site, BUFFER_ALLOC, OPEN_CLOSE, USER_ERROR};
use ffi::{binder_alloc, binder_buffer, AllocRoom};
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use lock::TryMutex;
use mm::VmaRef;
use page_range::{copy, InstallMode, MappedSet, MappingIdentity, PageRange};
use range_alloc::{AllocError, Buffer, Ranges, Reservation};

/// Prefix of `pr_*!` messages: the module's name, as C's KBUILD_MODNAME.
const __LOG_PREFIX: &[u8] = b"binder_linux\0";

/// Largest mapping the allocator uses, as in C.
const MAX_MAPPING: usize = 4 << 20;

/// Reads a field of the C buffer with one load: binder.c may write it
/// concurrently without our lock.
macro_rules! field {
    ($buf:expr, $f:ident) => {
        // SAFETY: the buffer is live; a volatile read creates no reference
        // that C writes could invalidate.
        unsafe { core::ptr::addr_of!((*$buf.as_c()).$f).read_volatile() }
    };
}

/// Writes a field of the C buffer.
macro_rules! set_field {
    ($buf:expr, $f:ident, $v:expr) => {
        // SAFETY: as in `field!`, for a write.
        unsafe { core::ptr::addr_of_mut!((*$buf.as_c()).$f).write_volatile($v) }
    };
}

/// Bookkeeping of one mapping, under the allocator mutex. Each buffer is
/// a node of `ranges`, whose address does not change while it is allocated.
pub(crate) struct Inner {
    ranges: Ranges,
    /// Highest page index a buffer has needed, plus one (debugfs).
    pages_high: usize,
    /// Page-fault mode: pages a fault may have mapped (page_range.rs).
    pub(crate) mapped: MappedSet,
}

/// Keeps what a transaction may still reach after its process is gone:
/// every buffer struct and every page, for good (a failed list entry only
/// hides them from kmemleak). The rest goes.
fn quarantine(inner: Inner, pages: PageRange) {
    let Inner { ranges, mapped, .. } = inner;
    drop(mapped);
    let buffers = ranges.leak();
    let slots = pages.leak();
    // SAFETY: FFI call; the pointers are only kept.
    unsafe { ffi::binder_glue_quarantine(buffers, slots) };
}

/// The Rust-owned state of one allocator, created at mmap.
#[pin_data]
pub(crate) struct AllocState {
    #[pin]
    inner: TryMutex<Inner>,
    pages: PageRange,
    /// Shrinker callbacks between their trylock of `inner` and the return
    /// of their unlock of it (incremented under the mutex). Teardown waits
    /// for none to be left before it frees the state: mutex_unlock() may
    /// still touch the mutex after another task could take it
    /// (mutex-design.rst).
    pub(crate) reclaimers: AtomicUsize,
}

/// What lives in `binder_alloc.room`.
#[repr(C)]
struct StateRoom {
    state: MaybeUninit<AllocState>,
    /// The spare node of `Ranges` that is not boxed (range_alloc.rs).
    node: MaybeUninit<Buffer>,
}

const _: () = assert!(core::mem::size_of::<StateRoom>() <= core::mem::size_of::<AllocRoom>());
const _: () = assert!(core::mem::align_of::<StateRoom>() <= core::mem::align_of::<AllocRoom>());

/// The room of `alloc`, where its state lives.
fn state_room(alloc: *mut binder_alloc) -> *mut StateRoom {
    // SAFETY: `alloc` is live (all callers); only a pointer is formed.
    unsafe { addr_of_mut!((*alloc).room) }.cast()
}

/// The state of `alloc`, once mmap succeeded.
///
/// # Safety
///
/// `alloc` is live and its state is not dropped during 'a (binder.c does not
/// call deferred_release concurrently with other calls; the shrinker
/// holds a slot on the LRU, see `binder_alloc_rs_free_page`).
pub(crate) unsafe fn state_of<'a>(alloc: *mut binder_alloc) -> Option<&'a AllocState> {
    // SAFETY: `state` is only written with release stores by this code.
    let field = unsafe { AtomicPtr::from_ptr(addr_of_mut!((*alloc).state)) };
    let state = field.load(Ordering::Acquire);
    // SAFETY: non-NULL `state` points to a pinned `AllocState` that lives
    // until deferred_release (caller's guarantee).
    NonNull::new(state).map(|s| unsafe { &*s.as_ptr().cast::<AllocState>() })
}

/// Whether the binder mapping exists (set at mmap, cleared by its close).
pub(crate) fn alloc_is_mapped(alloc: *mut binder_alloc) -> bool {
    // SAFETY: `alloc` is live (all callers); `vma` is written with release
    // stores by this code only.
    let vma = unsafe { AtomicPtr::from_ptr(addr_of_mut!((*alloc).vma)) };
    !vma.load(Ordering::Acquire).is_null()
}

fn set_mapped(alloc: *mut binder_alloc, vma: *mut bindings::vm_area_struct) {
    // SAFETY: as in `alloc_is_mapped`.
    let field = unsafe { AtomicPtr::from_ptr(addr_of_mut!((*alloc).vma)) };
    field.store(vma, Ordering::Release);
}

fn alloc_pid(alloc: *mut binder_alloc) -> c_int {
    // SAFETY: `alloc` is live; pid is written once, at init.
    unsafe { (*alloc).pid }
}

fn page_up(x: usize) -> usize {
    (x + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Total space of a buffer: each part aligned to a pointer, at least one
/// pointer so every buffer has its own address; None on overflow.
#[inline]
fn sanitized_size(data: usize, offsets: usize, extra: usize) -> Option<usize> {
    let align = |x: usize| x.checked_add(7).map(|x| x & !7);
    let total = align(data)?
        .checked_add(align(offsets)?)?
        .checked_add(align(extra)?)?;
    Some(total.max(core::mem::size_of::<*const c_void>()))
}

/// Initialises the allocator of a process opening binder.
///
/// # Safety
///
/// `alloc` points to the (zeroed) allocator of a new `binder_proc`.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_init(alloc: *mut binder_alloc) {
    // SAFETY: FFI calls on the current task.
    let (pid, mm) = unsafe {
        (
            ffi::binder_glue_current_group_leader_pid(),
            ffi::binder_glue_current_mm(),
        )
    };
    if !mm.is_null() {
        // SAFETY: the current task's mm is live; the grab is dropped at
        // deferred_release.
        unsafe { ffi::binder_glue_mmgrab(mm) };
    }
    // SAFETY: the caller guarantees `alloc` is ours to initialise.
    unsafe {
        alloc.write(binder_alloc {
            state: null_mut(),
            vma: null_mut(),
            mm,
            buffer: 0,
            buffer_size: 0,
            pages: null_mut(),
            binder_vm_ops: core::ptr::null(),
            pid,
            room: AllocRoom(core::mem::MaybeUninit::uninit()),
        })
    };
}

/// Sets the allocator up for the process's binder mapping `vma`.
///
/// # Safety
///
/// Called by binder_mmap() with the mmap lock held for writing, after it
/// set `vma`'s vm_ops and vm_private_data; `alloc` is live.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_mmap_handler(
    alloc: *mut binder_alloc,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: the mmap lock is held for the duration of this call.
    let vma_ref = unsafe { VmaRef::from_raw(vma) };
    match mmap_setup(alloc, vma_ref) {
        Ok(()) => {
            set_mapped(alloc, vma);
            0
        }
        Err((err, what)) => {
            alloc_debug!(
                USER_ERROR,
                Site::MmapFailed,
                "%s: %d %lx-%lx %s failed %d\n",
                kernel::c_str!("binder_alloc_mmap_handler").as_char_ptr(),
                alloc_pid(alloc),
                vma_ref.start(),
                vma_ref.end(),
                what.as_char_ptr(),
                err.to_errno()
            );
            err.to_errno()
        }
    }
}

fn mmap_setup(
    alloc: *mut binder_alloc,
    vma: &VmaRef,
) -> core::result::Result<(), (Error, &'static CStr)> {
    // SAFETY: `alloc` is live; `mm` is written once, at init.
    if vma.mm() != unsafe { (*alloc).mm } {
        return Err((EINVAL, kernel::c_str!("invalid vma->vm_mm")));
    }
    let size = (vma.end() - vma.start()).min(MAX_MAPPING);
    // SAFETY: `buffer_size` is only accessed atomically by this code while
    // a mapping may be set up concurrently.
    let claimed = unsafe { AtomicUsize::from_ptr(addr_of_mut!((*alloc).buffer_size)) };
    if claimed
        .compare_exchange(0, size, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err((EBUSY, kernel::c_str!("already mapped")));
    }
    let release_claim = |err| {
        claimed.store(0, Ordering::Release);
        err
    };

    // SAFETY: FFI call without preconditions.
    let mode = if unsafe { ffi::binder_glue_install_on_fault() } {
        InstallMode::OnFault
    } else {
        InstallMode::Eager
    };
    let identity = match mode {
        InstallMode::Eager => MappingIdentity::of(vma),
        InstallMode::OnFault => MappingIdentity::with_fault_ops(vma),
    };
    // SAFETY: `alloc` is live and will own the slots through its state.
    let pages = unsafe {
        PageRange::new(
            NonNull::new_unchecked(alloc),
            vma.start(),
            size / PAGE_SIZE,
            identity,
            mode,
        )
    }
    .map_err(|e| release_claim((e, kernel::c_str!("alloc page array"))))?;
    let slots = pages.as_raw_slots();
    let room = state_room(alloc);
    // SAFETY: the room's node is unused (the claim above: one setup per
    // allocator) and lives until deferred_release drops or leaks `ranges`.
    let ranges = unsafe {
        Ranges::new(
            size,
            vma.start(),
            alloc_pid(alloc),
            addr_of_mut!((*room).node).cast(),
            GFP_KERNEL,
        )
    }
    .map_err(|e| release_claim((e, kernel::c_str!("alloc buffer struct"))))?;
    // Only page-fault mode records mapped pages (eager mode: no memory).
    let tracked = if mode == InstallMode::OnFault {
        size / PAGE_SIZE
    } else {
        0
    };
    let mapped = MappedSet::new(tracked)
        .map_err(|e| release_claim((e, kernel::c_str!("alloc page array"))))?;
    // SAFETY: a pointer into the room.
    let state: *mut AllocState = unsafe { addr_of_mut!((*room).state) }.cast();
    let init = pin_init!(AllocState {
        inner <- TryMutex::new(Inner {
            ranges,
            pages_high: 0,
            mapped,
        }),
        pages,
        reclaimers: AtomicUsize::new(0),
    });
    // SAFETY: the room is aligned and large enough (asserted above), and
    // unused: the claim of `buffer_size` makes this the only mmap_setup
    // that gets here, once per allocator. The state stays there, pinned,
    // until deferred_release drops it.
    if let Err(never) = unsafe { init.__pinned_init(state) } {
        match never {}
    }
    // SAFETY: `alloc` is live; readers see these after the release store
    // of `vma` (mmap's caller) or of `state`.
    unsafe {
        (*alloc).buffer = vma.start();
        (*alloc).pages = slots;
        AtomicPtr::from_ptr(addr_of_mut!((*alloc).state)).store(state.cast(), Ordering::Release);
    }
    if mode == InstallMode::OnFault {
        // Last, when nothing can fail any more: from here on the VMA's
        // faults, opens and closes go through the allocator's vm_ops.
        // SAFETY: binder_mmap holds the mmap lock for writing and the VMA
        // is not visible to faults yet; `alloc` is live.
        unsafe {
            (*alloc).binder_vm_ops = vma.vm_ops();
            ffi::binder_glue_take_over_vm_ops(vma.as_raw());
        }
    }
    Ok(())
}

/// The mapping is going away (munmap, exit_mmap): stop allocating.
///
/// # Safety
///
/// `alloc` is live.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_vma_close(alloc: *mut binder_alloc) {
    set_mapped(alloc, null_mut());
}

/// Frees everything of a process whose binder file was released.
///
/// # Safety
///
/// `alloc` is live; binder.c makes no other call on it concurrently or
/// afterwards.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_deferred_release(alloc: *mut binder_alloc) {
    if alloc_is_mapped(alloc) {
        pr_warn!("{}: released while still mapped\n", alloc_pid(alloc));
    }
    let (mut buffers, mut pages) = (0usize, 0usize);
    // SAFETY: no other allocator call runs (caller); the shrinker is
    // excluded by the mutex below.
    if let Some(state) = unsafe { state_of(alloc) } {
        let mut inner = state.inner.lock();
        let leave_alone = inner
            .ranges
            .allocated()
            .any(|(_, buffer)| !field!(buffer, transaction).is_null());
        if leave_alone {
            // binder.c still points a transaction at one of the buffers
            // (the C allocator's BUG_ON): leave buffers and pages where
            // they are, for good, and only keep the shrinker away.
            // SAFETY: a C string literal.
            unsafe {
                ffi::binder_glue_warn_live_transaction(
                    kernel::c_str!("binder_alloc_deferred_release: released").as_char_ptr(),
                )
            };
            state.pages.unhook_all();
        } else {
            // As 6.12: every buffer is freed in address order (zeroed
            // first if the sender asked for that), so its pages go to the
            // LRU, then every page is freed.
            let Inner { ranges, .. } = &mut *inner;
            while let Some(c_buffer) = ranges.first_allocated() {
                // SAFETY: a live allocated buffer of ours, under the mutex.
                let buffer = unsafe { Buffer::from_c(c_buffer) };
                if field!(buffer, clear_on_free) {
                    clear(&state.pages, buffer_start(alloc, buffer), buffer.size());
                    set_field!(buffer, clear_on_free, false);
                }
                // SAFETY: as above.
                let _ = unsafe {
                    ranges.free(c_buffer, |start, end| state.pages.put_on_lru(start, end))
                };
                buffers += 1;
            }
            pages = state.pages.release_all();
        }
        drop(inner);
        let state_ptr = core::ptr::from_ref(state).cast_mut();
        // SAFETY: `alloc` is live; nobody reads these any more: every slot
        // is off the LRU, so the shrinker cannot reach the state through
        // them (one already past its trylock is counted in `reclaimers`).
        unsafe {
            AtomicPtr::from_ptr(addr_of_mut!((*alloc).state)).store(null_mut(), Ordering::Release);
            (*alloc).pages = null_mut();
        }
        // A shrinker callback that held the mutex before us may still be
        // inside its mutex_unlock(): wait until it is out. No new one can
        // come: every slot is off the LRU, and `state` is NULL.
        while state.reclaimers.load(Ordering::Acquire) != 0 {
            // SAFETY: FFI call; deferred_release may sleep.
            unsafe { bindings::msleep(1) };
        }
        if leave_alone {
            // The state's memory goes with binder_proc: move out what must
            // stay. SAFETY: nobody uses the state any more (above) and it
            // is not dropped; its fields are read once.
            let (inner, pages) = unsafe {
                (
                    (*state_ptr).inner.destroy_into_inner(),
                    core::ptr::read(addr_of!((*state_ptr).pages)),
                )
            };
            quarantine(inner, pages);
        } else {
            // SAFETY: as above; initialised by mmap_setup, dropped once.
            unsafe { core::ptr::drop_in_place(state_ptr) };
        }
    }
    // SAFETY: the grab taken at init, dropped once.
    unsafe {
        if !(*alloc).mm.is_null() {
            ffi::binder_glue_mmdrop((*alloc).mm);
            (*alloc).mm = null_mut();
        }
    }
    alloc_debug!(
        OPEN_CLOSE,
        Site::ReleaseSummary,
        "%s: %d buffers %d, pages %d\n",
        kernel::c_str!("binder_alloc_deferred_release").as_char_ptr(),
        alloc_pid(alloc),
        buffers as c_int,
        pages as c_int
    );
}

/// Zeroes the bytes [offset, offset + len) of the mapping.
fn clear(pages: &PageRange, offset: usize, len: usize) {
    let _ = pages.for_each_piece(offset, len, |page, off, n, _| {
        copy::zero(page, off, n);
        Ok(())
    });
}

/// Allocates a buffer in `alloc`'s mapping and installs its pages.
///
/// # Safety
///
/// `alloc` is live.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_new_buf(
    alloc: *mut binder_alloc,
    data_size: usize,
    offsets_size: usize,
    extra_buffers_size: usize,
    is_async: c_int,
) -> *mut binder_buffer {
    match new_buf(
        alloc,
        data_size,
        offsets_size,
        extra_buffers_size,
        is_async != 0,
    ) {
        Ok(buffer) => buffer,
        Err(err) => err.to_ptr(),
    }
}

fn new_buf(
    alloc: *mut binder_alloc,
    data_size: usize,
    offsets_size: usize,
    extra_buffers_size: usize,
    is_async: bool,
) -> Result<*mut binder_buffer> {
    // SAFETY: binder.c holds the process alive across this call.
    let state = unsafe { state_of(alloc) }.filter(|_| alloc_is_mapped(alloc));
    let Some(state) = state else {
        alloc_debug!(
            USER_ERROR,
            Site::NoVma,
            "%d: binder_alloc_buf, no vma\n",
            alloc_pid(alloc)
        );
        return Err(ESRCH);
    };
    let Some(size) = sanitized_size(data_size, offsets_size, extra_buffers_size) else {
        alloc_debug!(
            BUFFER_ALLOC,
            Site::InvalidSize,
            "%d: got transaction with invalid size %zd-%zd-%zd\n",
            alloc_pid(alloc),
            data_size,
            offsets_size,
            extra_buffers_size
        );
        return Err(EINVAL);
    };

    // SAFETY: FFI call on the current task.
    let pid = unsafe { ffi::binder_glue_current_tgid() };
    let mut spare_nodes = None;

    let (offset, c_buffer) = loop {
        let mut guard = state.inner.lock();
        let Inner {
            ranges, pages_high, ..
        } = &mut *guard;
        let got = ranges.allocate(size, is_async, pid, spare_nodes, |start, end| {
            state.pages.take_off_lru(start, end, pages_high)
        });
        let got = match got {
            Ok(got) => got,
            Err(AllocError::NeedNodes) => {
                // No spare node: allocate one without the lock.
                drop(guard);
                spare_nodes = Some(Reservation::new(GFP_KERNEL)?);
                continue;
            }
            Err(AllocError::Failed(err)) => return Err(err),
        };
        let buf = got.buffer;
        set_field!(buf, data_size, data_size);
        set_field!(buf, offsets_size, offsets_size);
        set_field!(buf, extra_buffers_size, extra_buffers_size);
        set_field!(buf, pid, pid);
        let c_buffer = buf.as_c();
        break (got.offset, c_buffer);
    };

    let first = offset & !(PAGE_SIZE - 1);
    if let Err(err) = state.pages.install(first, page_up(offset + size)) {
        // SAFETY: `c_buffer` was allocated above and is not freed.
        unsafe { binder_alloc_free_buf(alloc, c_buffer) };
        return Err(err);
    }
    Ok(c_buffer)
}

/// Page-fault mode: the receiver faulted at `addr` of its binder mapping
/// `vma`; returns a `vm_fault_t`.
///
/// # Safety
///
/// `alloc` is the allocator of `vma`'s binder_proc; called from the VMA's
/// fault handler, with its VMA lock or its mm's mmap lock held.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_rs_fault(
    alloc: *mut binder_alloc,
    vma: *mut bindings::vm_area_struct,
    addr: c_ulong,
) -> kernel::ffi::c_uint {
    // SAFETY: the VMA is locked for the fault (caller).
    let vma = unsafe { VmaRef::from_raw(vma) };
    // SAFETY: the mapping holds the binder file, so deferred_release (and
    // with it the end of the state) cannot come before the VMA is gone.
    let Some(state) = (unsafe { state_of(alloc) }) else {
        return ffi::VM_FAULT_SIGBUS;
    };
    let mut guard = state.inner.lock();
    state.pages.fault(&mut guard.mapped, vma, addr)
}

/// Looks up the buffer at `user_ptr` for BC_FREE_BUFFER. NULL if there is
/// none, ERR_PTR(-EPERM) if user space may not free it (in use by the
/// kernel, or already being freed).
///
/// # Safety
///
/// `alloc` is live.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_prepare_to_free(
    alloc: *mut binder_alloc,
    user_ptr: c_ulong,
) -> *mut binder_buffer {
    // SAFETY: binder.c holds the process alive across this call.
    let Some(state) = (unsafe { state_of(alloc) }) else {
        return null_mut();
    };
    let guard = state.inner.lock();
    // SAFETY: `alloc` is live; `buffer` is set before `state` is published.
    let base = unsafe { (*alloc).buffer };
    let Some(buffer) = guard.ranges.get(user_ptr.wrapping_sub(base)) else {
        return null_mut();
    };
    if !field!(buffer, allow_user_free) {
        return EPERM.to_ptr();
    }
    set_field!(buffer, allow_user_free, false);
    buffer.as_c()
}

/// Frees a buffer (zeroing it first if the sender asked for that).
///
/// # Safety
///
/// `alloc` is live and `c_buffer` is a live buffer of it.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_free_buf(
    alloc: *mut binder_alloc,
    c_buffer: *mut binder_buffer,
) {
    // SAFETY: binder.c holds the process alive across this call.
    let Some(state) = (unsafe { state_of(alloc) }) else {
        return;
    };
    // SAFETY: the caller passes a live buffer of ours.
    let buffer = unsafe { Buffer::from_c(c_buffer) };
    if !field!(buffer, transaction).is_null() {
        // The C allocator's BUG_ON: a transaction would write into a freed
        // buffer. Keep the buffer allocated instead.
        // SAFETY: a C string literal.
        unsafe {
            ffi::binder_glue_warn_live_transaction(
                kernel::c_str!("binder_alloc_free_buf: freed").as_char_ptr(),
            )
        };
        return;
    }
    // SAFETY: `alloc` is live; `buffer` is set before `state` is published.
    let base = unsafe { (*alloc).buffer };
    let offset = field!(buffer, user_data).wrapping_sub(base);
    if field!(buffer, clear_on_free) {
        // Outside the lock, as in C: nobody else touches this buffer.
        clear(&state.pages, offset, buffer.size());
        set_field!(buffer, clear_on_free, false);
    }
    // SAFETY: a live buffer of ours (caller), under the mutex.
    let freed = unsafe {
        state
            .inner
            .lock()
            .ranges
            .free(c_buffer, |start, end| state.pages.put_on_lru(start, end))
    };
    if freed.is_err() {
        pr_err!(
            "{}: free of a buffer not allocated, at offset {:#x}\n",
            alloc_pid(alloc),
            offset
        );
    }
}

/// Bytes left for one-way buffers.
///
/// # Safety
///
/// `alloc` is live.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_get_free_async_space(
    alloc: *mut binder_alloc,
) -> usize {
    // SAFETY: binder.c holds the process alive across this call.
    unsafe { state_of(alloc) }.map_or(0, |s| s.inner.lock().ranges.free_async_space())
}

/// Number of allocated buffers.
///
/// # Safety
///
/// `alloc` is live.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_get_allocated_count(
    alloc: *mut binder_alloc,
) -> c_int {
    // SAFETY: binder.c holds the process alive across this call.
    unsafe { state_of(alloc) }.map_or(0, |s| s.inner.lock().ranges.allocated_count() as c_int)
}

/// debugfs: one line per allocated buffer, in address order.
///
/// # Safety
///
/// `alloc` is live; `m` is a seq_file being shown.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_print_allocated(
    m: *mut bindings::seq_file,
    alloc: *mut binder_alloc,
) {
    // SAFETY: binder.c holds the process alive across this call.
    let Some(state) = (unsafe { state_of(alloc) }) else {
        return;
    };
    let guard = state.inner.lock();
    for (offset, buffer) in guard.ranges.allocated() {
        // 6.12 keeps the id in a 27-bit field.
        let debug_id = field!(buffer, debug_id) & ((1 << 27) - 1);
        let sizes = (
            field!(buffer, data_size),
            field!(buffer, offsets_size),
            field!(buffer, extra_buffers_size),
        );
        let active = !field!(buffer, transaction).is_null();
        // SAFETY: the seq_file of the caller.
        unsafe {
            ffi::binder_glue_seq_buffer(m, debug_id, offset, sizes.0, sizes.1, sizes.2, active)
        };
    }
}

/// debugfs: page counts "active:lru:free" and the high watermark.
///
/// # Safety
///
/// `alloc` is live; `m` is a seq_file being shown.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_print_pages(
    m: *mut bindings::seq_file,
    alloc: *mut binder_alloc,
) {
    let (mut counts, mut high) = ((0, 0, 0), 0);
    // SAFETY: binder.c holds the process alive across this call.
    if let Some(state) = unsafe { state_of(alloc) } {
        let guard = state.inner.lock();
        if alloc_is_mapped(alloc) {
            counts = state.pages.counts();
        }
        high = guard.pages_high;
    }
    let (active, on_lru, free) = counts;
    // SAFETY: seq_file of the caller.
    unsafe { ffi::binder_glue_seq_pages(m, active as c_int, on_lru as c_int, free as c_int, high) };
}

/// Whether binder.c may touch [offset, offset + bytes) of `buffer` now:
/// in bounds, 32-bit aligned, and not yet handed to user space to free.
fn check_buffer(buffer: &Buffer, offset: u64, bytes: usize) -> Option<usize> {
    let offset = usize::try_from(offset).ok()?;
    let size = buffer.size();
    let ok = size >= bytes
        && offset <= size - bytes
        && offset % 4 == 0
        && (!field!(buffer, allow_user_free) || field!(buffer, transaction).is_null());
    ok.then_some(offset)
}

/// Copies `bytes` from user memory into the buffer; returns how many
/// bytes were NOT copied.
///
/// # Safety
///
/// `alloc` and `c_buffer` are live; `from` is a user pointer.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_copy_user_to_buffer(
    alloc: *mut binder_alloc,
    c_buffer: *mut binder_buffer,
    buffer_offset: u64,
    from: *const c_void,
    bytes: usize,
) -> c_ulong {
    // SAFETY: binder.c passes a live buffer of a live allocator.
    let (state, buffer) = unsafe { (state_of(alloc), Buffer::from_c(c_buffer)) };
    let (Some(state), Some(offset)) = (state, check_buffer(buffer, buffer_offset, bytes)) else {
        return bytes;
    };
    let start = buffer_start(alloc, buffer) + offset;
    let mut left = bytes;
    let _ = state
        .pages
        .for_each_piece(start, bytes, |page, off, n, done| {
            // SAFETY: `from + done` stays within the caller's user range.
            let not_copied = unsafe { copy::from_user(page, off, from.byte_add(done), n) };
            left = bytes - done - n + not_copied;
            if not_copied != 0 {
                return Err(EFAULT);
            }
            Ok(())
        });
    left
}

fn buffer_start(alloc: *mut binder_alloc, buffer: &Buffer) -> usize {
    // SAFETY: `alloc` is live; `buffer` is set at mmap.
    let base = unsafe { (*alloc).buffer };
    field!(buffer, user_data).wrapping_sub(base)
}

/// Copies between kernel memory and the buffer (`to_buffer` picks the
/// direction); -EINVAL if the range is not one binder.c may touch.
fn buffer_copy(
    alloc: *mut binder_alloc,
    c_buffer: *mut binder_buffer,
    buffer_offset: u64,
    ptr: *mut u8,
    bytes: usize,
    to_buffer: bool,
) -> c_int {
    // SAFETY: binder.c passes a live buffer of a live allocator.
    let (state, buffer) = unsafe { (state_of(alloc), Buffer::from_c(c_buffer)) };
    let (Some(state), Some(offset)) = (state, check_buffer(buffer, buffer_offset, bytes)) else {
        return EINVAL.to_errno();
    };
    if bytes == 0 {
        return 0;
    }
    let start = buffer_start(alloc, buffer) + offset;
    let res = state
        .pages
        .for_each_piece(start, bytes, |page, off, n, done| {
            if to_buffer {
                // SAFETY: the caller's kernel buffer holds `bytes` bytes.
                let src = unsafe { core::slice::from_raw_parts(ptr.add(done), n) };
                copy::to_page(page, off, src);
            } else {
                // SAFETY: as above, for writing.
                let dst = unsafe { core::slice::from_raw_parts_mut(ptr.add(done), n) };
                copy::from_page(page, off, dst);
            }
            Ok(())
        });
    match res {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

/// # Safety
///
/// `alloc` and `c_buffer` are live; `src` holds `bytes` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_copy_to_buffer(
    alloc: *mut binder_alloc,
    c_buffer: *mut binder_buffer,
    buffer_offset: u64,
    src: *mut c_void,
    bytes: usize,
) -> c_int {
    buffer_copy(alloc, c_buffer, buffer_offset, src.cast(), bytes, true)
}

/// # Safety
///
/// `alloc` and `c_buffer` are live; `dest` has room for `bytes` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_copy_from_buffer(
    alloc: *mut binder_alloc,
    dest: *mut c_void,
    c_buffer: *mut binder_buffer,
    buffer_offset: u64,
    bytes: usize,
) -> c_int {
    buffer_copy(alloc, c_buffer, buffer_offset, dest.cast(), bytes, false)
}

/// The registered shrinker, between shrinker_init and shrinker_exit.
static SHRINKER: AtomicPtr<shrinker::Shrinker> = AtomicPtr::new(null_mut());

/// Module init (first thing binder_init does): LRU, shrinker, debugfs.
#[no_mangle]
pub(crate) extern "C" fn binder_alloc_shrinker_init() -> c_int {
    // SAFETY: called once at module init, before any other use.
    if let Err(err) = unsafe { lru::init() } {
        return err.to_errno();
    }
    let registered = shrinker::Shrinker::register().and_then(|s| Ok(KBox::new(s, GFP_KERNEL)?));
    match registered {
        Ok(shrinker) => {
            SHRINKER.store(KBox::into_raw(shrinker), Ordering::Release);
            // SAFETY: FFI call at module init.
            unsafe { ffi::binder_glue_debugfs_init() };
            0
        }
        Err(err) => {
            // SAFETY: nothing uses the list yet.
            unsafe { lru::destroy() };
            err.to_errno()
        }
    }
}

/// Module teardown (binder_init's error path): the reverse of init.
#[no_mangle]
pub(crate) extern "C" fn binder_alloc_shrinker_exit() {
    // SAFETY: FFI call at module teardown.
    unsafe { ffi::binder_glue_debugfs_exit() };
    let shrinker = SHRINKER.swap(null_mut(), Ordering::AcqRel);
    if !shrinker.is_null() {
        // SAFETY: stored by init from KBox::into_raw, taken once.
        drop(unsafe { KBox::from_raw(shrinker) });
    }
    // SAFETY: the shrinker is gone, so nothing walks the list any more;
    // no process can exist once binder_init failed or the module goes.
    unsafe { lru::destroy() };
}
