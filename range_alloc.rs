// SPDX-License-Identifier: GPL-2.0

//! Buffer bookkeeping of one binder mapping, deciding exactly as the C
//! allocator of 6.12 does: best fit by size, split on allocation, merge
//! with free neighbours on free, half of the space for one-way (async)
//! buffers, one-way spam detection. Pure logic: no pages, no locks.
//!
//! Every range of the mapping, free or allocated, is one [`Buffer`] node
//! (the C `struct binder_buffer` binder.c sees, plus the links below),
//! linked to its neighbours in address order. A free range is in the free
//! tree, keyed by size; an allocated one in the allocated tree, keyed by
//! offset. Both trees are the kernel's red-black trees (lib/rbtree.c).
//!
//! Why the same decisions as 6.12, and not merely equivalent ones: which
//! of several free ranges of one size a request gets depends on the free
//! tree's shape (the search takes the first equal-size node it meets on
//! its way down from the root). So the free tree is driven with the same
//! operations, in the same order and with the same comparisons as 6.12's:
//! - a size equal to a node's goes to that node's right;
//! - an allocation that splits inserts the free tail *before* it erases
//!   the range it splits, and while it inserts, that range's size already
//!   reads as the requested size (6.12 derives sizes from the neighbour
//!   list, where the tail is already linked);
//! - a free erases the range from the allocated tree, then the free
//!   neighbour after it, then the one before it, and inserts the merged
//!   range last.
//!
//! Node identity follows 6.12 too, because the spam detection reads the
//! `pid` a node kept from its previous allocation: a split keeps the node
//! for the allocated head and takes a zeroed node for the tail; a merge
//! keeps the lower node. (6.12 counts the new buffer before its `pid` is
//! set, so a node whose stale pid is the caller's counts once more.)
//!
//! Locking: all of this runs under the allocator mutex. binder.c reads and
//! writes the C fields of allocated buffers without it; the size of an
//! allocated buffer never changes, and is read without the lock.
//!
//! Nothing here allocates while the caller's lock is held. Nodes released
//! by merges go to a small pool of spares; a split takes its node from
//! there or, when the pool is empty, asks the caller
//! (`Err(AllocError::NeedNodes)`) to retry with a [`Reservation`] made
//! outside the lock. In steady state no transaction allocates memory
//! here (6.12 allocates a node for every allocation and frees one on
//! most frees).
//!
//! One spare lives in the allocator's room in `binder_proc` rather than
//! in a `KBox`, so that the steady pattern keeps no node of its own
//! (memory as 6.12's). That node is only ever a free range or a spare,
//! never a buffer binder.c sees, because binder.c may outlive the
//! `binder_proc` with a buffer (see `leak`): when a best fit lands on it,
//! its range moves to a boxed node first, in place in the free tree (the
//! tree's shape, and so every later decision, stays as it was).

use crate::debug::{self, alloc_debug, Site, BUFFER_ALLOC, BUFFER_ALLOC_ASYNC, USER_ERROR};
use crate::ffi::binder_buffer;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::ptr::{addr_of, addr_of_mut, null_mut};
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::types::Opaque;

fn page_down(x: usize) -> usize {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: usize) -> usize {
    page_down(x + PAGE_SIZE - 1)
}

/// Where a node is linked; under the allocator mutex.
struct Links {
    /// In the free tree if `free`, in the allocated tree otherwise.
    rb: bindings::rb_node,
    /// Neighbours in address order; NULL at either end of the mapping.
    prev: *mut Buffer,
    next: *mut Buffer,
    /// Offset of the range in the mapping.
    offset: usize,
    free: bool,
}

/// One range of the mapping: the C struct binder.c sees, and the
/// allocator's links.
///
/// # Invariants
///
/// `c` is the first field, so a `binder_buffer *` handed out is a pointer
/// to the `Buffer`. Nodes never move while linked; all but one
/// (`Ranges::embedded`) live in `KBox`es.
/// `size` is the range's size; it changes only under the allocator mutex
/// and only while the range is free (or being allocated, before binder.c
/// sees it).
#[repr(C)]
pub(crate) struct Buffer {
    c: Opaque<binder_buffer>,
    size: AtomicUsize,
    links: UnsafeCell<Links>,
}

