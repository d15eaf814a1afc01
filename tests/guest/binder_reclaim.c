// SPDX-License-Identifier: GPL-2.0
/*
 * binder_reclaim: pages of freed buffers go to the LRU, the shrinker
 * (run by drop_caches) frees them, and a later transaction installs fresh
 * pages with the data intact. Also checks that the allocator's tracepoints
 * fire where the C allocator fires them.
 *
 * Observed through binder's debugfs "pages: active:lru:free" line of the
 * service process, and tracefs event counts. Also checks the shrinker's
 * reuse of a VMA across reclaims, and its look-up again after the
 * receiver moved its mapping.
 * Output: KTAP on stdout.
 */
#define _GNU_SOURCE
#include "binder_service.h"

#define ECHO_SIZE (256 * 1024)
#define ECHO_PAGES (ECHO_SIZE / 4096)
#define TRACING "/sys/kernel/debug/tracing"

static const char *const events[] = {
	"binder_update_page_range",
	"binder_alloc_page_start", "binder_alloc_page_end",
	"binder_alloc_lru_start", "binder_alloc_lru_end",
	"binder_free_lru_start", "binder_free_lru_end",
	"binder_unmap_kernel_start", "binder_unmap_kernel_end",
	"binder_unmap_user_start", "binder_unmap_user_end",
};
#define NR_EVENTS (int)(sizeof(events) / sizeof(events[0]))

static int tracing_setup(void)
{
	char path[160];
	int ret = write_file(TRACING "/trace", "");

	for (int i = 0; i < NR_EVENTS && !ret; i++) {
		snprintf(path, sizeof(path), TRACING "/events/binder/%s/enable", events[i]);
		ret = write_file(path, "1");
	}
	if (!ret)
		ret = write_file(TRACING "/buffer_size_kb", "4096");
	return ret;
}

/* Count each event's lines in the trace buffer. */
static void tracing_count(long counts[NR_EVENTS])
{
	char line[512], pat[64];
	FILE *f = fopen(TRACING "/trace", "r");

	memset(counts, 0, NR_EVENTS * sizeof(long));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		for (int i = 0; i < NR_EVENTS; i++) {
			snprintf(pat, sizeof(pat), " %s:", events[i]);
			if (strstr(line, pat))
				counts[i]++;
		}
	}
	fclose(f);
	write_file(TRACING "/tracing_on", "0");
}

static int state(int *a, int *l, int *f)
{
	return binder_pages_state(service_pid, a, l, f);
}

/*
 * CODE_FILL on connection @b: a reply of @n bytes, read whole (which maps
 * its pages in page-fault mode too) and freed.
 */
static int fill_reply(struct binder *b, struct binder_reader *r, uint32_t n)
{
	struct binder_event ev;
	long ret = binder_call(b, r, 0, CODE_FILL, &n, sizeof(n), &ev);
	int ok;

	if (ret != BR_REPLY)
		return ret < 0 ? (int)ret : -EPROTO;
	ok = ev.tr.data_size == n &&
	     pattern_check((const void *)(uintptr_t)ev.tr.data.ptr.buffer, n, n ^ 0x5a) < 0;
	binder_free_buffer(b, ev.tr.data.ptr.buffer);
	return ok ? 0 : -EMSGSIZE;
}

/*
 * The shrinker zaps through the VMA its previous reclaim of the same
 * allocator found, while the receiver's mmap lock had no writer since
 * (reclaim_vma_reused), and looks the VMA up again after one: here the
 * receiver moves its mapping (mremap), which frees the cached VMA. A
 * stale VMA would be zapped through (and counted reused); the pages must
 * instead be freed as unmapped (nothing of ours at their old address).
 * The receiver is this process: a reply lands in its mapping.
 */
