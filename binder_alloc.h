/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The C contract between binder.c and the Rust binder buffer allocator.
 *
 * binder.c, binderfs.c, binder_trace.h and binder_alloc_selftest.c of the
 * kernel tree compile unchanged against this header; everything declared
 * here is implemented in Rust (binder_alloc.rs) or in the C glue
 * (binder_alloc_glue.c). The Rust side mirrors these structs with
 * #[repr(C)] types; scripts/../binder_layout.c exports their sizes and
 * offsets so that a mismatch fails the build.
 *
 * Only what C code reads or writes lives in these structs. The
 * allocator's own bookkeeping (free and allocated ranges, the mutex, the
 * async space, the mapping's identity) is Rust-owned memory behind
 * @binder_alloc.state.
 */
#ifndef _LINUX_BINDER_ALLOC_H
#define _LINUX_BINDER_ALLOC_H

#include <linux/list.h>
#include <linux/list_lru.h>
#include <linux/mm.h>
#include <linux/rbtree.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/vmalloc.h>
#include <uapi/linux/android/binder.h>

/* Installed pages that no buffer uses, for the shrinker (all processes). */
extern struct list_lru binder_freelist;

struct binder_transaction;
struct binder_node;
struct binder_alloc_state;

/**
 * struct binder_buffer - a buffer handed to binder.c for one transaction
 * @transaction:        the transaction using it (binder.c)
 * @target_node:        the node the transaction is for (binder.c)
 * @data_size:          size of the transaction data
 * @offsets_size:       size of the offsets array
 * @extra_buffers_size: size of the scatter-gather and security data
 * @user_data:          the buffer's address in the receiver's mapping
 * @pid:                thread group of the task that allocated it
 * @debug_id:           id for debug output (binder.c)
 * @clear_on_free:      zero the buffer when it is freed (binder.c)
 * @allow_user_free:    userspace may free it with BC_FREE_BUFFER
 * @async_transaction:  allocated from the async (one-way) space
 * @oneway_spam_suspect: this allocation crossed the one-way spam threshold
 *
 * Owned by the allocator: valid from binder_alloc_new_buf() until
 * binder_alloc_free_buf(). binder.c writes the fields it owns without the
 * allocator's lock, so the allocator reads them with single loads.
 */
struct binder_buffer {
	struct binder_transaction *transaction;
	struct binder_node *target_node;
	size_t data_size;
	size_t offsets_size;
	size_t extra_buffers_size;
	unsigned long user_data;
	int pid;
	int debug_id;
	bool clear_on_free;
	bool allow_user_free;
	bool async_transaction;
	bool oneway_spam_suspect;
};

/**
 * struct binder_lru_page - one page slot of a process's binder mapping
 * @lru:      entry in binder_freelist while installed and unused
 * @page_ptr: the installed page, or NULL; written with release and read
 *            with acquire. Bit 0 is a tag of the Rust allocator (the page
 *            is ready: mapped); test the field only against NULL
 * @alloc:    the allocator this slot belongs to
 */
struct binder_lru_page {
	struct list_head lru;
	struct page *page_ptr;
	struct binder_alloc *alloc;
};

struct vm_operations_struct;

/*
 * Memory for the allocator's Rust state, inside struct binder_alloc and so
 * inside binder_proc's kmalloc object (which has unused room for it): a
 * process costs no separate allocation for its state. C never reads it;
 * the fields only size it: @lock for the state's mutex (whose size
 * depends on the lock debugging options), @rest for everything else (and
 * one spare buffer struct, which binder.c never sees). The
 * Rust code checks at build time that its state fits.
 */
#define BINDER_ALLOC_ROOM_WORDS 43
struct binder_alloc_room {
	struct mutex lock;
	unsigned long rest[BINDER_ALLOC_ROOM_WORDS];
};

/**
 * struct binder_alloc - per-process allocator, embedded in binder_proc
 * @state:       Rust-owned allocator state, which lives in @room; NULL
 *               until the first successful mmap, and again once
 *               binder_alloc_deferred_release() dropped it
 * @vma:         the binder mapping while it exists, NULL after its close;
 *               a marker for binder_alloc_selftest.c: the allocator looks
 *               the VMA up and checks it at every use, never through this
 * @mm:          the process's mm (grabbed at open, dropped at release)
 * @buffer:      start address of the mapping
 * @buffer_size: usable size of the mapping (at most 4 MiB)
 * @pages:       one slot per page of the mapping
 * @binder_vm_ops: binder.c's vm_ops of the mapping, when the allocator
 *               installed its own (page-fault mode): its open and close
 *               are forwarded there
 * @pid:         the process's pid
 * @room:        the memory of @state
 */
struct binder_alloc {
	struct binder_alloc_state *state;
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	unsigned long buffer;
	size_t buffer_size;
	struct binder_lru_page *pages;
	const struct vm_operations_struct *binder_vm_ops;
	int pid;
	struct binder_alloc_room room;
};

#ifdef CONFIG_ANDROID_BINDER_IPC_SELFTEST
void binder_selftest_alloc(struct binder_alloc *alloc);
#else
static inline void binder_selftest_alloc(struct binder_alloc *alloc) {}
#endif

/* The shrinker's list_lru walk callback (also used by the selftest). */
enum lru_status binder_alloc_free_page(struct list_head *item,
				       struct list_lru_one *lru,
				       spinlock_t *lock, void *cb_arg);

void binder_alloc_init(struct binder_alloc *alloc);
int binder_alloc_shrinker_init(void);
void binder_alloc_shrinker_exit(void);
int binder_alloc_mmap_handler(struct binder_alloc *alloc,
			      struct vm_area_struct *vma);
void binder_alloc_vma_close(struct binder_alloc *alloc);
void binder_alloc_deferred_release(struct binder_alloc *alloc);

struct binder_buffer *binder_alloc_new_buf(struct binder_alloc *alloc,
					   size_t data_size,
					   size_t offsets_size,
					   size_t extra_buffers_size,
					   int is_async);
struct binder_buffer *binder_alloc_prepare_to_free(struct binder_alloc *alloc,
						   unsigned long user_ptr);
void binder_alloc_free_buf(struct binder_alloc *alloc,
			   struct binder_buffer *buffer);

size_t binder_alloc_get_free_async_space(struct binder_alloc *alloc);
int binder_alloc_get_allocated_count(struct binder_alloc *alloc);
void binder_alloc_print_allocated(struct seq_file *m,
				  struct binder_alloc *alloc);
void binder_alloc_print_pages(struct seq_file *m,
			      struct binder_alloc *alloc);

unsigned long
binder_alloc_copy_user_to_buffer(struct binder_alloc *alloc,
				 struct binder_buffer *buffer,
				 binder_size_t buffer_offset,
				 const void __user *from,
				 size_t bytes);
int binder_alloc_copy_to_buffer(struct binder_alloc *alloc,
				struct binder_buffer *buffer,
				binder_size_t buffer_offset,
				void *src,
				size_t bytes);
int binder_alloc_copy_from_buffer(struct binder_alloc *alloc,
				  void *dest,
				  struct binder_buffer *buffer,
				  binder_size_t buffer_offset,
				  size_t bytes);

#endif /* _LINUX_BINDER_ALLOC_H */
