// SPDX-License-Identifier: GPL-2.0

//! Buffer bookkeeping of one binder mapping, with the C allocator's (6.12)
//! semantics: best fit by size, split on allocation, merge with free
//! neighbours on free, half of the space for one-way (async) buffers, and
//! one-way spam detection. Pure logic: no pages, no locks, no C pointers.
//!
//! Every range of the mapping, free or allocated, is in `by_offset`; free
//! ranges are also in `free_by_size`, keyed by (size, offset) so that the
//! best fit is the smallest size that fits, lowest address first.
//!
//! Page accounting: the caller learns which whole pages of the mapping
//! become used (taken off the LRU) or unused (put on it) through the
//! callbacks; a page shared with an allocated neighbour stays in use.
//!
//! Nothing here allocates while the caller's lock is held. Every allocated
//! range keeps the tree node it will need to rejoin `free_by_size` when
//! freed, so that freeing (which C callers cannot see fail) needs no
//! memory. Nodes released by merges go to a small pool of spares; a split
//! takes its two new nodes from there, or, when the pool is empty, asks
//! the caller (`Err(AllocError::NeedNodes)`) to retry with a
//! [`Reservation`] made outside the lock (it joins the pool). In steady
//! state (allocations
//! and frees alternating) no transaction allocates memory here.

use crate::debug::{alloc_debug, Site, BUFFER_ALLOC, BUFFER_ALLOC_ASYNC, USER_ERROR};
use kernel::ffi::c_int;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};

fn page_down(x: usize) -> usize {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: usize) -> usize {
    page_down(x + PAGE_SIZE - 1)
}

type SizeKey = (usize, usize);

/// A free range starting at `start` is being merged into the free range at
/// `prev`. The page holding `start`, if `start` is not page aligned,
/// becomes unused unless the range before `prev` or the range at `after`
/// (both allocated, as free ranges never touch) also covers it.
fn boundary_page_unused(
    start: usize,
    prev: usize,
    after: Option<usize>,
    pages_unused: &mut impl FnMut(usize, usize),
) {
    let page = page_down(start);
    if start == page {
        return;
    }
    if prev > 0 && page_down(prev - 1) == page {
        return;
    }
    if after.is_some_and(|after| page_down(after) == page) {
        return;
    }
    pages_unused(page, page + PAGE_SIZE);
}

/// One allocated range and what the allocator knows about it.
struct Allocation<T> {
    data: T,
    pid: c_int,
    is_async: bool,
    /// The node this range will use in `free_by_size` once freed.
    free_node: RBTreeNodeReservation<SizeKey, ()>,
}

struct Range<T> {
    size: usize,
    allocation: Option<Allocation<T>>,
}

type OffsetNode<T> = RBTreeNodeReservation<usize, Range<T>>;
type SizeNode = RBTreeNodeReservation<SizeKey, ()>;

/// Spare tree nodes kept for later splits.
const SPARES: usize = 4;

/// A stack of at most [`SPARES`] items: `items[..len]` are `Some`.
struct Pool<X> {
    items: [Option<X>; SPARES],
    len: usize,
}

impl<X> Pool<X> {
    #[inline]
    fn new() -> Self {
        Self {
            items: [None, None, None, None],
            len: 0,
        }
    }

    #[inline]
    fn take(&mut self) -> Option<X> {
        self.len = self.len.checked_sub(1)?;
        self.items[self.len].take()
    }

    #[inline]
    fn available(&self) -> bool {
        self.len > 0
    }

    /// Keeps `x` if there is room; otherwise it is dropped (freed).
    #[inline]
    fn put(&mut self, x: X) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(x);
            self.len += 1;
        }
    }
}

/// Why an allocation did not happen.
pub(crate) enum AllocError {
    /// A split needs tree nodes and no spare is left: retry with a
    /// [`Reservation`].
    NeedNodes,
    /// The allocation fails (-ENOSPC, -EINVAL).
    Failed(Error),
}

/// Memory for one allocation's tree nodes, made before taking the lock.
pub(crate) struct Reservation<T> {
    offset_node: RBTreeNodeReservation<usize, Range<T>>,
    size_node: RBTreeNodeReservation<SizeKey, ()>,
}

