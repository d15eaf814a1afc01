// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suite "binder_alloc" for this project's allocator, written against
 * the C contract (binder_alloc.h) and built into a test build of the
 * module (Kbuild: BINDER_KUNIT=1); it runs when that module loads.
 *
 * Each case gets a real address space and mapping: the test thread gets
 * an mm through kunit_vm_mmap(), and an anonymous-inode file whose mmap
 * handler plays binder_mmap(): it marks the VMA VM_MIXEDMAP, sets its own
 * vm_ops and, as vm_private_data, a binder_proc whose allocator is the one
 * under test (binder.c's layout, from the kernel tree's binder_internal.h:
 * the allocator's page-fault handler finds its allocator there), and
 * calls binder_alloc_mmap_handler().
 *
 * The suite runs in the mode the module was loaded with (install_on_fault):
 * cases about how senders map pages run only in eager mode, cases about
 * the receiver's faults only in page-fault mode.
 * Error paths that need a failing page allocation or vm_insert_page() use
 * two knobs that exist only in this build (binder_alloc_glue.c).
 */
#include <kunit/test.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/list_lru.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/shrinker.h>
#include <linux/uaccess.h>
#include "binder_alloc.h"
#include "binder_alloc_glue.h"
#include "binder_internal.h"

#define MAP_PAGES 16
#define MAP_BYTES (MAP_PAGES * PAGE_SIZE)

struct bat {
	struct binder_proc proc;	/* only its allocator is used */
	struct file *file;
	struct mm_struct *mm;
	unsigned long addr;
	bool unmapped;
};

static void bat_vma_close(struct vm_area_struct *vma)
{
	struct bat *ctx = container_of((struct binder_proc *)vma->vm_private_data, struct bat, proc);

	binder_alloc_vma_close(&ctx->proc.alloc);
}

static const struct vm_operations_struct bat_vm_ops = {
	.close = bat_vma_close,
};

static int bat_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct bat *ctx = file->private_data;

	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	vm_flags_mod(vma, VM_DONTCOPY | VM_MIXEDMAP, VM_MAYWRITE);
	vma->vm_ops = &bat_vm_ops;
	vma->vm_private_data = &ctx->proc;
	return binder_alloc_mmap_handler(&ctx->proc.alloc, vma);
}

static const struct file_operations bat_fops = {
	.owner = THIS_MODULE,
	.mmap = bat_mmap,
};

static int bat_init(struct kunit *test)
{
	struct bat *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	unsigned long scratch;

	if (!ctx)
		return -ENOMEM;
	/* The first kunit_vm_mmap() gives this test thread an mm. */
	scratch = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(scratch) || !current->mm)
		return -ENOMEM;
	/*
	 * Keep the address space alive until our exit hook: the test thread
	 * drops its own reference when it exits, which may be before or
	 * after the hook runs in another thread.
	 */
	ctx->mm = current->mm;
	mmget(ctx->mm);
	binder_alloc_init(&ctx->proc.alloc);
	test->priv = ctx;
	ctx->unmapped = true; /* until the mapping exists */
	ctx->file = anon_inode_getfile("[binder_alloc_test]", &bat_fops, ctx, O_RDWR);
	if (IS_ERR(ctx->file))
		return PTR_ERR(ctx->file);
	ctx->addr = kunit_vm_mmap(test, ctx->file, 0, MAP_BYTES, PROT_READ,
				  MAP_PRIVATE, 0);
	if (IS_ERR_VALUE(ctx->addr))
		return (int)ctx->addr;
	ctx->unmapped = false;
	return 0;
}

/*
 * Unmap the binder mapping. The exit hook runs in another thread than
 * the test, without an mm: borrow the test's (KUnit drops it after exit).
 */
static void bat_unmap(struct bat *ctx)
{
	bool borrow = !current->mm;

	if (ctx->unmapped)
		return;
	if (borrow)
		kthread_use_mm(ctx->mm);
	vm_munmap(ctx->addr, MAP_BYTES);
	if (borrow)
		kthread_unuse_mm(ctx->mm);
	ctx->unmapped = true;
}

/*
 * Scripted interleavings: the allocator of the test build calls
 * binder_alloc_test_hook_fn at fixed points of its install and reclaim
 * paths (enum binder_test_point); a case's script plays the concurrent
 * party there (another installer, the receiver zapping its own PTE). Only
 * the calls of @task run the script (NULL: any task).
 */
struct hook_script {
	struct task_struct *task;
	void (*fn)(struct hook_script *s, unsigned int point, size_t index, void *arg);
	struct bat *ctx;
};

static struct hook_script *hook_script;

static void run_hook(unsigned int point, struct binder_alloc *alloc, size_t index, void *arg)
{
	struct hook_script *s = READ_ONCE(hook_script);

	if (s && (!s->task || s->task == current))
		s->fn(s, point, index, arg);
}

static void set_hook(struct hook_script *s)
{
	WRITE_ONCE(hook_script, s);
	WRITE_ONCE(binder_alloc_test_hook_fn, run_hook);
}

static void clear_hook(void)
{
	WRITE_ONCE(binder_alloc_test_hook_fn, NULL);
	WRITE_ONCE(hook_script, NULL);
}

static void bat_exit(struct kunit *test)
{
	struct bat *ctx = test->priv;

	binder_alloc_test_fail_page_alloc = false;
	binder_alloc_test_insert_error = 0;
	binder_alloc_test_insert_error_task = NULL;
	clear_hook();
	if (!ctx)
		return;
	if (!IS_ERR_OR_NULL(ctx->file)) {
		bat_unmap(ctx);
		fput(ctx->file);
	}
	binder_alloc_deferred_release(&ctx->proc.alloc);
	mmput(ctx->mm);
}

static struct bat *ctx_of(struct kunit *test)
{
	return test->priv;
}

static struct binder_buffer *new_buf(struct kunit *test, size_t size, bool async)
{
	return binder_alloc_new_buf(&ctx_of(test)->proc.alloc, size, 0, 0, async);
}

static size_t page_index(struct bat *ctx, unsigned long addr)
{
	return (addr - ctx->proc.alloc.buffer) / PAGE_SIZE;
}

static bool page_installed(struct bat *ctx, size_t i)
{
	return READ_ONCE(ctx->proc.alloc.pages[i].page_ptr) != NULL;
}

static bool page_on_lru(struct bat *ctx, size_t i)
{
	return !list_empty(&ctx->proc.alloc.pages[i].lru);
}

/* Reclaim every unused page of the LRU (all processes: the test's only). */
static void reclaim_all(void)
{
	unsigned long count;
	int rounds = 0;

	while ((count = list_lru_count(&binder_freelist)) && rounds++ < 100)
		list_lru_walk(&binder_freelist, binder_alloc_free_page, NULL, count);
}

static u64 alloc_stat(size_t which)
{
	u64 values[10];

	binder_alloc_rs_read_stats(values, ARRAY_SIZE(values));
	return values[which];
}

enum {
	ST_INSTALLED, ST_RACES, ST_RECLAIMED, ST_ERRORS, ST_FREED_UNMAPPED,
	ST_RETRIES, ST_STALE_REPLACED, ST_FAULTS, ST_FAULT_MAPPED, ST_NO_ZAP,
};

/* Pages the shrinker freed without a zap, for whichever reason. */
static u64 freed_without_zap(void)
{
	return alloc_stat(ST_FREED_UNMAPPED) + alloc_stat(ST_NO_ZAP);
}

static bool fault_mode(void)
{
	return binder_glue_install_on_fault();
}

#define EAGER_ONLY(test)							\
	do {									\
		if (fault_mode())						\
			kunit_skip(test, "eager mode only: senders map the pages"); \
	} while (0)

#define FAULT_ONLY(test)							\
	do {									\
		if (!fault_mode())						\
			kunit_skip(test, "page-fault mode only");		\
	} while (0)

/*
 * The page the test's address space maps at slot @i's address, or NULL.
 * Only compared, never used: no reference is kept. Call with the mmap
 * lock not held.
 */
static struct page *mapped_page(struct bat *ctx, size_t i)
{
	unsigned long addr = ctx->proc.alloc.buffer + i * PAGE_SIZE;
	struct page *page;
	long n;

