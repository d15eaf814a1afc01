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
 * allocating anonymous memory without swap ends in the OOM killer). The
 * watermarks are per zone, min_free_kbytes being shared out by managed
 * pages: with NUMA (the guest has two nodes, one CPU each) the test picks
 * the node with the least free memory, sets the watermark for it, and
 * allocates on that node only (MPOL_BIND: an allocation that may fall back
 * to another node's free memory wakes no kswapd).
 * The shrinker is NUMA aware: kswapd of a node reclaims only the binder
 * pages on that node. So the node is picked before any binder page exists,
 * and the test and its forked service run bound to it from the start: the
 * binder pages are allocated there (by the sender, or by the faulting
 * receiver in install_on_fault mode) and are that node's kswapd's to take.
 * Checks: kswapd ran (a kswapd thread was switched in and out: one per
 * NUMA node, and the guest has two; the test kernels have no vm event
 * counters) and the binder
 * pages left the LRU without any drop_caches.
 * Once per boot: a kswapd that could not reach the raised watermark gives
 * up on its node for a while (kswapd_failures), and a second run in the
 * same boot sees it not run at all, with stock as with ours.
 * Output: KTAP on stdout.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <sys/syscall.h>
#include "binder_service.h"

#define MPOL_BIND 2 /* include/uapi/linux/mempolicy.h */

#define ECHO_SIZE (2u << 20)
#define MIN_FREE "/proc/sys/vm/min_free_kbytes"

#define MAX_NODES 8

/* Free and managed pages per NUMA node (zoneinfo); returns the node count. */
static int nodes_memory(long free[MAX_NODES], long managed[MAX_NODES])
{
	char line[256];
	int node = -1, n = 0;
	long v;
	FILE *fp = fopen("/proc/zoneinfo", "r");

	memset(free, 0, MAX_NODES * sizeof(long));
	memset(managed, 0, MAX_NODES * sizeof(long));
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "Node %d,", &node) == 1) {
			if (node >= MAX_NODES)
				node = -1;
			else if (node + 1 > n)
				n = node + 1;
		} else if (node >= 0 && sscanf(line, " pages free %ld", &v) == 1) {
			free[node] += v;
		} else if (node >= 0 && sscanf(line, " managed %ld", &v) == 1) {
			managed[node] += v;
		}
	}
	fclose(fp);
	return n;
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
	long runs0, runs1, ret, saved, min_kb = 0, free[MAX_NODES], managed[MAX_NODES], all = 0;
	int nodes, node = 0;
	int lru0, lru1;
	char why[128], val[32];
	const char *err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap_header(4);

	/*
	 * Pick the node with the least free memory (as a share of what it
	 * manages) and bind this process to it, CPU and memory, before the
	 * service is forked: the service inherits both, so every binder page
	 * of the echo below is allocated on that node.
	 */
	nodes = nodes_memory(free, managed);
	for (int i = 0; i < nodes; i++) {
		if (managed[i] && (!managed[node] || free[i] * managed[node] < free[node] * managed[i]))
			node = i;
	}
	if (nodes > 1) {
		unsigned long mask = 1ul << node;
		cpu_set_t cpus;

		CPU_ZERO(&cpus);
		CPU_SET(node, &cpus);
		if (sched_setaffinity(0, sizeof(cpus), &cpus))
			ktap_diag("sched_setaffinity: %s", strerror(errno));
		if (syscall(SYS_set_mempolicy, MPOL_BIND, &mask, MAX_NODES + 1))
			ktap_diag("set_mempolicy: %s", strerror(errno));
	}

	map_size = 4u << 20;
	ret = service_start();
	if (!ret)
		ret = binder_open(&cb, dev, map_size);
	err = ret ? strerror((int)-ret) : echo_once(ECHO_SIZE, why, sizeof(why));
	lru0 = lru_pages();
	ktap_result(!err && lru0 >= (int)(ECHO_SIZE / 4096), "pages_on_lru",
		    "%d pages on the LRU%s%s", lru0, err ? ": " : "", err ? err : "");

	/*
	 * Raise the watermarks around the node's current free memory: min
	 * (and the point of OOM) stays below it, low goes above it. The next
	 * allocation then wakes the node's kswapd, which reclaims towards the
	 * high watermark: here, with no swap, that is binder's unused pages.
	 * The node had the least free memory before the echo and the echo
	 * took its pages from it, so no other node is pushed below its min.
	 */
	runs0 = kswapd_switches();
	saved = read_long(MIN_FREE);
	nodes = nodes_memory(free, managed);
	for (int i = 0; i < nodes; i++)
		all += managed[i];
	/* The node's share of min_free_kbytes: 85% of what it has free. */
	if (node < nodes && managed[node])
		min_kb = free[node] * 4 * 85 / 100 * all / managed[node];
	snprintf(val, sizeof(val), "%ld", min_kb);
	ret = saved > 0 && min_kb > 0 ? write_file(MIN_FREE, val) : -EINVAL;
	ktap_result(ret == 0, "watermarks_raised", "min_free_kbytes %ld -> %s for node %d of %d: %s",
		    saved, val, node, nodes, strerror((int)-ret));
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
