// SPDX-License-Identifier: GPL-2.0-only
/*
 * C glue of the Rust binder allocator.
 *
 * Everything here is something Rust cannot reach directly in 6.12:
 * static inline kernel functions (mm and mmap lock helpers, vma_lookup,
 * list_lru_walk, kmap-based page copies, put_page), the binder
 * tracepoints (static inlines generated from binder_trace.h), the module
 * parameter and ratelimited debug messages, and C-ABI trampolines for
 * callbacks that C code calls through pointers (kCFI: a Rust function is
 * never handed to C as a callback). No allocator logic lives here.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/list_lru.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/sched/mm.h>
#include <linux/spinlock.h>
#include <linux/seq_file.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include "binder_alloc.h"
#include "binder_alloc_glue.h"
#include "binder_internal.h"
#include "binder_trace.h"

/* ---- module parameter and debug messages -------------------------------- */

/* Same bits and default as the C allocator: BINDER_DEBUG_USER_ERROR. */
u32 binder_alloc_debug_mask = 1U << 0;	/* Rust reads it too */
module_param_named(alloc_debug_mask, binder_alloc_debug_mask, uint, 0644);
MODULE_PARM_DESC(alloc_debug_mask,
		 "allocator messages to print, the C allocator's bits: 1 user errors, 2 open/close, 4 buffer allocation, 8 async buffer allocation (default 1)");

/*
 * modinfo of binder_linux. binder.c declares only the license and leaves
 * its own parameters undescribed: their descriptions are given here, for
 * binder.c's parameters as it defines them in 6.12.
 */
MODULE_DESCRIPTION("Android binder IPC, with a Rust buffer allocator that installs pages concurrently (binder-alloc-rs)");
MODULE_AUTHOR("binder-alloc-rs developers");
MODULE_VERSION(BINDER_ALLOC_RS_VERSION);
MODULE_PARM_DESC(debug_mask, "binder.c messages to print (BINDER_DEBUG_* bits)");
MODULE_PARM_DESC(devices, "binder devices to create, comma-separated (without binderfs)");
MODULE_PARM_DESC(stop_on_user_error, "stop a process at its first user error (debugging)");

#define BINDER_ALLOC_DEBUG_SITES 32
/*
 * As pr_info_ratelimited() limits each call site of the C allocator: at
 * most DEFAULT_RATELIMIT_BURST lines per DEFAULT_RATELIMIT_INTERVAL. (A
 * zeroed ratelimit_state has interval 0, which limits nothing.)
 */
static struct ratelimit_state binder_alloc_debug_rs[BINDER_ALLOC_DEBUG_SITES] = {
	[0 ... BINDER_ALLOC_DEBUG_SITES - 1] =
		RATELIMIT_STATE_INIT(binder_alloc_debug_rs, DEFAULT_RATELIMIT_INTERVAL,
				     DEFAULT_RATELIMIT_BURST),
};

/*
 * pr_info_ratelimited() for one message of the allocator: @site picks the
 * ratelimit state, so each message is limited on its own as in C, where
 * every call site has its own.
 */
/*
 * The C function of 6.12 that holds each message (the order of enum Site in
 * debug.rs): a suppressed burst is reported under its name, as in 6.12.
 */
static const char *const binder_alloc_site_func[] = {
	"binder_alloc_new_buf_locked",		/* NoAsyncSpace */
	"binder_alloc_new_buf_locked",		/* NoAddressSpace */
	"debug_no_space_locked",		/* NoSpaceSummary */
	"binder_alloc_new_buf_locked",		/* GotBuffer */
	"binder_alloc_new_buf_locked",		/* AllocAsync */
	"debug_low_async_space_locked",		/* Spamming */
	"binder_alloc_new_buf",			/* NoVma */
	"binder_alloc_new_buf",			/* InvalidSize */
	"binder_free_buf_locked",		/* FreeBuf */
	"binder_free_buf_locked",		/* FreeAsync */
	"binder_alloc_mmap_handler",		/* MmapFailed */
	"binder_alloc_deferred_release",	/* ReleasePage */
	"binder_alloc_deferred_release",	/* ReleaseSummary */
	"binder_install_single_page",		/* InstallNoVma */
	"binder_install_single_page",		/* PageAllocFailed */
	"binder_install_single_page",		/* InsertFailed */
	"binder_install_single_page",		/* InstallUnstable */
	"binder_insert_free_buffer",		/* AddFreeBuffer */
};