	mmap_read_lock(ctx->mm);
	n = get_user_pages_remote(ctx->mm, addr, 1, FOLL_NOFAULT | FOLL_FORCE, &page, NULL);
	mmap_read_unlock(ctx->mm);
	if (n != 1)
		return NULL;
	put_page(page);
	return page;
}

/* Bit 0 of page_ptr: the allocator's "ready" tag (page_range.rs). */
#define SLOT_READY 1UL

static struct page *slot_page(struct bat *ctx, size_t i)
{
	return (struct page *)((unsigned long)READ_ONCE(ctx->proc.alloc.pages[i].page_ptr) &
			       ~SLOT_READY);
}

static bool slot_ready(struct bat *ctx, size_t i)
{
	return (unsigned long)READ_ONCE(ctx->proc.alloc.pages[i].page_ptr) & SLOT_READY;
}

/* ---- bookkeeping ---------------------------------------------------------- */

static void sanitized_sizes(struct kunit *test)
{
	struct binder_alloc *alloc = &ctx_of(test)->proc.alloc;
	struct binder_buffer *a, *b;

	/* Pointer-aligned sums that wrap around are refused. */
	KUNIT_EXPECT_EQ(test, PTR_ERR(binder_alloc_new_buf(alloc, SIZE_MAX - 3, 16, 0, 0)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(binder_alloc_new_buf(alloc, 8, SIZE_MAX - 3, 0, 0)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(binder_alloc_new_buf(alloc, 8, 8, SIZE_MAX - 3, 0)),
			-EINVAL);
	/* Bigger than the mapping. */
	KUNIT_EXPECT_EQ(test, PTR_ERR(new_buf(test, MAP_BYTES + 8, false)), -ENOSPC);
	/* Empty buffers are padded: each gets its own address. */
	a = new_buf(test, 0, false);
	b = new_buf(test, 0, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_ASSERT_FALSE(test, IS_ERR(b));
	KUNIT_EXPECT_EQ(test, b->user_data - a->user_data, sizeof(void *));
	binder_alloc_free_buf(alloc, a);
	binder_alloc_free_buf(alloc, b);
}

static void best_fit_split_merge(struct kunit *test)
{
	struct binder_alloc *alloc = &ctx_of(test)->proc.alloc;
	struct binder_buffer *a, *b, *c, *d, *all;

	a = new_buf(test, 1000, false);
	b = new_buf(test, 5000, false);
	c = new_buf(test, 3000, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a) || IS_ERR(b) || IS_ERR(c));
	/* Split: consecutive addresses, each aligned to a pointer. */
	KUNIT_EXPECT_EQ(test, a->user_data, alloc->buffer);
	KUNIT_EXPECT_EQ(test, b->user_data, a->user_data + 1000);
	KUNIT_EXPECT_EQ(test, c->user_data, b->user_data + 5000);
	binder_alloc_free_buf(alloc, b);
	/* Best fit: the 5000-byte hole, not the large tail. */
	d = new_buf(test, 4000, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(d));
	KUNIT_EXPECT_EQ(test, d->user_data, a->user_data + 1000);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_allocated_count(alloc), 3);
	binder_alloc_free_buf(alloc, a);
	binder_alloc_free_buf(alloc, c);
	binder_alloc_free_buf(alloc, d);
	/* Everything merged back: the whole mapping is one buffer again. */
	all = new_buf(test, MAP_BYTES, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(all));
	KUNIT_EXPECT_EQ(test, all->user_data, alloc->buffer);
	binder_alloc_free_buf(alloc, all);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_allocated_count(alloc), 0);
}

/*
 * 6.12's choice among free buffers of one size: the first its rb-tree
 * search meets (equal sizes are inserted to the right), not the lowest
 * address. Here the hole of C, freed first, is met before A's.
 */
static void best_fit_equal_sizes(struct kunit *test)
{
	struct binder_alloc *alloc = &ctx_of(test)->proc.alloc;
	struct binder_buffer *a, *b, *c, *d, *e;

	a = new_buf(test, 3000, false);
	b = new_buf(test, 100, false);
	c = new_buf(test, 3000, false);
	d = new_buf(test, 100, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a) || IS_ERR(b) || IS_ERR(c) || IS_ERR(d));
	binder_alloc_free_buf(alloc, c);
	binder_alloc_free_buf(alloc, a);
	e = new_buf(test, 2000, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(e));
	KUNIT_EXPECT_EQ(test, e->user_data - alloc->buffer, 3104UL);
	binder_alloc_free_buf(alloc, e);
	binder_alloc_free_buf(alloc, b);
	binder_alloc_free_buf(alloc, d);
}

/*
 * 6.12 counts the one-way buffer being allocated with the pid its buffer
 * struct kept from an earlier allocation (the new pid is set afterwards):
 * a reused struct of the same sender counts, a fresh one does not. Both
 * cases: one async buffer Q of 16 KiB held (a quarter of the mapping: not
 * yet spam), then X of 10 KiB, which leaves less than a tenth of the
 * mapping for async buffers.
 */
static void oneway_spam_stale_pid(struct kunit *test)
{
	struct binder_alloc *alloc = &ctx_of(test)->proc.alloc;
	struct binder_buffer *p, *g, *q, *x;

	KUNIT_ASSERT_EQ(test, MAP_BYTES, 65536UL);
	/* Fresh struct: X is carved from the tail Q's split created. */
	q = new_buf(test, 16384, true);
	x = new_buf(test, 10240, true);
	KUNIT_ASSERT_FALSE(test, IS_ERR(q) || IS_ERR(x));
	KUNIT_EXPECT_FALSE(test, x->oneway_spam_suspect);
	binder_alloc_free_buf(alloc, x);
	binder_alloc_free_buf(alloc, q);

	/* Reused struct: X gets the exact hole of P, an earlier buffer of
	 * this sender (G keeps the hole from merging). */
	p = new_buf(test, 10240, true);
	g = new_buf(test, 8, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(p) || IS_ERR(g));
	binder_alloc_free_buf(alloc, p);
	q = new_buf(test, 16384, true);
	x = new_buf(test, 10240, true);
	KUNIT_ASSERT_FALSE(test, IS_ERR(q) || IS_ERR(x));
	KUNIT_EXPECT_EQ(test, x->user_data, alloc->buffer);
	KUNIT_EXPECT_TRUE(test, x->oneway_spam_suspect);
	binder_alloc_free_buf(alloc, x);
	binder_alloc_free_buf(alloc, q);
	binder_alloc_free_buf(alloc, g);
}

static void async_space_accounting(struct kunit *test)
{
	struct binder_alloc *alloc = &ctx_of(test)->proc.alloc;
	struct binder_buffer *a, *b;

	KUNIT_EXPECT_EQ(test, binder_alloc_get_free_async_space(alloc), MAP_BYTES / 2);
	a = new_buf(test, 8192, true);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_EXPECT_TRUE(test, a->async_transaction);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_free_async_space(alloc), MAP_BYTES / 2 - 8192);
	/* More than what is left of the async half is refused... */
	KUNIT_EXPECT_EQ(test, PTR_ERR(new_buf(test, MAP_BYTES / 2, true)), -ENOSPC);
	/* ...but a synchronous buffer of that size still fits. */
	b = new_buf(test, MAP_BYTES / 2, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(b));
	KUNIT_EXPECT_EQ(test, binder_alloc_get_free_async_space(alloc), MAP_BYTES / 2 - 8192);
	binder_alloc_free_buf(alloc, a);
	binder_alloc_free_buf(alloc, b);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_free_async_space(alloc), MAP_BYTES / 2);
}

