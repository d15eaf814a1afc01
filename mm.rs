// SPDX-License-Identifier: GPL-2.0

//! Thin abstractions over the process address space, shaped like the
//! kernel crate's later `kernel::mm` (`Mm`, `MmWithUser`, `MmapReadGuard`,
//! `VmaRef`) so that they can be swapped for it; 6.12's kernel crate has
//! none. Static inline C functions are reached through the C glue.
//!
//! Type states: an [`Mm`] only keeps the `mm_struct` allocated (the
//! allocator's `mmgrab`); [`MmWithUser`] also keeps the address space
//! alive (`mmget_not_zero`) and is the only way to the mmap lock;
//! [`MmapReadGuard`] holds the lock in read mode and is the only way to a
//! [`VmaRef`], so a VMA reference can never outlive the lock.
//!
//! C headers: [`include/linux/mm.h`](srctree/include/linux/mm.h),
//! [`include/linux/mmap_lock.h`](srctree/include/linux/mmap_lock.h)

use crate::ffi;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::types::Opaque;

/// An `mm_struct` kept allocated by a reference somebody else owns.
///
/// # Invariants
///
/// The wrapped `mm_struct` is valid for the lifetime of every `&Mm`.
#[repr(transparent)]
pub(crate) struct Mm(Opaque<bindings::mm_struct>);

impl Mm {
    /// # Safety
    ///
    /// `ptr` must point to an `mm_struct` that stays allocated (a grab
    /// reference is held) for the whole of `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::mm_struct) -> &'a Mm {
        // SAFETY: `Mm` is a transparent wrapper of `mm_struct`, and the
        // caller guarantees validity for 'a.
        unsafe { &*ptr.cast::<Mm>() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::mm_struct {
        self.0.get()
    }

    /// A user reference, unless the address space is already torn down
    /// (the process exited or is exiting).
    pub(crate) fn mmget_not_zero(&self) -> Option<MmWithUser<'_>> {
        // SAFETY: `self` is valid (type invariant).
        if unsafe { ffi::binder_glue_mmget_not_zero(self.as_raw()) } {
            // INVARIANT: mmget_not_zero took a user reference.
            Some(MmWithUser { mm: self })
        } else {
            None
        }
    }
}

/// An address space kept alive by a user reference (`mm_users`).
///
/// # Invariants
///
/// Holds one `mm_users` reference on `mm`, dropped with `mmput_async`
/// (never sleeps in the final put, so it is usable from the shrinker).
pub(crate) struct MmWithUser<'a> {
    mm: &'a Mm,
}

impl<'a> MmWithUser<'a> {
    /// Takes the mmap lock in read mode; may sleep.
    pub(crate) fn mmap_read_lock(&self) -> MmapReadGuard<'_> {
        // SAFETY: the user reference keeps the mm and its lock alive.
        unsafe { ffi::binder_glue_mmap_read_lock(self.mm.as_raw()) };
        // INVARIANT: the lock is held until the guard drops.
        MmapReadGuard {
            mm: self.mm,
            _not_send: PhantomData,
        }
    }

    /// Waits until every hold of the mmap lock that began before the call
    /// has ended (takes and releases it in write mode); may sleep. Must
    /// not be called with the lock held.
    pub(crate) fn wait_for_readers(&self) {
        // SAFETY: the user reference keeps the mm and its lock alive.
        unsafe { ffi::binder_glue_mmap_wait_for_readers(self.mm.as_raw()) };
    }

    /// Takes the mmap lock in read mode if that needs no waiting.
    pub(crate) fn mmap_read_trylock(&self) -> Option<MmapReadGuard<'_>> {
        // SAFETY: the user reference keeps the mm and its lock alive.
        if unsafe { ffi::binder_glue_mmap_read_trylock(self.mm.as_raw()) } {
            // INVARIANT: the trylock succeeded.
            Some(MmapReadGuard {
                mm: self.mm,
                _not_send: PhantomData,
            })
        } else {
            None
        }
    }
}