const ZEROED_C: binder_buffer = binder_buffer {
    transaction: null_mut(),
    target_node: null_mut(),
    data_size: 0,
    offsets_size: 0,
    extra_buffers_size: 0,
    user_data: 0,
    pid: 0,
    debug_id: 0,
    clear_on_free: false,
    allow_user_free: false,
    async_transaction: false,
    oneway_spam_suspect: false,
};

impl Buffer {
    fn zeroed() -> Self {
        Self {
            c: Opaque::new(ZEROED_C),
            size: AtomicUsize::new(0),
            links: UnsafeCell::new(Links {
                rb: bindings::rb_node::default(),
                prev: null_mut(),
                next: null_mut(),
                offset: 0,
                free: false,
            }),
        }
    }

    /// # Safety
    ///
    /// `ptr` was returned by the allocator and not freed, for 'a.
    pub(crate) unsafe fn from_c<'a>(ptr: *mut binder_buffer) -> &'a Buffer {
        // SAFETY: `c` is the first field of the repr(C) `Buffer` (type
        // invariant) and the caller guarantees the buffer is live.
        unsafe { &*ptr.cast::<Buffer>() }
    }

    pub(crate) fn as_c(&self) -> *mut binder_buffer {
        self.c.get()
    }

    /// The buffer's space (fixed while it is allocated).
    pub(crate) fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }
}

/// A node of one `Ranges`.
///
/// # Invariants
///
/// Points to a live node owned by the `Ranges` it came from, which is the
/// only user of the handle, under the allocator mutex (that is what its
/// `&mut self` or `&self` stands for). The allocator's fields (`links`,
/// `size`) are only accessed through such handles.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Node(core::ptr::NonNull<Buffer>);

impl Node {
    /// # Safety
    ///
    /// `b` is a live node of the caller's `Ranges`.
    unsafe fn from_raw(b: *mut Buffer) -> Self {
        // SAFETY: live nodes are not NULL (caller).
        Self(unsafe { core::ptr::NonNull::new_unchecked(b) })
    }

    /// The node of `n`, or None for NULL.
    ///
    /// # Safety
    ///
    /// `n` is NULL or the `rb` field of a live node of the caller's
    /// `Ranges`.
    unsafe fn of_rb(n: *mut bindings::rb_node) -> Option<Self> {
        if n.is_null() {
            return None;
        }
        let at = offset_of!(Buffer, links) + offset_of!(Links, rb);
        // SAFETY: `links` is an UnsafeCell (repr(transparent)) of `Links`,
        // so `n` lies `at` bytes into its node (caller).
        Some(unsafe { Self::from_raw(n.byte_sub(at).cast::<Buffer>()) })
    }

    fn raw(self) -> *mut Buffer {
        self.0.as_ptr()
    }

    fn links(self) -> *mut Links {
        // SAFETY: a live node (type invariant).
        unsafe { (*self.raw()).links.get() }
    }

    fn rb(self) -> *mut bindings::rb_node {
        // SAFETY: a live node (type invariant).
        unsafe { addr_of_mut!((*self.links()).rb) }
    }

    fn offset(self) -> usize {
        // SAFETY: a live node, its links used only under the mutex.
        unsafe { (*self.links()).offset }
    }

    fn is_free(self) -> bool {
        // SAFETY: as in `offset`.
        unsafe { (*self.links()).free }
    }

    fn set_free(self, free: bool) {
        // SAFETY: as in `offset`.
        unsafe { (*self.links()).free = free }
    }

    fn prev(self) -> Option<Node> {
        // SAFETY: as in `offset`; neighbours are live nodes of the same
        // `Ranges`.
        core::ptr::NonNull::new(unsafe { (*self.links()).prev }).map(Node)
    }