static void oneway_spam_threshold(struct kunit *test)
{
	struct binder_alloc *alloc = &ctx_of(test)->proc.alloc;
	struct binder_buffer *bufs[8];
	int suspects = 0, first = -1;

	/* 4 KiB one-way buffers of one sender: below a tenth of the mapping
	 * (6553 bytes) left of the async half, and more than a quarter of the
	 * mapping held, the sender is suspected, once. */
	for (int i = 0; i < 8; i++) {
		bufs[i] = new_buf(test, 4096, true);
		KUNIT_ASSERT_FALSE(test, IS_ERR(bufs[i]));
		if (bufs[i]->oneway_spam_suspect) {
			suspects++;
			if (first < 0)
				first = i;
		}
	}
	/* After 7 buffers 4 KiB are left (< 6553) and the sender held 24 KiB
	 * before the 7th (> 16 KiB): the 7th is the suspect, and only it. */
	KUNIT_EXPECT_EQ(test, first, 6);
	KUNIT_EXPECT_EQ(test, suspects, 1);
	for (int i = 0; i < 8; i++)
		binder_alloc_free_buf(alloc, bufs[i]);
	/* Space recovered: detection re-arms. */
	for (int i = 0; i < 8; i++)
		bufs[i] = new_buf(test, 4096, true);
	KUNIT_EXPECT_TRUE(test, bufs[6]->oneway_spam_suspect);
	for (int i = 0; i < 8; i++)
		binder_alloc_free_buf(alloc, bufs[i]);
}

static void prepare_to_free_rules(struct kunit *test)
{
	struct binder_alloc *alloc = &ctx_of(test)->proc.alloc;
	struct binder_buffer *a = new_buf(test, 100, false);

	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	/* Not yet handed to user space. */
	KUNIT_EXPECT_EQ(test, PTR_ERR(binder_alloc_prepare_to_free(alloc, a->user_data)),
			-EPERM);
	a->allow_user_free = 1;
	KUNIT_EXPECT_PTR_EQ(test, binder_alloc_prepare_to_free(alloc, a->user_data + 8), NULL);
	KUNIT_EXPECT_PTR_EQ(test, binder_alloc_prepare_to_free(alloc, a->user_data), a);
	/* A second free of the same buffer is refused. */
	KUNIT_EXPECT_EQ(test, PTR_ERR(binder_alloc_prepare_to_free(alloc, a->user_data)),
			-EPERM);
	binder_alloc_free_buf(alloc, a);
	KUNIT_EXPECT_PTR_EQ(test, binder_alloc_prepare_to_free(alloc, alloc->buffer), NULL);
}

/* ---- page states -------------------------------------------------------------- */

static void page_states(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	unsigned long lru0 = list_lru_count(&binder_freelist);
	struct binder_buffer *a = new_buf(test, 3 * PAGE_SIZE, false);
	size_t first;

	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	first = page_index(ctx, a->user_data);
	for (size_t i = first; i < first + 3; i++) {
		KUNIT_EXPECT_TRUE(test, page_installed(ctx, i));
		KUNIT_EXPECT_FALSE(test, page_on_lru(ctx, i));
	}
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, first + 3));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	for (size_t i = first; i < first + 3; i++)
		KUNIT_EXPECT_TRUE(test, page_on_lru(ctx, i));
	KUNIT_EXPECT_EQ(test, list_lru_count(&binder_freelist), lru0 + 3);

	reclaim_all();
	for (size_t i = first; i < first + 3; i++)
		KUNIT_EXPECT_FALSE(test, page_installed(ctx, i));
	KUNIT_EXPECT_EQ(test, list_lru_count(&binder_freelist), 0);

	/* Reinstalled on the next use, data path intact. */
	a = new_buf(test, 3 * PAGE_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	for (size_t i = first; i < first + 3; i++)
		KUNIT_EXPECT_TRUE(test, page_installed(ctx, i));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
}

static void shrinker_spares_allocated_buffers(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct binder_buffer *x = new_buf(test, 2 * PAGE_SIZE, false);
	struct binder_buffer *y = new_buf(test, 2 * PAGE_SIZE, false);
	u64 reclaimed = alloc_stat(ST_RECLAIMED);
	size_t xi, yi;

	KUNIT_ASSERT_FALSE(test, IS_ERR(x) || IS_ERR(y));
	xi = page_index(ctx, x->user_data);
	yi = page_index(ctx, y->user_data);
	binder_alloc_free_buf(&ctx->proc.alloc, x);
	reclaim_all();
	/* Exactly x's two pages went; y's stay installed and in use. */
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_RECLAIMED) - reclaimed, 2);
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, xi));
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, xi + 1));
	KUNIT_EXPECT_TRUE(test, page_installed(ctx, yi));
	KUNIT_EXPECT_TRUE(test, page_installed(ctx, yi + 1));
	binder_alloc_free_buf(&ctx->proc.alloc, y);
}

static void shared_page_stays_in_use(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct binder_buffer *a = new_buf(test, 100, false);
	struct binder_buffer *b = new_buf(test, 100, false);

	KUNIT_ASSERT_FALSE(test, IS_ERR(a) || IS_ERR(b));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	/* b still uses page 0. */
	KUNIT_EXPECT_TRUE(test, page_installed(ctx, 0));
	KUNIT_EXPECT_FALSE(test, page_on_lru(ctx, 0));
	binder_alloc_free_buf(&ctx->proc.alloc, b);
	KUNIT_EXPECT_TRUE(test, page_on_lru(ctx, 0));
}

/* ---- error paths ---------------------------------------------------------------- */

static void vma_gone(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);

	bat_unmap(ctx);
	KUNIT_EXPECT_PTR_EQ(test, ctx->proc.alloc.vma, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(new_buf(test, 100, false)), -ESRCH);
}

static void impostor_vma(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct binder_buffer *a = new_buf(test, PAGE_SIZE, false);
	u64 unmapped = freed_without_zap();
	static const char marker[] = "impostor data";
	char back[sizeof(marker)];
	unsigned long anon;

	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	KUNIT_ASSERT_TRUE(test, page_on_lru(ctx, 0));
	/* Replace the binder mapping with anonymous memory, same address. */
	bat_unmap(ctx);
	anon = kunit_vm_mmap(test, NULL, ctx->addr, MAP_BYTES, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, anon, ctx->addr);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)anon, marker, sizeof(marker)), 0);

	/* Nothing is inserted into it... */
	KUNIT_EXPECT_EQ(test, PTR_ERR(new_buf(test, 100, false)), -ESRCH);
	/* ...and reclaim frees the binder page without zapping it. */
	reclaim_all();
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, 0));
	KUNIT_EXPECT_EQ(test, freed_without_zap() - unmapped, 1);
	KUNIT_ASSERT_EQ(test, copy_from_user(back, (void __user *)anon, sizeof(back)), 0);
	KUNIT_EXPECT_MEMEQ(test, back, marker, sizeof(marker));
}

/*
 * The process's address space is gone (its last user left; the binder
 * file lives on): the shrinker cannot take the mm and must free the page
 * without a zap instead of skipping it forever. A second mm, as a second
 * process would have, is built the way KUnit builds the test's own.
 */
static void mm_gone_page_freed(struct kunit *test)
{
	struct mm_struct *test_mm = current->mm, *mm;
	struct bat *other = kunit_kzalloc(test, sizeof(*other), GFP_KERNEL);
	u64 unmapped = freed_without_zap();
	struct binder_buffer *a;
	unsigned long addr;
	bool was_installed, was_on_lru;

	KUNIT_ASSERT_NOT_NULL(test, other);
	mm = mm_alloc();
	KUNIT_ASSERT_NOT_NULL(test, mm);
	mm->task_size = TASK_SIZE;
	arch_pick_mmap_layout(mm, &current->signal->rlim[RLIMIT_STACK]);

	kthread_unuse_mm(test_mm);
	kthread_use_mm(mm);
	binder_alloc_init(&other->proc.alloc);
	other->file = anon_inode_getfile("[binder_alloc_test]", &bat_fops, other, O_RDWR);
	addr = IS_ERR(other->file) ? -ENOMEM :
	       vm_mmap(other->file, 0, MAP_BYTES, PROT_READ, MAP_PRIVATE, 0);
	a = IS_ERR_VALUE(addr) ? ERR_PTR(-ENOMEM) :
	    binder_alloc_new_buf(&other->proc.alloc, PAGE_SIZE, 0, 0, 0);
	if (!IS_ERR(a))
		binder_alloc_free_buf(&other->proc.alloc, a);
	was_installed = !IS_ERR(a) && page_installed(other, 0);
	was_on_lru = !IS_ERR(a) && page_on_lru(other, 0);
	kthread_unuse_mm(mm);
	kthread_use_mm(test_mm);
	/* The last user goes: exit_mmap unmaps everything. */
	mmput(mm);

	KUNIT_EXPECT_TRUE(test, was_installed);
	KUNIT_EXPECT_TRUE(test, was_on_lru);
	KUNIT_EXPECT_PTR_EQ(test, other->proc.alloc.vma, NULL);
	reclaim_all();
	if (!IS_ERR_VALUE(addr))
		KUNIT_EXPECT_FALSE(test, page_installed(other, 0));
	KUNIT_EXPECT_EQ(test, freed_without_zap() - unmapped, 1);
	binder_alloc_deferred_release(&other->proc.alloc);
	if (!IS_ERR(other->file))
		fput(other->file);
}