impl Drop for MmWithUser<'_> {
    fn drop(&mut self) {
        // SAFETY: the reference taken by mmget_not_zero (type invariant).
        unsafe { bindings::mmput_async(self.mm.as_raw()) };
    }
}

/// The mmap lock of an address space, held in read mode.
///
/// # Invariants
///
/// The lock of `mm` is held for reading until this guard drops.
pub(crate) struct MmapReadGuard<'a> {
    mm: &'a Mm,
    _not_send: PhantomData<*mut ()>,
}

impl MmapReadGuard<'_> {
    /// The VMA containing `addr`, if any.
    pub(crate) fn vma_lookup(&self, addr: usize) -> Option<&VmaRef> {
        // SAFETY: the mmap lock is held, as vma_lookup() requires.
        let vma = unsafe { ffi::binder_glue_vma_lookup(self.mm.as_raw(), addr) };
        // SAFETY: a VMA found under the mmap lock stays valid while the
        // lock is held, and the returned reference borrows the guard.
        NonNull::new(vma).map(|vma| unsafe { VmaRef::from_raw(vma.as_ptr()) })
    }

    /// See [`VmaCache`]: equal under two holds only if no writer held the
    /// lock in between; 0 if the kernel cannot tell.
    fn write_stamp(&self) -> u64 {
        // SAFETY: the mmap lock is held for read (type invariant).
        unsafe { ffi::binder_glue_mmap_write_stamp(self.mm.as_raw()) }
    }

    /// The page mapped at `addr`, without faulting anything in, with an
    /// extra reference that [`GupPage`] drops. Found whatever the VMA's
    /// protection (FOLL_FORCE: the receiver may have made it PROT_NONE);
    /// None if nothing is mapped there.
    pub(crate) fn get_user_page_nofault(&self, addr: usize) -> Option<GupPage> {
        // SAFETY: the mmap lock is held, as get_user_pages_remote() needs.
        let page = unsafe { ffi::binder_glue_gup_nofault(self.mm.as_raw(), addr) };
        // INVARIANT: a non-NULL page comes with one GUP reference.
        NonNull::new(page).map(|page| GupPage { page })
    }
}

impl Drop for MmapReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the read lock (type invariant).
        unsafe { ffi::binder_glue_mmap_read_unlock(self.mm.as_raw()) };
    }
}

/// The VMA a lookup last found, for lookups under later holds of the same
/// mm's mmap lock: found again without a walk of the VMA tree if no writer
/// held the lock since (VMAs are added, changed and freed only by
/// writers) and the cache is young (see `binder_glue_mmap_write_stamp`).
///
/// Lock-free: every access happens under a hold of the mmap lock for
/// read, by installers and the shrinker at once. A store writes `mm` and
/// `vma` (relaxed), then `stamp` (release); a lookup loads `stamp`
/// (acquire), then `mm` and `vma`. Stores made while no writer held the
/// lock carry that interval's stamp, and all of them found VMAs valid for
/// the whole interval; a store of an earlier interval happened before the
/// writer that ended it, so a lookup sees it (and its stamp) or something
/// newer. A lookup that sees the current stamp therefore sees a `mm` and
/// `vma` stored in the current interval (maybe by another store of it).
///
/// # Invariants
///
/// If a lookup under a hold with write stamp `s != 0` loads `stamp == s`
/// (acquire), the `mm` and `vma` it loads next were stored together under
/// a hold with stamp `s`: `vma` was then a VMA of `mm` that satisfied the
/// filter of that lookup.
pub(crate) struct VmaCache {
    mm: AtomicPtr<bindings::mm_struct>,
    vma: AtomicPtr<bindings::vm_area_struct>,
    stamp: AtomicU64,
}

impl VmaCache {
    pub(crate) const fn new() -> Self {
        // INVARIANT: a zero stamp asserts nothing.
        Self {
            mm: AtomicPtr::new(core::ptr::null_mut()),
            vma: AtomicPtr::new(core::ptr::null_mut()),
            stamp: AtomicU64::new(0),
        }
    }

