// SPDX-License-Identifier: GPL-2.0
/*
 * binder_e2e: transactions end to end between two processes.
 *
 * A context manager process (the "service") and a client exchange
 * synchronous calls of several payload sizes, verified byte for byte in
 * both directions, then flood the service with one-way calls until the
 * driver refuses them (async space is half the mapping) and check that
 * the service recovers once it has drained and freed them.
 *
 * Usage: binder_e2e [-v] [-d device] [-m map_bytes]
 *   -v  print a transcript of every call and the binder debugfs state
 * Output: KTAP on stdout, exit status 0 when every case passed.
 */
#include "binder_service.h"

#define ONEWAY_SIZE (32 * 1024)

/*
 * The allocator's debugfs output while the service holds @held one-way
 * buffers, in the C allocator's exact formats: one "  buffer" line per
 * buffer (print_allocated) and the "  pages:" / "  pages high watermark:"
 * lines (print_pages). Same expectations for both modules.
 */
static void check_debugfs_during_flood(uint32_t held)
{
	char path[96], line[256], state[16];
	unsigned int lines = 0, good = 0, id;
	unsigned long off, expect_off = 0;
	size_t d, o, e;
	int active = -1, lru = -1, free_ = -1, in = 0;
	size_t high = 0, async_free = 1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/binder/proc/%d", service_pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "  buffer ", 9))
			continue;
		lines++;
		if (sscanf(line, "  buffer %u: %lx size %zu:%zu:%zu %15s", &id, &off, &d, &o,
			   &e, state) == 6 && off == expect_off && d == ONEWAY_SIZE && !o &&
		    !e && !strcmp(state, "active"))
			good++;
		expect_off = off + ONEWAY_SIZE;
	}
	if (f)
		fclose(f);
	ktap_result(lines == held && good == held, "debugfs_allocated_buffers",
		    "%u buffer lines, %u as expected, %u held", lines, good, held);

	snprintf(path, sizeof(path), "proc %d\n", service_pid);
	f = fopen("/sys/kernel/debug/binder/stats", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "proc ", 5))
			in = !strcmp(line, path);
		if (!in)
			continue;
		sscanf(line, "  pages: %d:%d:%d", &active, &lru, &free_);
		sscanf(line, "  pages high watermark: %zu", &high);
		sscanf(line, "  free async space %zu", &async_free);
	}
	if (f)
		fclose(f);
	/* The held buffers use their pages; the rest of the mapping was used
	 * by the full-size echo earlier and is unused now. */
	int used = (int)(held * ONEWAY_SIZE / 4096), total = (int)(map_size / 4096);

	ktap_result(active == used && lru == total - used && free_ == 0 &&
		    high == (size_t)total && async_free == 0, "debugfs_pages_line",
		    "pages: %d:%d:%d high %zu async free %zu; expected %d:%d:0 high %d async 0",
		    active, lru, free_, high, async_free, used, total - used, total);
}

static void test_oneway_flood(int resume_fd)
{
	static uint8_t payload[ONEWAY_SIZE];
	uint32_t expect = (uint32_t)(map_size / 2 / ONEWAY_SIZE);
	uint32_t sent = 0, counts[2];
	long ret;
	int spam_seen = 0;

	pattern_fill(payload, sizeof(payload), sizeof(payload));
	ret = simple_call(CODE_PAUSE, NULL, 0);
	ktap_result(ret == 0, "pause_service", ret ? "%s" : NULL, br_name(ret));
	if (ret)
		return;

	for (;;) {
		ret = binder_call_oneway(&cb, &cr, 0, CODE_ONEWAY, payload,
					 sizeof(payload));
		if (ret == BR_ONEWAY_SPAM_SUSPECT)
			spam_seen = 1;
		else if (ret != BR_TRANSACTION_COMPLETE)
			break;
		if (++sent > 4 * expect)
			break;
	}
	if (verbose)
		ktap_diag("client: %u one-way calls of %d bytes accepted, then %s",
			  sent, ONEWAY_SIZE, br_name(ret));
	ktap_result(ret == BR_FAILED_REPLY && sent == expect,
		    "oneway_until_refused", "%u accepted (expected %u), then %s",
		    sent, expect, br_name(ret));
	ktap_result(spam_seen, "oneway_spam_suspect_reported",
		    spam_seen ? NULL : "no BR_ONEWAY_SPAM_SUSPECT while async space ran low");

	if (verbose)
		print_debugfs("while it holds the one-way calls", service_pid);
	check_debugfs_during_flood(sent);
	if (write(resume_fd, "g", 1) != 1) {
		ktap_result(0, "oneway_drained", "resume: %s", strerror(errno));
		return;
	}
	ret = wait_oneway_count(sent, counts);
	ktap_result(ret == 0 && counts[1] == 0 && counts[0] == sent,
		    "oneway_drained", "service got %u intact, %u corrupt of %u",
		    counts[0], counts[1], sent);

	ret = binder_call_oneway(&cb, &cr, 0, CODE_ONEWAY, payload, sizeof(payload));
	int ok = ret == BR_TRANSACTION_COMPLETE || ret == BR_ONEWAY_SPAM_SUSPECT;
	if (ok)
		ok = wait_oneway_count(sent + 1, counts) == 0 && counts[0] == sent + 1;
	ktap_result(ok, "oneway_recovers_after_free", "%s", br_name(ret));
}

