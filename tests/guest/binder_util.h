/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal binder client/server helpers for the guest test programs.
 *
 * Speaks the raw binder protocol (BINDER_WRITE_READ) so that the tests
 * depend on nothing but the kernel UAPI. Results are printed as KTAP
 * lines on stdout; the guest init nests them under the program's name.
 */
#ifndef BINDER_UTIL_H
#define BINDER_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/android/binder.h>

#define BINDER_DEV_DEFAULT "/dev/binderfs/binder"

/* ---- KTAP output ------------------------------------------------------ */

static int ktap_index;
static int ktap_failed;

static void ktap_header(int planned)
{
	printf("KTAP version 1\n1..%d\n", planned);
	fflush(stdout);
}

static void __attribute__((format(printf, 3, 4)))
ktap_result(int ok, const char *name, const char *fmt, ...)
{
	char why[256] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	if (!ok)
		ktap_failed++;
	printf("%sok %d %s%s%s\n", ok ? "" : "not ", ++ktap_index, name,
	       why[0] ? " # " : "", why);
	fflush(stdout);
}

static void __attribute__((format(printf, 1, 2))) ktap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Deterministic payload: every byte depends on the seed and its offset. */
static inline uint8_t pattern_byte(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 131u + i * 31u + (i >> 8) * 7u + (i >> 16));
}

static void pattern_fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(seed, i);
}

/* Returns the first mismatching offset, or -1 when all bytes match. */
static long pattern_check(const uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(seed, i))
			return (long)i;
	return -1;
}

/* ---- binder connection ------------------------------------------------ */

struct binder {
	int fd;
	void *map;
	size_t map_size;
};

static int binder_open(struct binder *b, const char *dev, size_t map_size)
{
	struct binder_version v = { 0 };

	b->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	if (ioctl(b->fd, BINDER_VERSION, &v) < 0 ||
	    v.protocol_version != BINDER_CURRENT_PROTOCOL_VERSION) {
		close(b->fd);
		return -EPROTO;
	}
	b->map_size = map_size;
	b->map = mmap(NULL, map_size, PROT_READ, MAP_PRIVATE, b->fd, 0);
	if (b->map == MAP_FAILED) {
		int err = -errno;

		close(b->fd);
		return err;
	}
	return 0;
}

static void binder_close(struct binder *b)
{
	munmap(b->map, b->map_size);
	close(b->fd);
}

static int binder_write(struct binder *b, const void *data, size_t len)
{
	struct binder_write_read bwr = {
		.write_size = len,
		.write_buffer = (binder_uintptr_t)data,
	};

	return ioctl(b->fd, BINDER_WRITE_READ, &bwr) < 0 ? -errno : 0;
}

static int binder_free_buffer(struct binder *b, binder_uintptr_t ptr)
{
	struct __attribute__((packed)) {
		uint32_t cmd;
		binder_uintptr_t ptr;
	} w = { BC_FREE_BUFFER, ptr };

	return binder_write(b, &w, sizeof(w));
}

/*
 * What one read returned that a test cares about. Noise (BR_NOOP,
 * BR_SPAWN_LOOPER, reference counting) is consumed and ignored.
 */
struct binder_event {
	uint32_t cmd; /* BR_TRANSACTION, BR_REPLY, BR_FAILED_REPLY, ... */
	struct binder_transaction_data tr;
};

/*
 * Read until one "interesting" return command arrives.
 * Leftover commands in the read buffer are kept for the next call.
 */
struct binder_reader {
	uint8_t buf[4096];
	size_t len, pos;
};