static void insert_error_reaches_caller(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	u64 errors = alloc_stat(ST_ERRORS);

	EAGER_ONLY(test);
	binder_alloc_test_insert_error = -EFAULT;
	KUNIT_EXPECT_EQ(test, PTR_ERR(new_buf(test, 2 * PAGE_SIZE, true)), -EFAULT);
	binder_alloc_test_insert_error = 0;
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_ERRORS) - errors, 1);
	/* Nothing leaked: no page, no buffer, async space back. */
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, 0));
	KUNIT_EXPECT_EQ(test, binder_alloc_get_allocated_count(&ctx->proc.alloc), 0);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_free_async_space(&ctx->proc.alloc), MAP_BYTES / 2);
}

static void page_allocation_failure(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct binder_buffer *a;

	binder_alloc_test_fail_page_alloc = true;
	KUNIT_EXPECT_EQ(test, PTR_ERR(new_buf(test, PAGE_SIZE, false)), -ENOMEM);
	binder_alloc_test_fail_page_alloc = false;
	KUNIT_EXPECT_EQ(test, binder_alloc_get_allocated_count(&ctx->proc.alloc), 0);
	a = new_buf(test, PAGE_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
}

/*
 * A page is already mapped at an empty slot's address, as if left in the
 * page table while the slot was empty (no known path does that; the
 * allocator checks anyway). The installer meets -EBUSY, finds through GUP a page the slot does not hold,
 * and must replace it with the slot's page, dropping GUP's reference.
 */
static void ebusy_stale_pte_replaced(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct binder_buffer *a;
	struct page *stale;
	u64 replaced = alloc_stat(ST_STALE_REPLACED), races = alloc_stat(ST_RACES);
	int ret;

	EAGER_ONLY(test);
	stale = alloc_page(GFP_KERNEL | __GFP_ZERO);
	KUNIT_ASSERT_NOT_NULL(test, stale);
	mmap_read_lock(mm);
	vma = vma_lookup(mm, ctx->addr);
	ret = vma ? vm_insert_page(vma, ctx->addr, stale) : -ENOENT;
	mmap_read_unlock(mm);
	KUNIT_ASSERT_EQ(test, ret, 0);
	/* Our allocation reference + the PTE's. */
	KUNIT_ASSERT_EQ(test, page_count(stale), 2);

	a = new_buf(test, 100, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_STALE_REPLACED) - replaced, 1);
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_RACES) - races, 0);
	KUNIT_EXPECT_TRUE(test, slot_ready(ctx, 0));
	KUNIT_EXPECT_PTR_NE(test, slot_page(ctx, 0), stale);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), slot_page(ctx, 0));
	/* The zap dropped the PTE's reference, and GUP's is gone: ours is left. */
	KUNIT_EXPECT_EQ(test, page_count(stale), 1);
	/* What the kernel writes is what the receiver reads. */
	KUNIT_EXPECT_EQ(test, binder_alloc_copy_to_buffer(&ctx->proc.alloc, a, 0, "abcd", 4), 0);
	KUNIT_EXPECT_MEMEQ(test, (char *)page_address(mapped_page(ctx, 0)), "abcd", 4);
	__free_page(stale);
	binder_alloc_free_buf(&ctx->proc.alloc, a);
}


/* ---- the receiver's own zaps during installation ------------------------ */

/*
 * -EBUSY, then the receiver zaps the PTE before the loser looks the page
 * up: GUP finds nothing although the receiver is alive. The installer
 * must try again, not report the process dead (-ESRCH).
 */
struct busy_zap_script {
	struct hook_script h;
	int step;
	struct page *w;		/* the "winner's" page, never published */
	struct page *mine;	/* the real installer's page (extra ref) */
};

static void busy_zap_hook(struct hook_script *h, unsigned int point, size_t index, void *arg)
{
	struct busy_zap_script *s = container_of(h, struct busy_zap_script, h);
	struct bat *ctx = h->ctx;
	unsigned long addr = ctx->proc.alloc.buffer + index * PAGE_SIZE;
	struct vm_area_struct *vma = vma_lookup(ctx->mm, addr);

	if (!vma)
		return;
	if (point == BINDER_TEST_BEFORE_INSERT && s->step == 0) {
		if (!vm_insert_page(vma, addr, s->w))
			s->step = 1;
	} else if (point == BINDER_TEST_AFTER_BUSY && s->step == 1) {
		zap_page_range_single(vma, addr, PAGE_SIZE, NULL);
		s->step = 2;
	} else if (point == BINDER_TEST_AFTER_INSERT && s->step == 2) {
		s->mine = arg;
		get_page(s->mine);
		s->step = 3;
	}
}

static void ebusy_then_zap_retries(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct busy_zap_script s = { .h = { .task = current, .fn = busy_zap_hook, .ctx = ctx } };
	u64 retries = alloc_stat(ST_RETRIES);
	struct binder_buffer *a;

	EAGER_ONLY(test);
	s.w = alloc_page(GFP_KERNEL | __GFP_ZERO);
	KUNIT_ASSERT_NOT_NULL(test, s.w);
	set_hook(&s.h);
	a = new_buf(test, 100, false);
	clear_hook();
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_ASSERT_EQ(test, s.step, 3);
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_RETRIES) - retries, 1);
	KUNIT_EXPECT_PTR_EQ(test, slot_page(ctx, 0), s.mine);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), s.mine);
	/* Ours: slot + PTE + the script's. The winner's: only its own. */
	KUNIT_EXPECT_EQ(test, page_count(s.mine), 3);
	KUNIT_EXPECT_EQ(test, page_count(s.w), 1);
	put_page(s.mine);
	__free_page(s.w);
	binder_alloc_free_buf(&ctx->proc.alloc, a);
}

/*
 * Two real installers of one page: A claims the slot with its page, maps
 * it and stops before marking it ready. B, which needs the same page,
 * finds the claim. Without a zap B meets -EBUSY, finds the claimed page
 * through GUP and marks it ready. With the receiver zapping the PTE while
 * A is stopped (MADV_DONTNEED at the worst moment), B's insert succeeds:
 * it must map the slot's page, never one of its own, or the receiver
 * would read zeros where the kernel wrote B's data (the bug of the
 * insert-then-publish protocol). Then A resumes and finds the page ready.
 */
struct two_installers {
	struct hook_script h;
	bool zap;
	struct completion a_inserted, b_done, a_done;
	struct page *a_page;
	struct binder_buffer *a_buf;
};

static void two_installers_hook(struct hook_script *h, unsigned int point, size_t index, void *arg)
{
	struct two_installers *t = container_of(h, struct two_installers, h);

	if (point != BINDER_TEST_AFTER_INSERT || t->a_page)
		return;
	t->a_page = arg;
	get_page(t->a_page);
	if (t->zap) {
		/* A holds the mmap lock for read, as MADV_DONTNEED would. */
		unsigned long addr = h->ctx->proc.alloc.buffer + index * PAGE_SIZE;
		struct vm_area_struct *vma = vma_lookup(h->ctx->mm, addr);

		if (vma)
			zap_page_range_single(vma, addr, PAGE_SIZE, NULL);
	}
	complete(&t->a_inserted);
	wait_for_completion(&t->b_done);
}

static int installer_a(void *data)
{
	struct two_installers *t = data;

	kthread_use_mm(t->h.ctx->mm);
	t->a_buf = binder_alloc_new_buf(&t->h.ctx->proc.alloc, 100, 0, 0, 0);
	kthread_unuse_mm(t->h.ctx->mm);
	complete(&t->a_done);
	return 0;
}