    /// `mmap.vma_lookup(addr).filter(keep)`, from the cache when it can
    /// (then the flag is true). `keep` may only read VMA fields that change
    /// under the mmap write lock alone (vm_ops, vm_private_data): a cached
    /// VMA passed it. Every lookup of one cache must use the same `keep`.
    pub(crate) fn lookup<'g>(
        &self,
        mmap: &'g MmapReadGuard<'_>,
        addr: usize,
        keep: impl FnOnce(&VmaRef) -> bool,
    ) -> (Option<&'g VmaRef>, bool) {
        let now = mmap.write_stamp();
        if now != 0
            && self.stamp.load(Ordering::Acquire) == now
            && self.mm.load(Ordering::Relaxed) == mmap.mm.as_raw()
        {
            // SAFETY: by the type invariant `vma` was a VMA of this mm
            // under a hold with this stamp; the same stamp means no writer
            // since, so it is still in the tree, unchanged, and valid while
            // `mmap` is held (borrowed for the result).
            let vma = unsafe { VmaRef::from_raw(self.vma.load(Ordering::Relaxed)) };
            if vma.contains(addr) {
                return (Some(vma), true);
            }
        }
        let Some(vma) = mmap.vma_lookup(addr).filter(|vma| keep(vma)) else {
            return (None, false);
        };
        if now != 0 {
            // INVARIANT: found under this hold of the lock, which has stamp
            // `now`, and it passed `keep`; the stamp is stored last.
            self.mm.store(mmap.mm.as_raw(), Ordering::Relaxed);
            self.vma.store(vma.as_raw(), Ordering::Relaxed);
            self.stamp.store(now, Ordering::Release);
        }
        (Some(vma), false)
    }
}

/// A VMA, valid while the mmap lock it was found under is held.
///
/// # Invariants
///
/// The wrapped `vm_area_struct` is valid for the lifetime of `&VmaRef`.
#[repr(transparent)]
pub(crate) struct VmaRef(Opaque<bindings::vm_area_struct>);

