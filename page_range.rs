// SPDX-License-Identifier: GPL-2.0

//! The page slots of one binder mapping: installing pages into the user
//! mapping, copying to and from them, releasing unused ones to the LRU,
//! and the shrinker's reclaim of LRU pages.
//!
//! A slot is free (no page), in use (page, off the LRU: some allocated
//! buffer covers it) or unused (page, on the LRU). The slot array is C
//! memory (`struct binder_lru_page`, read by the kernel's selftest).
//!
//! Locking and ordering:
//! - Lock order: mmap lock (read) or the VMA lock of a fault -> allocator
//!   mutex -> LRU lock. The shrinker runs under the LRU lock and only
//!   trylocks the other two (in page-fault mode the mutex first: with
//!   trylocks the order cannot deadlock).
//! - A slot goes from free to installed only while a buffer covering it
//!   is allocated, i.e. after new_buf took it off the LRU under the mutex,
//!   and new_buf returns only after its installs are done. So while any
//!   installer of a slot runs, the slot is in use: nobody reclaims it, and
//!   a page published in it stays there until every installer is done.
//!   Installation itself holds no allocator lock: pages are allocated
//!   with no lock held, then inserted under the mmap lock in READ mode
//!   (up to INSTALL_BATCH pages per acquisition).
//! - The shrinker empties a slot and zaps the user PTE while holding the
//!   allocator mutex, so an installer that finds a slot empty never meets
//!   a stale PTE of a page being freed. (It frees without a zap only once
//!   our mapping is gone from the address; should a PTE of a page the
//!   slot does not hold still turn up, installers replace it, see below.)
//! - The receiver can zap its own PTEs at any moment under the mmap lock
//!   in read mode (MADV_DONTNEED, the OOM reaper), so "the PTE is empty"
//!   does not mean "the slot is empty". The slot is what the kernel writes
//!   through; the PTE must never map another page of ours. Hence:
//!   - a slot is claimed before its page is mapped: an installer that
//!     finds it empty puts its page there by compare-and-exchange (with no
//!     lock held), and from then on every installer of the slot inserts
//!     the slot's page, never its own, reading the claim and inserting it
//!     under one hold of the mmap read lock. So a PTE at a slot's
//!     address shows the slot's page or nothing, at every moment;
//!   - the page is *ready* (tag bit `READY` in `page_ptr`) once an insert
//!     of it succeeded, or met -EBUSY and get_user_pages_remote() found
//!     that very page mapped (the reference GUP took is dropped). Only a
//!     ready page lets a sender skip the slot: a claimed page may not be
//!     mapped yet. Copies go through the slot, whose page stays while the
//!     buffer is allocated;
//!   - -EBUSY with another page in the PTE means a page left in the
//!     VMA's page table while the slot was empty (no known path leaves
//!     one: a mapping moved away by mremap is closed for us for good; the
//!     check is defensive): it is zapped and the slot's page inserted.
//!     -EBUSY and then nothing mapped means the receiver zapped it in
//!     between: insert again;
//!   - an insert error (or a PTE zapped every time) fails the install; the
//!     claimer then withdraws its claim by compare-and-exchange, unless
//!     another installer made the page ready meanwhile. Installers that
//!     read the claimed page may still insert it: they find the slot
//!     changed when they mark it ready, and zap their PTE. The claimer
//!     frees the page only after a round trip through the mmap lock in
//!     write mode, when every hold of the read lock that could have seen
//!     the claim has ended;
//!   - so when installers are done, a slot is empty or holds a ready page,
//!     the receiver reads what the kernel wrote or gets SIGBUS (as with
//!     the C allocator after it zapped its own mapping), and every page
//!     reference is owned: the slot's allocation reference, one per PTE
//!     (vm_insert_page takes its own), and transient ones of GUP, dropped
//!     at once.
//! - Page-fault mode (chosen per mapping at mmap): the slot is the one
//!   truth and a PTE is a copy of it. Senders only publish pages in slots
//!   (compare-and-exchange, no mm, no mmap lock); the receiver's own fault
//!   maps the slot's page, under its VMA lock or mmap read lock and the
//!   allocator mutex. The shrinker empties a slot and zaps its PTE under
//!   that mutex too, so a fault maps either the slot's page before the zap
//!   removes it, or nothing (SIGBUS: the slot is empty, no buffer uses
//!   the page); it never maps a page after the slot let go of it. The
//!   receiver's own zaps only remove a copy: its next fault maps the slot's
//!   page again. Each fault records its page as mapped (`MappedSet`, under
//!   the mutex); reclaim zaps only recorded pages, and frees a page never
//!   mapped without touching the receiver's mm.
//! - Every VMA found by address is checked to be this allocator's binder
//!   mapping (vm_ops and vm_private_data recorded at mmap) before a page
//!   is inserted into it or zapped from it. A VMA found is used again
//!   without a new look-up only where it provably still is that VMA: for
//!   the next pages of one install batch (same hold of the mmap lock),
//!   and by later installers and reclaims of the same allocator
//!   (`VmaCache`, lock-free, read and written under the mmap read lock)
//!   while the receiver's mmap lock has had no writer since and the entry
//!   is under two seconds old (mm.rs); always only for an address inside
//!   the VMA.
//! - Freeing a page without a zap is safe because every PTE holds its own
//!   page reference: the slot's reference going away never frees a page
//!   that some page table still maps. Such a PTE can outlive our view of
//!   the mapping: munmap detaches the VMA before it clears the PTEs,
//!   MREMAP_DONTUNMAP moves the PTEs to a new VMA and leaves ours empty,
//!   MADV_DOFORK plus fork copies them into the child. The page then lives
//!   until that mapping goes; it only ever holds this process's data.
//! - Reclaim never leaves a page stuck: if the process's mm has no users,
//!   or the address no longer holds this allocator's mapping (munmap, an
//!   impostor mapped over it, mremap), the shrinker frees the page without
//!   a zap (see above). Only a failed trylock postpones a page, and it goes
//!   to the tail of its node's LRU; each node is scanned on its own
//!   (shrinker.rs), so busy pages of one node never hold up another's.
//!   (The C allocator of 6.12 leaves such pages at the head of the LRU
//!   forever.)
//! - deferred_release may take the mutex as soon as a shrinker callback
//!   released it, while that callback's mutex_unlock() may still touch the
//!   mutex (mutex-design.rst). So the callback counts itself in
//!   `AllocState::reclaimers` (under the mutex) until its unlock returned,
//!   and deferred_release drops the state only once that count is zero (an
//!   atomic add and subtract, cheaper than a reference count; the state
//!   lives inside `binder_proc`, which binder.c frees right after).