static const bool two_installers_params[] = { false, true };

static void two_installers_desc(const bool *zap, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s",
		 *zap ? "receiver_zaps_claimers_pte" : "second_meets_ebusy");
}
KUNIT_ARRAY_PARAM(two_installers, two_installers_params, two_installers_desc);

static void two_real_installers_map_slot_page(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct two_installers t = {
		.h = { .fn = two_installers_hook, .ctx = ctx },
		.zap = *(const bool *)test->param_value,
	};
	u64 races = alloc_stat(ST_RACES), stale = alloc_stat(ST_STALE_REPLACED);
	u64 retries = alloc_stat(ST_RETRIES);
	struct task_struct *a;
	struct binder_buffer *b;

	EAGER_ONLY(test);
	init_completion(&t.a_inserted);
	init_completion(&t.b_done);
	init_completion(&t.a_done);
	a = kthread_create(installer_a, &t, "bat_installer_a");
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	t.h.task = a;
	set_hook(&t.h);
	wake_up_process(a);
	if (!wait_for_completion_timeout(&t.a_inserted, 10 * HZ)) {
		clear_hook();
		KUNIT_FAIL(test, "installer A never inserted");
		complete(&t.b_done);
		wait_for_completion(&t.a_done);
		return;
	}
	/* B, while A sits between its insert and marking the page ready. */
	KUNIT_EXPECT_FALSE(test, slot_ready(ctx, 0));
	KUNIT_EXPECT_PTR_EQ(test, slot_page(ctx, 0), t.a_page);
	b = new_buf(test, 200, false);
	if (!IS_ERR(b)) {
		/* B's copy goes to the page the receiver maps, before A resumes. */
		KUNIT_EXPECT_TRUE(test, slot_ready(ctx, 0));
		KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), t.a_page);
		KUNIT_EXPECT_EQ(test,
				binder_alloc_copy_to_buffer(&ctx->proc.alloc, b, 0, "abcd", 4), 0);
		KUNIT_EXPECT_MEMEQ(test, (char *)page_address(t.a_page) +
				   (b->user_data - ctx->proc.alloc.buffer), "abcd", 4);
	}
	complete(&t.b_done);
	wait_for_completion(&t.a_done);
	clear_hook();
	KUNIT_ASSERT_FALSE(test, IS_ERR(b));
	KUNIT_ASSERT_FALSE(test, IS_ERR(t.a_buf));
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_RACES) - races, 1);
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_STALE_REPLACED) - stale, 0);
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_RETRIES) - retries, 0);
	KUNIT_EXPECT_TRUE(test, slot_ready(ctx, 0));
	KUNIT_EXPECT_PTR_EQ(test, slot_page(ctx, 0), t.a_page);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), t.a_page);
	/* Slot + PTE + the script's; GUP's reference was dropped. */
	KUNIT_EXPECT_EQ(test, page_count(t.a_page), 3);
	put_page(t.a_page);
	binder_alloc_free_buf(&ctx->proc.alloc, b);
	binder_alloc_free_buf(&ctx->proc.alloc, t.a_buf);
}


/*
 * A failed insert withdraws the claim, even though another installer
 * read it: A (a thread) claims the slot and its insert will fail; B finds
 * A's claim, waits until A withdrew it, inserts it anyway (the page must
 * still be alive: A frees it only after B released the mmap lock), finds
 * the slot changed when it marks the page ready, zaps its PTE and
 * installs with its own page. A reports the error; the slot ends up with
 * B's page, mapped, and A's page keeps no reference but the script's.
 */
struct withdraw_script {
	struct hook_script h;
	struct task_struct *a, *b;
	struct completion a_claimed, b_read, a_done;
	struct page *a_page;
	struct binder_buffer *a_buf;
	bool b_saw_withdrawal;
};

static void withdraw_hook(struct hook_script *h, unsigned int point, size_t index, void *arg)
{
	struct withdraw_script *w = container_of(h, struct withdraw_script, h);
	struct bat *ctx = h->ctx;
	unsigned long deadline = jiffies + 10 * HZ;

	if (point != BINDER_TEST_BEFORE_INSERT)
		return;
	if (current == w->a && !w->a_page) {
		w->a_page = arg;
		get_page(w->a_page);
		complete(&w->a_claimed);
		wait_for_completion(&w->b_read);
	} else if (current == w->b && arg == w->a_page && !w->b_saw_withdrawal) {
		complete(&w->b_read);
		while (slot_page(ctx, index) && time_before(jiffies, deadline))
			msleep(1);
		w->b_saw_withdrawal = !slot_page(ctx, index);
	}
}

static int withdraw_installer_a(void *data)
{
	struct withdraw_script *w = data;

	kthread_use_mm(w->h.ctx->mm);
	w->a_buf = binder_alloc_new_buf(&w->h.ctx->proc.alloc, 100, 0, 0, 0);
	kthread_unuse_mm(w->h.ctx->mm);
	complete(&w->a_done);
	return 0;
}

static void failed_claim_withdrawn_under_reader(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct withdraw_script w = { .h = { .fn = withdraw_hook, .ctx = ctx }, .b = current };
	u64 retries = alloc_stat(ST_RETRIES);
	struct binder_buffer *b;

	EAGER_ONLY(test);
	init_completion(&w.a_claimed);
	init_completion(&w.b_read);
	init_completion(&w.a_done);
	w.a = kthread_create(withdraw_installer_a, &w, "bat_withdraw_a");
	KUNIT_ASSERT_FALSE(test, IS_ERR(w.a));
	binder_alloc_test_insert_error_task = w.a;
	binder_alloc_test_insert_error = -ENOMEM;
	set_hook(&w.h);
	wake_up_process(w.a);
	if (!wait_for_completion_timeout(&w.a_claimed, 10 * HZ)) {
		clear_hook();
		KUNIT_FAIL(test, "installer A never claimed the slot");
		complete(&w.b_read);
		wait_for_completion(&w.a_done);
		return;
	}
	b = new_buf(test, 200, false);
	wait_for_completion(&w.a_done);
	clear_hook();
	binder_alloc_test_insert_error = 0;
	binder_alloc_test_insert_error_task = NULL;

	KUNIT_EXPECT_TRUE(test, w.b_saw_withdrawal);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(w.a_buf), -ENOMEM);
	KUNIT_ASSERT_FALSE(test, IS_ERR(b));
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_RETRIES) - retries, 1);
	KUNIT_EXPECT_TRUE(test, slot_ready(ctx, 0));
	KUNIT_EXPECT_PTR_NE(test, slot_page(ctx, 0), w.a_page);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), slot_page(ctx, 0));
	/* The slot let go of A's page and B's zap dropped its PTE's. */
	KUNIT_EXPECT_EQ(test, page_count(w.a_page), 1);
	put_page(w.a_page);
	binder_alloc_free_buf(&ctx->proc.alloc, b);
}

/* Plays an installer that maps the claimed page and marks it ready. */
static void ready_claim_hook(struct hook_script *h, unsigned int point, size_t index, void *arg)
{
	struct withdraw_script *w = container_of(h, struct withdraw_script, h);
	unsigned long addr = h->ctx->proc.alloc.buffer + index * PAGE_SIZE;
	struct vm_area_struct *vma = vma_lookup(h->ctx->mm, addr);

	if (point != BINDER_TEST_BEFORE_INSERT || w->a_page || !vma)
		return;
	if (vm_insert_page(vma, addr, arg))
		return;
	w->a_page = arg;
	smp_store_release(&h->ctx->proc.alloc.pages[index].page_ptr,
			  (struct page *)((unsigned long)arg | SLOT_READY));
}

/*
 * The claimer's insert fails, but another installer mapped the claimed
 * page and marked it ready meanwhile (played by the script): the page is
 * the slot's and in place, so the claimer keeps it and succeeds.
 */
