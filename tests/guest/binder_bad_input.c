// SPDX-License-Identifier: GPL-2.0
/*
 * binder_bad_input: what user space can get wrong must fail cleanly and
 * leave the allocator working: sizes that overflow or cannot fit, freeing
 * pointers that are not buffers (or twice), mapping twice or writable, and
 * a transaction to a process that unmapped its binder mapping. Bad calls
 * must not flood the kernel log: the allocator's messages are ratelimited
 * as the C allocator's are (each message at most DEFAULT_RATELIMIT_BURST,
 * 10, times per 5 s).
 *
 * Every case ends with an echo that must still work, data checked.
 * Output: KTAP on stdout.
 */
#include <sys/klog.h>
#include "binder_service.h"

#define FLOOD_CALLS 200
#define RATELIMIT_BURST 10

/* A raw transaction with arbitrary sizes; returns the final BR_ code. */
static long call_sizes(binder_size_t data_size, binder_size_t offsets_size)
{
	static uint8_t data[64];
	static binder_size_t offsets[4];
	struct __attribute__((packed)) {
		uint32_t cmd;
		struct binder_transaction_data tr;
	} w;
	struct binder_event ev;
	long ret;

	memset(&w, 0, sizeof(w));
	w.cmd = BC_TRANSACTION;
	w.tr.code = CODE_ECHO;
	w.tr.data_size = data_size;
	w.tr.offsets_size = offsets_size;
	w.tr.data.ptr.buffer = (binder_uintptr_t)data;
	w.tr.data.ptr.offsets = (binder_uintptr_t)offsets;
	ret = binder_write(&cb, &w, sizeof(w));
	if (ret)
		return ret;
	do {
		ret = binder_next_event(&cb, &cr, &ev);
		if (ret)
			return ret;
	} while (ev.cmd == BR_TRANSACTION_COMPLETE);
	if (ev.cmd == BR_REPLY)
		binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
	return (long)ev.cmd;
}

/*
 * Kernel log lines after the last line containing @marker that contain
 * @a or @b; -1 if the log cannot be read.
 */
static int log_lines_after(const char *marker, const char *a, const char *b)
{
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), n = 0, len;
	char *buf, *p, *line;

	if (size <= 0 || !(buf = malloc(size + 1)))
		return -1;
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
	if (len < 0) {
		free(buf);
		return -1;
	}
	buf[len] = 0;
	p = buf;
	for (char *m = strstr(p, marker); m; m = strstr(m + 1, marker))
		p = m;
	for (line = strtok(p, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, a) || strstr(line, b))
			n++;
	free(buf);
	return n;
}

/*
 * Calls that cannot fit, FLOOD_CALLS of them at once: each makes the
 * allocator print two messages (USER_ERROR, on by default), which the
 * ratelimit must cut to a burst each.
 */
static void log_flood_limited(void)
{
	static const char marker[] = "binder_bad_input: log flood begins";
	int lines, refused = 0;

	write_file("/dev/kmsg", marker);
	for (int i = 0; i < FLOOD_CALLS; i++)
		refused += call_sizes(2 * map_size, 0) == BR_FAILED_REPLY;
	lines = log_lines_after(marker, "failed, no address space", "allocated: ");
	ktap_diag("%d calls refused, %d allocator lines in the kernel log", refused, lines);
	ktap_result(refused == FLOOD_CALLS && lines >= 1 && lines <= 2 * RATELIMIT_BURST,
		    "log_flood_ratelimited", "%d lines for %d refused calls (at most %d)", lines,
		    refused, 2 * RATELIMIT_BURST);
}

static void still_works(const char *name)
{
	char why[128];
	const char *err = echo_once(8192, why, sizeof(why));

	ktap_result(!err, name, "%s", err ? err : "");
}

int main(void)
{
	long ret;
	void *m;

	ktap_header(15);
	ret = service_start();
	ktap_result(ret == 0, "service_start", ret ? "%s" : NULL, strerror((int)-ret));
	if (ret)
		return 1;
	ret = binder_open(&cb, dev, map_size);
	ktap_result(ret == 0, "client_open_mmap", ret ? "%s" : NULL, strerror((int)-ret));
	if (ret)
		return 1;

	/* Sizes whose pointer-aligned sum wraps around: -EINVAL inside. */
	ret = call_sizes((binder_size_t)-4, 16);
	ktap_result(ret == BR_FAILED_REPLY, "overflowing_sizes_refused", "got %s", br_name(ret));
	/* Larger than any mapping: -ENOSPC inside. */
	ret = call_sizes((binder_size_t)1 << 40, 0);
	ktap_result(ret == BR_FAILED_REPLY, "huge_size_refused", "got %s", br_name(ret));
	log_flood_limited();
	still_works("echo_after_bad_sizes");

	/* Pointers that are no buffer: inside the mapping, and outside. */
	ret = binder_free_buffer(&cb, (binder_uintptr_t)cb.map + 24);
	ret |= binder_free_buffer(&cb, (binder_uintptr_t)&ret);
	ktap_result(ret == 0, "free_unknown_pointer_ignored", "ioctl: %s", strerror((int)-ret));
	still_works("echo_after_unknown_free");

	/* Free a reply twice. */
	{
		struct binder_event ev;
		uint8_t buf[100];

		pattern_fill(buf, sizeof(buf), sizeof(buf));
		ret = binder_call(&cb, &cr, 0, CODE_ECHO, buf, sizeof(buf), &ev);
		if (ret == BR_REPLY) {
			ret = binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
			ret |= binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
		}
		ktap_result(ret == 0, "double_free_ignored", "got %s", br_name(ret));
	}
	still_works("echo_after_double_free");

	/* A second mapping of the same binder file: "already mapped". */
	m = mmap(NULL, 65536, PROT_READ, MAP_PRIVATE, cb.fd, 0);
	ktap_result(m == MAP_FAILED && errno == EBUSY, "mmap_twice_refused",
		    "%s", m == MAP_FAILED ? strerror(errno) : "mapped");
	if (m != MAP_FAILED)
		munmap(m, 65536);

	/* A writable mapping of a fresh binder file. */
	{
		int fd = open(dev, O_RDWR | O_CLOEXEC);

		m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ktap_result(m == MAP_FAILED && errno == EPERM, "writable_mmap_refused",
			    "%s", m == MAP_FAILED ? strerror(errno) : "mapped");
		if (m != MAP_FAILED)
			munmap(m, 65536);
		close(fd);
	}
	still_works("echo_after_bad_mmaps");

	/* The service unmaps its binder mapping: calls to it now fail. */
	ret = simple_call(CODE_MUNMAP, NULL, 0);
	ktap_result(ret == 0, "service_unmaps", ret ? "%s" : NULL, br_name(ret));
	{
		uint8_t buf[64];
		struct binder_event ev;

		pattern_fill(buf, sizeof(buf), sizeof(buf));
		ret = binder_call(&cb, &cr, 0, CODE_ECHO, buf, sizeof(buf), &ev);
		if (ret == BR_REPLY)
			binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
		ktap_result(ret == BR_DEAD_REPLY, "call_to_unmapped_process_fails",
			    "got %s", br_name(ret));
	}
	/* No call can reach the service any more, not even CODE_EXIT. */
	kill(service_pid, SIGKILL);
	waitpid(service_pid, NULL, 0);
	binder_close(&cb);
	return ktap_failed ? 1 : 0;
}