use crate::debug::{self, alloc_err, test_hook, trace, Counter, Site};
use crate::ffi::{self, binder_alloc, binder_lru_page};
use crate::lru::{self, IsolateCtx};
use crate::mm::{Mm, MmWithUser, MmapReadGuard, OwnedPage, VmaCache, VmaRef};
use core::ptr::{addr_of_mut, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::ffi::{c_uint, c_void};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// Most pages installed under one mmap read lock acquisition (the
/// pages of a 64 KiB buffer).
const INSTALL_BATCH: usize = 16;

/// Rounds one installer makes for a page whose PTE the receiver keeps
/// zapping between an -EBUSY and the lookup of the page mapped there.
const INSERT_ATTEMPTS: usize = 8;

/// Tag bit in a slot's `page_ptr`: the page is ready for the buffers that
/// use it (eager mode: an installer mapped it; page-fault mode: always).
/// Without it the page is only claimed: the PTE may not show it yet.
/// `struct page` is far more than 2-byte aligned, so bit 0 is free; C code
/// only ever tests `page_ptr` against NULL (the kernel's selftest).
const READY: usize = 1;

/// Identity of a process's binder mapping, recorded at mmap time.
///
/// binder.c sets `vm_ops` to its own ops and `vm_private_data` to the
/// process's `binder_proc` before calling the mmap handler; in page-fault
/// mode the allocator then installs its own ops. A VMA with the recorded
/// ops and private data is this process's binder mapping (or a piece of it
/// after a split); anything else at the same address is an impostor.
#[derive(Clone, Copy)]
pub(crate) struct MappingIdentity {
    vm_ops: *const c_void,
    vm_private_data: *const c_void,
}

impl MappingIdentity {
    /// The identity `vma` has now.
    pub(crate) fn of(vma: &VmaRef) -> Self {
        Self {
            vm_ops: vma.vm_ops(),
            vm_private_data: vma.vm_private_data(),
        }
    }

    /// The identity `vma` has once the allocator installed its own ops.
    pub(crate) fn with_fault_ops(vma: &VmaRef) -> Self {
        Self {
            // SAFETY: FFI call without preconditions (a static's address).
            vm_ops: unsafe { ffi::binder_glue_fault_vm_ops() },
            vm_private_data: vma.vm_private_data(),
        }
    }

    pub(crate) fn matches(&self, vma: &VmaRef) -> bool {
        vma.vm_ops() == self.vm_ops && vma.vm_private_data() == self.vm_private_data
    }
}

/// How pages get into the receiver's page tables, chosen at mmap.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum InstallMode {
    /// Senders insert pages under the receiver's mmap lock (read mode).
    Eager,
    /// Senders only fill slots; the receiver's page faults map them.
    OnFault,
}

/// Which pages a fault may have mapped since they were installed
/// (page-fault mode), so that reclaim zaps only those. Lives under the
/// allocator mutex, as faults and reclaim record and read it there.
pub(crate) struct MappedSet {
    words: KVec<u64>,
}

impl MappedSet {
    pub(crate) fn new(count: usize) -> Result<Self> {
        Ok(Self {
            words: KVec::from_elem(0, count.div_ceil(64), GFP_KERNEL)?,
        })
    }