static void ready_claim_survives_claimers_error(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct withdraw_script w = { .h = { .ctx = ctx } };
	struct binder_buffer *a;

	EAGER_ONLY(test);
	w.h.task = current;
	w.h.fn = ready_claim_hook;
	set_hook(&w.h);
	binder_alloc_test_insert_error = -ENOMEM;
	a = new_buf(test, 100, false);
	binder_alloc_test_insert_error = 0;
	clear_hook();
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_ASSERT_NOT_NULL(test, w.a_page);
	KUNIT_EXPECT_TRUE(test, slot_ready(ctx, 0));
	KUNIT_EXPECT_PTR_EQ(test, slot_page(ctx, 0), w.a_page);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), w.a_page);
	/* The slot's reference and the PTE's. */
	KUNIT_EXPECT_EQ(test, page_count(w.a_page), 2);
	binder_alloc_free_buf(&ctx->proc.alloc, a);
}

/* ---- page-fault mode: the receiver's faults map the pages -------------------- */

/* Reads @len bytes of the binder mapping at @offset as the receiver would. */
static int receiver_reads(struct bat *ctx, size_t offset, void *buf, size_t len)
{
	return copy_from_user(buf, (const void __user *)(ctx->addr + offset), len) ? -EFAULT : 0;
}

static void fault_maps_slot_page(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	u64 faults = alloc_stat(ST_FAULTS), mapped = alloc_stat(ST_FAULT_MAPPED);
	struct binder_buffer *a;
	char back[4];

	FAULT_ONLY(test);
	a = new_buf(test, PAGE_SIZE + 100, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	/* The sender filled the slots and mapped nothing. */
	KUNIT_EXPECT_TRUE(test, page_installed(ctx, 0) && page_installed(ctx, 1));
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), NULL);
	KUNIT_EXPECT_EQ(test, binder_alloc_copy_to_buffer(&ctx->proc.alloc, a, 0, "abcd", 4), 0);

	KUNIT_ASSERT_EQ(test, receiver_reads(ctx, 0, back, sizeof(back)), 0);
	KUNIT_EXPECT_MEMEQ(test, back, "abcd", 4);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), slot_page(ctx, 0));
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 1), NULL);
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_FAULTS) - faults, 1);
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_FAULT_MAPPED) - mapped, 1);
	/* The slot's reference and the PTE's. */
	KUNIT_EXPECT_EQ(test, page_count(slot_page(ctx, 0)), 2);

	/* The receiver zaps its own PTE: its next fault maps the same page. */
	mmap_read_lock(ctx->mm);
	zap_page_range_single(vma_lookup(ctx->mm, ctx->addr), ctx->addr, PAGE_SIZE, NULL);
	mmap_read_unlock(ctx->mm);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), NULL);
	KUNIT_ASSERT_EQ(test, receiver_reads(ctx, 0, back, sizeof(back)), 0);
	KUNIT_EXPECT_MEMEQ(test, back, "abcd", 4);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), slot_page(ctx, 0));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
}

/* No page in the slot: SIGBUS (here: the kernel's copy fails). */
static void fault_where_no_page_fails(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	u64 faults = alloc_stat(ST_FAULTS), mapped = alloc_stat(ST_FAULT_MAPPED);
	char back[4];

	FAULT_ONLY(test);
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, 5));
	KUNIT_EXPECT_EQ(test, receiver_reads(ctx, 5 * PAGE_SIZE, back, sizeof(back)), -EFAULT);
	KUNIT_EXPECT_GE(test, alloc_stat(ST_FAULTS) - faults, 1);
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_FAULT_MAPPED) - mapped, 0);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 5), NULL);
}

/* Runs this thread on the CPUs of node @nid; false if it has none. */
static bool run_on_node(int nid)
{
	return node_online(nid) && !cpumask_empty(cpumask_of_node(nid)) &&
	       !set_cpus_allowed_ptr(current, cpumask_of_node(nid));
}

/* The registered callbacks, for node @nid. */
static unsigned long shrink_node_count(int nid)
{
	struct shrink_control sc = { .gfp_mask = GFP_KERNEL, .nid = nid };

	return binder_glue_shrink_count(NULL, &sc);
}

static unsigned long shrink_node_scan(int nid, unsigned long nr)
{
	struct shrink_control sc = { .gfp_mask = GFP_KERNEL, .nid = nid, .nr_to_scan = nr };

	return binder_glue_shrink_scan(NULL, &sc);
}

/*
 * The shrinker counts and scans the node reclaim asks for, and a page is
 * on the list of its own node. A scan of node 1 with a budget of one page
 * frees node 1's page, not the one ahead of it on node 0: a walk of every
 * node spent its budget on node 0 first, and busy pages there kept node
 * 1's from ever being reclaimed.
 */
static void shrinker_scans_its_node(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct binder_buffer *a = NULL, *b = NULL;
	bool pinned;

	pinned = run_on_node(0);
	if (pinned)
		a = new_buf(test, PAGE_SIZE, false);
	pinned = pinned && run_on_node(1);
	if (pinned)
		b = new_buf(test, PAGE_SIZE, false);
	set_cpus_allowed_ptr(current, cpu_possible_mask);
	if (!pinned)
		kunit_skip(test, "needs CPUs on NUMA nodes 0 and 1");
	KUNIT_ASSERT_FALSE(test, IS_ERR(a) || IS_ERR(b));
	KUNIT_ASSERT_EQ(test, page_index(ctx, a->user_data), 0);
	KUNIT_ASSERT_EQ(test, page_index(ctx, b->user_data), 1);
	if (page_to_nid(slot_page(ctx, 0)) != 0 || page_to_nid(slot_page(ctx, 1)) != 1)
		kunit_skip(test, "pages landed on nodes %d and %d",
			   page_to_nid(slot_page(ctx, 0)), page_to_nid(slot_page(ctx, 1)));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	binder_alloc_free_buf(&ctx->proc.alloc, b);

	KUNIT_EXPECT_EQ(test, shrink_node_count(0), 1);
	KUNIT_EXPECT_EQ(test, shrink_node_count(1), 1);
	KUNIT_EXPECT_EQ(test, shrink_node_scan(1, 1), 1);
	KUNIT_EXPECT_TRUE(test, page_installed(ctx, 0));
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, 1));
	KUNIT_EXPECT_EQ(test, shrink_node_count(1), 0);
	KUNIT_EXPECT_EQ(test, shrink_node_scan(0, 1), 1);
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, 0));
}

/* Reclaim zaps the pages faults mapped and frees the others untouched. */
static void reclaim_zaps_only_mapped_pages(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	u64 no_zap = alloc_stat(ST_NO_ZAP), reclaimed = alloc_stat(ST_RECLAIMED);
	struct binder_buffer *a;
	char back[4];

	FAULT_ONLY(test);
	a = new_buf(test, 2 * PAGE_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_ASSERT_EQ(test, receiver_reads(ctx, 0, back, sizeof(back)), 0);
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	reclaim_all();
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_RECLAIMED) - reclaimed, 2);
	KUNIT_EXPECT_EQ(test, alloc_stat(ST_NO_ZAP) - no_zap, 1);
	KUNIT_EXPECT_FALSE(test, page_installed(ctx, 0));
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), NULL);
	/* Installed again, the new page is what the next fault maps. */
	a = new_buf(test, 2 * PAGE_SIZE, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_ASSERT_EQ(test, receiver_reads(ctx, 0, back, sizeof(back)), 0);
	KUNIT_EXPECT_PTR_EQ(test, mapped_page(ctx, 0), slot_page(ctx, 0));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
}

/*
 * A sender needing fresh pages while the receiver holds its own mmap lock
 * for writing (a long mmap, say): in page-fault mode the sender does not
 * wait; in eager mode it must, which this case checks too, so that it
 * shows what it claims.
 */
struct sender_run {
	struct bat *ctx;
	struct completion done;
	struct binder_buffer *buf;
};

static int sender_thread(void *data)
{
	struct sender_run *r = data;

	r->buf = binder_alloc_new_buf(&r->ctx->proc.alloc, 3 * PAGE_SIZE, 0, 0, 0);
	complete(&r->done);
	return 0;
}

