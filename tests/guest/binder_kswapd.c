// SPDX-License-Identifier: GPL-2.0
/*
 * binder_kswapd: the binder shrinker called by kswapd under real memory
 * pressure, not by drop_caches.
 *
 * Regression guard for 6.12's list_lru contract: the isolate callback runs
 * under the LRU spinlock from kswapd's reclaim context, drops and re-takes
 * it; on the debug kernel lockdep watches that path (a recursive-locking
 * or bad-unlock report fails the run through the splat check).
 *
 * Unused binder pages are put on the LRU, then min_free_kbytes is raised
 * so that free memory sits between the min and low watermarks: the next
 * allocation wakes kswapd, and nothing can run out of memory (a hog
 * allocating anonymous memory without swap ends in the OOM killer).
 * Checks: kswapd ran (a kswapd thread was switched in and out: one per
 * NUMA node, and the guest has two; the test kernels have no vm event
 * counters) and the binder
 * pages left the LRU without any drop_caches.
 * Output: KTAP on stdout.
 */
#include <dirent.h>
#include "binder_service.h"

#define ECHO_SIZE (2u << 20)
#define MIN_FREE "/proc/sys/vm/min_free_kbytes"

/* Free pages of all zones (zoneinfo "pages free"). */
static long zones_free(void)
{
	char line[256];
	long total = 0, v;
	FILE *fp = fopen("/proc/zoneinfo", "r");

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, " pages free %ld", &v) == 1)
			total += v;
	fclose(fp);
	return total;
}

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Context switches of the kswapd threads: each wake-up and sleep adds some. */
static long kswapd_switches(void)
{
	char path[300], line[128];
	long total = -1, v;
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		line[0] = 0;
		if (!fgets(line, sizeof(line), f) || strncmp(line, "kswapd", 6)) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		f = fopen(path, "r");
		if (total < 0)
			total = 0;
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
				total += v;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

static int lru_pages(void)
{
	int a, l, f, total = 0;

	if (!binder_pages_state(service_pid, &a, &l, &f))
		total += l;
	if (!binder_pages_state(getpid(), &a, &l, &f))
		total += l;
	return total;
}

int main(void)
{
	long runs0, runs1, ret, saved, free_kb;
	int lru0, lru1;
	char why[128], val[32];
	const char *err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap_header(4);
	map_size = 4u << 20;
	ret = service_start();
	if (!ret)
		ret = binder_open(&cb, dev, map_size);
	err = ret ? strerror((int)-ret) : echo_once(ECHO_SIZE, why, sizeof(why));
	lru0 = lru_pages();
	ktap_result(!err && lru0 >= (int)(ECHO_SIZE / 4096), "pages_on_lru",
		    "%d pages on the LRU%s%s", lru0, err ? ": " : "", err ? err : "");

	/*
	 * Raise the watermarks around the current free memory: min (and the
	 * point of OOM) stays below it, low goes above it. The next
	 * allocation then wakes kswapd, which reclaims towards the high
	 * watermark: here, with no swap, that is binder's unused pages.
	 */
	runs0 = kswapd_switches();
	saved = read_long(MIN_FREE);
	free_kb = zones_free() * 4;
	snprintf(val, sizeof(val), "%ld", free_kb * 85 / 100);
	ret = saved > 0 && free_kb > 0 ? write_file(MIN_FREE, val) : -EINVAL;
	ktap_result(ret == 0, "watermarks_raised", "min_free_kbytes %ld -> %s: %s", saved, val,
		    strerror((int)-ret));
	/* Allocate a little to meet the new watermark, then let kswapd work. */
	for (int i = 0; i < 20; i++) {
		void *p = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

		if (p != MAP_FAILED)
			munmap(p, 64 << 10);
		usleep(50000);
	}
	lru1 = lru_pages();
	runs1 = kswapd_switches();
	snprintf(val, sizeof(val), "%ld", saved);
	if (saved > 0)
		write_file(MIN_FREE, val);

	ktap_diag("kswapd context switches %ld -> %ld; binder LRU pages %d -> %d",
		  runs0, runs1, lru0, lru1);
	ktap_result(runs0 >= 0 && runs1 > runs0, "kswapd_ran",
		    "kswapd context switches %ld -> %ld", runs0, runs1);
	ktap_result(lru1 < lru0, "kswapd_reclaimed_binder_pages", "LRU pages %d -> %d",
		    lru0, lru1);
	service_stop();
	binder_close(&cb);
	return ktap_failed ? 1 : 0;
}