    fn set(&mut self, index: usize, mapped: bool) {
        if let Some(word) = self.words.as_mut_slice().get_mut(index / 64) {
            let bit = 1u64 << (index % 64);
            if mapped {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }

    fn test(&self, index: usize) -> bool {
        self.words
            .as_slice()
            .get(index / 64)
            .is_some_and(|word| word & (1u64 << (index % 64)) != 0)
    }
}

/// The slots of one mapping.
///
/// # Invariants
///
/// `slots` points to `count` initialised `binder_lru_page`s allocated by
/// the C glue, owned by this value, whose `alloc` is `alloc`; `alloc` is
/// the allocator that owns this value (so it outlives it). `start` is the
/// page-aligned start address of the mapping.
pub(crate) struct PageRange {
    alloc: NonNull<binder_alloc>,
    slots: NonNull<binder_lru_page>,
    count: usize,
    start: usize,
    identity: MappingIdentity,
    mode: InstallMode,
    /// The VMA an installer or the shrinker last found (mm.rs).
    vma_cache: VmaCache,
}

// SAFETY: the slots are shared with C code under the locking rules in the
// module documentation; the raw pointers carry no thread affinity.
unsafe impl Send for PageRange {}
// SAFETY: as for Send: concurrent access follows the documented locking.
unsafe impl Sync for PageRange {}

impl PageRange {
    /// Slots for a mapping of `count` pages at `start`.
    ///
    /// # Safety
    ///
    /// `alloc` is a live allocator that will own the result.
    pub(crate) unsafe fn new(
        alloc: NonNull<binder_alloc>,
        start: usize,
        count: usize,
        identity: MappingIdentity,
        mode: InstallMode,
    ) -> Result<Self> {
        // SAFETY: FFI allocation; `alloc` is only stored.
        let slots = unsafe { ffi::binder_glue_pages_alloc(alloc.as_ptr(), count) };
        let slots = NonNull::new(slots).ok_or(ENOMEM)?;
        // INVARIANT: freshly allocated and initialised by the glue.
        Ok(Self {
            alloc,
            slots,
            count,
            start,
            identity,
            mode,
            vma_cache: VmaCache::new(),
        })
    }

    pub(crate) fn as_raw_slots(&self) -> *mut binder_lru_page {
        self.slots.as_ptr()
    }

    fn slot(&self, index: usize) -> Option<*mut binder_lru_page> {
        // SAFETY: in bounds of the array (type invariant).
        (index < self.count).then(|| unsafe { self.slots.as_ptr().add(index) })
    }

    fn page_ptr(slot: *mut binder_lru_page) -> &'static AtomicPtr<bindings::page> {
        // SAFETY: `slot` is a live slot; `AtomicPtr<T>` has the layout of
        // `*mut T`, and every access to page_ptr from Rust is atomic (C
        // readers of the selftest read it while no writer runs).
        unsafe { &*addr_of_mut!((*slot).page_ptr).cast::<AtomicPtr<bindings::page>>() }
    }

    fn lru_item(slot: *mut binder_lru_page) -> *mut bindings::list_head {
        // SAFETY: `slot` is a live slot; no reference is created.
        unsafe { addr_of_mut!((*slot).lru) }
    }

    /// The page in slot `index` (acquire: pairs with the claim), ready
    /// or not.
    pub(crate) fn installed(&self, index: usize) -> Option<NonNull<bindings::page>> {
        let slot = self.slot(index)?;
        Self::page_of(Self::page_ptr(slot).load(Ordering::Acquire))
    }

    /// The page a slot's `page_ptr` value names, without the tag.
    fn page_of(word: *mut bindings::page) -> Option<NonNull<bindings::page>> {
        NonNull::new((word as usize & !READY) as *mut bindings::page)
    }

    /// Whether slot `index` holds a page ready for the buffers that use
    /// it: mapped by an installer (eager mode) or published for faults.
    fn ready(&self, index: usize) -> bool {
        self.slot(index)
            .is_some_and(|slot| Self::page_ptr(slot).load(Ordering::Acquire) as usize & READY != 0)
    }

    fn alloc_ptr(&self) -> *mut binder_alloc {
        self.alloc.as_ptr()
    }

    fn pid(&self) -> kernel::ffi::c_int {
        // SAFETY: the allocator outlives self; pid is set once at open.
        unsafe { (*self.alloc_ptr()).pid }
    }

    /// Byte offsets [start, end) of whole pages that a new buffer uses:
    /// take installed ones off the LRU. Called with the allocator mutex
    /// held (`pages_high` lives under it).
    pub(crate) fn take_off_lru(&self, start: usize, end: usize, pages_high: &mut usize) {
        let alloc = self.alloc_ptr();
        trace!(
            update_page_range,
            alloc,
            true,
            self.start + start,
            self.start + end
        );
        for index in (start / PAGE_SIZE)..(end.div_ceil(PAGE_SIZE)).min(self.count) {
            let Some(page) = self.installed(index) else {
                *pages_high = (*pages_high).max(index + 1);
                continue;
            };
            let Some(slot) = self.slot(index) else { break };
            trace!(alloc_lru_start, alloc, index);
            // SAFETY: live slot with this page; the mutex is held.
            if !unsafe { lru::del(Self::lru_item(slot), page) } {
                pr_warn!(
                    "{}: page {} was installed but not on the LRU\n",
                    self.pid(),
                    index
                );
            }
            trace!(alloc_lru_end, alloc, index);
        }
    }

    /// Byte offsets [start, end) of whole pages no buffer uses any more:
    /// put installed ones on the LRU. Called with the allocator mutex held.
    pub(crate) fn put_on_lru(&self, start: usize, end: usize) {
        let alloc = self.alloc_ptr();
        trace!(
            update_page_range,
            alloc,
            false,
            self.start + start,
            self.start + end
        );
        for index in (start / PAGE_SIZE)..(end.div_ceil(PAGE_SIZE)).min(self.count) {
            let (Some(page), Some(slot)) = (self.installed(index), self.slot(index)) else {
                continue;
            };
            trace!(free_lru_start, alloc, index);
            // SAFETY: live slot with this page; the mutex is held.
            if !unsafe { lru::add(Self::lru_item(slot), page) } {
                pr_warn!("{}: page {} was already on the LRU\n", self.pid(), index);
            }
            trace!(free_lru_end, alloc, index);
        }
    }

    /// Installs every missing page of byte offsets [start, end) of a
    /// buffer that is allocated (so its pages are off the LRU). Sleeps.
    ///
    /// In batches of up to [`INSTALL_BATCH`] pages: first, with no lock
    /// held, a page is allocated for each empty slot and the slot claimed
    /// with it; then (eager mode) every page of the batch that is not
    /// ready is inserted under one hold of the mmap read lock, so that a
    /// sender takes the receiver's mmap lock once per batch, not once per
    /// page. In page-fault mode the claims are ready at once and the
    /// receiver's mm is never touched.
    ///
    /// As in 6.12, a failure leaves the pages before it installed and
    /// those after it untouched: a page allocation that fails maps the
    /// pages claimed before it, then fails; an insert that fails withdraws
    /// the claims of this call that are not ready.
    pub(crate) fn install(&self, start: usize, end: usize) -> Result {
        let last = end.div_ceil(PAGE_SIZE).min(self.count);
        // The common case, a buffer in pages already installed, needs no
        // batch at all.
        let Some(first) = (start / PAGE_SIZE..last).find(|&i| !self.ready(i)) else {
            return Ok(());
        };
        let result = if self.mode == InstallMode::OnFault {
            self.install_on_fault(first, last)
        } else {
            self.install_eager(first, last)
        };
        if result.is_err() {
            debug::count(Counter::InstallErrors);
        }
        result
    }

    /// Page-fault mode: puts pages in the empty slots of [first, last),
    /// ready at once (the receiver's faults map them), touching no mm.
    #[inline(never)]
    fn install_on_fault(&self, first: usize, last: usize) -> Result {
        self.claim_batch::<READY>(first, last).2
    }

    /// Eager mode: claims and maps the slots of [first, last) that are not
    /// ready, batch by batch. Out of line, with the loops of both phases
    /// inline: the install path gets registers of its own, apart from
    /// new_buf's.
    #[inline(never)]
    fn install_eager(&self, mut first: usize, last: usize) -> Result {
        // SAFETY: the allocator holds a grab reference on its mm until
        // deferred_release, which cannot run while a buffer is allocated.
        let mm = unsafe { Mm::from_raw((*self.alloc_ptr()).mm) };
        let Some(mm) = mm.mmget_not_zero() else {
            return Err(ESRCH);
        };
        loop {
            let end = (first + INSTALL_BATCH).min(last);
            let (claimed, mut mine, alloc_result) = self.claim_batch::<0>(first, end);
            #[cfg(binder_alloc_test)]
            // SAFETY: FFI call; sleeps only when the test knob is set.
            unsafe {
                ffi::binder_glue_test_install_delay()
            };
            let mapped = self.map_batch(&mm, first, claimed, &mut mine);
            if let Err((failed, _)) = mapped {
                self.withdraw(&mm, first, failed, mine);
            }
            if mapped.is_err() || alloc_result.is_err() || end == last {
                break mapped.map_err(|(_, err)| err).and(alloc_result);
            }
            first = end;
        }
    }

    /// The slots of [first, end), clamped to the slots there are, with
    /// their indices: one bounds check for a whole loop.
    #[inline(always)]
    fn words(
        &self,
        first: usize,
        end: usize,
    ) -> impl Iterator<Item = (usize, &AtomicPtr<bindings::page>)> + '_ {
        let end = end.min(self.count);
        (first..end).map(move |index| {
            // SAFETY: `index < end <= count`: in bounds (type invariant).
            let slot = unsafe { self.slots.as_ptr().add(index) };
            (index, Self::page_ptr(slot))
        })
    }