static int binder_next_event(struct binder *b, struct binder_reader *r,
			     struct binder_event *ev)
{
	for (;;) {
		while (r->pos + sizeof(uint32_t) <= r->len) {
			uint32_t cmd;
			size_t sz;

			memcpy(&cmd, r->buf + r->pos, sizeof(cmd));
			sz = _IOC_SIZE(cmd);
			r->pos += sizeof(cmd);
			if (r->pos + sz > r->len)
				return -EPROTO;
			switch (cmd) {
			case BR_TRANSACTION:
			case BR_REPLY:
				memcpy(&ev->tr, r->buf + r->pos, sizeof(ev->tr));
				/* fallthrough */
			case BR_TRANSACTION_COMPLETE:
			case BR_ONEWAY_SPAM_SUSPECT:
			case BR_FAILED_REPLY:
			case BR_DEAD_REPLY:
			case BR_FROZEN_REPLY:
				ev->cmd = cmd;
				r->pos += sz;
				return 0;
			case BR_ERROR: {
				int32_t e;

				memcpy(&e, r->buf + r->pos, sizeof(e));
				r->pos += sz;
				ev->cmd = cmd;
				ev->tr.code = (uint32_t)e;
				return 0;
			}
			default: /* BR_NOOP, BR_SPAWN_LOOPER, refcounts ... */
				r->pos += sz;
				break;
			}
		}
		struct binder_write_read bwr = {
			.read_size = sizeof(r->buf),
			.read_buffer = (binder_uintptr_t)r->buf,
		};
		if (ioctl(b->fd, BINDER_WRITE_READ, &bwr) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		r->len = bwr.read_consumed;
		r->pos = 0;
	}
}

/* Queue a transaction (or reply) carrying a flat data buffer. */
static int binder_send(struct binder *b, uint32_t bc, uint32_t handle,
		       uint32_t code, uint32_t flags, const void *data, size_t len)
{
	struct __attribute__((packed)) {
		uint32_t cmd;
		struct binder_transaction_data tr;
	} w;

	memset(&w, 0, sizeof(w));
	w.cmd = bc;
	w.tr.target.handle = handle;
	w.tr.code = code;
	w.tr.flags = flags;
	w.tr.data_size = len;
	w.tr.data.ptr.buffer = (binder_uintptr_t)data;
	return binder_write(b, &w, sizeof(w));
}

/*
 * Synchronous call to @handle: returns the final return command
 * (BR_REPLY, BR_FAILED_REPLY, BR_DEAD_REPLY, ...; BR_* codes do not fit
 * a positive int, hence long) or a negative errno.
 * On BR_REPLY the reply is in @ev and must be freed by the caller.
 */
static long binder_call(struct binder *b, struct binder_reader *r,
		       uint32_t handle, uint32_t code, const void *data,
		       size_t len, struct binder_event *ev)
{
	int ret = binder_send(b, BC_TRANSACTION, handle, code, 0, data, len);

	if (ret)
		return ret;
	for (;;) {
		ret = binder_next_event(b, r, ev);
		if (ret)
			return ret;
		if (ev->cmd != BR_TRANSACTION_COMPLETE)
			return (long)ev->cmd;
	}
}

/*
 * One-way call: returns BR_TRANSACTION_COMPLETE on success (or
 * BR_ONEWAY_SPAM_SUSPECT), else the failure command or a negative errno.
 */
static long binder_call_oneway(struct binder *b, struct binder_reader *r,
			      uint32_t handle, uint32_t code, const void *data,
			      size_t len)
{
	struct binder_event ev;
	int ret = binder_send(b, BC_TRANSACTION, handle, code, TF_ONE_WAY,
			      data, len);

	if (ret)
		return ret;
	ret = binder_next_event(b, r, &ev);
	return ret ? ret : (long)ev.cmd;
}

static const char *br_name(long cmd)
{
	switch (cmd) {
	case BR_REPLY: return "BR_REPLY";
	case BR_TRANSACTION_COMPLETE: return "BR_TRANSACTION_COMPLETE";
	case BR_ONEWAY_SPAM_SUSPECT: return "BR_ONEWAY_SPAM_SUSPECT";
	case BR_FAILED_REPLY: return "BR_FAILED_REPLY";
	case BR_DEAD_REPLY: return "BR_DEAD_REPLY";
	case BR_FROZEN_REPLY: return "BR_FROZEN_REPLY";
	case BR_ERROR: return "BR_ERROR";
	case BR_TRANSACTION: return "BR_TRANSACTION";
	default: return cmd < 0 ? strerror((int)-cmd) : "BR_?";
	}
}

/* ---- kernel state the tests observe ---------------------------------- */

/*
 * The allocator's numbers of process @pid in binder's debugfs stats:
 * "pages: active:lru:free", the high watermark, free async space and the
 * allocated buffers (-1 where a line is missing). Returns 0 on success.
 */
struct binder_proc_stats { int active, lru, free_, count; long high, async; };

static int binder_proc_stats(pid_t pid, struct binder_proc_stats *s)
{
	char line[256], head[32];
	int in = 0, found = 0, seen = 0;
	FILE *f = fopen("/sys/kernel/debug/binder/stats", "r");

	memset(s, 0, sizeof(*s));
	s->high = s->async = -1;
	s->count = -1;
	if (!f)
		return -errno;
	snprintf(head, sizeof(head), "proc %d\n", pid);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "proc ", 5)) {
			/*
			 * A process that closed binder and opened it again has
			 * two sections until the old one is released: the newest
			 * comes first.
			 */
			if (seen)
				break;
			in = seen = !strcmp(line, head);
		}
		if (!in)
			continue;
		if (sscanf(line, "  pages: %d:%d:%d", &s->active, &s->lru, &s->free_) == 3)
			found = 1;
		sscanf(line, "  pages high watermark: %ld", &s->high);
		sscanf(line, "  free async space %ld", &s->async);
		sscanf(line, "  buffers: %d", &s->count);
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

