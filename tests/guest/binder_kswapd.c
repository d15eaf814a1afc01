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
 * Unused binder pages are put on the LRU, then a hog allocates memory
 * until the largest zone falls below its low watermark, which wakes
 * kswapd. Checks: kswapd ran (kswapd0 was switched in and out; the
 * test kernels have no vm event counters) and the binder
 * pages left the LRU without any drop_caches.
 * Output: KTAP on stdout.
 */
#include <dirent.h>
#include "binder_service.h"

#define ECHO_SIZE (2u << 20)

/* Free pages and low watermark of the zone with the most free pages. */
static int zone_state(long *free_, long *low)
{
	char line[256];
	long f = -1, best_free = -1, best_low = -1, v;
	FILE *fp = fopen("/proc/zoneinfo", "r");

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, " pages free %ld", &v) == 1)
			f = v;
		else if (sscanf(line, " low %ld", &v) == 1 && f > best_free) {
			best_free = f;
			best_low = v;
		}
	}
	fclose(fp);
	*free_ = best_free;
	*low = best_low;
	return best_free < 0 ? -1 : 0;
}

/* Context switches of kswapd0: each wake-up and sleep adds some. */
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
		if (!fgets(line, sizeof(line), f) || strcmp(line, "kswapd0\n")) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		f = fopen(path, "r");
		total = 0;
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
				total += v;
		if (f)
			fclose(f);
		break;
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

/* Allocate until the zone is below its low watermark; hold; exit. */
static void hog(int ready)
{
	long free_, low;
	size_t chunk = 1 << 20;

	for (;;) {
		uint8_t *p;

		if (zone_state(&free_, &low))
			_exit(2);
		if (free_ < low)
			break;
		/*
		 * Approach the watermark in small steps: min is often only a
		 * few hundred pages below low, and nothing but binder's pages
		 * can be reclaimed here (no swap), so overshooting means OOM.
		 */
		if (free_ - low < 4096)
			chunk = 16 << 10;
		p = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			_exit(3);
	}
	if (write(ready, "r", 1) != 1)
		_exit(4);
	sleep(2);
	_exit(0);
}

int main(void)
{
	long runs0, runs1, ret;
	int lru0, lru1, ready[2], status = 0;
	char why[128], c;
	const char *err;
	pid_t pid;

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

	runs0 = kswapd_switches();
	if (pipe(ready))
		return 1;
	pid = fork();
	if (pid == 0)
		hog(ready[1]);
	close(ready[1]);
	ret = read(ready[0], &c, 1);
	/* kswapd works while the hog holds the memory. */
	sleep(1);
	lru1 = lru_pages();
	runs1 = kswapd_switches();
	waitpid(pid, &status, 0);
	ktap_result(ret == 1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "memory_pressure_reached", "hog status 0x%x", status);
	ktap_diag("kswapd0 context switches %ld -> %ld; binder LRU pages %d -> %d",
		  runs0, runs1, lru0, lru1);
	ktap_result(runs0 >= 0 && runs1 > runs0, "kswapd_ran",
		    "kswapd0 context switches %ld -> %ld", runs0, runs1);
	ktap_result(lru1 < lru0, "kswapd_reclaimed_binder_pages", "LRU pages %d -> %d",
		    lru0, lru1);
	service_stop();
	binder_close(&cb);
	return ktap_failed ? 1 : 0;
}