    /// Claims each empty slot of [first, end) with a newly allocated page,
    /// tagged `TAG`, with no lock held. Returns the end of the slots it
    /// went through (short of `end` if an allocation failed), a mask of
    /// the slots it claimed (bit `i`: slot `first + i`, for batches of
    /// [`INSTALL_BATCH`]; slots claimed ready are left out) and the
    /// allocation's result.
    #[inline(always)]
    fn claim_batch<const TAG: usize>(&self, first: usize, end: usize) -> (usize, u32, Result) {
        let mut mine = 0u32;
        let mut bit = 1u32;
        let mut published = 0usize;
        let mut reached = first;
        let mut result = Ok(());
        for (index, word) in self.words(first, end) {
            let current = word.load(Ordering::Acquire);
            if current.is_null() {
                trace!(alloc_page_start, self.alloc_ptr(), index);
                let Some(page) = OwnedPage::alloc_zeroed() else {
                    alloc_err!(
                        Site::PageAllocFailed,
                        "%d: failed to allocate page\n",
                        self.pid()
                    );
                    result = Err(ENOMEM);
                    break;
                };
                // Page-fault mode's race is between the empty slot seen
                // and the claim: the test knob widens that window.
                #[cfg(binder_alloc_test)]
                if TAG == READY {
                    // SAFETY: FFI call; sleeps only when the knob is set.
                    unsafe { ffi::binder_glue_test_install_delay() };
                }
                let claim = (page.as_raw() as usize | TAG) as *mut bindings::page;
                match word.compare_exchange(
                    core::ptr::null_mut(),
                    claim,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // INVARIANT: the slot owns the allocation reference.
                        let _ = page.into_raw();
                        if TAG == READY {
                            published = published.wrapping_add(1);
                            trace!(alloc_page_end, self.alloc_ptr(), index);
                        } else {
                            mine |= bit;
                        }
                    }
                    // Another installer claimed it first: ours is freed.
                    Err(_) => debug::count(Counter::InstallRacesRecovered),
                }
            } else if current as usize & READY == 0 {
                // Claimed by another installer, which may not have mapped
                // it yet: we map it too.
                debug::count(Counter::InstallRacesRecovered);
            }
            bit <<= 1;
            reached = index + 1;
        }
        if TAG == READY {
            debug::add(Counter::PagesInstalled, published);
        }
        (reached, mine, result)
    }

    /// Page-fault mode: the receiver faulted at `addr` of `vma`, one of
    /// our mapping's VMAs; maps the slot's page there. Called with the
    /// VMA's lock or the mmap lock held for read, and with the allocator
    /// mutex held (`mapped` lives under it). Returns a `vm_fault_t`.
    pub(crate) fn fault(&self, mapped: &mut MappedSet, vma: &VmaRef, addr: usize) -> c_uint {
        debug::count(Counter::Faults);
        // SAFETY: the allocator outlives its mapping; `mm` is set at init.
        let own_mm = vma.mm() == unsafe { (*self.alloc_ptr()).mm };
        let index = addr.wrapping_sub(self.start) / PAGE_SIZE;
        // Only the mapping where mmap put it serves pages: a piece that
        // was moved or copied elsewhere (mremap, a child's copy after
        // MADV_DOFORK) gets SIGBUS, as binder's own fault handler gives.
        let in_place = addr >= self.start
            && index < self.count
            && (addr - vma.start()) / PAGE_SIZE + vma.vm_pgoff() == index;
        if !own_mm || !in_place || !self.identity.matches(vma) {
            return ffi::VM_FAULT_SIGBUS;
        }
        let Some(page) = self.installed(index) else {
            // No buffer uses the page: nothing to see there.
            return ffi::VM_FAULT_SIGBUS;
        };
        mapped.set(index, true);
        // SAFETY: the slot owns the page and cannot let go of it while we
        // hold the mutex (only the shrinker empties slots, under it).
        match unsafe { vma.vm_insert_borrowed_page(addr & !(PAGE_SIZE - 1), page) } {
            Ok(()) => {
                debug::count(Counter::FaultPagesMapped);
                ffi::VM_FAULT_NOPAGE
            }
            // Another thread of the receiver faulted it in first.
            Err(err) if err == EBUSY => ffi::VM_FAULT_NOPAGE,
            Err(err) if err == ENOMEM => ffi::VM_FAULT_OOM,
            Err(_) => ffi::VM_FAULT_SIGBUS,
        }
    }

    /// Eager mode: maps the page of every slot of [first, end) that is
    /// not ready, under one hold of the mmap read lock, and marks it ready.
    /// `mine`: the slots this call claimed (bit `i`: slot `first + i`),
    /// updated if it claims one again. On a failure, returns the failed
    /// slot's index and error (`withdraw` then undoes the claims).
    #[inline(always)]
    fn map_batch(
        &self,
        mm: &MmWithUser<'_>,
        first: usize,
        end: usize,
        mine: &mut u32,
    ) -> core::result::Result<(), (usize, Error)> {
        if first == end {
            return Ok(());
        }
        let mut inserted = 0usize;
        let mut result = Ok(());
        {
            let mmap = mm.mmap_read_lock();
            // The VMA of the previous page: a batch is one range of
            // addresses, which the mapping's one VMA usually covers whole.
            let mut last_vma: Option<&VmaRef> = None;
            let mut addr = self.start.wrapping_add(first.wrapping_mul(PAGE_SIZE));
            for (index, word) in self.words(first, end) {
                let current = word.load(Ordering::Acquire);
                if current as usize & READY == 0 {
                    let vma = match last_vma {
                        Some(vma) if vma.contains(addr) => vma,
                        _ => match self.find_vma(&mmap, addr) {
                            Ok(vma) => vma,
                            Err(err) => {
                                result = Err((index, err));
                                break;
                            }
                        },
                    };
                    last_vma = Some(vma);
                    let done = match NonNull::new(current) {
                        Some(claimed) => {
                            // The common case: insert our claim, mark it.
                            let first_try = self.insert_claimed(vma, addr, index, claimed);
                            if first_try.is_ok() {
                                inserted = inserted.wrapping_add(1);
                            }
                            if first_try.is_ok() && Self::mark_ready(word, claimed) {
                                Ok(())
                            } else {
                                self.map_page_slow(
                                    &mmap,
                                    vma,
                                    index,
                                    addr,
                                    word,
                                    Some(first_try),
                                    (mine, first),
                                )
                            }
                        }
                        None => {
                            self.map_page_slow(&mmap, vma, index, addr, word, None, (mine, first))
                        }
                    };
                    if let Err(err) = done {
                        result = Err((index, err));
                        break;
                    }
                    trace!(alloc_page_end, self.alloc_ptr(), index);
                }
                addr = addr.wrapping_add(PAGE_SIZE);
            }
        }
        debug::add(Counter::PagesInstalled, inserted);
        result
    }

    /// The VMA of this mapping at `addr`, found under `mmap` (from the
    /// cache when it can); ESRCH, with 6.12's message, if there is none or
    /// the mapping is gone. Called for the first page of a batch and
    /// whenever a page is outside the VMA of the one before.
    #[inline(never)]
    fn find_vma<'g>(&self, mmap: &'g MmapReadGuard<'_>, addr: usize) -> Result<&'g VmaRef> {
        let vma = self
            .vma_cache
            .lookup(mmap, addr, |vma| self.identity.matches(vma))
            .0;
        match vma {
            Some(vma) if self.is_mapped() => Ok(vma),
            _ => {
                alloc_err!(
                    Site::InstallNoVma,
                    "%d: %s failed, no vma\n",
                    self.pid(),
                    kernel::c_str!("binder_install_single_page").as_char_ptr()
                );
                Err(ESRCH)
            }
        }
    }

    /// Inserts the claimed page `claimed` of slot `index` at `addr` of
    /// `vma` (the test hooks around it in the KUnit build).
    #[inline(always)]
    fn insert_claimed(
        &self,
        vma: &VmaRef,
        addr: usize,
        index: usize,
        claimed: NonNull<bindings::page>,
    ) -> Result {
        test_hook!(
            BeforeInsert,
            self.alloc_ptr(),
            index,
            claimed.as_ptr().cast()
        );
        // SAFETY: the claimed page stays allocated while we hold the mmap
        // read lock: its claimer frees it only after withdrawing it and
        // waiting for every reader that could have seen it (`withdraw`),
        // and reclaim only takes slots no buffer uses.
        let result = unsafe { vma.vm_insert_borrowed_page(addr, claimed) };
        if result.is_ok() {
            test_hook!(
                AfterInsert,
                self.alloc_ptr(),
                index,
                claimed.as_ptr().cast()
            );
        }
        result
    }

    /// The rest of mapping slot `index` (at `addr` of `vma`) when the
    /// common case of [`Self::map_batch`] did not do: the first insert of
    /// the claim failed or its claim was withdrawn (`first_try`: the first
    /// insert's result), or the slot was found empty (None). The protocol
    /// is in the module documentation. Counts the inserts it makes.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn map_page_slow(
        &self,
        mmap: &MmapReadGuard<'_>,
        vma: &VmaRef,
        index: usize,
        addr: usize,
        word: &AtomicPtr<bindings::page>,
        mut first_try: Option<Result>,
        (mine, first): (&mut u32, usize),
    ) -> Result {
        for _ in 0..INSERT_ATTEMPTS {
            let claimed = match first_try.take() {
                // The first insert succeeded but the claim was withdrawn
                // (its claimer's insert failed) before we marked it: our
                // PTE shows a page the slot no longer holds.
                Some(Ok(())) => {
                    vma.zap_page(addr);
                    debug::count(Counter::InstallRetries);
                    continue;
                }
                Some(Err(err)) => (NonNull::new(word.load(Ordering::Acquire)), Err(err)),
                None => {
                    let current = word.load(Ordering::Acquire);
                    if current as usize & READY != 0 {
                        // Another installer mapped the slot's page.
                        return Ok(());
                    }
                    match NonNull::new(current) {
                        Some(claimed) => (Some(claimed), Ok(())),
                        None => {
                            // Empty: a claim withdrawn after a failure.
                            // Claim it ourselves (allocating under the
                            // lock: this is rare).
                            let page = OwnedPage::alloc_zeroed().ok_or(ENOMEM)?;
                            if word
                                .compare_exchange(
                                    core::ptr::null_mut(),
                                    page.as_raw(),
                                    Ordering::AcqRel,
                                    Ordering::Acquire,
                                )
                                .is_ok()
                            {
                                // INVARIANT: the slot owns the reference.
                                let _ = page.into_raw();
                                *mine |= 1 << (index - first);
                            }
                            continue;
                        }
                    }
                }
            };
            let (Some(claimed), earlier) = claimed else {
                continue;
            };
            if claimed.as_ptr() as usize & READY != 0 {
                return Ok(());
            }
            let result = match earlier {
                Err(err) => Err(err),
                Ok(()) => {
                    let result = self.insert_claimed(vma, addr, index, claimed);
                    if result.is_ok() {
                        debug::count(Counter::PagesInstalled);
                    }
                    result
                }
            };
            match result {
                Ok(()) => {
                    if Self::mark_ready(word, claimed) {
                        return Ok(());
                    }
                    // Withdrawn meanwhile: that PTE must go too.
                    vma.zap_page(addr);
                    debug::count(Counter::InstallRetries);
                }
                Err(err) if err == EBUSY => {
                    test_hook!(AfterBusy, self.alloc_ptr(), index, claimed.as_ptr().cast());
                    match mmap.get_user_page_nofault(addr) {
                        // Another installer mapped the claimed page.
                        Some(found) if found.as_raw() == claimed => {
                            drop(found);
                            if Self::mark_ready(word, claimed) {
                                return Ok(());
                            }
                            vma.zap_page(addr);
                            debug::count(Counter::InstallRetries);
                        }
                        // A page the slot does not hold, left in the
                        // VMA's page table while the slot was empty (no
                        // known path does that; defensive). The PTE
                        // must show the slot's page: replace it.
                        Some(found) => {
                            drop(found);
                            vma.zap_page(addr);
                            debug::count(Counter::InstallStalePtesReplaced);
                        }
                        // The receiver zapped the PTE before we could
                        // look at it: try again.
                        None => debug::count(Counter::InstallRetries),
                    }
                }
                Err(err) => {
                    // Another installer may have made the page ready
                    // meanwhile: then it is in place after all.
                    if word.load(Ordering::Acquire) as usize & READY != 0 {
                        return Ok(());
                    }
                    alloc_err!(
                        Site::InsertFailed,
                        "%d: %s failed to insert page at offset %lx with %d\n",
                        self.pid(),
                        kernel::c_str!("binder_install_single_page").as_char_ptr(),
                        (index * PAGE_SIZE) as kernel::ffi::c_ulong,
                        err.to_errno()
                    );
                    return Err(err);
                }
            }
        }
        if word.load(Ordering::Acquire) as usize & READY != 0 {
            return Ok(());
        }
        alloc_err!(
            Site::InstallUnstable,
            "%d: page %zu kept being zapped during install\n",
            self.pid(),
            index
        );
        Err(EAGAIN)
    }

    /// After a failed insert at slot `failed`: withdraws the claims of
    /// `mine` (bit `i`: slot `first + i`) from `failed` on that are not
    /// ready, so that the slots end up empty as with the C allocator, and
    /// frees their pages once every hold of the mmap lock that could have
    /// seen them has ended. Installers that read such a page may still
    /// insert it: they find the slot changed when they mark it ready, and
    /// zap their PTE. Called without the mmap lock.
    #[cold]
    fn withdraw(&self, mm: &MmWithUser<'_>, first: usize, failed: usize, mine: u32) {
        let mut pages = [const { None::<OwnedPage> }; INSTALL_BATCH];
        let mut any = false;
        for (bit, entry) in pages.iter_mut().enumerate() {
            let index = first + bit;
            if index < failed || mine & (1 << bit) == 0 {
                continue;
            }
            let Some(slot) = self.slot(index) else { break };
            let word = Self::page_ptr(slot);
            let current = word.load(Ordering::Acquire);
            let Some(claimed) = NonNull::new(current) else {
                continue;
            };
            // Only we withdraw our claims; another installer may have made
            // it ready meanwhile (then it stays).
            if current as usize & READY == 0
                && word
                    .compare_exchange(
                        current,
                        core::ptr::null_mut(),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
            {
                // SAFETY: the slot owned this reference; it is ours again.
                *entry = Some(unsafe { OwnedPage::from_raw(claimed) });
                any = true;
            }
        }
        if any {
            mm.wait_for_readers();
        }
        drop(pages);
    }

    /// Marks the slot's claimed page `claimed` ready (an installer mapped
    /// it). False if the claim was withdrawn meanwhile.
    fn mark_ready(word: &AtomicPtr<bindings::page>, claimed: NonNull<bindings::page>) -> bool {
        let ready = (claimed.as_ptr() as usize | READY) as *mut bindings::page;
        match word.compare_exchange(claimed.as_ptr(), ready, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(current) => current == ready,
        }
    }

    /// Whether the mapping still exists (vma_close clears it; both sides
    /// run under the mmap lock).
    fn is_mapped(&self) -> bool {
        crate::alloc_is_mapped(self.alloc_ptr())
    }

    /// Calls `f(page, offset_in_page, len, done)` for each page piece of
    /// byte offsets [offset, offset + len) of the mapping, all of which
    /// must be installed. Stops at the first error.
    pub(crate) fn for_each_piece(
        &self,
        mut offset: usize,
        len: usize,
        mut f: impl FnMut(NonNull<bindings::page>, usize, usize, usize) -> Result,
    ) -> Result {
        let mut done = 0;
        while done < len {
            let in_page = offset % PAGE_SIZE;
            let n = (len - done).min(PAGE_SIZE - in_page);
            let page = self.installed(offset / PAGE_SIZE).ok_or(EFAULT)?;
            f(page, in_page, n, done)?;
            done += n;
            offset += n;
        }
        Ok(())
    }

    /// (active, lru, free) page counts, as the C allocator prints them.
    /// Called with the allocator mutex held.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let (mut active, mut on_lru, mut free) = (0, 0, 0);
        for index in 0..self.count {
            let Some(slot) = self.slot(index) else { break };
            if self.installed(index).is_none() {
                free += 1;
            // SAFETY: live slot.
            } else if unsafe { lru::is_on_lru(Self::lru_item(slot)) } {
                on_lru += 1;
            } else {
                active += 1;
            }
        }
        (active, on_lru, free)
    }

    /// Frees every installed page (the mapping is gone); returns how many.
    /// Called with the allocator mutex held, at teardown.
    pub(crate) fn release_all(&self) -> usize {
        let mut freed = 0;
        for index in 0..self.count {
            let Some(slot) = self.slot(index) else { break };
            let Some(page) =
                Self::page_of(Self::page_ptr(slot).swap(core::ptr::null_mut(), Ordering::AcqRel))
            else {
                continue;
            };
            let item = Self::lru_item(slot);
            // SAFETY: live slot; the mutex is held.
            let on_lru = unsafe { lru::is_on_lru(item) } && unsafe { lru::del(item, page) };
            crate::debug::alloc_debug!(
                crate::debug::BUFFER_ALLOC,
                crate::debug::Site::ReleasePage,
                "%s: %d: page %d %s\n",
                kernel::c_str!("binder_alloc_deferred_release").as_char_ptr(),
                self.pid(),
                index as kernel::ffi::c_int,
                if on_lru {
                    kernel::c_str!("on lru").as_char_ptr()
                } else {
                    kernel::c_str!("active").as_char_ptr()
                }
            );
            // SAFETY: the slot owned this reference; it is now ours.
            drop(unsafe { OwnedPage::from_raw(page) });
            freed += 1;
        }
        freed
    }
}

