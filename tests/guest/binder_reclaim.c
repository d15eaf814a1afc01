// SPDX-License-Identifier: GPL-2.0
/*
 * binder_reclaim: pages of freed buffers go to the LRU, the shrinker
 * (run by drop_caches) frees them, and a later transaction installs fresh
 * pages with the data intact. Also checks that the allocator's tracepoints
 * fire where the C allocator fires them.
 *
 * Observed through binder's debugfs "pages: active:lru:free" line of the
 * service process, and tracefs event counts.
 * Output: KTAP on stdout.
 */
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

int main(void)
{
	int a0, l0, f0, a1, l1, f1, a2, l2, f2;
	long counts[NR_EVENTS], reclaimed0, reclaimed1;
	char why[128];
	const char *err;
	long ret;

	ktap_header(10 + NR_EVENTS);
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

	ret = service_stop();
	ktap_result(ret == 0, "service_exits_cleanly", ret ? "%s" : NULL, strerror((int)-ret));
	binder_close(&cb);
	return ktap_failed ? 1 : 0;
}