impl<T> Reservation<T> {
    pub(crate) fn new(flags: kernel::alloc::Flags) -> Result<Self> {
        Ok(Self {
            offset_node: RBTreeNodeReservation::new(flags)?,
            size_node: RBTreeNodeReservation::new(flags)?,
        })
    }
}

/// What an allocation got.
pub(crate) struct Allocated<'a, T> {
    /// The caller's data, now in the allocated range.
    pub(crate) data: &'a T,
    /// Offset of the buffer in the mapping.
    pub(crate) offset: usize,
    /// Size of the free range it was carved from.
    pub(crate) free_size: usize,
    /// This allocation crossed the one-way spam threshold.
    pub(crate) spam_suspect: bool,
}

/// The ranges of one mapping.
pub(crate) struct Ranges<T> {
    /// Size of the mapping in bytes.
    size: usize,
    /// pid of the owning process, for messages.
    pid: c_int,
    by_offset: RBTree<usize, Range<T>>,
    free_by_size: RBTree<SizeKey, ()>,
    free_async_space: usize,
    oneway_spam_detected: bool,
    allocated: usize,
    spare_offset_nodes: Pool<OffsetNode<T>>,
    spare_size_nodes: Pool<SizeNode>,
}

impl<T> Ranges<T> {
    /// One free range covering a mapping of `size` bytes.
    pub(crate) fn new(size: usize, pid: c_int, flags: kernel::alloc::Flags) -> Result<Self> {
        let res = Reservation::<T>::new(flags)?;
        let mut by_offset = RBTree::new();
        let mut free_by_size = RBTree::new();
        by_offset.insert(res.offset_node.into_node(
            0,
            Range {
                size,
                allocation: None,
            },
        ));
        free_by_size.insert(res.size_node.into_node((size, 0), ()));
        Ok(Self {
            size,
            pid,
            by_offset,
            free_by_size,
            free_async_space: size / 2,
            oneway_spam_detected: false,
            allocated: 0,
            spare_offset_nodes: Pool::new(),
            spare_size_nodes: Pool::new(),
        })
    }

    /// Gives the nodes of an unused reservation to the pool.
    fn keep_spares(&mut self, res: Reservation<T>) {
        self.spare_offset_nodes.put(res.offset_node);
        self.spare_size_nodes.put(res.size_node);
    }

    pub(crate) fn free_async_space(&self) -> usize {
        self.free_async_space
    }

    pub(crate) fn allocated_count(&self) -> usize {
        self.allocated
    }

    /// Allocated ranges in address order: (offset, size, data).
    pub(crate) fn allocated(&self) -> impl Iterator<Item = (usize, usize, &T)> {
        self.by_offset
            .iter()
            .filter_map(|(off, r)| r.allocation.as_ref().map(|a| (*off, r.size, &a.data)))
    }

    /// The data of the allocated range starting at `offset`.
    pub(crate) fn get(&self, offset: usize) -> Option<&T> {
        self.by_offset
            .get(&offset)
            .and_then(|r| r.allocation.as_ref())
            .map(|a| &a.data)
    }

    /// Allocates `size` bytes (already sanitized: non-zero, pointer
    /// aligned) for `pid`, with the data `make()` returns (called once,
    /// on success, so that the data is built in place).
    /// `pages_used(start, end)` gets the byte range of the whole pages that
    /// only this buffer uses, to take off the LRU.
    /// `res`, if given, joins the spare pool first (a retry after
    /// `NeedNodes`).
    pub(crate) fn allocate(
        &mut self,
        size: usize,
        is_async: bool,
        pid: c_int,
        make: impl FnOnce() -> T,
        res: Option<Reservation<T>>,
        pages_used: impl FnOnce(usize, usize),
    ) -> core::result::Result<Allocated<'_, T>, AllocError> {
        if let Some(res) = res {
            self.keep_spares(res);
        }
        if is_async && self.free_async_space < size {
            alloc_debug!(
                BUFFER_ALLOC,
                Site::NoAsyncSpace,
                "%d: binder_alloc_buf size %zd failed, no async space left\n",
                self.pid,
                size
            );
            return Err(AllocError::Failed(ENOSPC));
        }

