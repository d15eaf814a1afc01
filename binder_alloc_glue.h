/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Functions of binder_alloc_glue.c, for the glue itself (prototypes) and
 * as the list that ffi.rs declares to Rust. Rust cannot include C headers:
 * keep ffi.rs in step with this file.
 */
#ifndef _BINDER_ALLOC_GLUE_H
#define _BINDER_ALLOC_GLUE_H

#include <linux/list_lru.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/shrinker.h>
#include "binder_alloc.h"

extern u32 binder_alloc_debug_mask;
__printf(3, 4)
void binder_alloc_debug_msg(u32 mask, unsigned int site, const char *fmt, ...);
__printf(2, 3)
void binder_alloc_err_msg(unsigned int site, const char *fmt, ...);
void binder_glue_warn_live_transaction(const char *what);
void binder_glue_quarantine(const void *buffers, const void *pages);
bool binder_glue_install_on_fault(void);
const void *binder_glue_fault_vm_ops(void);
void binder_glue_take_over_vm_ops(struct vm_area_struct *vma);

#ifdef BINDER_ALLOC_KUNIT
/* Test build only: where the allocator calls the KUnit suite's hook. */
enum binder_test_point {
	BINDER_TEST_BEFORE_INSERT,	/* slot seen empty under the mmap lock */
	BINDER_TEST_AFTER_INSERT,	/* vm_insert_page() succeeded, not published */
	BINDER_TEST_AFTER_BUSY,		/* vm_insert_page() gave -EBUSY, no lookup yet */
	BINDER_TEST_SHRINKER_BEFORE_UNLOCK, /* page zapped, allocator mutex held */
	BINDER_TEST_SHRINKER_AFTER_UNLOCK,  /* mutex released, callback not done */
};
typedef void (*binder_alloc_test_hook_t)(unsigned int point, struct binder_alloc *alloc,
					 size_t index, void *arg);
extern binder_alloc_test_hook_t binder_alloc_test_hook_fn;
extern atomic_t binder_alloc_test_live_transaction_warnings;
void binder_glue_test_install_delay(void);
void binder_alloc_test_hook(unsigned int point, struct binder_alloc *alloc,
			    size_t index, void *arg);
#endif
bool binder_glue_mmget_not_zero(struct mm_struct *mm);
void binder_glue_mmgrab(struct mm_struct *mm);
void binder_glue_mmdrop(struct mm_struct *mm);
void binder_glue_mmap_read_lock(struct mm_struct *mm);
bool binder_glue_mmap_read_trylock(struct mm_struct *mm);
void binder_glue_mmap_read_unlock(struct mm_struct *mm);
void binder_glue_mmap_wait_for_readers(struct mm_struct *mm);
struct vm_area_struct *binder_glue_vma_lookup(struct mm_struct *mm,
					      unsigned long addr);
u64 binder_glue_mmap_write_stamp(struct mm_struct *mm);
struct mm_struct *binder_glue_current_mm(void);
int binder_glue_current_tgid(void);
int binder_glue_current_group_leader_pid(void);
struct page *binder_glue_gup_nofault(struct mm_struct *mm, unsigned long addr);
void binder_glue_put_page(struct page *page);
struct page *binder_glue_alloc_zeroed_page(void);
#ifdef BINDER_ALLOC_KUNIT
int binder_glue_vm_insert_page(struct vm_area_struct *vma, unsigned long addr,
			       struct page *page);
extern bool binder_alloc_test_fail_page_alloc;
extern int binder_alloc_test_insert_error;
/* Only this task's inserts fail (NULL: every task's). */
extern struct task_struct *binder_alloc_test_insert_error_task;
#endif
void binder_glue_memcpy_to_page(struct page *page, size_t offset,
				const void *src, size_t len);
void binder_glue_memcpy_from_page(void *dst, struct page *page, size_t offset,
				  size_t len);
void binder_glue_memzero_page(struct page *page, size_t offset, size_t len);
unsigned long binder_glue_copy_from_user_to_page(struct page *page,
						 size_t offset,
						 const void __user *from,
						 size_t len);
struct binder_lru_page *binder_glue_pages_alloc(struct binder_alloc *alloc,
						size_t count);
void binder_glue_pages_free(struct binder_lru_page *pages);
int binder_glue_list_lru_init(struct list_lru *lru);
bool binder_glue_list_lru_add(struct list_lru *lru, struct list_head *item,
			      struct page *page);
bool binder_glue_list_lru_del(struct list_lru *lru, struct list_head *item,
			      struct page *page);
unsigned long binder_glue_list_lru_count_node(struct list_lru *lru, int nid);
bool binder_glue_list_empty(const struct list_head *head);
unsigned long binder_glue_list_lru_walk_node(struct list_lru *lru, int nid,
					     unsigned long nr_to_walk);
unsigned long binder_glue_shrink_count(struct shrinker *shrinker,
				       struct shrink_control *sc);
unsigned long binder_glue_shrink_scan(struct shrinker *shrinker,
				      struct shrink_control *sc);
struct shrinker *binder_glue_shrinker_register(void);
void binder_glue_shrinker_free(struct shrinker *shrinker);
void binder_glue_seq_buffer(struct seq_file *m, int debug_id,
			    unsigned long offset, size_t data_size,
			    size_t offsets_size, size_t extra_buffers_size,
			    bool active);
void binder_glue_seq_pages(struct seq_file *m, int active, int lru, int free,
			   size_t pages_high);
void binder_glue_debugfs_init(void);
void binder_glue_debugfs_exit(void);
void binder_glue_trace_update_page_range(struct binder_alloc *alloc,
					 bool allocate, unsigned long start,
					 unsigned long end);
void binder_glue_mutex_init(struct mutex *lock);
void binder_glue_mutex_destroy(struct mutex *lock);
void binder_glue_trace_alloc_lru_start(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_alloc_lru_end(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_free_lru_start(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_free_lru_end(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_alloc_page_start(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_alloc_page_end(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_unmap_user_start(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_unmap_user_end(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_unmap_kernel_start(const struct binder_alloc *alloc, size_t index);
void binder_glue_trace_unmap_kernel_end(const struct binder_alloc *alloc, size_t index);

/* Implemented in Rust. */
unsigned int binder_alloc_rs_free_page(struct list_head *item,
				       struct list_lru_one *lru,
				       spinlock_t *lock);
unsigned long binder_alloc_rs_shrink_count(int nid);
unsigned long binder_alloc_rs_shrink_scan(int nid, unsigned long nr_to_scan);
void binder_alloc_rs_read_stats(u64 *out, size_t n);
unsigned int binder_alloc_rs_fault(struct binder_alloc *alloc, struct vm_area_struct *vma,
				   unsigned long addr);

#endif /* _BINDER_ALLOC_GLUE_H */