static void vma_cache_cases(void)
{
	long u0, u1, r0, r1, fu0, fu1;
	int a = 0, l = 0, f = 0, a1 = 0, l1 = 0, f1 = 0, ret;
	struct binder b2;
	static struct binder_reader r2;
	void *to;

	if (alloc_stat("reclaim_vma_reused") < 0) {
		ktap_result(1, "reclaim_reuses_vma", "SKIP the stock module has no counters");
		ktap_result(1, "reclaim_relooks_vma_after_mremap",
			    "SKIP the stock module has no counters");
		return;
	}
	drop_caches();
	ret = fill_reply(&cb, &cr, ECHO_SIZE);
	if (!ret)
		ret = binder_pages_state(getpid(), &a, &l, &f);
	u0 = alloc_stat("reclaim_vma_reused");
	drop_caches();
	u1 = alloc_stat("reclaim_vma_reused");
	if (!ret)
		ret = binder_pages_state(getpid(), &a1, &l1, &f1);
	/* The first page looks the VMA up; so may one where the cache aged. */
	ktap_result(!ret && l >= ECHO_PAGES && l1 == 0 && u1 - u0 >= l - 2,
		    "reclaim_reuses_vma", "%s; %d of this process's pages reclaimed, "
		    "VMA reused %ld times", ret ? strerror(-ret) : "ok", l - l1, u1 - u0);

	/* A second connection, whose mapping is moved away. */
	ret = binder_open(&b2, dev, map_size);
	if (!ret)
		ret = fill_reply(&b2, &r2, ECHO_SIZE);
	to = mmap(NULL, map_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!ret && to == MAP_FAILED)
		ret = -errno;
	r0 = alloc_stat("pages_reclaimed");
	u0 = alloc_stat("reclaim_vma_reused");
	fu0 = alloc_stat("pages_freed_unmapped");
	if (!ret) {
		void *moved = mremap(b2.map, b2.map_size, b2.map_size,
				     MREMAP_MAYMOVE | MREMAP_FIXED, to);

		if (moved == MAP_FAILED)
			ret = -errno;
		else
			b2.map = moved;
	}
	if (!ret)
		drop_caches();
	r1 = alloc_stat("pages_reclaimed");
	u1 = alloc_stat("reclaim_vma_reused");
	fu1 = alloc_stat("pages_freed_unmapped");
	ktap_result(!ret && fu1 - fu0 >= ECHO_PAGES && u1 - u0 <= r1 - r0 - ECHO_PAGES,
		    "reclaim_relooks_vma_after_mremap",
		    "%s; %ld pages reclaimed, %ld freed unmapped (expected >= %d), "
		    "VMA reused %ld times", ret ? strerror(-ret) : "ok", r1 - r0,
		    fu1 - fu0, ECHO_PAGES, u1 - u0);
	binder_close(&b2);
}

int main(void)
{
	int a0, l0, f0, a1, l1, f1, a2, l2, f2;
	long counts[NR_EVENTS], reclaimed0, reclaimed1;
	char why[128];
	const char *err;
	long ret;

	ktap_header(12 + NR_EVENTS);
	ret = tracing_setup();
	ktap_result(ret == 0, "tracing_enabled", ret ? "%s" : NULL, strerror((int)-ret));
	ret = service_start();
	if (!ret)
		ret = binder_open(&cb, dev, map_size);
	ktap_result(ret == 0, "service_and_client_ready", ret ? "%s" : NULL,
		    strerror((int)-ret));
	if (ret)
		return 1;

	/* Reclaim whatever earlier tests left, for a clean start. */
	drop_caches();
	err = echo_once(ECHO_SIZE, why, sizeof(why));
	ktap_result(!err, "echo_installs_pages", "%s", err ? err : "");

	/* The request buffer was freed: its pages are unused, on the LRU. */
	ret = state(&a0, &l0, &f0);
	ktap_diag("service pages after echo (active:lru:free) %d:%d:%d", a0, l0, f0);
	ktap_result(ret == 0 && l0 >= ECHO_PAGES, "freed_pages_on_lru",
		    "%d:%d:%d, expected >= %d on the LRU", a0, l0, f0, ECHO_PAGES);

	reclaimed0 = alloc_stat("pages_reclaimed");
	for (int i = 0; i < 3; i++)
		drop_caches();
	reclaimed1 = alloc_stat("pages_reclaimed");
	ret = state(&a1, &l1, &f1);
	ktap_diag("service pages after drop_caches %d:%d:%d", a1, l1, f1);
	ktap_result(ret == 0 && l1 == 0 && f1 == f0 + l0 && a1 == a0,
		    "reclaim_moves_lru_to_free", "%d:%d:%d after, %d:%d:%d before",
		    a1, l1, f1, a0, l0, f0);
	if (reclaimed0 < 0)
		ktap_result(1, "reclaim_counter", "SKIP the stock module has no counters");
	else
		ktap_result(reclaimed1 - reclaimed0 >= l0, "reclaim_counter",
			    "pages_reclaimed grew by %ld, %d left the LRU",
			    reclaimed1 - reclaimed0, l0);

	err = echo_once(ECHO_SIZE, why, sizeof(why));
	ktap_result(!err, "reuse_after_reclaim_data_intact", "%s", err ? err : "");
	ret = state(&a2, &l2, &f2);
	ktap_diag("service pages after the second echo %d:%d:%d", a2, l2, f2);
	ktap_result(ret == 0 && l2 >= ECHO_PAGES && a2 == a0, "reinstalled_pages_on_lru",
		    "%d:%d:%d", a2, l2, f2);

	/* Reuse from the LRU (no reclaim in between), then reclaim again. */
	err = echo_once(ECHO_SIZE, why, sizeof(why));
	ktap_result(!err, "reuse_from_lru_data_intact", "%s", err ? err : "");
	for (int i = 0; i < 3; i++)
		drop_caches();
	tracing_count(counts);
	for (int i = 0; i < NR_EVENTS; i++) {
		char name[80];

		snprintf(name, sizeof(name), "tracepoint_%s", events[i]);
		ktap_diag("%s: %ld events", events[i], counts[i]);
		ktap_result(counts[i] > 0, name, "%ld events", counts[i]);
	}

	vma_cache_cases();

	ret = service_stop();
	ktap_result(ret == 0, "service_exits_cleanly", ret ? "%s" : NULL, strerror((int)-ret));
	binder_close(&cb);
	return ktap_failed ? 1 : 0;
}