    fn next(self) -> Option<Node> {
        // SAFETY: as in `prev`.
        core::ptr::NonNull::new(unsafe { (*self.links()).next }).map(Node)
    }

    fn set_prev(self, prev: Option<Node>) {
        // SAFETY: as in `offset`.
        unsafe { (*self.links()).prev = prev.map_or(null_mut(), Node::raw) }
    }

    fn set_next(self, next: Option<Node>) {
        // SAFETY: as in `offset`.
        unsafe { (*self.links()).next = next.map_or(null_mut(), Node::raw) }
    }

    fn size(self) -> usize {
        // SAFETY: a live node.
        unsafe { (*self.raw()).size.load(Ordering::Relaxed) }
    }

    /// Changes the range's size: only while it is free or being allocated
    /// (`Buffer`'s invariant).
    fn set_size(self, size: usize) {
        // SAFETY: a live node.
        unsafe { (*self.raw()).size.store(size, Ordering::Relaxed) }
    }

    fn c(self) -> *mut binder_buffer {
        // SAFETY: a live node.
        unsafe { (*self.raw()).c.get() }
    }

    fn as_ptr(self) -> *mut c_void {
        self.raw().cast()
    }

    /// The node as binder.c's buffer, borrowed for as long as its `Ranges`.
    fn buffer<'a>(self, _ranges: &'a Ranges) -> &'a Buffer {
        // SAFETY: a live node, not freed while its `Ranges` is borrowed.
        unsafe { &*self.raw() }
    }
}

/// Reads a C field of a node (binder.c may write C fields of allocated
/// buffers concurrently: one volatile load).
macro_rules! c_field {
    ($node:expr, $f:ident) => {
        // SAFETY: the C struct of a live node (`Node`'s invariant).
        unsafe { addr_of!((*$node.c()).$f).read_volatile() }
    };
}

macro_rules! set_c_field {
    ($node:expr, $f:ident, $v:expr) => {
        // SAFETY: as in `c_field!`, for a write.
        unsafe { addr_of_mut!((*$node.c()).$f).write_volatile($v) }
    };
}

/// Links `node` at `link` below `parent` (the kernel's rb_link_node, which
/// is inline C), for rb_insert_color() to balance.
///
/// # Safety
///
/// `link` is the empty child pointer of `parent` (or the empty root) that
/// a search of the tree `node` joins ended at; the mutex is held.
unsafe fn rb_link_node(
    node: *mut bindings::rb_node,
    parent: *mut bindings::rb_node,
    link: *mut *mut bindings::rb_node,
) {
    // SAFETY: the caller's guarantee.
    unsafe {
        (*node).__rb_parent_color = parent as kernel::ffi::c_ulong;
        (*node).rb_left = null_mut();
        (*node).rb_right = null_mut();
        *link = node;
    }
}

/// Inserts `node` into `root`: left of every node `goes_left_of`, right of
/// the others (so equal keys go right), then rebalances.
///
/// `root` is one of the trees of the `Ranges` that owns `node`, which is in
/// no tree; the mutex is held.
#[inline(always)]
fn rb_insert(root: &mut bindings::rb_root, node: Node, goes_left_of: impl Fn(Node) -> bool) {
    let mut link = addr_of_mut!(root.rb_node);
    let mut parent = null_mut();
    // SAFETY: the tree's nodes are live nodes of the same `Ranges`; `link`
    // points into the root or a node of the tree.
    while let Some(other) = unsafe { Node::of_rb(*link) } {
        parent = other.rb();
        link = if goes_left_of(other) {
            // SAFETY: as above.
            unsafe { addr_of_mut!((*parent).rb_left) }
        } else {
            // SAFETY: as above.
            unsafe { addr_of_mut!((*parent).rb_right) }
        };
    }
    // SAFETY: `link` is where the search ended; `node` is in no tree.
    unsafe {
        rb_link_node(node.rb(), parent, link);
        bindings::rb_insert_color(node.rb(), root);
    }
}