static void sender_needs_no_receiver_mmap_lock(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct sender_run r = { .ctx = ctx };
	struct task_struct *t;
	bool done_while_locked;

	init_completion(&r.done);
	mmap_write_lock(ctx->mm);
	t = kthread_run(sender_thread, &r, "bat_sender");
	if (IS_ERR(t)) {
		mmap_write_unlock(ctx->mm);
		KUNIT_FAIL(test, "no sender thread");
		return;
	}
	done_while_locked = wait_for_completion_timeout(&r.done, fault_mode() ? 10 * HZ : HZ / 5);
	mmap_write_unlock(ctx->mm);
	if (!done_while_locked)
		wait_for_completion(&r.done);
	KUNIT_EXPECT_EQ(test, done_while_locked, fault_mode());
	KUNIT_ASSERT_FALSE(test, IS_ERR(r.buf));
	binder_alloc_free_buf(&ctx->proc.alloc, r.buf);
}

/* ---- teardown against the shrinker --------------------------------------- */

/*
 * The window of mutex-design.rst: the shrinker callback releases the
 * allocator mutex; deferred_release, waiting for it, takes it while the
 * callback has not returned from its unlock. Scripted: K1 (the shrinker)
 * stops before and after its unlock, K2 (deferred_release) runs in
 * between. K2 must wait for K1's unlock, must not free the state while K1
 * is in the window (KASAN checks the read below) and must finish once K1
 * is out of it.
 */
struct unlock_window {
	struct hook_script h;
	struct completion k1_locked, go_unlock, k1_unlocked, go_finish, k1_done, k2_done;
	const u8 *state;
};

static void unlock_window_hook(struct hook_script *h, unsigned int point, size_t index, void *arg)
{
	struct unlock_window *w = container_of(h, struct unlock_window, h);

	if (point == BINDER_TEST_SHRINKER_BEFORE_UNLOCK) {
		w->state = arg;
		complete(&w->k1_locked);
		wait_for_completion(&w->go_unlock);
	} else if (point == BINDER_TEST_SHRINKER_AFTER_UNLOCK) {
		complete(&w->k1_unlocked);
		wait_for_completion(&w->go_finish);
	}
}

static int shrinker_k1(void *data)
{
	struct unlock_window *w = data;

	reclaim_all();
	complete(&w->k1_done);
	return 0;
}

static int release_k2(void *data)
{
	struct unlock_window *w = data;

	binder_alloc_deferred_release(&w->h.ctx->proc.alloc);
	complete(&w->k2_done);
	return 0;
}

static void shrinker_unlock_outlives_release(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct unlock_window w = { .h = { .fn = unlock_window_hook, .ctx = ctx } };
	struct binder_buffer *a = new_buf(test, PAGE_SIZE, false);
	struct task_struct *k1, *k2;
	bool k2_waited, k2_finished;

	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	KUNIT_ASSERT_TRUE(test, page_on_lru(ctx, 0));
	bat_unmap(ctx);
	init_completion(&w.k1_locked);
	init_completion(&w.go_unlock);
	init_completion(&w.k1_unlocked);
	init_completion(&w.go_finish);
	init_completion(&w.k1_done);
	init_completion(&w.k2_done);
	k1 = kthread_create(shrinker_k1, &w, "bat_shrinker");
	KUNIT_ASSERT_FALSE(test, IS_ERR(k1));
	w.h.task = k1;
	set_hook(&w.h);
	wake_up_process(k1);
	if (!wait_for_completion_timeout(&w.k1_locked, 10 * HZ)) {
		clear_hook();
		KUNIT_FAIL(test, "the shrinker never reached our page");
		return;
	}
	k2 = kthread_run(release_k2, &w, "bat_release");
	if (IS_ERR(k2)) {
		complete(&w.go_unlock);
		complete(&w.go_finish);
		wait_for_completion(&w.k1_done);
		clear_hook();
		KUNIT_FAIL(test, "no release thread");
		return;
	}
	/* K2 must wait for the mutex K1 holds. */
	msleep(100);
	k2_waited = !completion_done(&w.k2_done);
	complete(&w.go_unlock);
	wait_for_completion(&w.k1_unlocked);
	/* K1 has released the mutex but not returned: K2 takes the mutex,
	 * finishes its work and waits for K1 to leave the window. */
	k2_finished = wait_for_completion_timeout(&w.k2_done, HZ / 2);
	KUNIT_EXPECT_TRUE(test, k2_waited);
	KUNIT_EXPECT_FALSE(test, k2_finished);
	KUNIT_EXPECT_PTR_EQ(test, ctx->proc.alloc.state, NULL);
	/*
	 * The state lives in binder_proc, which binder.c frees as soon as
	 * deferred_release returns: that it has not returned (above) is what
	 * keeps it there for K1.
	 */
	KUNIT_EXPECT_NOT_NULL(test, w.state);
	if (w.state)
		(void)READ_ONCE(*w.state);
	complete(&w.go_finish);
	wait_for_completion(&w.k1_done);
	/* K1 is out: K2 frees the state and returns. */
	if (!k2_finished && !wait_for_completion_timeout(&w.k2_done, 10 * HZ)) {
		KUNIT_FAIL(test, "deferred_release did not finish after the shrinker's unlock");
		wait_for_completion(&w.k2_done);
	}
	clear_hook();
}

/* ---- the spare buffer struct inside binder_proc ----------------------------- */

static bool in_proc(struct bat *ctx, const void *p)
{
	return p >= (const void *)&ctx->proc && p < (const void *)(&ctx->proc + 1);
}

/*
 * One spare buffer struct lives in the allocator's room inside binder_proc.
 * It may be a free range, never a buffer handed out: binder.c can hold a
 * buffer after binder_proc is freed (a transaction left alone at release).
 * A first allocation makes it the free tail; a second one that takes that
 * tail exactly, and then splits of it, must get boxed structs at the same
 * offsets.
 */
static void spare_in_proc_never_handed_out(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	unsigned long base = ctx->proc.alloc.buffer;
	size_t size = ctx->proc.alloc.buffer_size;
	struct binder_buffer *a, *b, *c[8];
	int i;

	a = new_buf(test, 100, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_EXPECT_FALSE(test, in_proc(ctx, a));
	/* The rest of the mapping, exactly: the tail itself. */
	b = new_buf(test, size - 104, false);
	KUNIT_ASSERT_FALSE(test, IS_ERR(b));
	KUNIT_EXPECT_FALSE(test, in_proc(ctx, b));
	KUNIT_EXPECT_EQ(test, b->user_data, base + 104);
	binder_alloc_free_buf(&ctx->proc.alloc, b);
	/* Now splits of the tail, each leaving a new tail. */
	for (i = 0; i < 8; i++) {
		c[i] = new_buf(test, 100, false);
		KUNIT_ASSERT_FALSE(test, IS_ERR(c[i]));
		KUNIT_EXPECT_FALSE(test, in_proc(ctx, c[i]));
		KUNIT_EXPECT_EQ(test, c[i]->user_data, base + 104 * (i + 1));
	}
	/* Holes between held buffers, then the same requests again. */
	for (i = 0; i < 8; i += 2)
		binder_alloc_free_buf(&ctx->proc.alloc, c[i]);
	for (i = 0; i < 8; i += 2) {
		c[i] = new_buf(test, 100, false);
		KUNIT_ASSERT_FALSE(test, IS_ERR(c[i]));
		KUNIT_EXPECT_FALSE(test, in_proc(ctx, c[i]));
	}
	for (i = 0; i < 8; i++)
		binder_alloc_free_buf(&ctx->proc.alloc, c[i]);
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_allocated_count(&ctx->proc.alloc), 0);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_free_async_space(&ctx->proc.alloc), size / 2);
}

/* ---- buffers a transaction still uses --------------------------------------- */

/* The C allocator's BUG_ON(buffer->transaction): warn, leave it alone. */
static void free_with_live_transaction_left_alone(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct binder_buffer *a = new_buf(test, 100, false);
	int warnings = atomic_read(&binder_alloc_test_live_transaction_warnings);

	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	a->transaction = (struct binder_transaction *)a;
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	KUNIT_EXPECT_EQ(test, atomic_read(&binder_alloc_test_live_transaction_warnings) - warnings, 1);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_allocated_count(&ctx->proc.alloc), 1);
	KUNIT_EXPECT_TRUE(test, page_installed(ctx, 0));
	KUNIT_EXPECT_FALSE(test, page_on_lru(ctx, 0));
	a->transaction = NULL;
	binder_alloc_free_buf(&ctx->proc.alloc, a);
	KUNIT_EXPECT_EQ(test, binder_alloc_get_allocated_count(&ctx->proc.alloc), 0);
}

