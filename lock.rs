// SPDX-License-Identifier: GPL-2.0

//! A kernel mutex with `try_lock`, which 6.12's `kernel::sync::Mutex`
//! lacks. The shrinker runs under the list_lru spinlock and may only
//! trylock the allocator's mutex; everything else sleeps on it.
//!
//! C header: [`include/linux/mutex.h`](srctree/include/linux/mutex.h)

use crate::ffi;
use core::cell::UnsafeCell;
use core::marker::{PhantomData, PhantomPinned};
use core::ops::{Deref, DerefMut};
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A `struct mutex` protecting a `T`.
///
/// # Invariants
///
/// `mutex` is initialised and never moves (the type is `!Unpin` and only
/// ever used pinned); `data` is only reached through a [`TryMutexGuard`],
/// which exists only while `mutex` is held.
#[pin_data(PinnedDrop)]
pub(crate) struct TryMutex<T> {
    #[pin]
    mutex: Opaque<bindings::mutex>,
    data: UnsafeCell<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: the mutex serialises every access to `data`, so sharing the
// lock between threads is sound whenever `T` itself may be sent.
unsafe impl<T: Send> Sync for TryMutex<T> {}
// SAFETY: a `struct mutex` has no thread affinity while unlocked.
unsafe impl<T: Send> Send for TryMutex<T> {}

impl<T> TryMutex<T> {
    /// Initialiser for a mutex holding `data`. All allocator mutexes share
    /// one lockdep class (one init site in the C glue).
    pub(crate) fn new(data: T) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid, pinned memory for a `struct mutex`
            // that nobody else references yet.
            mutex <- Opaque::ffi_init(|slot| unsafe { ffi::binder_glue_mutex_init(slot) }),
            data: UnsafeCell::new(data),
            _pin: PhantomPinned,
        })
    }

    /// Sleeps until the mutex is free. Must not be called in atomic context.
    pub(crate) fn lock(&self) -> TryMutexGuard<'_, T> {
        // SAFETY: by the type invariant `mutex` is initialised. (A direct
        // call: with lockdep on, the kernel's helper adds the subclass.)
        unsafe { bindings::mutex_lock(self.mutex.get()) };
        // INVARIANT: the mutex is held until the guard is dropped.
        TryMutexGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Destroys the mutex and moves its data out: what is left of `self`
    /// is memory, to be freed without a drop.
    ///
    /// # Safety
    ///
    /// Nobody holds the mutex or uses it again, and `self` is never
    /// dropped.
    pub(crate) unsafe fn destroy_into_inner(&self) -> T {
        // SAFETY: initialised (type invariant) and unused from now on
        // (caller).
        unsafe { ffi::binder_glue_mutex_destroy(self.mutex.get()) };
        // SAFETY: nobody else can reach `data` (caller), and it is read
        // once: `self` is not dropped.
        unsafe { self.data.get().read() }
    }

    /// Takes the mutex if it is free, never sleeps; usable under a spinlock.
    pub(crate) fn try_lock(&self) -> Option<TryMutexGuard<'_, T>> {
        // SAFETY: by the type invariant `mutex` is initialised.
        if unsafe { bindings::mutex_trylock(self.mutex.get()) } != 0 {
            // INVARIANT: the trylock succeeded; the guard releases it.
            Some(TryMutexGuard {
                lock: self,
                _not_send: PhantomData,
            })
        } else {
            None
        }
    }
}

#[pinned_drop]
impl<T> PinnedDrop for TryMutex<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: nobody can hold the mutex: a guard borrows the lock, and
        // the lock is being dropped.
        unsafe { ffi::binder_glue_mutex_destroy(self.mutex.get()) };
    }
}

/// Proof that a [`TryMutex`] is held; unlocks it when dropped.
///
/// Not `Send`: a mutex is released by the task that took it.
pub(crate) struct TryMutexGuard<'a, T> {
    lock: &'a TryMutex<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for TryMutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard's existence means the mutex is held, so no
        // other reference to `data` exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for TryMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only one.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for TryMutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the mutex (type invariant of TryMutex).
        unsafe { bindings::mutex_unlock(self.lock.mutex.get()) };
    }
}