impl PageRange {
    /// Takes every installed page off the LRU and leaves it in its slot:
    /// for a state that teardown leaves alone (a buffer still referenced by
    /// a transaction), so that the shrinker never reaches it again.
    /// Called with the allocator mutex held.
    pub(crate) fn unhook_all(&self) {
        for index in 0..self.count {
            let (Some(page), Some(slot)) = (self.installed(index), self.slot(index)) else {
                continue;
            };
            let item = Self::lru_item(slot);
            // SAFETY: live slot with this page; the mutex is held.
            if unsafe { lru::is_on_lru(item) } {
                // SAFETY: as above.
                unsafe { lru::del(item, page) };
            }
        }
    }
}

impl PageRange {
    /// Gives the slots up for good, with the pages still installed in
    /// them (see `binder_alloc_deferred_release`): returns the array,
    /// which stays allocated, as is every page it points to.
    pub(crate) fn leak(self) -> *const c_void {
        let slots = self.slots.as_ptr();
        core::mem::forget(self);
        slots.cast()
    }
}

impl Drop for PageRange {
    fn drop(&mut self) {
        // SAFETY: allocated by binder_glue_pages_alloc and owned by us.
        unsafe { ffi::binder_glue_pages_free(self.slots.as_ptr()) };
    }
}