        let best = self
            .free_by_size
            .cursor_lower_bound(&(size, 0))
            .map(|cursor| *cursor.current().0);
        let Some((free_size, offset)) = best else {
            alloc_debug!(
                USER_ERROR,
                Site::NoAddressSpace,
                "%d: binder_alloc_buf size %zd failed, no address space\n",
                self.pid,
                size
            );
            self.debug_no_space();
            return Err(AllocError::Failed(ENOSPC));
        };

        // A split needs a node for the free tail in `by_offset` and, for
        // this allocation, the size node it will rejoin the free tree with.
        let split = free_size > size;
        let nodes = if split {
            if !(self.spare_offset_nodes.available() && self.spare_size_nodes.available()) {
                return Err(AllocError::NeedNodes);
            }
            match (self.spare_offset_nodes.take(), self.spare_size_nodes.take()) {
                (Some(offset_node), Some(size_node)) => Some((offset_node, size_node)),
                _ => return Err(AllocError::NeedNodes),
            }
        } else {
            None
        };

        let Some(old_size_node) = self.free_by_size.remove_node(&(free_size, offset)) else {
            // The two trees disagree: refuse rather than corrupt them.
            pr_err!("free range at {:#x} missing from the size tree\n", offset);
            return Err(AllocError::Failed(EINVAL));
        };
        let keep_node = match nodes {
            Some((offset_node, size_node)) => {
                // Split: the tail stays free and reuses the old size node.
                let rest = free_size - size;
                self.by_offset.insert(offset_node.into_node(
                    offset + size,
                    Range {
                        size: rest,
                        allocation: None,
                    },
                ));
                self.free_by_size.insert(
                    old_size_node
                        .into_reservation()
                        .into_node((rest, offset + size), ()),
                );
                size_node
            }
            None => old_size_node.into_reservation(),
        };

        // Pages shared with an allocated neighbour are already in use.
        let next_used_page = page_down(offset + free_size);
        let last_page = page_up(offset + size);
        pages_used(page_up(offset), next_used_page.min(last_page));

        // Count the caller's earlier one-way buffers before this one joins.
        let spam_suspect = is_async && {
            self.free_async_space -= size;
            alloc_debug!(
                BUFFER_ALLOC_ASYNC,
                Site::AllocAsync,
                "%d: binder_alloc_buf size %zd async free %zd\n",
                self.pid,
                size,
                self.free_async_space
            );
            self.low_async_space(pid)
        };