impl VmaRef {
    /// # Safety
    ///
    /// `ptr` must be a VMA that stays valid for `'a` (its mm's lock held).
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::vm_area_struct) -> &'a VmaRef {
        // SAFETY: transparent wrapper; validity is the caller's promise.
        unsafe { &*ptr.cast::<VmaRef>() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::vm_area_struct {
        self.0.get()
    }

    /// First address of the VMA.
    pub(crate) fn start(&self) -> usize {
        // SAFETY: the VMA is valid (type invariant); its bounds do not
        // change while the mmap lock is held.
        unsafe { (*self.as_raw()).__bindgen_anon_1.__bindgen_anon_1.vm_start }
    }

    /// First address after the VMA.
    pub(crate) fn end(&self) -> usize {
        // SAFETY: as in `start`.
        unsafe { (*self.as_raw()).__bindgen_anon_1.__bindgen_anon_1.vm_end }
    }

    /// Whether `addr` lies inside the VMA.
    pub(crate) fn contains(&self, addr: usize) -> bool {
        self.start() <= addr && addr < self.end()
    }

    /// The VMA's offset into its file, in pages (binder: 0 at mmap; a
    /// piece split off or moved keeps its offset).
    pub(crate) fn vm_pgoff(&self) -> usize {
        // SAFETY: as in `start`.
        unsafe { (*self.as_raw()).vm_pgoff }
    }

    /// The address space the VMA belongs to.
    pub(crate) fn mm(&self) -> *mut bindings::mm_struct {
        // SAFETY: as in `start`; vm_mm never changes.
        unsafe { (*self.as_raw()).vm_mm }
    }

    /// The VMA's `vm_ops`: identifies the driver that created it.
    pub(crate) fn vm_ops(&self) -> *const c_void {
        // SAFETY: the VMA is valid (type invariant); vm_ops does not change
        // while the mmap lock is held.
        unsafe { (*self.as_raw()).vm_ops.cast() }
    }

    /// The VMA's `vm_private_data`: for binder, its `binder_proc`.
    pub(crate) fn vm_private_data(&self) -> *const c_void {
        // SAFETY: as in `vm_ops`.
        unsafe { (*self.as_raw()).vm_private_data.cast_const() }
    }

    /// Maps `page`, which somebody else owns, at `addr` (which must be
    /// inside this VMA); the PTE takes a reference of its own. Errors are
    /// those of vm_insert_page(); -EBUSY means a page is already mapped.
    ///
    /// # Safety
    ///
    /// `page` is a valid order-0 page that stays allocated during the call.
    pub(crate) unsafe fn vm_insert_borrowed_page(
        &self,
        addr: usize,
        page: NonNull<bindings::page>,
    ) -> Result {
        // The test build goes through the glue, which can fail on demand.
        #[cfg(binder_alloc_test)]
        use ffi::binder_glue_vm_insert_page as insert;
        #[cfg(not(binder_alloc_test))]
        use kernel::bindings::vm_insert_page as insert;
        // SAFETY: the VMA is valid and its mmap lock is held (read mode is
        // enough for vm_insert_page on a VM_MIXEDMAP mapping); the caller
        // guarantees the page.
        let ret = unsafe { insert(self.as_raw(), addr as _, page.as_ptr()) };
        // Inline, unlike `to_result`: this is the install path's hot call.
        if ret == 0 {
            Ok(())
        } else {
            Err(Error::from_errno(ret))
        }
    }

    /// Removes the user mapping of the page at `addr`.
    pub(crate) fn zap_page(&self, addr: usize) {
        // SAFETY: the VMA is valid and its mmap lock is held.
        unsafe {
            bindings::zap_page_range_single(
                self.as_raw(),
                addr as _,
                kernel::page::PAGE_SIZE as _,
                core::ptr::null_mut(),
            )
        };
    }
}

/// An order-0 page this code owns (one reference), freed on drop.
///
/// # Invariants
///
/// `page` is a valid page and this value owns one reference to it.
pub(crate) struct OwnedPage {
    page: NonNull<bindings::page>,
}

impl OwnedPage {
    /// A zeroed page, possibly from highmem; may sleep and reclaim.
    pub(crate) fn alloc_zeroed() -> Option<Self> {
        // SAFETY: FFI call without preconditions beyond sleepable context.
        let page = unsafe { ffi::binder_glue_alloc_zeroed_page() };
        // INVARIANT: alloc_page returned one fresh reference or NULL.
        NonNull::new(page).map(|page| OwnedPage { page })
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::page {
        self.page.as_ptr()
    }

    /// Gives up ownership: the caller now owns the reference.
    pub(crate) fn into_raw(self) -> NonNull<bindings::page> {
        let page = self.page;
        core::mem::forget(self);
        page
    }

    /// # Safety
    ///
    /// `page` must carry one reference that the caller hands over.
    pub(crate) unsafe fn from_raw(page: NonNull<bindings::page>) -> Self {
        // INVARIANT: the caller hands over one reference.
        OwnedPage { page }
    }
}

impl Drop for OwnedPage {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant).
        unsafe { bindings::__free_pages(self.page.as_ptr(), 0) };
    }
}

/// A page found by `get_user_pages_remote`, with the reference GUP took;
/// dropping it drops that reference.
///
/// # Invariants
///
/// `page` is valid and this value owns the GUP reference.
pub(crate) struct GupPage {
    page: NonNull<bindings::page>,
}

impl GupPage {
    pub(crate) fn as_raw(&self) -> NonNull<bindings::page> {
        self.page
    }
}

impl Drop for GupPage {
    fn drop(&mut self) {
        // SAFETY: the GUP reference is ours (type invariant).
        unsafe { ffi::binder_glue_put_page(self.page.as_ptr()) };
    }
}