/*
 * At release: warn, and leave the whole allocator state (buffers, pages)
 * allocated for good, off the LRU, so that binder.c clearing the
 * transaction's buffer pointer later writes live memory (KASAN checks).
 */
static void release_with_live_transaction_left_alone(struct kunit *test)
{
	struct bat *ctx = ctx_of(test);
	struct binder_buffer *a = new_buf(test, PAGE_SIZE, false);
	struct binder_buffer *b = new_buf(test, PAGE_SIZE, false);
	int warnings = atomic_read(&binder_alloc_test_live_transaction_warnings);
	unsigned long lru0;

	KUNIT_ASSERT_FALSE(test, IS_ERR(a) || IS_ERR(b));
	binder_alloc_free_buf(&ctx->proc.alloc, b);
	lru0 = list_lru_count(&binder_freelist);
	KUNIT_ASSERT_GE(test, lru0, 1);
	a->transaction = (struct binder_transaction *)a;
	bat_unmap(ctx);
	binder_alloc_deferred_release(&ctx->proc.alloc);
	KUNIT_EXPECT_EQ(test, atomic_read(&binder_alloc_test_live_transaction_warnings) - warnings, 1);
	KUNIT_EXPECT_PTR_EQ(test, ctx->proc.alloc.state, NULL);
	/* b's page left the LRU with the rest: the shrinker never sees it. */
	KUNIT_EXPECT_EQ(test, list_lru_count(&binder_freelist), lru0 - 1);
	WRITE_ONCE(a->transaction, NULL);
}

/*
 * The kernel selftest's layouts as individual cases: three buffers whose
 * ends fall in the same page or the next ones, aligned or not (the first
 * two vary over the selftest's five alignment classes; the third ends one
 * page further, or, "back", takes the rest of the mapping), allocated,
 * freed in every order, reallocated from the LRU, freed and reclaimed,
 * with every page's state checked at each step.
 */
enum { SPU, SPA, NPU, NPA, NNU, NR_ALIGN };
static const char *const align_names[] = {
	"same_page_unaligned", "same_page_aligned", "next_page_unaligned",
	"next_page_aligned", "next_next_unaligned",
};
#define NR_LAYOUTS (NR_ALIGN * NR_ALIGN * 2)

static size_t end_after(size_t prev, int align)
{
	size_t next_boundary = ALIGN(prev + 1, PAGE_SIZE);

	switch (align) {
	case SPU: return prev + 512;
	case SPA: return next_boundary;
	case NPU: return next_boundary + 512;
	case NPA: return next_boundary + PAGE_SIZE;
	default: return next_boundary + PAGE_SIZE + 512;
	}
}

static const void *layout_gen(const void *prev, char *desc)
{
	static int ids[NR_LAYOUTS];
	int id = prev ? *(const int *)prev + 1 : 0;

	if (id >= NR_LAYOUTS)
		return NULL;
	ids[id] = id;
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s-%s-%s", align_names[id % NR_ALIGN],
		 align_names[(id / NR_ALIGN) % NR_ALIGN], id < NR_ALIGN * NR_ALIGN ? "front" : "back");
	return &ids[id];
}

static bool pages_in_use(struct kunit *test, struct bat *ctx, size_t end)
{
	for (size_t i = 0; i < DIV_ROUND_UP(end, PAGE_SIZE); i++)
		if (!page_installed(ctx, i) || page_on_lru(ctx, i))
			return false;
	return true;
}

static void alloc_layout(struct kunit *test, struct binder_buffer *b[3], size_t sizes[3])
{
	for (int i = 0; i < 3; i++) {
		b[i] = new_buf(test, sizes[i], false);
		KUNIT_ASSERT_FALSE(test, IS_ERR(b[i]));
	}
}

static void selftest_layouts(struct kunit *test)
{
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};
	struct bat *ctx = ctx_of(test);
	int id = *(const int *)test->param_value;
	struct binder_buffer *b[3];
	size_t ends[3], sizes[3], end;

	ends[0] = end_after(0, id % NR_ALIGN);
	ends[1] = end_after(ends[0], (id / NR_ALIGN) % NR_ALIGN);
	ends[2] = id < NR_ALIGN * NR_ALIGN ? end_after(ends[1], NPU) : MAP_BYTES;
	end = ends[2];
	for (int i = 0; i < 3; i++)
		sizes[i] = ends[i] - (i ? ends[i - 1] : 0);

	for (int o = 0; o < 6; o++) {
		alloc_layout(test, b, sizes);
		KUNIT_EXPECT_TRUE_MSG(test, pages_in_use(test, ctx, end), "order %d", o);
		for (int i = 0; i < 3; i++)
			binder_alloc_free_buf(&ctx->proc.alloc, b[orders[o][i]]);
		/* Every page that only these buffers used is unused now. */
		for (size_t i = 0; i < end / PAGE_SIZE; i++)
			KUNIT_EXPECT_TRUE_MSG(test, page_on_lru(ctx, i), "order %d page %zu", o, i);
		/* Allocating again takes them all back off the LRU. */
		alloc_layout(test, b, sizes);
		KUNIT_EXPECT_EQ_MSG(test, list_lru_count(&binder_freelist), 0, "order %d", o);
		for (int i = 0; i < 3; i++)
			binder_alloc_free_buf(&ctx->proc.alloc, b[orders[o][i]]);
		reclaim_all();
		for (size_t i = 0; i < MAP_PAGES; i++)
			KUNIT_EXPECT_FALSE_MSG(test, page_installed(ctx, i), "order %d page %zu", o, i);
	}
}

static struct kunit_case binder_alloc_cases[] = {
	KUNIT_CASE_PARAM(selftest_layouts, layout_gen),
	KUNIT_CASE(sanitized_sizes),
	KUNIT_CASE(best_fit_split_merge),
	KUNIT_CASE(best_fit_equal_sizes),
	KUNIT_CASE(oneway_spam_stale_pid),
	KUNIT_CASE(async_space_accounting),
	KUNIT_CASE(oneway_spam_threshold),
	KUNIT_CASE(prepare_to_free_rules),
	KUNIT_CASE(page_states),
	KUNIT_CASE(shrinker_spares_allocated_buffers),
	KUNIT_CASE(shrinker_scans_its_node),
	KUNIT_CASE(shared_page_stays_in_use),
	KUNIT_CASE(vma_gone),
	KUNIT_CASE(impostor_vma),
	KUNIT_CASE(mm_gone_page_freed),
	KUNIT_CASE(insert_error_reaches_caller),
	KUNIT_CASE(page_allocation_failure),
	KUNIT_CASE(ebusy_stale_pte_replaced),
	KUNIT_CASE(ebusy_then_zap_retries),
	KUNIT_CASE_PARAM(two_real_installers_map_slot_page, two_installers_gen_params),
	KUNIT_CASE(failed_claim_withdrawn_under_reader),
	KUNIT_CASE(ready_claim_survives_claimers_error),
	KUNIT_CASE(shrinker_unlock_outlives_release),
	KUNIT_CASE(spare_in_proc_never_handed_out),
	KUNIT_CASE(free_with_live_transaction_left_alone),
	KUNIT_CASE(release_with_live_transaction_left_alone),
	KUNIT_CASE(fault_maps_slot_page),
	KUNIT_CASE(fault_where_no_page_fails),
	KUNIT_CASE(reclaim_zaps_only_mapped_pages),
	KUNIT_CASE(sender_needs_no_receiver_mmap_lock),
	{}
};

static struct kunit_suite binder_alloc_suite = {
	.name = "binder_alloc",
	.init = bat_init,
	.exit = bat_exit,
	.test_cases = binder_alloc_cases,
};
kunit_test_suite(binder_alloc_suite);
/* mm_alloc() and arch_pick_mmap_layout(), exported for KUnit only. */
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