static bool binder_alloc_msg_allowed(unsigned int site)
{
	if (WARN_ON_ONCE(site >= ARRAY_SIZE(binder_alloc_site_func)))
		return false;
	return ___ratelimit(&binder_alloc_debug_rs[site], binder_alloc_site_func[site]);
}

__printf(3, 4)
void binder_alloc_debug_msg(u32 mask, unsigned int site, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	if (!(READ_ONCE(binder_alloc_debug_mask) & mask) || !binder_alloc_msg_allowed(site))
		return;
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_info("%pV", &vaf);
	va_end(args);
}

/* pr_err() for the install path's errors, ratelimited per @site. */
__printf(2, 3)
void binder_alloc_err_msg(unsigned int site, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	if (!binder_alloc_msg_allowed(site))
		return;
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_err("%pV", &vaf);
	va_end(args);
}

#ifdef BINDER_ALLOC_KUNIT
/* Test build: the KUnit suite counts these instead of a WARN splat. */
atomic_t binder_alloc_test_live_transaction_warnings = ATOMIC_INIT(0);
#endif

/*
 * binder.c freed or released a buffer that a transaction still points to
 * (the C allocator's BUG_ON(buffer->transaction)): warn once; the caller
 * leaves the buffer alone.
 */
void binder_glue_warn_live_transaction(const char *what)
{
#ifdef BINDER_ALLOC_KUNIT
	atomic_inc(&binder_alloc_test_live_transaction_warnings);
	pr_info("test build: would warn: %s a buffer still used by a transaction\n", what);
#else
	WARN_ONCE(1, "%s a buffer still used by a transaction\n", what);
#endif
}

/*
 * What teardown left alone (a buffer still used by a transaction): the
 * buffer structs, reachable from the first one, and the page slots, with
 * the pages still in them. Never freed, and kept on this list so that
 * kmemleak knows they are not lost. A failed allocation here only costs
 * that knowledge.
 */
struct binder_quarantined {
	struct list_head entry;
	const void *buffers;
	const void *pages;
};
static LIST_HEAD(binder_quarantine);
static DEFINE_SPINLOCK(binder_quarantine_lock);

void binder_glue_quarantine(const void *buffers, const void *pages)
{
	struct binder_quarantined *q = kmalloc(sizeof(*q), GFP_KERNEL);

	if (!q)
		return;
	q->buffers = buffers;
	q->pages = pages;
	spin_lock(&binder_quarantine_lock);
	list_add(&q->entry, &binder_quarantine);
	spin_unlock(&binder_quarantine_lock);
}

#ifdef BINDER_ALLOC_KUNIT
/*
 * Test build only (tests/guest/binder_race.c, binder_adversary.c):
 * microseconds to wait between allocating a page and inserting it, so
 * that concurrent installers of one page overlap and the -EBUSY path
 * runs. 0 (the default) waits not at all.
 */
static unsigned int install_race_delay_us;
module_param(install_race_delay_us, uint, 0644);
MODULE_PARM_DESC(install_race_delay_us, "test build only: widen the page install race window");

void binder_glue_test_install_delay(void)
{
	unsigned int delay = READ_ONCE(install_race_delay_us);

	if (delay)
		usleep_range(delay, delay + delay / 4 + 1);
}

/* Test build only: the KUnit suite's hook at enum binder_test_point. */
binder_alloc_test_hook_t binder_alloc_test_hook_fn;

