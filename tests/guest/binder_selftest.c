// SPDX-License-Identifier: GPL-2.0
/*
 * binder_selftest: triggers the kernel's own binder_alloc selftest
 * (drivers/android/binder_alloc_selftest.c, built into the module under
 * test with BINDER_SELFTEST=1) and reports its verdict.
 *
 * The selftest runs once per module load, inside the first binder ioctl
 * of a process that has mapped binder: it allocates and frees buffers of
 * every page-alignment combination in every free order, checks each page's
 * state (installed, on the LRU, reclaimed by the shrinker callback), and
 * prints "STARTED", then "PASSED" or "N tests FAILED" to the kernel log.
 *
 * Usage: binder_selftest [map_bytes]   (default 48 KiB: the selftest's
 * largest layout needs about 12 pages; a small mapping keeps it fast)
 */
#include "binder_util.h"

/* Search the kernel log for the selftest's lines. */
static int kmsg_find(const char *needle, char *line, size_t len)
{
	FILE *f = popen("dmesg", "r");
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, len, f))
		if (strstr(line, needle)) {
			found = 1;
			line[strcspn(line, "\n")] = 0;
			break;
		}
	pclose(f);
	return found;
}

int main(int argc, char **argv)
{
	size_t map_size = argc > 1 ? strtoul(argv[1], NULL, 0) : 48 * 1024;
	struct binder_version v;
	struct binder b = { 0 };
	char line[512];
	uint64_t t0;
	int ret;

	ktap_header(3);
	ret = binder_open(&b, BINDER_DEV_DEFAULT, map_size);
	ktap_result(ret == 0, "open_and_mmap", ret ? "%s" : NULL, strerror(-ret));
	if (ret)
		return 1;

	/* The first ioctl after mmap runs the whole selftest synchronously. */
	t0 = now_ns();
	ret = ioctl(b.fd, BINDER_VERSION, &v);
	ktap_diag("selftest ioctl returned %d after %.1f s", ret,
		  (now_ns() - t0) / 1e9);
	ret = kmsg_find("binder_linux: STARTED", line, sizeof(line));
	ktap_result(ret, "selftest_started", ret ? NULL : "no STARTED line: selftest not built in?");
	if (kmsg_find("binder_linux: PASSED", line, sizeof(line)))
		ktap_result(1, "selftest_passed", NULL);
	else if (kmsg_find("tests FAILED", line, sizeof(line)))
		ktap_result(0, "selftest_passed", "%s", line);
	else
		ktap_result(0, "selftest_passed", "no verdict in the kernel log");
	binder_close(&b);
	return ktap_failed ? 1 : 0;
}