/// The list_lru isolate callback (via the C trampoline
/// `binder_alloc_free_page`): reclaims one unused page.
///
/// Lifetime: a slot is on the LRU only while its allocator is alive;
/// teardown takes every slot off the LRU (under the LRU lock, which we
/// hold) before it drops the state. Before we release the allocator's
/// mutex we count ourselves in `reclaimers`, which teardown waits to see
/// at zero before it frees the state: so the mutex outlives our unlock of
/// it even if teardown takes the mutex the moment we release it. Nothing
/// of the state or of the C allocator (`alloc`, binder.c's memory) is
/// touched after that count is dropped.
///
/// # Safety
///
/// Called by 6.12's list_lru walk on `binder_freelist`, with `lock` held.
#[no_mangle]
pub(crate) unsafe extern "C" fn binder_alloc_rs_free_page(
    item: *mut bindings::list_head,
    lru_one: *mut bindings::list_lru_one,
    lock: *mut bindings::spinlock_t,
) -> c_uint {
    // SAFETY: the walker's arguments, lock held (our precondition).
    let ctx = unsafe { IsolateCtx::new(item, lru_one, lock) };
    // Items on binder_freelist are the `lru` heads (first field) of live
    // slots, see the lifetime argument above.
    let slot = ctx.item().cast::<binder_lru_page>();
    // SAFETY: the slot is live; `alloc` is set at creation.
    let alloc = unsafe { (*slot).alloc };
    // SAFETY: the allocator is alive while its slot is on the LRU (above).
    let Some(state) = (unsafe { crate::state_of(alloc) }) else {
        return ffi::LRU_SKIP;
    };
    // One copy of the body per mode, so that eager mode's (the common
    // one) carries no branch of the other.
    match state.pages.mode {
        InstallMode::Eager => reclaim_slot::<false>(ctx, slot, alloc, state),
        InstallMode::OnFault => reclaim_slot::<true>(ctx, slot, alloc, state),
    }
}