void binder_alloc_test_hook(unsigned int point, struct binder_alloc *alloc,
			    size_t index, void *arg)
{
	binder_alloc_test_hook_t fn = READ_ONCE(binder_alloc_test_hook_fn);

	if (fn)
		fn(point, alloc, index, arg);
}
#endif

/* ---- page-fault installation mode ----------------------------------------- */

/*
 * Read at each mmap: in page-fault mode senders only put pages in their
 * slots, and the receiver's own page faults map them (page_range.rs).
 */
static bool install_on_fault;
module_param(install_on_fault, bool, 0644);
MODULE_PARM_DESC(install_on_fault,
		 "map binder pages on the receiving process's own page faults (new mappings; default: senders map them)");

bool binder_glue_install_on_fault(void)
{
	return READ_ONCE(install_on_fault);
}

/*
 * The allocator's vm_ops of a page-fault mode mapping. vm_private_data
 * stays binder.c's binder_proc (its close needs it), which embeds the
 * allocator; open and close are binder.c's, forwarded.
 */
static struct binder_alloc *binder_alloc_of_vma(struct vm_area_struct *vma)
{
	struct binder_proc *proc = vma->vm_private_data;

	return &proc->alloc;
}

static void binder_alloc_fault_vma_open(struct vm_area_struct *vma)
{
	const struct vm_operations_struct *ops = binder_alloc_of_vma(vma)->binder_vm_ops;

	if (ops && ops->open)
		ops->open(vma);
}

static void binder_alloc_fault_vma_close(struct vm_area_struct *vma)
{
	const struct vm_operations_struct *ops = binder_alloc_of_vma(vma)->binder_vm_ops;

	if (ops && ops->close)
		ops->close(vma);
}

static vm_fault_t binder_alloc_fault_vm_fault(struct vm_fault *vmf)
{
	return (__force vm_fault_t)binder_alloc_rs_fault(binder_alloc_of_vma(vmf->vma), vmf->vma,
							 vmf->address);
}

/*
 * Fault-around that maps nothing. Its only purpose: 6.12 calls ->fault
 * under the per-VMA lock only for VMAs that have ->map_pages (else it
 * retries under the mmap lock), and the receiver's faults should not
 * need its mmap lock. It runs under RCU and may not sleep.
 */
static vm_fault_t binder_alloc_fault_map_pages(struct vm_fault *vmf, pgoff_t start_pgoff,
					       pgoff_t end_pgoff)
{
	return 0;
}

static const struct vm_operations_struct binder_alloc_fault_vm_ops = {
	.open = binder_alloc_fault_vma_open,
	.close = binder_alloc_fault_vma_close,
	.fault = binder_alloc_fault_vm_fault,
	.map_pages = binder_alloc_fault_map_pages,
};

const void *binder_glue_fault_vm_ops(void)
{
	return &binder_alloc_fault_vm_ops;
}

/* At mmap, mmap lock held for writing; binder_vm_ops already recorded. */
void binder_glue_take_over_vm_ops(struct vm_area_struct *vma)
{
	vma->vm_ops = &binder_alloc_fault_vm_ops;
}

/* ---- mm ---------------------------------------------------------------- */

bool binder_glue_mmget_not_zero(struct mm_struct *mm)
{
	return mmget_not_zero(mm);
}

void binder_glue_mmgrab(struct mm_struct *mm)
{
	mmgrab(mm);
}

void binder_glue_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}

void binder_glue_mmap_read_lock(struct mm_struct *mm)
{
	mmap_read_lock(mm);
}

bool binder_glue_mmap_read_trylock(struct mm_struct *mm)
{
	return mmap_read_trylock(mm);
}

void binder_glue_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

/* Returns once every hold of the mmap lock that began before has ended. */
void binder_glue_mmap_wait_for_readers(struct mm_struct *mm)
{
	mmap_write_lock(mm);
	mmap_write_unlock(mm);
}

struct vm_area_struct *binder_glue_vma_lookup(struct mm_struct *mm,
					      unsigned long addr)
{
	return vma_lookup(mm, addr);
}