/* "pages: active:lru:free" of process @pid; 0 on success. */
static int binder_pages_state(pid_t pid, int *active, int *lru, int *free_)
{
	struct binder_proc_stats s;
	int ret = binder_proc_stats(pid, &s);

	if (!ret) {
		*active = s.active;
		*lru = s.lru;
		*free_ = s.free_;
	}
	return ret;
}

/* Write @val to a procfs/sysfs/debugfs file; 0 on success. */
static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Run the shrinkers (binder's among them) as memory pressure would. */
static int drop_caches(void)
{
	return write_file("/proc/sys/vm/drop_caches", "2");
}

/*
 * A counter of this project's allocator (debugfs binder_alloc/stats), or
 * -1 when the module has none (the stock allocator).
 */
static long alloc_stat(const char *name)
{
	char line[128], key[64];
	long val = -1, v;
	FILE *f = fopen("/sys/kernel/debug/binder_alloc/stats", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63[^:]: %ld", key, &v) == 2 && !strcmp(key, name))
			val = v;
	fclose(f);
	return val;
}

/*
 * Free pages: the buddy allocator's (zoneinfo "nr_free_pages") plus those
 * parked in the per-cpu lists ("count:"), which come and go with any
 * allocation and would otherwise read as noise of hundreds of pages.
 */
static long free_pages(void)
{
	char line[256];
	long total = 0, v;
	int seen = 0;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nr_free_pages %ld", &v) == 1 ||
		    sscanf(line, " count: %ld", &v) == 1) {
			total += v;
			seen = 1;
		}
	}
	fclose(f);
	return seen ? total : -1;
}

/*
 * Free pages once exited processes are gone: binder releases a closed
 * process from a workqueue, so sample for a while (dropping caches) and
 * keep the highest; stop early once within @bound of @baseline (pass -1
 * to take a baseline).
 */
static long settled_free_pages(long baseline, long bound)
{
	long best = -1;

	for (int i = 0; i < 20; i++) {
		long now;

		write_file("/proc/sys/vm/drop_caches", "3");
		now = free_pages();
		if (now > best)
			best = now;
		if (baseline >= 0 && baseline - best <= bound)
			break;
		usleep(50000);
	}
	return best;
}

/*
 * Whether the kernel runs KASAN: its quarantine keeps freed memory for a
 * while (up to 1/32 of RAM), so free-page balances mean nothing there.
 */
static int kernel_has_kasan(void)
{
	FILE *f = popen("dmesg | grep -c KernelAddressSanitizer", "r");
	int n = 0;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		pclose(f);
	}
	return n > 0;
}

/*
 * Report a free-page balance: @missing pages fewer free than before. On a
 * KASAN kernel the balance is noise and the case is skipped (the base
 * kernel run checks it).
 */
static void ktap_free_pages_balance(long base, long after, long bound, const char *what)
{
	ktap_diag("free pages: %ld before, %ld after (difference %ld, bound %ld)", base, after,
		  base - after, bound);
	if (kernel_has_kasan())
		ktap_result(1, "free_pages_back_to_baseline",
			    "SKIP KASAN quarantine holds freed memory (%ld pages apart); checked on base",
			    base - after);
	else
		ktap_result(base > 0 && base - after <= bound, "free_pages_back_to_baseline",
			    "%ld pages missing%s", base - after, what);
}

/* ---- the kernel's trace (tracefs), as the profiles read it ------------- */

/* The task id of a trace line ("comm-TID [cpu] ..."), or -1. */
static long trace_tid(const char *line)
{
	const char *p = strstr(line, " [");

	while (p && p > line && p[-1] != '-')
		p--;
	return p && p > line ? strtol(p, NULL, 10) : -1;
}

/* The value of "KEY..." in a trace line, up to the next space. */
static void trace_field(const char *line, const char *key, char *out, size_t len)
{
	const char *p = strstr(line, key);
	size_t i = 0;

	if (p)
		for (p += strlen(key); *p && *p != ' ' && *p != '\n' && i + 1 < len; p++)
			out[i++] = *p;
	out[i] = 0;
}

#endif /* BINDER_UTIL_H */