/// The body of [`binder_alloc_rs_free_page`] for one install mode
/// (`ON_FAULT`: page-fault mode), with the walker's lock held and `slot`
/// a live slot of `state` on the LRU.
#[inline(always)]
fn reclaim_slot<const ON_FAULT: bool>(
    ctx: IsolateCtx,
    slot: *mut binder_lru_page,
    alloc: *mut binder_alloc,
    state: &crate::AllocState,
) -> c_uint {
    let pages = &state.pages;
    // Whether the page can still be mapped where we put it decides between
    // zapping and freeing without a zap; it is never a reason to leave the
    // page where it is. Only a failed trylock is (transient), and such an
    // item goes to the tail of the LRU (LRU_ROTATE), so that a busy process
    // cannot hold up the reclaim of others either. No livelock: the walk
    // counts every item it visits, rotated or not, against nr_to_walk, so
    // a walk ends after nr_to_walk items whatever they return.
    //
    // SAFETY: `slot` lies within the allocator's slot array.
    let index = unsafe { slot.offset_from(pages.as_raw_slots()) } as usize;
    // No overflow: index < count, and the mapping fits the address space.
    let addr = pages.start.wrapping_add(index.wrapping_mul(PAGE_SIZE));

    // Page-fault mode takes the mutex first: whether the receiver's mm is
    // needed at all is recorded under it (a page never faulted in has no
    // PTE). Everything here is a trylock, so taking the mutex before the
    // mmap lock cannot deadlock against the order the others keep.
    let mut early_guard = None;
    let needs_zap = if ON_FAULT {
        let Some(guard) = state.inner.try_lock() else {
            return ffi::LRU_ROTATE;
        };
        let mapped = guard.mapped.test(index);
        early_guard = Some(guard);
        mapped
    } else {
        true
    };
    // SAFETY: the allocator's grab reference keeps the mm allocated.
    let mm = unsafe { Mm::from_raw((*alloc).mm) };
    // No users: the address space is torn down (exit_mmap removes every
    // PTE, and each PTE held its own page reference), so no zap is needed.
    let mm = if needs_zap { mm.mmget_not_zero() } else { None };
    let mmap = match &mm {
        Some(mm) => match mm.mmap_read_trylock() {
            Some(mmap) => Some(mmap),
            None => return ffi::LRU_ROTATE,
        },
        None => None,
    };
    let mut guard = match early_guard {
        Some(guard) => guard,
        None => match state.inner.try_lock() {
            Some(guard) => guard,
            None => return ffi::LRU_ROTATE,
        },
    };
    // Zap only through this allocator's own mapping. Nothing of ours at
    // the address (munmap, mremap, an impostor mapped there) means no PTE
    // of the page is reachable through our mapping any more; any PTE left
    // elsewhere holds its own reference (module documentation). The VMA
    // of the previous reclaim is used again while the receiver's mmap
    // lock has had no writer since (VmaCache).
    let vma = match &mmap {
        Some(mmap) => {
            let (vma, reused) = pages
                .vma_cache
                .lookup(mmap, addr, |vma| pages.identity.matches(vma));
            if reused {
                debug::count(Counter::ReclaimVmaReused);
            }
            vma
        }
        None => None,
    };

    trace!(unmap_kernel_start, alloc, index);
    let page = PageRange::page_ptr(slot).swap(core::ptr::null_mut(), Ordering::AcqRel);
    trace!(unmap_kernel_end, alloc, index);
    let Some(page) = PageRange::page_of(page) else {
        // Unreachable by the invariants: LRU slots are installed.
        return ffi::LRU_SKIP;
    };
    // SAFETY: the slot owned this reference; it is now ours.
    let page = unsafe { OwnedPage::from_raw(page) };

    let relock = ctx.isolate_and_unlock();
    if let Some(vma) = vma {
        trace!(unmap_user_start, alloc, index);
        vma.zap_page(addr);
        trace!(unmap_user_end, alloc, index);
    } else if needs_zap {
        debug::count(Counter::PagesFreedUnmapped);
    } else {
        debug::count(Counter::ReclaimsWithoutZap);
    }
    if ON_FAULT {
        guard.mapped.set(index, false);
    }
    #[cfg(binder_alloc_test)]
    let state_arg = core::ptr::from_ref(state).cast_mut().cast::<c_void>();
    test_hook!(ShrinkerBeforeUnlock, alloc, index, state_arg);
    // We hold the mutex, so deferred_release, which frees the state only
    // after taking the mutex and then seeing no reclaimer left, has not
    // freed it; it waits for us from here until our unlock has returned.
    state.reclaimers.fetch_add(1, Ordering::Relaxed);
    // The zap is done: only now may an installer see the slot empty.
    drop(guard);
    test_hook!(ShrinkerAfterUnlock, alloc, index, state_arg);
    // Release: our unlock happened before teardown frees the state. From
    // here on nothing of the state may be touched.
    state.reclaimers.fetch_sub(1, Ordering::Release);
    drop(mmap);
    drop(mm);
    drop(page);
    debug::count(Counter::PagesReclaimed);
    drop(relock);
    ffi::LRU_REMOVED_RETRY
}