int main(int argc, char **argv)
{
	int opt;
	long ret;
	char why[128];
	const char *err;

	while ((opt = getopt(argc, argv, "vd:m:")) != -1) {
		switch (opt) {
		case 'v': verbose = 1; break;
		case 'd': dev = optarg; break;
		case 'm': map_size = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-v] [-d dev] [-m map_bytes]\n", argv[0]);
			return 2;
		}
	}

	size_t sizes[] = { 0, 1, 4095, 4096, 4097, 65536, map_size };
	int nsizes = sizeof(sizes) / sizeof(sizes[0]);

	ktap_header(4 + nsizes + 1 + 7 + 1);
	setvbuf(stdout, NULL, _IOLBF, 0);

	ret = service_start();
	ktap_result(ret == 0, "service_becomes_context_manager",
		    ret ? "%s" : NULL, strerror((int)-ret));
	if (ret)
		return 1;

	ret = binder_open(&cb, dev, map_size);
	ktap_result(ret == 0, "client_open_mmap", ret ? "%s" : NULL, strerror(-ret));
	if (ret) {
		kill(service_pid, SIGKILL);
		return 1;
	}
	if (verbose)
		ktap_diag("service pid %d, client pid %d, mappings of %zu bytes on %s",
			  service_pid, getpid(), map_size, dev);

	ret = ioctl(cb.fd, BINDER_ENABLE_ONEWAY_SPAM_DETECTION, &(uint32_t){ 1 });
	ktap_result(ret == 0, "enable_oneway_spam_detection", ret ? "%s" : NULL,
		    strerror(errno));

	for (int i = 0; i < nsizes; i++) {
		char name[64];

		snprintf(name, sizeof(name), "sync_echo_%zu_bytes", sizes[i]);
		err = echo_once(sizes[i], why, sizeof(why));
		ktap_result(!err, name, "%s", err ? err : "");
	}

	/* One byte more than the mapping can never fit. */
	{
		struct binder_event ev;
		static uint8_t big[8];
		uint8_t *p = malloc(map_size + 8);

		memcpy(p, big, sizeof(big));
		ret = binder_call(&cb, &cr, 0, CODE_ECHO, p, map_size + 1, &ev);
		if (ret == BR_REPLY)
			binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
		ktap_result(ret == BR_FAILED_REPLY, "larger_than_mapping_refused",
			    "got %s", br_name(ret));
		free(p);
	}

	test_oneway_flood(service_resume_fd);

	/* Echo still works after the flood: space was given back. */
	err = echo_once(map_size, why, sizeof(why));
	ktap_result(!err, "sync_echo_full_mapping_after_flood", "%s", err ? err : "");

	if (verbose)
		print_debugfs("after the calls", service_pid);

	ret = service_stop();
	ktap_result(ret == 0, "service_exits_cleanly", ret ? "%s" : NULL,
		    strerror((int)-ret));
	binder_close(&cb);
	return ktap_failed ? 1 : 0;
}