/*
 * A value of mm's mmap lock that is the same under two read holds only if
 * no writer held the lock in between, and only if they are at most two
 * seconds apart; 0 where the kernel keeps no count of write sessions.
 * Called with the mmap lock held for read.
 *
 * The count is mm_lock_seq (kept for per-VMA locking): a write session
 * changes it when it ends, at mmap_write_unlock() or at a downgrade, and
 * it does not change while a reader holds the lock. It is 32 bits: the
 * age bound keeps a wrap from faking "no writer" (2^31 write sessions take
 * far longer than two seconds: each is a lock and an unlock of the rwsem,
 * one after another). 6.12.y has it as a seqcount_t or, before the
 * seqcount backport, as an int.
 */
#ifdef CONFIG_PER_VMA_LOCK
static inline unsigned int binder_seq_of_seqcount(const seqcount_t *seq)
{
	return READ_ONCE(seq->sequence);
}

static inline unsigned int binder_seq_of_int(const int *seq)
{
	return READ_ONCE(*seq);
}
#endif

u64 binder_glue_mmap_write_stamp(struct mm_struct *mm)
{
#ifdef CONFIG_PER_VMA_LOCK
	unsigned int seq = _Generic(&mm->mm_lock_seq,
				    seqcount_t *: binder_seq_of_seqcount,
				    int *: binder_seq_of_int)(&mm->mm_lock_seq);
	/* Two-second buckets, never 0. */
	u32 when = ((u32)(jiffies / HZ) & ~1u) | 1u;

	return (u64)seq << 32 | when;
#else
	return 0;
#endif
}

struct mm_struct *binder_glue_current_mm(void)
{
	return current->mm;
}

int binder_glue_current_tgid(void)
{
	return current->tgid;
}

int binder_glue_current_group_leader_pid(void)
{
	return current->group_leader->pid;
}

/*
 * The page @addr maps in @mm, without faulting: the caller holds the mmap
 * lock in read mode. Returns the page with a reference the caller drops
 * with binder_glue_put_page(), or NULL.
 */
struct page *binder_glue_gup_nofault(struct mm_struct *mm, unsigned long addr)
{
	struct page *page;
	long npages;

	/* FOLL_FORCE: found even where the receiver made it PROT_NONE. */
	npages = get_user_pages_remote(mm, addr, 1, FOLL_NOFAULT | FOLL_FORCE,
				       &page, NULL);
	return npages == 1 ? page : NULL;
}

void binder_glue_put_page(struct page *page)
{
	put_page(page);
}

/* ---- pages ------------------------------------------------------------- */

#ifdef BINDER_ALLOC_KUNIT
/*
 * KUnit build only (tests/kunit/binder_alloc_test.c): make page allocation
 * or vm_insert_page() fail on demand, to test the error paths.
 */
bool binder_alloc_test_fail_page_alloc;
int binder_alloc_test_insert_error;
struct task_struct *binder_alloc_test_insert_error_task;
#endif

struct page *binder_glue_alloc_zeroed_page(void)
{
#ifdef BINDER_ALLOC_KUNIT
	if (READ_ONCE(binder_alloc_test_fail_page_alloc))
		return NULL;
#endif
	return alloc_page(GFP_KERNEL | __GFP_HIGHMEM | __GFP_ZERO);
}

#ifdef BINDER_ALLOC_KUNIT
/* The test build's vm_insert_page(): the production module calls it directly. */
int binder_glue_vm_insert_page(struct vm_area_struct *vma, unsigned long addr,
			       struct page *page)
{
	int err = READ_ONCE(binder_alloc_test_insert_error);
	struct task_struct *task = READ_ONCE(binder_alloc_test_insert_error_task);

	if (err && (!task || task == current))
		return err;
	return vm_insert_page(vma, addr, page);
}
#endif

void binder_glue_memcpy_to_page(struct page *page, size_t offset,
				const void *src, size_t len)
{
	memcpy_to_page(page, offset, src, len);
}