/// Spare nodes kept for later splits: the steady pattern (a split, then
/// the merge that undoes it) needs one.
const SPARES: usize = 2;

/// Memory for one split's node, made before taking the lock.
pub(crate) struct Reservation(KBox<Buffer>);

impl Reservation {
    pub(crate) fn new(flags: kernel::alloc::Flags) -> Result<Self> {
        Ok(Self(KBox::new(Buffer::zeroed(), flags)?))
    }
}

/// Why an allocation did not happen.
pub(crate) enum AllocError {
    /// A split needs a node and no spare is left: retry with a
    /// [`Reservation`].
    NeedNodes,
    /// The allocation fails (-ENOSPC).
    Failed(Error),
}

/// What an allocation got.
pub(crate) struct Allocated<'a> {
    pub(crate) buffer: &'a Buffer,
    /// Offset of the buffer in the mapping.
    pub(crate) offset: usize,
}

/// The ranges of one mapping.
///
/// # Invariants
///
/// `head` and the nodes linked from it (every range of the mapping, in
/// address order, sizes adding up to `size`), and `spares[..spare_count]`
/// (unlinked) are nodes owned by this `Ranges`: from `KBox::into_raw`, all
/// but `embedded`, which is never allocated, never the head, and unlinked
/// exactly when `embedded_spare`. The free nodes are in `free_tree`, the
/// allocated ones in `allocated_tree`; no two free nodes are neighbours.
pub(crate) struct Ranges {
    /// Size of the mapping in bytes.
    size: usize,
    /// Its user address (C's `user_data` is base + offset).
    base: usize,
    /// pid of the owning process, for messages.
    pid: c_int,
    free_tree: bindings::rb_root,
    allocated_tree: bindings::rb_root,
    head: Node,
    free_async_space: usize,
    oneway_spam_detected: bool,
    allocated: usize,
    spares: [Option<Node>; SPARES],
    spare_count: usize,
    /// The node in the allocator's room: a free range or a spare.
    embedded: Node,
    /// `embedded` is unlinked, a spare.
    embedded_spare: bool,
}

// SAFETY: the nodes are owned by the `Ranges` and only reached through it,
// under the allocator mutex.
unsafe impl Send for Ranges {}

impl Ranges {
    /// One free range covering a mapping of `size` bytes at user address
    /// `base`, with `embedded` as a spare node.
    ///
    /// # Safety
    ///
    /// `embedded` is valid and aligned memory for a `Buffer` that nothing
    /// else uses, until the `Ranges` is dropped or leaked.
    pub(crate) unsafe fn new(
        size: usize,
        base: usize,
        pid: c_int,
        embedded: *mut Buffer,
        flags: kernel::alloc::Flags,
    ) -> Result<Self> {
        // SAFETY: ours to use (caller); a `Buffer` needs no drop.
        unsafe { embedded.write(Buffer::zeroed()) };
        // SAFETY: a new node, owned by the `Ranges` from here on.
        let head = unsafe { Node::from_raw(KBox::into_raw(KBox::new(Buffer::zeroed(), flags)?)) };
        set_c_field!(head, user_data, base);
        head.set_size(size);
        head.set_free(true);
        let mut ranges = Self {
            size,
            base,
            pid,
            free_tree: bindings::rb_root::default(),
            allocated_tree: bindings::rb_root::default(),
            head,
            free_async_space: size / 2,
            oneway_spam_detected: false,
            allocated: 0,
            spares: [None; SPARES],
            spare_count: 0,
            // SAFETY: not NULL (valid memory, caller).
            embedded: unsafe { Node::from_raw(embedded) },
            embedded_spare: true,
        };
        ranges.insert_free(head);
        Ok(ranges)
    }

    pub(crate) fn free_async_space(&self) -> usize {
        self.free_async_space
    }

    pub(crate) fn allocated_count(&self) -> usize {
        self.allocated
    }