        let Some(range) = self.by_offset.get_mut(&offset) else {
            pr_err!("free range at {:#x} missing from the offset tree\n", offset);
            return Err(AllocError::Failed(EINVAL));
        };
        range.size = size;
        let allocation = range.allocation.insert(Allocation {
            data: make(),
            pid,
            is_async,
            free_node: keep_node,
        });
        self.allocated += 1;
        Ok(Allocated {
            data: &allocation.data,
            offset,
            free_size,
            spam_suspect,
        })
    }

    /// Frees the allocated range at `offset` if `is_it(data)` confirms it
    /// is the one the caller means (-EINVAL otherwise, nothing changed);
    /// its data is dropped. `pages_unused(start, end)` gets each byte
    /// range of whole pages that no allocated buffer uses any more, to put
    /// on the LRU. `debug_size` is the size the buffer was requested with
    /// (for the message only).
    pub(crate) fn free(
        &mut self,
        offset: usize,
        is_it: impl FnOnce(&T) -> bool,
        debug_size: usize,
        mut pages_unused: impl FnMut(usize, usize),
    ) -> Result {
        let total = self.size;
        let end_or_none = |offset: usize| (offset < total).then_some(offset);
        // One walk: the cursor reaches both neighbours (only fields other
        // than `by_offset` are touched while it lives).
        let mut cursor = self.by_offset.cursor_lower_bound(&offset).ok_or(EINVAL)?;
        if *cursor.current().0 != offset {
            return Err(EINVAL);
        }
        let range = cursor.current_mut().1;
        if !range.allocation.as_ref().is_some_and(|a| is_it(&a.data)) {
            return Err(EINVAL);
        }
        let allocation = range.allocation.take().ok_or(EINVAL)?;
        let mut size = range.size;
        self.allocated -= 1;

        if allocation.is_async {
            self.free_async_space += size;
            alloc_debug!(
                BUFFER_ALLOC_ASYNC,
                Site::FreeAsync,
                "%d: binder_free_buf size %zd async free %zd\n",
                self.pid,
                debug_size,
                self.free_async_space
            );
        }
        pages_unused(page_up(offset), page_down(offset + size));

        // Merge the following range into this one if it is free.
        let next = offset + size;
        let next_size = cursor
            .peek_next()
            .filter(|(_, r)| r.allocation.is_none())
            .map(|(_, r)| r.size);
        if let Some(next_size) = next_size {
            if let Some(node) = cursor.remove_next() {
                self.spare_offset_nodes.put(node.into_reservation());
            }
            boundary_page_unused(
                next,
                offset,
                end_or_none(next + next_size),
                &mut pages_unused,
            );
            if let Some(node) = self.free_by_size.remove_node(&(next_size, next)) {
                self.spare_size_nodes.put(node.into_reservation());
            }
            size += next_size;
            cursor.current_mut().1.size = size;
        }

        // Merge this range into the preceding one if that is free.
        let prev = cursor
            .peek_prev()
            .filter(|(_, r)| r.allocation.is_none())
            .map(|(off, r)| (*off, r.size));
        if let Some((prev_off, prev_size)) = prev {
            boundary_page_unused(
                offset,
                prev_off,
                end_or_none(offset + size),
                &mut pages_unused,
            );
            let merged = prev_size + size;
            if let Some((_, prev_range)) = cursor.peek_prev_mut() {
                prev_range.size = merged;
            }
            let (_, node) = cursor.remove_current();
            self.spare_offset_nodes.put(node.into_reservation());
            self.spare_size_nodes.put(allocation.free_node);
            if let Some(node) = self.free_by_size.remove_node(&(prev_size, prev_off)) {
                self.free_by_size
                    .insert(node.into_reservation().into_node((merged, prev_off), ()));
            }
        } else {
            self.free_by_size
                .insert(allocation.free_node.into_node((size, offset), ()));
        }
        Ok(())
    }

    /// One-way spam detection: once less than a tenth of the mapping is left
    /// for async buffers, a sender holding more than 50 async buffers or more
    /// than a quarter of the mapping is reported, once until space recovers.
    fn low_async_space(&mut self, pid: c_int) -> bool {
        if self.free_async_space >= self.size / 10 {
            self.oneway_spam_detected = false;
            return false;
        }
        let (mut count, mut total) = (0usize, 0usize);
        for range in self.by_offset.values() {
            if let Some(a) = &range.allocation {
                if a.pid == pid && a.is_async {
                    count += 1;
                    total += range.size;
                }
            }
        }
        if count > 50 || total > self.size / 4 {
            alloc_debug!(
                USER_ERROR,
                Site::Spamming,
                "%d: pid %d spamming oneway? %zd buffers allocated for a total size of %zd\n",
                self.pid,
                pid,
                count,
                total
            );
            if !self.oneway_spam_detected {
                self.oneway_spam_detected = true;
                return true;
            }
        }
        false
    }

    fn debug_no_space(&self) {
        let (mut alloc_total, mut alloc_count, mut alloc_largest) = (0usize, 0usize, 0usize);
        let (mut free_total, mut free_count, mut free_largest) = (0usize, 0usize, 0usize);
        for range in self.by_offset.values() {
            let (total, count, largest) = if range.allocation.is_some() {
                (&mut alloc_total, &mut alloc_count, &mut alloc_largest)
            } else {
                (&mut free_total, &mut free_count, &mut free_largest)
            };
            *total += range.size;
            *count += 1;
            *largest = (*largest).max(range.size);
        }
        alloc_debug!(
            USER_ERROR,
            Site::NoSpaceSummary,
            "allocated: %zd (num: %zd largest: %zd), free: %zd (num: %zd largest: %zd)\n",
            alloc_total,
            alloc_count,
            alloc_largest,
            free_total,
            free_count,
            free_largest
        );
    }

    /// Takes every allocated range's data out, leaving the ranges free in
    /// name only (used when the whole mapping is torn down).
    pub(crate) fn drain_allocated(&mut self, mut each: impl FnMut(usize, usize, T)) {
        for (off, range) in self.by_offset.iter_mut() {
            if let Some(a) = range.allocation.take() {
                each(*off, range.size, a.data);
            }
        }
        self.allocated = 0;
    }
}