void binder_glue_memcpy_from_page(void *dst, struct page *page, size_t offset,
				  size_t len)
{
	memcpy_from_page(dst, page, offset, len);
}

void binder_glue_memzero_page(struct page *page, size_t offset, size_t len)
{
	memset_page(page, offset, 0, len);
}

/* Returns the number of bytes NOT copied, as copy_from_user(). */
unsigned long binder_glue_copy_from_user_to_page(struct page *page,
						 size_t offset,
						 const void __user *from,
						 size_t len)
{
	void *kptr = kmap_local_page(page) + offset;
	unsigned long ret = copy_from_user(kptr, from, len);

	kunmap_local(kptr);
	return ret;
}

/* The page slot array of one mapping: zeroed, lru heads initialised. */
struct binder_lru_page *binder_glue_pages_alloc(struct binder_alloc *alloc,
						size_t count)
{
	struct binder_lru_page *pages;
	size_t i;

	pages = kvcalloc(count, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return NULL;
	for (i = 0; i < count; i++) {
		INIT_LIST_HEAD(&pages[i].lru);
		pages[i].alloc = alloc;
	}
	return pages;
}

void binder_glue_pages_free(struct binder_lru_page *pages)
{
	kvfree(pages);
}

/* ---- list_lru and shrinker ---------------------------------------------- */

/* Installed but unused pages of every process; see lru.rs. */
struct list_lru binder_freelist;

int binder_glue_list_lru_init(struct list_lru *lru)
{
	return list_lru_init(lru);
}

/* Add on the NUMA node of the page itself, not of the slot array. */
bool binder_glue_list_lru_add(struct list_lru *lru, struct list_head *item,
			      struct page *page)
{
	return list_lru_add(lru, item, page_to_nid(page), NULL);
}

bool binder_glue_list_lru_del(struct list_lru *lru, struct list_head *item,
			      struct page *page)
{
	return list_lru_del(lru, item, page_to_nid(page), NULL);
}

unsigned long binder_glue_list_lru_count_node(struct list_lru *lru, int nid)
{
	return list_lru_count_node(lru, nid);
}

bool binder_glue_list_empty(const struct list_head *head)
{
	return list_empty_careful(head);
}

/* binder_alloc_rs_free_page() (page_range.rs) returns an enum lru_status. */
enum lru_status binder_alloc_free_page(struct list_head *item,
				       struct list_lru_one *lru,
				       spinlock_t *lock, void *cb_arg)
	__must_hold(lock)
{
	return (enum lru_status)binder_alloc_rs_free_page(item, lru, lock);
}

unsigned long binder_glue_list_lru_walk_node(struct list_lru *lru, int nid,
					     unsigned long nr_to_walk)
{
	return list_lru_walk_node(lru, nid, binder_alloc_free_page, NULL, &nr_to_walk);
}

/* Not static: the KUnit suite calls them with a node of its choosing. */
unsigned long binder_glue_shrink_count(struct shrinker *shrinker,
				       struct shrink_control *sc)
{
	return binder_alloc_rs_shrink_count(sc->nid);
}

unsigned long binder_glue_shrink_scan(struct shrinker *shrinker,
				      struct shrink_control *sc)
{
	return binder_alloc_rs_shrink_scan(sc->nid, sc->nr_to_scan);
}

/*
 * Registered with the C allocator's name, so tools find it as before.
 * NUMA aware, unlike 6.12's: pages sit on the list of their own node, and
 * reclaim asks for one node at a time (kswapd and direct reclaim the node
 * short of memory, drop_caches every node in turn). A walk over all nodes
 * spends its whole batch on the first node that has a batch of items, so
 * busy pages there (trylocks that fail, items rotated to that node's
 * tail) would keep every other node's pages from ever being reclaimed.
 */
struct shrinker *binder_glue_shrinker_register(void)
{
	struct shrinker *shrinker = shrinker_alloc(SHRINKER_NUMA_AWARE, "android-binder");

	if (!shrinker)
		return NULL;
	shrinker->count_objects = binder_glue_shrink_count;
	shrinker->scan_objects = binder_glue_shrink_scan;
	shrinker_register(shrinker);
	return shrinker;
}

void binder_glue_shrinker_free(struct shrinker *shrinker)
{
	shrinker_free(shrinker);
}

/* ---- seq_file ------------------------------------------------------------ */

void binder_glue_seq_buffer(struct seq_file *m, int debug_id,
			    unsigned long offset, size_t data_size,
			    size_t offsets_size, size_t extra_buffers_size,
			    bool active)
{
	seq_printf(m, "  buffer %d: %lx size %zd:%zd:%zd %s\n", debug_id,
		   offset, data_size, offsets_size, extra_buffers_size,
		   active ? "active" : "delivered");
}

void binder_glue_seq_pages(struct seq_file *m, int active, int lru, int free,
			   size_t pages_high)
{
	seq_printf(m, "  pages: %d:%d:%d\n", active, lru, free);
	seq_printf(m, "  pages high watermark: %zu\n", pages_high);
}

/* ---- debugfs counters ---------------------------------------------------- */

/* binder_alloc_rs_read_stats() (debug.rs) fills them in this order. */
static int binder_alloc_stats_show(struct seq_file *m, void *unused)
{
	static const char *const names[] = {
		"pages_installed", "install_races_recovered",
		"pages_reclaimed", "install_errors", "pages_freed_unmapped",
		"install_retries", "install_stale_ptes_replaced",
		"faults", "fault_pages_mapped", "reclaims_without_zap",
		"reclaim_vma_reused",
	};
	u64 values[ARRAY_SIZE(names)];
	size_t i;

	binder_alloc_rs_read_stats(values, ARRAY_SIZE(values));
	for (i = 0; i < ARRAY_SIZE(names); i++)
		seq_printf(m, "%s: %llu\n", names[i], values[i]);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(binder_alloc_stats);

static struct dentry *binder_alloc_debugfs_dir;

void binder_glue_debugfs_init(void)
{
	binder_alloc_debugfs_dir = debugfs_create_dir("binder_alloc", NULL);
	debugfs_create_file("stats", 0444, binder_alloc_debugfs_dir, NULL,
			    &binder_alloc_stats_fops);
}

void binder_glue_debugfs_exit(void)
{
	debugfs_remove_recursive(binder_alloc_debugfs_dir);
}

/* ---- tracepoints ---------------------------------------------------------- */

void binder_glue_trace_update_page_range(struct binder_alloc *alloc,
					 bool allocate, unsigned long start,
					 unsigned long end)
{
	trace_binder_update_page_range(alloc, allocate, start, end);
}

#define BINDER_GLUE_TRACE_PAGE(event)					\
void binder_glue_trace_##event(const struct binder_alloc *alloc,	\
			       size_t index)				\
{									\
	trace_binder_##event(alloc, index);				\
}

BINDER_GLUE_TRACE_PAGE(alloc_lru_start)
BINDER_GLUE_TRACE_PAGE(alloc_lru_end)
BINDER_GLUE_TRACE_PAGE(free_lru_start)
BINDER_GLUE_TRACE_PAGE(free_lru_end)
BINDER_GLUE_TRACE_PAGE(alloc_page_start)
BINDER_GLUE_TRACE_PAGE(alloc_page_end)
BINDER_GLUE_TRACE_PAGE(unmap_user_start)
BINDER_GLUE_TRACE_PAGE(unmap_user_end)
BINDER_GLUE_TRACE_PAGE(unmap_kernel_start)
BINDER_GLUE_TRACE_PAGE(unmap_kernel_end)

/* ---- locks -------------------------------------------------------------- */

/* All allocator mutexes share this init site, hence one lockdep class. */
void binder_glue_mutex_init(struct mutex *lock)
{
	mutex_init(lock);
}

void binder_glue_mutex_destroy(struct mutex *lock)
{
	mutex_destroy(lock);
}