    /// Allocated buffers in address order: (offset, buffer).
    pub(crate) fn allocated(&self) -> AllocatedIter<'_> {
        // SAFETY: the root of our allocated tree.
        let first = unsafe { bindings::rb_first(&self.allocated_tree) };
        AllocatedIter {
            next: first,
            ranges: self,
        }
    }

    /// The first allocated buffer in address order.
    pub(crate) fn first_allocated(&self) -> Option<*mut binder_buffer> {
        self.allocated().next().map(|(_, b)| b.as_c())
    }

    /// The allocated buffer starting at `offset` (6.12's search).
    pub(crate) fn get(&self, offset: usize) -> Option<&Buffer> {
        let mut n = self.allocated_tree.rb_node;
        // SAFETY: the tree's nodes are live nodes of ours.
        while let Some(node) = unsafe { Node::of_rb(n) } {
            let at = node.offset();
            n = if offset < at {
                // SAFETY: `n` is a node of the tree, under the mutex.
                unsafe { (*n).rb_left }
            } else if offset > at {
                // SAFETY: as above.
                unsafe { (*n).rb_right }
            } else {
                return Some(node.buffer(self));
            };
        }
        None
    }

    /// Inserts a free node into the free tree, as 6.12 does: a size equal
    /// to a node's goes to its right.
    fn insert_free(&mut self, node: Node) {
        let size = node.size();
        alloc_debug!(
            BUFFER_ALLOC,
            Site::AddFreeBuffer,
            "%d: add free buffer, size %zd, at %p\n",
            self.pid,
            size,
            node.as_ptr()
        );
        rb_insert(&mut self.free_tree, node, |other| size < other.size());
    }

    /// Inserts an allocated node into the allocated tree (by offset).
    fn insert_allocated(&mut self, node: Node) {
        let offset = node.offset();
        rb_insert(&mut self.allocated_tree, node, |other| {
            offset < other.offset()
        });
    }

    fn erase_free(&mut self, node: Node) {
        // SAFETY: a node of the free tree (callers), under the mutex.
        unsafe { bindings::rb_erase(node.rb(), &mut self.free_tree) };
    }

    fn erase_allocated(&mut self, node: Node) {
        // SAFETY: a node of the allocated tree (callers), under the mutex.
        unsafe { bindings::rb_erase(node.rb(), &mut self.allocated_tree) };
    }

    /// A zeroed node for a split's tail, from the spares: the embedded one
    /// first (a tail is a free range).
    fn take_spare(&mut self) -> Option<Node> {
        let node = if self.embedded_spare {
            self.embedded_spare = false;
            self.embedded
        } else {
            self.take_boxed_spare()?
        };
        // SAFETY: an owned, unlinked node: made a fresh one (6.12 takes a
        // kzalloc'ed one). `Buffer` needs no drop.
        unsafe { node.raw().write(Buffer::zeroed()) };
        Some(node)
    }

    /// A boxed spare, as it is.
    fn take_boxed_spare(&mut self) -> Option<Node> {
        self.spare_count = self.spare_count.checked_sub(1)?;
        self.spares[self.spare_count].take()
    }

    /// Keeps an unlinked node of ours as a spare, or frees it.
    fn put_spare(&mut self, node: Node) {
        if node == self.embedded {
            self.embedded_spare = true;
        } else if let Some(slot) = self.spares.get_mut(self.spare_count) {
            *slot = Some(node);
            self.spare_count += 1;
        } else {
            // SAFETY: owned and unlinked; from KBox::into_raw.
            drop(unsafe { KBox::from_raw(node.raw()) });
        }
    }

    /// Allocates `size` bytes (already sanitized: non-zero, pointer
    /// aligned) for a caller whose tgid is `pid` (spam detection), as
    /// 6.12's locked allocation does, and sets the C fields it sets (the
    /// caller sets the sizes and the pid). `pages_used(start, end)` gets
    /// the byte range of the whole pages that only this buffer uses, to
    /// take off the LRU. `res`, if given, joins the spares first (a retry
    /// after `NeedNodes`).
    pub(crate) fn allocate(
        &mut self,
        size: usize,
        is_async: bool,
        pid: c_int,
        res: Option<Reservation>,
        pages_used: impl FnOnce(usize, usize),
    ) -> core::result::Result<Allocated<'_>, AllocError> {
        if let Some(res) = res {
            // SAFETY: a new node, owned by us from here on.
            let node = unsafe { Node::from_raw(KBox::into_raw(res.0)) };
            self.put_spare(node);
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

        // 6.12's search: the smallest size that fits; among equal sizes,
        // the first one met on the way down.
        let mut n = self.free_tree.rb_node;
        let mut best = None;
        // SAFETY: the tree's nodes are live nodes of ours.
        while let Some(node) = unsafe { Node::of_rb(n) } {
            let node_size = node.size();
            if size < node_size {
                best = Some(node);
                // SAFETY: `n` is a node of the tree, under the mutex.
                n = unsafe { (*n).rb_left };
            } else if size > node_size {
                // SAFETY: as above.
                n = unsafe { (*n).rb_right };
            } else {
                best = Some(node);
                break;
            }
        }
        let Some(best) = best else {
            alloc_debug!(
                USER_ERROR,
                Site::NoAddressSpace,
                "%d: binder_alloc_buf size %zd failed, no address space\n",
                self.pid,
                size
            );
            if debug::enabled(USER_ERROR) {
                self.debug_no_space();
            }
            return Err(AllocError::Failed(ENOSPC));
        };

        // The embedded node is never handed out: its range moves to a boxed
        // node, which takes its place in the list and the free tree.
        let best = if best == self.embedded {
            let Some(boxed) = self.take_boxed_spare() else {
                return Err(AllocError::NeedNodes);
            };
            self.move_embedded_to(boxed);
            boxed
        } else {
            best
        };
        let free_size = best.size();
        let offset = best.offset();
        if free_size != size {
            let Some(tail) = self.take_spare() else {
                return Err(AllocError::NeedNodes);
            };
            set_c_field!(tail, user_data, self.base + offset + size);
            tail.set_size(free_size - size);
            // SAFETY: `tail` is ours and unlinked.
            unsafe { (*tail.links()).offset = offset + size };
            tail.set_free(true);
            let next = best.next();
            tail.set_prev(Some(best));
            tail.set_next(next);
            if let Some(next) = next {
                next.set_prev(Some(tail));
            }
            best.set_next(Some(tail));
            // From here `best` is `size` long, as 6.12 computes it while it
            // inserts the tail.
            best.set_size(size);
            self.insert_free(tail);
        }
        alloc_debug!(
            BUFFER_ALLOC,
            Site::GotBuffer,
            "%d: binder_alloc_buf size %zd got buffer %p size %zd\n",
            self.pid,
            size,
            best.as_ptr(),
            free_size
        );

        // Pages shared with an allocated neighbour are already in use.
        let next_used_page = page_down(offset + free_size);
        let last_page = page_up(offset + size);
        pages_used(page_up(offset), next_used_page.min(last_page));

        self.erase_free(best);
        best.set_free(false);
        set_c_field!(best, allow_user_free, false);
        self.insert_allocated(best);
        self.allocated += 1;
        set_c_field!(best, async_transaction, is_async);
        set_c_field!(best, oneway_spam_suspect, false);
        if is_async {
            self.free_async_space -= size;
            alloc_debug!(
                BUFFER_ALLOC_ASYNC,
                Site::AllocAsync,
                "%d: binder_alloc_buf size %zd async free %zd\n",
                self.pid,
                size,
                self.free_async_space
            );
            if self.low_async_space(pid) {
                set_c_field!(best, oneway_spam_suspect, true);
            }
        }
        Ok(Allocated {
            buffer: best.buffer(self),
            offset,
        })
    }

    /// Moves the free range of the embedded node to the unlinked `boxed`,
    /// everything included (the stale C fields that spam detection reads),
    /// at the same place in the list and in the free tree; the embedded
    /// node becomes a spare.
    fn move_embedded_to(&mut self, boxed: Node) {
        let embedded = self.embedded;
        // SAFETY: two distinct live nodes of ours; `Buffer` is plain data.
        unsafe { core::ptr::copy_nonoverlapping(embedded.raw(), boxed.raw(), 1) };
        // Never the head: it has a predecessor.
        if let Some(prev) = boxed.prev() {
            prev.set_next(Some(boxed));
        }
        if let Some(next) = boxed.next() {
            next.set_prev(Some(boxed));
        }
        // SAFETY: `embedded` is in our free tree (a linked free node);
        // `boxed` takes its place there, under the mutex.
        unsafe { bindings::rb_replace_node(embedded.rb(), boxed.rb(), &mut self.free_tree) };
        self.embedded_spare = true;
    }

    /// Frees the buffer `c_buffer` of ours as 6.12 does; -EINVAL if it is
    /// not allocated (nothing changes then). `pages_unused(start, end)`
    /// gets each byte range of whole pages that no allocated buffer uses
    /// any more, to put on the LRU.
    ///
    /// # Safety
    ///
    /// `c_buffer` is a live node of this `Ranges` (binder.c passes back
    /// what it got).
    pub(crate) unsafe fn free(
        &mut self,
        c_buffer: *mut binder_buffer,
        mut pages_unused: impl FnMut(usize, usize),
    ) -> Result {
        // SAFETY: `c` is the first field of a live node of ours (caller).
        let mut node = unsafe { Node::from_raw(c_buffer.cast::<Buffer>()) };
        if node.is_free() {
            return Err(EINVAL);
        }
        let buffer_size = node.size();
        let offset = node.offset();
        // The size binder.c asked for, as 6.12 prints it: only printed.
        let requested = if debug::enabled(BUFFER_ALLOC | BUFFER_ALLOC_ASYNC) {
            let align = |x: usize| x.wrapping_add(7) & !7;
            align(c_field!(node, data_size))
                .wrapping_add(align(c_field!(node, offsets_size)))
                .wrapping_add(align(c_field!(node, extra_buffers_size)))
        } else {
            0
        };
        alloc_debug!(
            BUFFER_ALLOC,
            Site::FreeBuf,
            "%d: binder_free_buf %p size %zd buffer_size %zd\n",
            self.pid,
            node.as_ptr(),
            requested,
            buffer_size
        );
        if c_field!(node, async_transaction) {
            self.free_async_space += buffer_size;
            alloc_debug!(
                BUFFER_ALLOC_ASYNC,
                Site::FreeAsync,
                "%d: binder_free_buf size %zd async free %zd\n",
                self.pid,
                requested,
                self.free_async_space
            );
        }
        pages_unused(page_up(offset), page_down(offset + buffer_size));

        self.erase_allocated(node);
        node.set_free(true);
        self.allocated -= 1;
        if let Some(next) = node.next().filter(|n| n.is_free()) {
            self.erase_free(next);
            self.delete_free(next, &mut pages_unused);
        }
        if let Some(prev) = node.prev().filter(|p| p.is_free()) {
            self.delete_free(node, &mut pages_unused);
            self.erase_free(prev);
            node = prev;
        }
        self.insert_free(node);
        Ok(())
    }

    /// Merges the free node `node` (out of the trees) into the free node
    /// before it, and puts the page holding its start on the LRU unless a
    /// neighbour still uses it (6.12's rule).
    fn delete_free(&mut self, node: Node, pages_unused: &mut impl FnMut(usize, usize)) {
        let Some(prev) = node.prev() else {
            // The range at offset 0 is never merged away.
            pr_err!("free range at {:#x} has no predecessor\n", node.offset());
            return;
        };
        let next = node.next();
        let offset = node.offset();
        let page = page_down(offset);
        let shared = offset == page
            // The last byte before `prev` (allocated, or before the
            // mapping) is in this page.
            || (prev.offset() > 0 && page_down(prev.offset() - 1) == page)
            || next.is_some_and(|next| page_down(next.offset()) == page);
        if !shared {
            pages_unused(page, page + PAGE_SIZE);
        }
        prev.set_size(prev.size() + node.size());
        prev.set_next(next);
        if let Some(next) = next {
            next.set_prev(Some(prev));
        }
        self.put_spare(node);
    }

    /// One-way spam detection: once less than a tenth of the mapping is left
    /// for async buffers, a sender holding more than 50 async buffers or more
    /// than a quarter of the mapping is reported, once until space recovers.
    /// The buffer being allocated counts with the pid its node had before
    /// (6.12 sets the new pid afterwards).
    fn low_async_space(&mut self, pid: c_int) -> bool {
        if self.free_async_space >= self.size / 10 {
            self.oneway_spam_detected = false;
            return false;
        }
        let (mut count, mut total) = (0usize, 0usize);
        // SAFETY: the root of our allocated tree.
        let mut n = unsafe { bindings::rb_first(&self.allocated_tree) };
        // SAFETY: nodes of our allocated tree, unchanged during the walk.
        while let Some(node) = unsafe { Node::of_rb(n) } {
            if c_field!(node, pid) == pid && c_field!(node, async_transaction) {
                count += 1;
                total += node.size();
            }
            // SAFETY: as above.
            n = unsafe { bindings::rb_next(n) };
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
        let mut at = Some(self.head);
        while let Some(node) = at {
            let (total, count, largest) = if node.is_free() {
                (&mut free_total, &mut free_count, &mut free_largest)
            } else {
                (&mut alloc_total, &mut alloc_count, &mut alloc_largest)
            };
            *total += node.size();
            *count += 1;
            *largest = (*largest).max(node.size());
            at = node.next();
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
}

impl Ranges {
    /// Gives the ranges up for good (see `binder_alloc_deferred_release`):
    /// frees the spares and returns the first node, from which every other
    /// linked node is reachable; those stay allocated. The embedded node,
    /// whose memory goes with `binder_proc`, is unlinked first: it is a
    /// free range, which nobody reaches any more.
    pub(crate) fn leak(mut self) -> *const c_void {
        for node in self.spares.iter_mut().filter_map(Option::take) {
            // SAFETY: an unlinked spare of ours, from KBox::into_raw.
            drop(unsafe { KBox::from_raw(node.raw()) });
        }
        if !self.embedded_spare {
            let (prev, next) = (self.embedded.prev(), self.embedded.next());
            if let Some(prev) = prev {
                prev.set_next(next);
            }
            if let Some(next) = next {
                next.set_prev(prev);
            }
        }
        let head = self.head.as_ptr();
        core::mem::forget(self);
        head
    }
}

impl Drop for Ranges {
    fn drop(&mut self) {
        let mut at = Some(self.head);
        while let Some(node) = at {
            at = node.next();
            if node != self.embedded {
                // SAFETY: every other listed node is ours, from
                // KBox::into_raw (invariant); nothing reaches them any more.
                drop(unsafe { KBox::from_raw(node.raw()) });
            }
        }
        for node in self.spares.iter_mut().filter_map(Option::take) {
            // SAFETY: as above, for the unlinked spares.
            drop(unsafe { KBox::from_raw(node.raw()) });
        }
    }
}

/// Iterator over the allocated buffers in address order: (offset, buffer).
pub(crate) struct AllocatedIter<'a> {
    next: *mut bindings::rb_node,
    ranges: &'a Ranges,
}

impl<'a> Iterator for AllocatedIter<'a> {
    type Item = (usize, &'a Buffer);

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: NULL or a node of the allocated tree, which does not
        // change while the `Ranges` is borrowed.
        let node = unsafe { Node::of_rb(self.next) }?;
        // SAFETY: as above.
        self.next = unsafe { bindings::rb_next(self.next) };
        Some((node.offset(), node.buffer(self.ranges)))
    }
}