/// Copies helpers over the C glue's kmap-based page copies.
pub(crate) mod copy {
    use super::*;

    pub(crate) fn to_page(page: NonNull<bindings::page>, off: usize, src: &[u8]) {
        // SAFETY: `off + src.len() <= PAGE_SIZE` (callers split by page)
        // and the page is installed and in use.
        unsafe {
            ffi::binder_glue_memcpy_to_page(page.as_ptr(), off, src.as_ptr().cast(), src.len())
        };
    }

    pub(crate) fn from_page(page: NonNull<bindings::page>, off: usize, dst: &mut [u8]) {
        // SAFETY: as in `to_page`.
        unsafe {
            ffi::binder_glue_memcpy_from_page(
                dst.as_mut_ptr().cast(),
                page.as_ptr(),
                off,
                dst.len(),
            )
        };
    }

    pub(crate) fn zero(page: NonNull<bindings::page>, off: usize, len: usize) {
        // SAFETY: as in `to_page`.
        unsafe { ffi::binder_glue_memzero_page(page.as_ptr(), off, len) };
    }

    /// Returns the number of bytes not copied.
    ///
    /// # Safety
    ///
    /// `from` is a user pointer (checked by copy_from_user).
    pub(crate) unsafe fn from_user(
        page: NonNull<bindings::page>,
        off: usize,
        from: *const c_void,
        len: usize,
    ) -> usize {
        // SAFETY: page bounds as in `to_page`; copy_from_user checks `from`.
        unsafe { ffi::binder_glue_copy_from_user_to_page(page.as_ptr(), off, from, len) as usize }
    }
}
