// SPDX-License-Identifier: GPL-2.0
/*
 * binder_fuzz: a seeded differential fuzzer of the binder buffer allocator.
 *
 *   binder_fuzz lockstep SEED[,SEED...] OPS
 *   binder_fuzz threads SEED OPS
 *   binder_fuzz messages
 *
 * lockstep: per seed, a forked server (the context manager; its mapping
 * by SEED % 6: 16 KiB, 128 KiB, 1 MiB, 4 MiB, 76 KiB, 300 KiB) and this
 * process as the client run OPS operations chosen by a splitmix64 PRNG,
 * one at a time: the client does an operation and waits for everything it
 * causes (its BR code, the server's report of what it received, held
 * one-way calls it released) before the next. Operations: sync calls
 * (with a reply) and one-way calls of sizes biased to page boundaries,
 * tiny sizes and the space left, carrying binder and fd objects and
 * scatter-gather extra space; buffers the server holds and frees later in
 * random order; invalid and double frees; overflowing sizes; bursts of
 * held one-way calls (spam detection on); drop_caches; equal-size holes
 * freed out of order before a smaller request. The server learns what to
 * do with each transaction from a pipe (struct instr, matched by the
 * transaction code = op number) and reports what it saw on another
 * (struct report). One-way calls reach the server one at a time per node
 * (binder.c queues the rest until the previous buffer is freed); the
 * client models that queue to know which reports to wait for.
 *
 * Trace (stdout; only deterministic values: offsets are from the map
 * base; no pointers, pids, debug ids, fd numbers or times):
 *   # fuzz S=<seed> map=<bytes> client_map=<bytes>
 *   # fuzz S=<seed> <op> call|oneway|burst|holes|free|badfree|end <what was asked>
 *        -> <BR code or errno=N> [spam=0|1] [queued=<n>]
 *        [srv off= data= offs= intact=0|1 objs=0|1 freed=<rc,...> bad_rc=|bad=skipped held=<n>
 *         [stray=<n>:<first BR code the server read that was no transaction>]]
 *        [rep off= size= intact=0|1 reply_br=<the server's reply outcome> free_rc=]
 *   # fuzz S=<seed> <op> overflow v=<variant> -> <BR code>
 *   # fuzz S=<seed> <op> deliver op=<k> srv ...   (a queued one-way call of
 *        op k reached the server during op <op>)
 *   # fuzz S=<seed> <op> drop_caches
 *   # fuzz S=<seed> <op> state srv buffers=<off:data:offs:extra:a|d,...>
 *        pages=<active:lru:free> high=<n> async=<free async space>
 *        count=<buffers> cli pages=<active:lru:free>
 * scripts/fuzz_compare.py compares the traces of two modules per seed.
 * KTAP: one case per seed; it fails on a corrupted payload, an unexpected
 * protocol state, a hang (alarm), or pages not back to 0:0:N once all is
 * freed and caches dropped.
 *
 * threads: 2 client processes x 2 threads against a server with 4
 * threads, the same kinds of calls, concurrently; no trace, invariants
 * only (payload integrity, no hang, page balance).
 *
 * messages: the allocator's alloc_debug_mask messages for a fixed
 * sequence, spaced so that no call site is ratelimited, printed as
 * "# fuzzmsg <line>" with pointers and the two pids masked (seed 0's
 * lockstep trace lines come with them).
 */
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/times.h>
#include "binder_util.h"

#define PG 4096u
#define MAX_HELD 40
#define MAX_OBJ 3
#define MAX_FREE 4
#define MAX_QUEUE 80
#define CLIENT_MAP (256u * 1024)
#define OBJ_SIZE 24u /* flat_binder_object and binder_fd_object */

/* ---- PRNG --------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rn(uint32_t n) /* 0..n-1 */
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static int pct(uint32_t p)
{
	return rn(100) < p;
}

/* ---- messages between client and server (pipes) ----------------------- */

enum { BAD_NONE, BAD_INSIDE, BAD_OUTSIDE, BAD_UNALIGNED, BAD_DOUBLE, BAD_ZERO };
static const char *const bad_names[] = { "none", "inside", "outside", "unaligned", "double", "null" };

struct instr {
	uint32_t opno;     /* = the transaction code */
	uint32_t data_size;
	uint32_t pat;
	uint32_t hold;
	uint32_t reply_size;
	uint32_t nobj;
	uint32_t obj_off[MAX_OBJ];
	uint32_t obj_fd[MAX_OBJ]; /* 1: fd object, 0: binder object */
	uint32_t nfree;
	uint32_t free_idx[MAX_FREE];
	uint32_t bad;      /* BAD_* */
	uint32_t bad_arg;
	uint32_t free_all;
};

struct report {
	uint32_t opno;
	uint32_t off;
	uint32_t data_size;
	uint32_t offs_size;
	uint32_t intact;
	uint32_t objs_ok;
	uint32_t oneway;
	uint32_t nfree;
	int32_t free_rc[MAX_HELD];
	int32_t bad_rc;
	uint32_t bad_skipped;
	uint32_t reply_br;
	uint32_t held;
	uint32_t stray;    /* return commands other than transactions seen since the last report */
	uint32_t stray_cmd;
	char why[96];
};

static int read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= r;
	}
	return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* ---- binder helpers ----------------------------------------------------- */

/* A transaction with an offsets array and, when @extra, BC_TRANSACTION_SG. */
static int send_txn(struct binder *b, uint32_t bc, uint32_t code, uint32_t flags,
		    const void *data, uint64_t data_size, const void *offs,
		    uint64_t offs_size, uint64_t extra)
{
	struct __attribute__((packed)) {
		uint32_t cmd;
		struct binder_transaction_data_sg sg;
	} w;

	memset(&w, 0, sizeof(w));
	w.cmd = extra ? (bc == BC_REPLY ? BC_REPLY_SG : BC_TRANSACTION_SG) : bc;
	w.sg.transaction_data.target.handle = 0;
	w.sg.transaction_data.code = code;
	w.sg.transaction_data.flags = flags;
	w.sg.transaction_data.data_size = data_size;
	w.sg.transaction_data.offsets_size = offs_size;
	w.sg.transaction_data.data.ptr.buffer = (binder_uintptr_t)data;
	w.sg.transaction_data.data.ptr.offsets = (binder_uintptr_t)offs;
	w.sg.buffers_size = extra;
	return binder_write(b, &w, extra ? sizeof(w) : sizeof(uint32_t) + sizeof(w.sg.transaction_data));
}

static uint32_t op_pattern(uint32_t seed, uint32_t opno)
{
	return seed * 2654435761u ^ opno * 0x9e3779b9u;
}

/* Fill data: the pattern, objects at obj_off (binder or fd objects). */
static void build_payload(uint8_t *buf, const struct instr *in, int fd_to_send)
{
	pattern_fill(buf, in->data_size, in->pat);
	for (uint32_t i = 0; i < in->nobj; i++) {
		if (in->obj_fd[i]) {
			struct binder_fd_object o = { .hdr.type = BINDER_TYPE_FD, .fd = fd_to_send };

			memcpy(buf + in->obj_off[i], &o, sizeof(o));
		} else {
			struct flat_binder_object o = {
				.hdr.type = BINDER_TYPE_BINDER,
				.binder = 0x1000 + 0x10 * i,
				.cookie = 0x2000 + i,
			};

			memcpy(buf + in->obj_off[i], &o, sizeof(o));
		}
	}
}

/*
 * Check a received payload against its instruction; close received fds.
 * Returns 1 when intact; *objs_ok tells whether the objects were translated
 * as expected.
 */
static int check_payload(const uint8_t *data, uint64_t size, const binder_size_t *offs,
			 uint64_t offs_size, const struct instr *in, uint32_t *objs_ok,
			 char *why, size_t whylen)
{
	int ok = 1;

	*objs_ok = 1;
	if (size != in->data_size || offs_size != in->nobj * sizeof(binder_size_t)) {
		snprintf(why, whylen, "size %llu offsets %llu, expected %u %zu",
			 (unsigned long long)size, (unsigned long long)offs_size, in->data_size,
			 in->nobj * sizeof(binder_size_t));
		return 0;
	}
	for (uint64_t i = 0; i < size; i++) {
		int in_obj = 0;

		for (uint32_t k = 0; k < in->nobj; k++)
			if (i >= in->obj_off[k] && i < in->obj_off[k] + OBJ_SIZE)
				in_obj = 1;
		if (!in_obj && data[i] != pattern_byte(in->pat, i)) {
			snprintf(why, whylen, "byte %llu is %#x, expected %#x", (unsigned long long)i,
				 data[i], pattern_byte(in->pat, i));
			ok = 0;
			break;
		}
	}
	for (uint32_t k = 0; k < in->nobj; k++) {
		struct binder_object_header h;

		if (offs[k] != in->obj_off[k]) {
			*objs_ok = 0;
			continue;
		}
		memcpy(&h, data + in->obj_off[k], sizeof(h));
		if (in->obj_fd[k]) {
			struct binder_fd_object o;

			memcpy(&o, data + in->obj_off[k], sizeof(o));
			if (h.type != BINDER_TYPE_FD || (int)o.fd < 0 || fcntl(o.fd, F_GETFD) < 0)
				*objs_ok = 0;
			else
				close(o.fd);
		} else if (h.type != BINDER_TYPE_HANDLE) {
			*objs_ok = 0;
		}
	}
	return ok;
}

/* ---- the lockstep server ------------------------------------------------ */

struct held { binder_uintptr_t ptr; uint32_t opno; };

static void server_main(uint32_t seed, size_t map, int instr_fd, int report_fd)
{
	struct binder b;
	struct binder_reader r = { 0 };
	struct binder_event ev;
	struct held held[MAX_HELD + 8];
	binder_uintptr_t freed_hist[16] = { 0 };
	uint32_t nheld = 0, nfreed_hist = 0, stray = 0, stray_cmd = 0;
	uint8_t *out = malloc(CLIENT_MAP);
	int32_t status;
	uint32_t one = 1;
	struct flat_binder_object mgr = { .flags = FLAT_BINDER_FLAG_ACCEPTS_FDS };

	(void)seed;
	status = binder_open(&b, BINDER_DEV_DEFAULT, map);
	/* The previous seed's server may not be released yet: retry. */
	for (int i = 0; !status && i < 200; i++) {
		if (ioctl(b.fd, BINDER_SET_CONTEXT_MGR_EXT, &mgr) == 0)
			break;
		status = errno == EBUSY && i < 199 ? 0 : -errno;
		usleep(10000);
	}
	if (!status && ioctl(b.fd, BINDER_ENABLE_ONEWAY_SPAM_DETECTION, &one) < 0)
		status = -errno;
	if (!status)
		status = binder_write(&b, &(uint32_t){ BC_ENTER_LOOPER }, sizeof(uint32_t));
	if (write_full(report_fd, &status, sizeof(status)) || status)
		_exit(1);

	for (;;) {
		struct instr in;
		struct report rep;

		if (binder_next_event(&b, &r, &ev))
			_exit(2);
		if (ev.cmd != BR_TRANSACTION) {
			/* E.g. a BR_ERROR for a bad free: part of the next report. */
			if (!stray++)
				stray_cmd = ev.cmd;
			continue;
		}
		/* Instructions of transactions that failed were never consumed. */
		do {
			if (read_full(instr_fd, &in, sizeof(in)))
				_exit(3);
		} while (in.opno != ev.tr.code);

		memset(&rep, 0, sizeof(rep));
		rep.opno = in.opno;
		rep.stray = stray;
		rep.stray_cmd = stray_cmd;
		stray = 0;
		binder_uintptr_t buf = ev.tr.data.ptr.buffer;

		rep.off = (uint32_t)(buf - (binder_uintptr_t)b.map);
		rep.data_size = ev.tr.data_size;
		rep.offs_size = ev.tr.offsets_size;
		rep.oneway = !!(ev.tr.flags & TF_ONE_WAY);
		rep.intact = check_payload((const void *)(uintptr_t)buf, ev.tr.data_size,
					   (const void *)(uintptr_t)ev.tr.data.ptr.offsets,
					   ev.tr.offsets_size, &in, &rep.objs_ok, rep.why, sizeof(rep.why));

		/* Frees of held buffers, in the order given. */
		if (in.free_all) {
			while (nheld) {
				uint32_t k = nheld - 1 - (in.pat % nheld);

				rep.free_rc[rep.nfree++] = binder_free_buffer(&b, held[k].ptr);
				freed_hist[nfreed_hist++ % 16] = held[k].ptr;
				memmove(&held[k], &held[k + 1], (nheld - k - 1) * sizeof(held[0]));
				nheld--;
			}
		}
		for (uint32_t i = 0; i < in.nfree && i < MAX_FREE; i++) {
			uint32_t k = in.free_idx[i];

			if (k >= nheld) {
				rep.free_rc[rep.nfree++] = -ERANGE;
				continue;
			}
			rep.free_rc[rep.nfree++] = binder_free_buffer(&b, held[k].ptr);
			freed_hist[nfreed_hist++ % 16] = held[k].ptr;
			memmove(&held[k], &held[k + 1], (nheld - k - 1) * sizeof(held[0]));
			nheld--;
		}
		if (in.bad != BAD_NONE) {
			binder_uintptr_t p = 0, base = (binder_uintptr_t)b.map;
			int live = 0;

			switch (in.bad) {
			case BAD_INSIDE:
				p = nheld ? held[in.bad_arg % nheld].ptr + 8 : buf + 8;
				break;
			case BAD_OUTSIDE:
				p = base + map + PG * (1 + in.bad_arg % 4);
				break;
			case BAD_UNALIGNED:
				p = base + 1 + in.bad_arg % (map - 1);
				break;
			case BAD_DOUBLE:
				p = nfreed_hist ? freed_hist[in.bad_arg % (nfreed_hist < 16 ? nfreed_hist : 16)] : buf;
				break;
			case BAD_ZERO:
				p = 0;
				break;
			}
			/* Never free a buffer this process still holds. */
			live = p == buf;
			for (uint32_t k = 0; k < nheld; k++)
				live |= held[k].ptr == p;
			if (live)
				rep.bad_skipped = 1;
			else
				rep.bad_rc = binder_free_buffer(&b, p);
		}
		if (in.hold && nheld < MAX_HELD + 8) {
			held[nheld].ptr = buf;
			held[nheld].opno = in.opno;
			nheld++;
		} else if (binder_free_buffer(&b, buf)) {
			_exit(4);
		}
		rep.held = nheld;
		if (!rep.oneway) {
			pattern_fill(out, in.reply_size, in.pat ^ 0xa5a5a5a5u);
			if (send_txn(&b, BC_REPLY, 0, 0, out, in.reply_size, NULL, 0, 0))
				_exit(5);
			/* The reply's own outcome: complete or failed. */
			for (;;) {
				if (binder_next_event(&b, &r, &ev))
					_exit(6);
				if (ev.cmd == BR_TRANSACTION_COMPLETE || ev.cmd == BR_FAILED_REPLY ||
				    ev.cmd == BR_DEAD_REPLY || ev.cmd == BR_ERROR) {
					rep.reply_br = ev.cmd;
					break;
				}
				if (ev.cmd == BR_TRANSACTION) { /* not expected before the reply completes */
					snprintf(rep.why, sizeof(rep.why), "transaction before reply completion");
					rep.intact = 0;
					rep.reply_br = ev.cmd;
					break;
				}
			}
		}
		if (write_full(report_fd, &rep, sizeof(rep)))
			_exit(7);
	}
}

/* ---- debugfs state ------------------------------------------------------ */


/* The server's allocator state as one line of text (no debug ids). */
static void state_text(pid_t srv, pid_t cli, char *out, size_t len)
{
	char path[96], line[256];
	size_t n = 0;
	struct binder_proc_stats s, c;
	FILE *f;
	int first = 1;

	snprintf(path, sizeof(path), "/sys/kernel/debug/binder/proc/%d", srv);
	n += snprintf(out + n, len - n, "srv buffers=");
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long off;
		size_t d, o, e;
		char st[16];

		if (sscanf(line, "  buffer %*d: %lx size %zd:%zd:%zd %15s", &off, &d, &o, &e, st) == 5 &&
		    n + 64 < len)
		{
			n += snprintf(out + n, len - n, "%s%lu:%zu:%zu:%zu:%c", first ? "" : ",", off,
				      d, o, e, st[0]);
			first = 0;
		}
	}
	if (f)
		fclose(f);
	if (first)
		n += snprintf(out + n, len - n, "-");
	binder_proc_stats(srv, &s);
	binder_proc_stats(cli, &c);
	snprintf(out + n, len - n, " pages=%d:%d:%d high=%ld async=%ld count=%d cli pages=%d:%d:%d",
		 s.active, s.lru, s.free_, s.high, s.async, s.count, c.active, c.lru, c.free_);
}

/* ---- the lockstep client ------------------------------------------------ */

static volatile uint32_t cur_seed, cur_op;

static void on_alarm(int sig)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "# fuzz S=%u %u HANG (no outcome within the time limit)\n",
			 cur_seed, cur_op);

	(void)sig;
	if (write(1, msg, n) < 0)
		_exit(99);
	_exit(99);
}

struct hop { uint32_t opno, size; int async; };

struct lockstep {
	uint32_t seed, ops, opno;
	size_t map;
	pid_t srv;
	struct binder cb;
	struct binder_reader cr;
	int instr_fd, report_fd, fd_to_send, dummy_w;
	struct hop held[MAX_HELD + 8];
	uint32_t nheld;
	int async_busy;           /* a delivered one-way buffer is held */
	struct instr queue[MAX_QUEUE]; /* one-way calls waiting for the node */
	uint32_t queue_size[MAX_QUEUE];
	uint32_t nqueue;
	uint64_t held_bytes, async_bytes;
	int failures;
	char fail_why[200];
	/* Scripted operations (e.g. the equal-size holes) run before random ones. */
	int script[16];
	uint32_t script_arg[16];
	int nscript, script_pos;
	int quiet; /* no trace lines */
	uint8_t *buf;
	binder_size_t offs[MAX_OBJ];
};

static void fail(struct lockstep *L, const char *fmt, ...)
{
	va_list ap;

	if (L->failures++)
		return;
	va_start(ap, fmt);
	vsnprintf(L->fail_why, sizeof(L->fail_why), fmt, ap);
	va_end(ap);
}

static uint64_t bsize(uint64_t data, uint64_t offs, uint64_t extra)
{
	uint64_t s = ((data + 7) & ~7ull) + ((offs + 7) & ~7ull) + ((extra + 7) & ~7ull);

	return s < 8 ? 8 : s;
}

/* A size biased to page boundaries, tiny sizes and the free space left. */
static uint32_t pick_size(struct lockstep *L, int async)
{
	uint64_t room = async ? L->map / 2 - (L->async_bytes < L->map / 2 ? L->async_bytes : L->map / 2)
			      : L->map - (L->held_bytes < L->map ? L->held_bytes : L->map);
	uint32_t pages = L->map / PG, r = rn(100);
	int64_t s;

	if (r < 18) {
		static const uint32_t tiny[] = { 0, 1, 7, 8, 9, 16, 24, 48 };

		return tiny[rn(8)];
	}
	if (r < 50) /* around a page boundary */
		s = (int64_t)PG * (1 + rn(pages < 6 ? pages / 2 + 1 : 4)) + (int64_t)rn(49) - 24;
	else if (r < 75)
		s = rn(L->map / 8 < 16384 ? L->map / 8 : 16384);
	else if (r < 90) /* near the space left: may just fit or just fail */
		s = (int64_t)room - 64 + (int64_t)rn(160) - 64;
	else
		s = rn(L->map / 2);
	if (s < 0)
		s = rn(64);
	if (s > (int64_t)L->map + PG)
		s = L->map + PG;
	return (uint32_t)s;
}

/* Objects at 8-aligned offsets, when the payload has room for them. */
static void pick_objects(struct instr *in)
{
	uint32_t n = 1 + rn(MAX_OBJ);

	in->nobj = 0;
	if (in->data_size < n * OBJ_SIZE)
		return;
	uint32_t base = 8 * rn((in->data_size - n * OBJ_SIZE) / 8 + 1);

	for (uint32_t i = 0; i < n; i++) {
		in->obj_off[i] = base + i * OBJ_SIZE;
		in->obj_fd[i] = pct(50);
	}
	in->nobj = n;
}

static void trace(struct lockstep *L, const char *fmt, ...)
{
	va_list ap;

	if (L->quiet)
		return;
	printf("# fuzz S=%u %u ", L->seed, L->opno);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static const char *brs(long cmd)
{
	static char b[32];

	if (cmd == 0)
		return "none";
	if (cmd < 0) {
		snprintf(b, sizeof(b), "errno=%ld", -cmd);
		return b;
	}
	return br_name(cmd);
}

/* Read one server report and check it belongs to @opno. */
static int get_report(struct lockstep *L, uint32_t opno, struct report *rep)
{
	if (read_full(L->report_fd, rep, sizeof(*rep))) {
		fail(L, "op %u: the server died", L->opno);
		return -1;
	}
	if (rep->opno != opno) {
		fail(L, "op %u: report for op %u, expected op %u", L->opno, rep->opno, opno);
		return -1;
	}
	if (!rep->intact)
		fail(L, "op %u: server got a corrupted payload of op %u: %s", L->opno, opno, rep->why);
	if (!rep->objs_ok)
		fail(L, "op %u: objects of op %u not translated as sent", L->opno, opno);
	return 0;
}

static void fmt_report(const struct report *rep, char *s, size_t len)
{
	size_t n = snprintf(s, len, "srv off=%u data=%u offs=%u intact=%u objs=%u", rep->off,
			    rep->data_size, rep->offs_size, rep->intact, rep->objs_ok);

	if (rep->nfree) {
		n += snprintf(s + n, len - n, " freed=");
		for (uint32_t i = 0; i < rep->nfree && n + 8 < len; i++)
			n += snprintf(s + n, len - n, "%s%d", i ? "," : "", rep->free_rc[i]);
	}
	if (rep->bad_skipped)
		n += snprintf(s + n, len - n, " bad=skipped");
	else
		n += snprintf(s + n, len - n, " bad_rc=%d", rep->bad_rc);
	n += snprintf(s + n, len - n, " held=%u", rep->held);
	if (rep->stray)
		snprintf(s + n, len - n, " stray=%u:%s", rep->stray, brs(rep->stray_cmd));
}

/* The server held a buffer of @opno: mirror its list. */
static void note_held(struct lockstep *L, uint32_t opno, uint32_t size, int async)
{
	L->held[L->nheld++] = (struct hop){ opno, size, async };
	L->held_bytes += size;
	if (async)
		L->async_bytes += size;
}

static void note_freed(struct lockstep *L, uint32_t k)
{
	L->held_bytes -= L->held[k].size;
	if (L->held[k].async) {
		L->async_bytes -= L->held[k].size;
		L->async_busy = 0;
	}
	memmove(&L->held[k], &L->held[k + 1], (L->nheld - k - 1) * sizeof(L->held[0]));
	L->nheld--;
}

/*
 * Queued one-way calls reach the server one at a time, each once the
 * previous one-way buffer was freed: write their instructions and read
 * their reports until one is held (or none is left).
 */
static void release_queue(struct lockstep *L, int force_free)
{
	while (!L->async_busy && L->nqueue && !L->failures) {
		struct instr in = L->queue[0];
		uint32_t size = L->queue_size[0];
		struct report rep;
		char s[512];

		memmove(&L->queue[0], &L->queue[1], (L->nqueue - 1) * sizeof(L->queue[0]));
		memmove(&L->queue_size[0], &L->queue_size[1], (L->nqueue - 1) * sizeof(L->queue_size[0]));
		L->nqueue--;
		L->async_bytes -= size; /* counted again below if held */
		L->held_bytes -= size;
		if (force_free)
			in.hold = 0;
		if (write_full(L->instr_fd, &in, sizeof(in)) || get_report(L, in.opno, &rep))
			return;
		fmt_report(&rep, s, sizeof(s));
		trace(L, "deliver op=%u %s", in.opno, s);
		if (in.hold) {
			note_held(L, in.opno, size, 1);
			L->async_busy = 1;
		}
	}
}

static void do_drop_caches(void)
{
	write_file("/proc/sys/vm/drop_caches", "3");
}

static void checkpoint(struct lockstep *L)
{
	char s[8192];

	state_text(L->srv, getpid(), s, sizeof(s));
	trace(L, "state %s", s);
}

enum { OP_CALL, OP_ONEWAY, OP_FREE, OP_BADFREE, OP_OVERFLOW, OP_DROP, OP_BURST, OP_HOLES,
       OP_CALL_HOLD_SIZE, OP_FREE_OPNO, OP_FREE_OPNO2, OP_CALL_SIZE, OP_ONEWAY_SIZE, OP_ONEWAY_HOLD_SIZE, OP_OVERFLOW_V, OP_END };

/* One sync call (also free, bad free and end): instruction first, then call. */
static void do_call(struct lockstep *L, struct instr *in, uint64_t extra, const char *kind,
		    int client_double_free)
{
	struct binder_event ev;
	struct report rep;
	char s[512] = "", desc[256];
	long ret;
	size_t n = 0;

	n += snprintf(desc + n, sizeof(desc) - n, "%s size=%u objs=%u extra=%llu reply=%u hold=%u",
		      kind, in->data_size, in->nobj, (unsigned long long)extra, in->reply_size, in->hold);
	if (in->nfree) {
		n += snprintf(desc + n, sizeof(desc) - n, " free=");
		for (uint32_t i = 0; i < in->nfree; i++)
			n += snprintf(desc + n, sizeof(desc) - n, "%s%u", i ? "," : "", in->free_idx[i]);
	}
	if (in->free_all)
		n += snprintf(desc + n, sizeof(desc) - n, " free=all");
	if (in->bad)
		n += snprintf(desc + n, sizeof(desc) - n, " bad=%s/%u", bad_names[in->bad], in->bad_arg);

	/*
	 * Held sync buffers stay under half the mapping (one-way calls have
	 * the other half): a small call always fits, so everything held can
	 * be freed at the end.
	 */
	if (in->hold && L->held_bytes - L->async_bytes + bsize(in->data_size, in->nobj * 8, extra) >
			L->map / 2 - 64) {
		in->hold = 0;
		n += snprintf(desc + n, sizeof(desc) - n, " (not held: half full)");
	}
	build_payload(L->buf, in, L->fd_to_send);
	for (uint32_t i = 0; i < in->nobj; i++)
		L->offs[i] = in->obj_off[i];
	if (write_full(L->instr_fd, in, sizeof(*in))) {
		fail(L, "op %u: instruction pipe", L->opno);
		return;
	}
	ret = send_txn(&L->cb, BC_TRANSACTION, in->opno, TF_ACCEPT_FDS, L->buf, in->data_size,
		       L->offs, in->nobj * sizeof(binder_size_t), extra);
	while (!ret) {
		ret = binder_next_event(&L->cb, &L->cr, &ev);
		if (!ret && ev.cmd != BR_TRANSACTION_COMPLETE) {
			ret = ev.cmd;
			break;
		}
	}
	if (ret != BR_REPLY) {
		trace(L, "%s -> %s", desc, brs(ret));
		return;
	}
	if (get_report(L, in->opno, &rep))
		return;
	fmt_report(&rep, s, sizeof(s));
	/* Mirror the server's frees and hold. */
	if (in->free_all) {
		while (L->nheld)
			note_freed(L, L->nheld - 1 - (in->pat % L->nheld));
	}
	for (uint32_t i = 0; i < in->nfree; i++)
		if (in->free_idx[i] < L->nheld)
			note_freed(L, in->free_idx[i]);
	if (in->hold)
		note_held(L, in->opno, (uint32_t)bsize(in->data_size, in->nobj * 8, extra), 0);
	if (rep.held != L->nheld)
		fail(L, "op %u: server holds %u buffers, client thinks %u", L->opno, rep.held, L->nheld);

	const uint8_t *rp = (const void *)(uintptr_t)ev.tr.data.ptr.buffer;
	long bad = ev.tr.data_size == in->reply_size ?
		pattern_check(rp, in->reply_size, in->pat ^ 0xa5a5a5a5u) : -2;
	uint32_t roff = (uint32_t)(ev.tr.data.ptr.buffer - (binder_uintptr_t)L->cb.map);
	int rc1 = binder_free_buffer(&L->cb, ev.tr.data.ptr.buffer), rc2 = 0;

	if (bad != -1)
		fail(L, "op %u: reply corrupted (%ld)", L->opno, bad);
	if (client_double_free)
		rc2 = binder_free_buffer(&L->cb, ev.tr.data.ptr.buffer);
	trace(L, "%s -> %s %s rep off=%u size=%llu intact=%d reply_br=%s free_rc=%d%s", desc,
	      brs(ret), s, roff, (unsigned long long)ev.tr.data_size, bad == -1,
	      brs(rep.reply_br), rc1, client_double_free ? (rc2 ? " refree=err" : " refree=0") : "");
	release_queue(L, in->free_all);
}

static void do_oneway(struct lockstep *L, struct instr *in, uint64_t extra, const char *kind)
{
	struct binder_event ev;
	long ret;
	uint32_t size = (uint32_t)bsize(in->data_size, in->nobj * 8, extra);

	build_payload(L->buf, in, L->fd_to_send);
	for (uint32_t i = 0; i < in->nobj; i++)
		L->offs[i] = in->obj_off[i];
	ret = send_txn(&L->cb, BC_TRANSACTION, in->opno, TF_ONE_WAY | TF_ACCEPT_FDS, L->buf,
		       in->data_size, L->offs, in->nobj * sizeof(binder_size_t), extra);
	if (!ret)
		ret = binder_next_event(&L->cb, &L->cr, &ev) ?: (long)ev.cmd;
	if (ret != BR_TRANSACTION_COMPLETE && ret != BR_ONEWAY_SPAM_SUSPECT) {
		trace(L, "%s size=%u objs=%u extra=%llu hold=%u -> %s", kind, in->data_size, in->nobj,
		      (unsigned long long)extra, in->hold, brs(ret));
		return;
	}
	int spam = ret == BR_ONEWAY_SPAM_SUSPECT;

	if (L->async_busy || L->nqueue) {
		if (L->nqueue == MAX_QUEUE) {
			fail(L, "op %u: one-way queue overflow", L->opno);
			return;
		}
		L->queue[L->nqueue] = *in;
		L->queue_size[L->nqueue++] = size;
		L->held_bytes += size;
		L->async_bytes += size;
		trace(L, "%s size=%u objs=%u extra=%llu hold=%u -> BR_TRANSACTION_COMPLETE spam=%d queued=%u",
		      kind, in->data_size, in->nobj, (unsigned long long)extra, in->hold, spam,
		      L->nqueue);
		return;
	}
	struct report rep;
	char s[512];

	if (write_full(L->instr_fd, in, sizeof(*in)) || get_report(L, in->opno, &rep))
		return;
	fmt_report(&rep, s, sizeof(s));
	if (in->hold) {
		note_held(L, in->opno, size, 1);
		L->async_busy = 1;
	}
	trace(L, "%s size=%u objs=%u extra=%llu hold=%u -> BR_TRANSACTION_COMPLETE spam=%d %s", kind,
	      in->data_size, in->nobj, (unsigned long long)extra, in->hold, spam, s);
}

static void do_overflow(struct lockstep *L, int variant)
{
	struct instr in = { .opno = L->opno };
	uint64_t data = 8, offs = 0, extra = 0;
	uint32_t v = variant < 0 ? rn(6) : (uint32_t)variant;
	struct binder_event ev;
	long ret;

	switch (v) {
	case 0: data = UINT64_MAX - 7; break;
	case 1: offs = UINT64_MAX & ~7ull; break;
	case 2: extra = UINT64_MAX & ~7ull; break;
	case 3: data = UINT64_MAX / 2; offs = UINT64_MAX / 2 + 8; break;
	case 4: data = L->map + 1; break;           /* larger than the mapping */
	case 5: data = 16; offs = 4; break;         /* offsets not aligned */
	}
	in.data_size = (uint32_t)data;
	pattern_fill(L->buf, 64, 1);
	memset(L->offs, 0, sizeof(L->offs));
	/* A call the server would answer if it ever arrived. */
	write_full(L->instr_fd, &in, sizeof(in));
	ret = send_txn(&L->cb, BC_TRANSACTION, L->opno, 0, L->buf, data, L->offs, offs, extra);
	while (!ret) {
		ret = binder_next_event(&L->cb, &L->cr, &ev);
		if (!ret && ev.cmd != BR_TRANSACTION_COMPLETE) {
			ret = ev.cmd;
			break;
		}
	}
	trace(L, "overflow v=%u -> %s", v, brs(ret));
	if (ret == BR_REPLY) {
		fail(L, "op %u: overflowing call %u was accepted", L->opno, v);
		binder_free_buffer(&L->cb, ev.tr.data.ptr.buffer);
	}
}

static void new_instr(struct lockstep *L, struct instr *in)
{
	memset(in, 0, sizeof(*in));
	in->opno = L->opno;
	in->pat = op_pattern(L->seed, L->opno);
}

static uint32_t reply_size(void)
{
	uint32_t r = rn(100);

	if (r < 45)
		return 0;
	if (r < 70)
		return rn(64);
	if (r < 90)
		return PG * (1 + rn(3)) + rn(33) - 16;
	return rn(48 * 1024);
}

/* The index in the held list of the buffer of op @opno, or -1. */
static int held_index(struct lockstep *L, uint32_t opno)
{
	for (uint32_t k = 0; k < L->nheld; k++)
		if (L->held[k].opno == opno)
			return (int)k;
	return -1;
}

static void one_op(struct lockstep *L)
{
	struct instr in;
	uint32_t r, kind;

	new_instr(L, &in);
	if (L->script_pos < L->nscript) {
		kind = L->script[L->script_pos];
		r = L->script_arg[L->script_pos++];
	} else {
		r = rn(1000);
		if (L->nheld >= MAX_HELD - 4 || L->nqueue >= MAX_QUEUE - 10)
			kind = OP_FREE;
		else if (r < 330) kind = OP_CALL;
		else if (r < 560) kind = OP_ONEWAY;
		else if (r < 720) kind = OP_FREE;
		else if (r < 780) kind = OP_BADFREE;
		else if (r < 820) kind = OP_OVERFLOW;
		else if (r < 850) kind = OP_DROP;
		else if (r < 880) kind = OP_BURST;
		else if (r < 960) kind = OP_HOLES;
		else kind = OP_CALL;
		r = 0;
	}

	switch (kind) {
	case OP_CALL:
	case OP_CALL_SIZE:
	case OP_CALL_HOLD_SIZE: {
		uint64_t extra = pct(12) ? 8 * rn(1 + rn(1024)) : 0;

		in.data_size = kind == OP_CALL ? pick_size(L, 0) : r;
		in.hold = kind == OP_CALL_HOLD_SIZE || (kind == OP_CALL && pct(35));
		in.reply_size = kind == OP_CALL ? reply_size() : 0;
		if (kind == OP_CALL && pct(25))
			pick_objects(&in);
		if (kind == OP_CALL && L->nheld && pct(20)) {
			in.nfree = 1;
			in.free_idx[0] = rn(L->nheld);
		}
		do_call(L, &in, kind == OP_CALL ? extra : 0, "call", pct(4));
		break;
	}
	case OP_ONEWAY: {
		in.data_size = pick_size(L, 1);
		in.hold = pct(30);
		if (pct(20))
			pick_objects(&in);
		do_oneway(L, &in, pct(8) ? 8 * rn(256) : 0, "oneway");
		break;
	}
	case OP_FREE_OPNO:   /* free the buffer of op @r (scripted) */
	case OP_FREE_OPNO2: { /* free op @r, then op @r - 2, in one call */
		int k = held_index(L, r);

		in.data_size = 8;
		if (k >= 0) {
			in.free_idx[in.nfree++] = (uint32_t)k;
			if (kind == OP_FREE_OPNO2) {
				int k2 = held_index(L, r - 2);

				if (k2 > k)
					k2--; /* counted after the first removal */
				if (k2 >= 0)
					in.free_idx[in.nfree++] = (uint32_t)k2;
			}
		}
		do_call(L, &in, 0, "free", 0);
		break;
	}
	case OP_FREE: {
		in.data_size = rn(3) * 8;
		in.nfree = L->nheld ? 1 + rn(L->nheld < MAX_FREE ? L->nheld : MAX_FREE) : 0;
		/* Distinct indices, counted after the previous removals. */
		for (uint32_t i = 0; i < in.nfree; i++)
			in.free_idx[i] = rn(L->nheld - i);
		do_call(L, &in, 0, "free", 0);
		break;
	}
	case OP_BADFREE:
		in.data_size = 8;
		in.bad = 1 + rn(5);
		in.bad_arg = rn(1u << 20);
		do_call(L, &in, 0, "badfree", 0);
		break;
	case OP_OVERFLOW:
		do_overflow(L, -1);
		break;
	case OP_OVERFLOW_V:
		do_overflow(L, (int)r);
		break;
	case OP_ONEWAY_SIZE:
	case OP_ONEWAY_HOLD_SIZE:
		in.data_size = r;
		in.hold = kind == OP_ONEWAY_HOLD_SIZE;
		do_oneway(L, &in, 0, "oneway");
		break;
	case OP_DROP:
		do_drop_caches();
		trace(L, "drop_caches");
		break;
	case OP_BURST: {
		/* One held one-way call, then enough queued ones to look like spam. */
		uint32_t count = 6 + rn(50), total = L->map * 45 / 100, each = total / count;

		in.data_size = each;
		in.hold = 1;
		do_oneway(L, &in, 0, "burst");
		/* The rest of the burst: queued calls (scripted as one-way ops). */
		for (uint32_t i = 1; i < count && !L->failures; i++) {
			L->opno++;
			cur_op = L->opno;
			new_instr(L, &in);
			in.data_size = each - 8 + rn(16);
			do_oneway(L, &in, 0, "burst");
		}
		break;
	}
	case OP_HOLES: {
		/*
		 * A s1, B s2, C s1, D s2, all held; free C, then A; then a call
		 * smaller than s1: which of the equal holes does it get?
		 */
		uint32_t s1 = 512 + rn(L->map / 16 > 8192 ? 8192 : L->map / 16 + 1);
		uint32_t s2 = rn(200);
		uint32_t a = L->opno;

		L->nscript = L->script_pos = 0;
		L->script[L->nscript] = OP_CALL_HOLD_SIZE; L->script_arg[L->nscript++] = s2;
		L->script[L->nscript] = OP_CALL_HOLD_SIZE; L->script_arg[L->nscript++] = s1;
		L->script[L->nscript] = OP_CALL_HOLD_SIZE; L->script_arg[L->nscript++] = s2;
		if (pct(70)) { /* C then A in one call: nothing allocated in between */
			L->script[L->nscript] = OP_FREE_OPNO2; L->script_arg[L->nscript++] = a + 2;
		} else { /* two calls: the second call's own buffer lands in C's hole */
			L->script[L->nscript] = OP_FREE_OPNO; L->script_arg[L->nscript++] = a + 2;
			L->script[L->nscript] = OP_FREE_OPNO; L->script_arg[L->nscript++] = a;
		}
		L->script[L->nscript] = pct(50) ? OP_CALL_HOLD_SIZE : OP_CALL_SIZE;
		L->script_arg[L->nscript++] = s1 / 2 + rn(s1 / 2);
		in.data_size = s1;
		in.hold = 1;
		do_call(L, &in, 0, "holes", 0);
		break;
	}
	case OP_END:
		in.data_size = 0;
		in.free_all = 1;
		do_call(L, &in, 0, "end", 0);
		break;
	}
}

/* The server's mapping: by seed % 6. */
static const size_t map_sizes[] = { 16 * 1024, 128 * 1024, 1024 * 1024, 4096 * 1024,
				    19 * 4096, 75 * 4096 };

/* Fork the server, open the client's connection: 0, or -1 with @why. */
static int ls_start(struct lockstep *L, uint32_t seed, size_t map, char *why, size_t whylen)
{
	int ip[2], rp[2], dummy[2];
	int32_t status = -1;
	uint32_t one = 1;

	L->seed = seed;
	L->map = map;
	L->buf = malloc(L->map + 2 * PG + 64);
	cur_seed = seed;
	cur_op = 0;
	if (pipe(ip) || pipe(rp) || pipe(dummy)) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	L->srv = fork();
	if (L->srv == 0) {
		close(ip[1]);
		close(rp[0]);
		alarm(0);
		server_main(seed, L->map, ip[0], rp[1]);
	}
	close(ip[0]);
	close(rp[1]);
	L->instr_fd = ip[1];
	L->report_fd = rp[0];
	L->fd_to_send = dummy[0];
	L->dummy_w = dummy[1];
	alarm(30);
	if (read_full(L->report_fd, &status, sizeof(status)) || status) {
		snprintf(why, whylen, "seed %u: server did not start (%d)", seed, status);
		kill(L->srv, SIGKILL);
		waitpid(L->srv, NULL, 0);
		return -1;
	}
	if (binder_open(&L->cb, BINDER_DEV_DEFAULT, CLIENT_MAP)) {
		snprintf(why, whylen, "seed %u: client open failed", seed);
		kill(L->srv, SIGKILL);
		waitpid(L->srv, NULL, 0);
		return -1;
	}
	ioctl(L->cb.fd, BINDER_ENABLE_ONEWAY_SPAM_DETECTION, &one);
	if (!L->quiet)
		printf("# fuzz S=%u map=%zu client_map=%u\n", seed, L->map, CLIENT_MAP);
	return 0;
}

/* End the server and the client's connection. */
static void ls_stop(struct lockstep *L)
{
	alarm(0);
	kill(L->srv, SIGKILL);
	waitpid(L->srv, NULL, 0);
	close(L->instr_fd);
	close(L->report_fd);
	close(L->fd_to_send);
	close(L->dummy_w);
	binder_close(&L->cb);
	free(L->buf);
}

static int run_seed(uint32_t seed, uint32_t ops)
{
	struct lockstep *L = calloc(1, sizeof(*L));
	char name[48], why[128];
	int ok;

	snprintf(name, sizeof(name), "lockstep_seed_%u", seed);
	L->ops = ops;
	rng_state = seed * 0x2545f4914f6cdd1dull + 1;
	if (ls_start(L, seed, map_sizes[seed % 6], why, sizeof(why))) {
		ktap_result(0, name, "%s", why);
		free(L);
		return 1;
	}

	for (L->opno = 1; L->opno <= ops && !L->failures; L->opno++) {
		cur_op = L->opno;
		alarm(30);
		one_op(L);
		if (L->opno % 8 == 0)
			checkpoint(L);
		fflush(stdout);
	}
	/* Free everything the server holds (queued one-way calls too). */
	if (!L->failures) {
		struct binder_proc_stats s, c;
		int tries;

		struct instr in;

		cur_op = L->opno;
		new_instr(L, &in);
		in.free_all = 1;
		do_call(L, &in, 0, "end", 0);
		L->opno++;
		checkpoint(L);
		binder_proc_stats(L->srv, &s);
		if (L->nheld || L->nqueue || s.count)
			fail(L, "end: %u held, %u queued, %d buffers left", L->nheld, L->nqueue, s.count);
		if (s.active)
			fail(L, "end: %d pages still active with no buffer", s.active);
		for (tries = 0; tries < 10; tries++) {
			do_drop_caches();
			binder_proc_stats(L->srv, &s);
			binder_proc_stats(getpid(), &c);
			if (!s.active && !s.lru && !c.active && !c.lru)
				break;
			usleep(20000);
		}
		L->opno++;
		trace(L, "drop_caches");
		checkpoint(L);
		if (s.active || s.lru || s.free_ != (int)(L->map / PG))
			fail(L, "page balance: server pages %d:%d:%d after freeing everything and drop_caches",
			     s.active, s.lru, s.free_);
		if (c.active || c.lru)
			fail(L, "page balance: client pages %d:%d:%d", c.active, c.lru, c.free_);
	}
	ls_stop(L);
	ok = !L->failures;
	ktap_result(ok, name, "%s", ok ? "" : L->fail_why);
	free(L);
	return !ok;
}

static int lockstep_main(const char *seeds, uint32_t ops)
{
	char *list = strdup(seeds), *tok, *save = NULL;
	int n = 0, bad = 0;

	for (const char *p = seeds; *p; p++)
		n += *p == ',';
	ktap_header(n + 1);
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		bad += run_seed((uint32_t)strtoul(tok, NULL, 0), ops);
	free(list);
	return bad ? 1 : 0;
}


/* ---- threads: concurrent clients, invariants only ------------------------ */

#define T_PROCS 2
#define T_THREADS 2
#define T_SERVER_THREADS 4
#define T_MAP (1024u * 1024)
#define T_HOLD (1u << 31)
#define T_FREE_SOME (1u << 30)
#define T_FREE_ALL (1u << 29)
#define T_QUERY (1u << 28)
#define T_PAT_MASK 0x00ffffffu

/*
 * What a threads-mode call carries, all derived from its code: the
 * payload pattern, the objects (nobj at offsets 0, 24, 48) and the reply.
 */
static uint32_t t_nobj(uint32_t pat, uint64_t size)
{
	uint32_t n = pat % 4;

	return size >= 3 * OBJ_SIZE ? n : 0;
}

static uint32_t t_reply_size(uint32_t pat)
{
	return pat % 5 == 0 ? pat % 9000 : pat % 3 == 0 ? 4096 + pat % 17 - 8 : 0;
}

struct t_server {
	struct binder b;
	pthread_mutex_t lock;
	binder_uintptr_t held[64];
	uint32_t nheld;
	uint32_t corrupt, bad_objs;
	char why[128];
};

static void t_instr(struct instr *in, uint32_t pat, uint64_t size)
{
	memset(in, 0, sizeof(*in));
	in->pat = pat;
	in->data_size = (uint32_t)size;
	in->nobj = t_nobj(pat, size);
	for (uint32_t i = 0; i < in->nobj; i++) {
		in->obj_off[i] = i * OBJ_SIZE;
		in->obj_fd[i] = (pat >> (8 + i)) & 1;
	}
}

static void *t_server_thread(void *arg)
{
	struct t_server *S = arg;
	struct binder_reader r = { 0 };
	struct binder_event ev;
	uint8_t *out = malloc(16384);
	unsigned int rs = (unsigned int)(uintptr_t)&r;

	if (binder_write(&S->b, &(uint32_t){ BC_ENTER_LOOPER }, sizeof(uint32_t)))
		_exit(20);
	for (;;) {
		if (binder_next_event(&S->b, &r, &ev))
			_exit(21);
		if (ev.cmd != BR_TRANSACTION)
			continue;
		uint32_t code = ev.tr.code, pat = code & T_PAT_MASK, objs_ok, ok;
		binder_uintptr_t buf = ev.tr.data.ptr.buffer;
		struct instr in;
		char why[96] = "";

		t_instr(&in, pat, ev.tr.data_size);
		ok = check_payload((const void *)(uintptr_t)buf, ev.tr.data_size,
				   (const void *)(uintptr_t)ev.tr.data.ptr.offsets, ev.tr.offsets_size,
				   &in, &objs_ok, why, sizeof(why));
		pthread_mutex_lock(&S->lock);
		if (!ok && !S->corrupt++)
			snprintf(S->why, sizeof(S->why), "code %#x: %s", code, why);
		if (!objs_ok)
			S->bad_objs++;
		if (code & (T_FREE_SOME | T_FREE_ALL)) {
			uint32_t n = code & T_FREE_ALL ? S->nheld : 1u + (uint32_t)rand_r(&rs) % 3;

			while (n-- && S->nheld) {
				uint32_t k = rand_r(&rs) % S->nheld;

				binder_free_buffer(&S->b, S->held[k]);
				S->held[k] = S->held[--S->nheld];
			}
			/* Pointers that are never a buffer start: ignored by binder. */
			binder_free_buffer(&S->b, (binder_uintptr_t)S->b.map + 1 + 2 * (rand_r(&rs) % 1000));
			binder_free_buffer(&S->b, (binder_uintptr_t)S->b.map + T_MAP + PG);
		}
		if ((code & T_HOLD) && S->nheld < 64) {
			S->held[S->nheld++] = buf;
			buf = 0;
		}
		uint32_t counts[3] = { S->corrupt, S->bad_objs, S->nheld };

		pthread_mutex_unlock(&S->lock);
		if (buf)
			binder_free_buffer(&S->b, buf);
		if (ev.tr.flags & TF_ONE_WAY)
			continue;
		if (code & T_QUERY) {
			send_txn(&S->b, BC_REPLY, 0, 0, counts, sizeof(counts), NULL, 0, 0);
		} else {
			uint32_t n = t_reply_size(pat);

			pattern_fill(out, n, pat ^ 0xa5a5a5a5u);
			send_txn(&S->b, BC_REPLY, 0, 0, out, n, NULL, 0, 0);
		}
	}
	return NULL;
}

static void t_server_main(int ready_fd)
{
	static struct t_server S;
	struct flat_binder_object mgr = { .flags = FLAT_BINDER_FLAG_ACCEPTS_FDS };
	uint32_t one = 1, zero = 0;
	int32_t status = binder_open(&S.b, BINDER_DEV_DEFAULT, T_MAP);
	pthread_t t[T_SERVER_THREADS];

	pthread_mutex_init(&S.lock, NULL);
	for (int i = 0; !status && i < 200; i++) {
		if (ioctl(S.b.fd, BINDER_SET_CONTEXT_MGR_EXT, &mgr) == 0)
			break;
		status = errno == EBUSY && i < 199 ? 0 : -errno;
		usleep(10000);
	}
	if (!status) {
		ioctl(S.b.fd, BINDER_ENABLE_ONEWAY_SPAM_DETECTION, &one);
		ioctl(S.b.fd, BINDER_SET_MAX_THREADS, &zero);
	}
	for (int i = 0; !status && i < T_SERVER_THREADS; i++)
		if (pthread_create(&t[i], NULL, t_server_thread, &S))
			status = -EAGAIN;
	if (write_full(ready_fd, &status, sizeof(status)) || status)
		_exit(1);
	for (;;)
		pause();
}

struct t_client {
	struct binder *b;
	uint32_t seed, ops, id;
	uint32_t calls, failed, corrupt, spam;
	char why[128];
};

static void *t_client_thread(void *arg)
{
	struct t_client *C = arg;
	struct binder_reader r = { 0 };
	struct binder_event ev;
	uint64_t st = C->seed * 0x9e3779b97f4a7c15ull + C->id * 0x632be59bd9b4e019ull + 7;
	uint8_t *buf = malloc(70000);
	binder_size_t offs[MAX_OBJ] = { 0, OBJ_SIZE, 2 * OBJ_SIZE };
	int fds[2];

	if (pipe(fds))
		return NULL;
	for (uint32_t op = 0; op < C->ops; op++) {
		uint64_t z = (st += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		uint32_t kind = z % 100, pat = (uint32_t)(z >> 8) & T_PAT_MASK, sc = (z >> 40) % 10;
		uint64_t size = sc < 3 ? (z >> 44) % 49 : sc < 7 ? PG * (1 + (z >> 44) % 4) + (z >> 50) % 33 - 16
			      : (z >> 44) % 32768;
		uint32_t code = pat | ((z >> 60) % 3 == 0 ? T_HOLD : 0);
		struct instr in;
		long ret;

		if (kind < 8)
			code |= T_FREE_SOME;
		if (kind >= 98) {
			write_file("/proc/sys/vm/drop_caches", "3");
			continue;
		}
		if (kind >= 96) { /* an overflowing size: must fail */
			ret = send_txn(C->b, BC_TRANSACTION, pat, 0, buf, UINT64_MAX - 7, offs, 0, 0);
			while (!ret) {
				ret = binder_next_event(C->b, &r, &ev);
				if (!ret && ev.cmd != BR_TRANSACTION_COMPLETE) {
					ret = ev.cmd;
					break;
				}
			}
			if (ret == BR_REPLY) {
				binder_free_buffer(C->b, ev.tr.data.ptr.buffer);
				if (!C->corrupt++)
					snprintf(C->why, sizeof(C->why), "an overflowing size was accepted");
			}
			continue;
		}
		t_instr(&in, pat, size);
		build_payload(buf, &in, fds[0]);
		C->calls++;
		if (kind < 70) {
			ret = send_txn(C->b, BC_TRANSACTION, code, TF_ACCEPT_FDS, buf, size, offs,
				       in.nobj * sizeof(binder_size_t), 0);
			while (!ret) {
				ret = binder_next_event(C->b, &r, &ev);
				if (!ret && ev.cmd != BR_TRANSACTION_COMPLETE) {
					ret = ev.cmd;
					break;
				}
			}
			if (ret != BR_REPLY) {
				C->failed++;
				continue;
			}
			uint32_t n = t_reply_size(pat);
			long bad = ev.tr.data_size == n ?
				pattern_check((const void *)(uintptr_t)ev.tr.data.ptr.buffer, n, pat ^ 0xa5a5a5a5u) : -2;

			if (bad != -1 && !C->corrupt++)
				snprintf(C->why, sizeof(C->why), "reply to code %#x: %ld", code, bad);
			binder_free_buffer(C->b, ev.tr.data.ptr.buffer);
		} else {
			/* Held one-way buffers stall the node's queue: hold few. */
			code &= ~(T_FREE_SOME | T_HOLD);
			if ((z >> 56) % 8 == 0)
				code |= T_HOLD;
			ret = send_txn(C->b, BC_TRANSACTION, code, TF_ONE_WAY | TF_ACCEPT_FDS, buf,
				       size, offs, in.nobj * sizeof(binder_size_t), 0);
			if (!ret)
				ret = binder_next_event(C->b, &r, &ev) ?: (long)ev.cmd;
			if (ret == BR_ONEWAY_SPAM_SUSPECT)
				C->spam++;
			else if (ret != BR_TRANSACTION_COMPLETE)
				C->failed++;
		}
	}
	close(fds[0]);
	close(fds[1]);
	free(buf);
	return NULL;
}

/* One client process: T_THREADS threads on one binder connection. */
static void t_client_proc(uint32_t seed, uint32_t ops, uint32_t id, uint32_t *shared)
{
	struct binder b;
	struct t_client C[T_THREADS];
	pthread_t t[T_THREADS];
	uint32_t one = 1;

	if (binder_open(&b, BINDER_DEV_DEFAULT, CLIENT_MAP))
		_exit(30);
	ioctl(b.fd, BINDER_ENABLE_ONEWAY_SPAM_DETECTION, &one);
	for (uint32_t i = 0; i < T_THREADS; i++) {
		C[i] = (struct t_client){ .b = &b, .seed = seed, .ops = ops, .id = id * T_THREADS + i };
		pthread_create(&t[i], NULL, t_client_thread, &C[i]);
	}
	for (uint32_t i = 0; i < T_THREADS; i++) {
		pthread_join(t[i], NULL);
		shared[0] += C[i].calls;
		shared[1] += C[i].failed;
		shared[2] += C[i].corrupt;
		shared[3] += C[i].spam;
		if (C[i].corrupt && !shared[4])
			shared[4] = 1, printf("# client %u thread %u: %s\n", id, i, C[i].why);
	}
	binder_close(&b);
	_exit(0);
}

static int threads_main(uint32_t seed, uint32_t ops)
{
	int ready[2];
	int32_t status = -1;
	pid_t srv, cl[T_PROCS];
	uint32_t *shared = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t calls = 0, failed = 0, corrupt = 0, spam = 0, counts[3] = { 0, 0, 0 };
	struct binder b;
	struct binder_reader r = { 0 };
	struct binder_event ev;
	struct binder_proc_stats s = { 0 };
	int hung = 0, query_ok = 0;
	uint64_t t0 = now_ns();

	ktap_header(3);
	signal(SIGPIPE, SIG_IGN);
	if (pipe(ready))
		return 1;
	fflush(stdout);
	srv = fork();
	if (srv == 0) {
		close(ready[0]);
		t_server_main(ready[1]);
	}
	close(ready[1]);
	if (read_full(ready[0], &status, sizeof(status)) || status) {
		ktap_result(0, "threads_server_started", "status %d", status);
		kill(srv, SIGKILL);
		return 1;
	}
	for (uint32_t i = 0; i < T_PROCS; i++) {
		uint32_t *mine = shared + 8 * i;

		fflush(stdout);
		cl[i] = fork();
		if (cl[i] == 0) {
			alarm(240);
			t_client_proc(seed, ops, i, mine);
		}
	}
	for (uint32_t i = 0; i < T_PROCS; i++) {
		int ws = 0;

		waitpid(cl[i], &ws, 0);
		if (!WIFEXITED(ws) || WEXITSTATUS(ws))
			hung = 1;
		calls += shared[8 * i];
		failed += shared[8 * i + 1];
		corrupt += shared[8 * i + 2];
		spam += shared[8 * i + 3];
	}
	/* Free everything the server holds (queued one-way calls arrive late). */
	alarm(120);
	if (!binder_open(&b, BINDER_DEV_DEFAULT, CLIENT_MAP)) {
		for (int i = 0; i < 50; i++) {
			long ret = send_txn(&b, BC_TRANSACTION, T_FREE_ALL | T_QUERY, 0, NULL, 0, NULL, 0, 0);

			while (!ret) {
				ret = binder_next_event(&b, &r, &ev);
				if (!ret && ev.cmd != BR_TRANSACTION_COMPLETE) {
					ret = ev.cmd;
					break;
				}
			}
			if (ret == BR_REPLY) {
				if (ev.tr.data_size == sizeof(counts)) {
					memcpy(counts, (void *)(uintptr_t)ev.tr.data.ptr.buffer, sizeof(counts));
					query_ok = 1;
				}
				binder_free_buffer(&b, ev.tr.data.ptr.buffer);
			}
			usleep(20000);
			binder_proc_stats(srv, &s);
			if (query_ok && !s.count && !counts[2])
				break;
		}
		binder_close(&b);
	}
	for (int i = 0; i < 20; i++) {
		write_file("/proc/sys/vm/drop_caches", "3");
		binder_proc_stats(srv, &s);
		if (!s.active && !s.lru)
			break;
		usleep(50000);
	}
	alarm(0);
	ktap_diag("threads: %u processes x %u threads, %u ops each: %u calls (%u failed, %u spam suspects) in %llu ms",
		  T_PROCS, T_THREADS, ops, calls, failed, spam, (unsigned long long)(now_ns() - t0) / 1000000);
	ktap_diag("server: %u corrupted payloads, %u objects not as sent; end pages %d:%d:%d, %d buffers",
		  counts[0], counts[1], s.active, s.lru, s.free_, s.count);
	ktap_result(!hung && calls > 0, "threads_clients_finished", hung ? "a client died or hung" : NULL);
	ktap_result(query_ok && !corrupt && !counts[0] && !counts[1], "threads_payload_intact",
		    "%u replies and %u server payloads corrupted, %u object errors%s", corrupt, counts[0],
		    counts[1], query_ok ? "" : " (server did not answer)");
	ktap_result(!s.count && !s.active && !s.lru && s.free_ == (int)(T_MAP / PG), "threads_page_balance",
		    "server pages %d:%d:%d, %d buffers after freeing all and drop_caches", s.active, s.lru,
		    s.free_, s.count);
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	return ktap_failed ? 1 : 0;
}

/* ---- messages: the allocator's debug messages for a fixed sequence ------- */

#define MSG_PARAM "/sys/module/binder_linux/parameters/"

static void read_param(const char *name, char *out, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), MSG_PARAM "%s", name);
	out[0] = 0;
	f = fopen(path, "r");
	if (f) {
		if (!fgets(out, (int)len, f))
			out[0] = 0;
		fclose(f);
	}
	out[strcspn(out, "\n")] = 0;
}

static void set_param(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), MSG_PARAM "%s", name);
	write_file(path, val);
}

/*
 * Mask the pids where the allocator prints them: "<pid>: ...",
 * "<function>: <pid>..." and "pid <pid>"; other numbers (sizes) stay.
 */
static void mask_pids(char *line, const char *spid, const char *cpid)
{
	char out[1024];
	size_t n = 0;
	const char *p = line, *colon = strchr(line, ':');

	while (*p && n + 16 < sizeof(out)) {
		int at_pid = p == line || (colon && p == colon + 2 && p[-1] == ' ') ||
			     (p - line >= 4 && !strncmp(p - 4, "pid ", 4));
		size_t k = strspn(p, "0123456789");

		if (at_pid && k == strlen(spid) && !strncmp(p, spid, k)) {
			n += snprintf(out + n, sizeof(out) - n, "SERVER");
			p += k;
		} else if (at_pid && k == strlen(cpid) && !strncmp(p, cpid, k)) {
			n += snprintf(out + n, sizeof(out) - n, "CLIENT");
			p += k;
		} else if (k) {
			memcpy(out + n, p, k);
			n += k;
			p += k;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = 0;
	strcpy(line, out);
}

/* Hashed pointers (16 hex digits) and "(____ptrval____)" become PTR. */
static void mask_pointers(char *line)
{
	char out[1024];
	size_t n = 0;

	for (char *p = line; *p && n + 8 < sizeof(out);) {
		size_t k = 0;

		while (isxdigit((unsigned char)p[k]) && !isupper((unsigned char)p[k]))
			k++;
		if (k == 16 && (p == line || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[k])) {
			n += snprintf(out + n, sizeof(out) - n, "PTR");
			p += k;
		} else if (!strncmp(p, "(____ptrval____)", 16)) {
			n += snprintf(out + n, sizeof(out) - n, "PTR");
			p += 16;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = 0;
	strcpy(line, out);
}

/*
 * The sequence, in chunks of at most a few calls: the allocator's messages
 * are ratelimited per call site (10 per 5 s), so chunks are 5.5 s apart.
 * Map 16 KiB (4 pages, 8 KiB for one-way calls).
 */
struct msg_op { int kind; uint32_t arg; };
static const struct msg_op msg_chunks[][6] = {
	/* allocation, split, free; a held buffer (6.12: 9 "add free buffer") */
	{ { OP_CALL_SIZE, 100 }, { OP_CALL_HOLD_SIZE, 5000 }, { -1, 0 } },
	/* async alloc and free; no address space (and its summary; twice),
	 * invalid size; free of op 2 */
	{ { OP_ONEWAY_SIZE, 200 }, { OP_CALL_SIZE, 12000 }, { OP_OVERFLOW_V, 0 }, { OP_OVERFLOW_V, 1 },
	  { OP_FREE_OPNO, 2 }, { -1, 0 } },
	/* no async space: a held one-way buffer, then one that does not fit */
	{ { OP_ONEWAY_HOLD_SIZE, 3000 }, { OP_ONEWAY_SIZE, 6000 }, { OP_FREE_OPNO, 8 }, { -1, 0 } },
	/* one-way spam: a held call and four queued behind it */
	{ { OP_ONEWAY_HOLD_SIZE, 1500 }, { OP_ONEWAY_SIZE, 1500 }, { OP_ONEWAY_SIZE, 1500 },
	  { OP_ONEWAY_SIZE, 1500 }, { OP_ONEWAY_SIZE, 1500 }, { -1, 0 } },
	/* the burst released */
	{ { OP_FREE_OPNO, 11 }, { -1, 0 } },
	/* buffers held for the exit */
	{ { OP_CALL_HOLD_SIZE, 700 }, { OP_CALL_HOLD_SIZE, 4200 }, { -1, 0 } },
};

/*
 * Sleep until 5.5 s have passed in jiffies, the ratelimit's clock: under
 * TCG on a loaded host jiffies have been seen to lag CLOCK_MONOTONIC by
 * seconds. times() counts jiffies (in USER_HZ). At most 60 s.
 */
static void wait_ratelimit_window(void)
{
	long hz = sysconf(_SC_CLK_TCK);
	clock_t t0 = times(NULL);

	usleep(5500000);
	for (int i = 0; i < 600 && times(NULL) - t0 < hz * 55 / 10; i++)
		usleep(100000);
}

static void run_msg_ops(struct lockstep *L, const struct msg_op *ops, int n)
{
	for (int i = 0; i < n && ops[i].kind >= 0 && !L->failures; i++) {
		L->opno++;
		cur_op = L->opno;
		L->nscript = 1;
		L->script_pos = 0;
		L->script[0] = ops[i].kind;
		L->script_arg[0] = ops[i].arg;
		alarm(30);
		one_op(L);
	}
	alarm(0);
}

/*
 * The call sites that earlier tests use with the default mask (user
 * errors: no address space and its summary, one-way spam) report what
 * their ratelimit dropped at their next message: run them once before
 * the sequence, so that a report during it means a message of it was
 * dropped.
 */
static const struct msg_op msg_prime[] = {
	{ OP_CALL_SIZE, 20000 }, { OP_ONEWAY_HOLD_SIZE, 1500 }, { OP_ONEWAY_SIZE, 1500 },
	{ OP_ONEWAY_SIZE, 1500 }, { OP_ONEWAY_SIZE, 1500 }, { OP_ONEWAY_SIZE, 1500 },
	{ OP_FREE_OPNO, 2 }, { -1, 0 },
};

static int messages_main(void)
{
	char old_alloc[32], old_binder[32], why[128], rec[1200];
	struct lockstep *L = calloc(1, sizeof(*L));
	int kfd, nmsg = 0, nsupp = 0, ok = 1;
	char spid[16], cpid[16];
	uint32_t nchunks = sizeof(msg_chunks) / sizeof(msg_chunks[0]);

	ktap_header(1);
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	read_param("alloc_debug_mask", old_alloc, sizeof(old_alloc));
	read_param("debug_mask", old_binder, sizeof(old_binder));
	if (!old_alloc[0]) {
		ktap_result(0, "messages", "no " MSG_PARAM "alloc_debug_mask");
		return 1;
	}
	kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kfd < 0) {
		ktap_result(0, "messages", "/dev/kmsg: %s", strerror(errno));
		return 1;
	}
	/*
	 * Earlier tests' windows pass; then the prime's first message at each
	 * site reports what earlier tests had dropped; then its window passes.
	 */
	set_param("debug_mask", "0");
	wait_ratelimit_window();
	{
		struct lockstep *P = calloc(1, sizeof(*P));

		P->quiet = 1;
		if (!ls_start(P, 0, 16 * 1024, why, sizeof(why))) {
			run_msg_ops(P, msg_prime, 8);
			ls_stop(P);
		}
		free(P);
	}
	wait_ratelimit_window();
	lseek(kfd, 0, SEEK_END);
	set_param("alloc_debug_mask", "15");
	rng_state = 1;
	if (ls_start(L, 0, 16 * 1024, why, sizeof(why))) {
		ktap_result(0, "messages", "%s", why);
		ok = 0;
		goto out;
	}
	snprintf(spid, sizeof(spid), "%d", L->srv);
	snprintf(cpid, sizeof(cpid), "%d", getpid());
	L->opno = 0;
	for (uint32_t c = 0; c < nchunks && !L->failures; c++) {
		run_msg_ops(L, msg_chunks[c], 6);
		checkpoint(L);
		wait_ratelimit_window();
	}
	/* Process exit with held buffers: the deferred release's messages. */
	kill(L->srv, SIGKILL);
	waitpid(L->srv, NULL, 0);
	L->srv = 0;
	usleep(500000);
	close(L->instr_fd);
	close(L->report_fd);
	close(L->fd_to_send);
	close(L->dummy_w);
	binder_close(&L->cb);
	usleep(500000);
	for (;;) {
		ssize_t n = read(kfd, rec, sizeof(rec) - 1);
		char *msg;

		if (n < 0 && errno == EPIPE)
			continue; /* overwritten records */
		if (n <= 0)
			break;
		rec[n] = 0;
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		msg[strcspn(msg, "\n")] = 0;
		if (strstr(msg, " callbacks suppressed")) {
			/* A message was ratelimited: the sequence is incomplete. */
			printf("# fuzzmsg-suppressed %s\n", msg);
			nsupp++;
			continue;
		}
		if (strncmp(msg, "binder_linux: ", 14))
			continue;
		mask_pointers(msg);
		mask_pids(msg + 14, spid, cpid);
		printf("# fuzzmsg %s\n", msg + 14);
		nmsg++;
	}
	if (L->failures)
		ok = 0;
	ktap_result(ok && nmsg > 0, "messages", "%d allocator messages, %d ratelimit reports%s%s", nmsg,
		    nsupp, L->failures ? "; " : "", L->failures ? L->fail_why : "");
out:
	set_param("alloc_debug_mask", old_alloc);
	if (old_binder[0])
		set_param("debug_mask", old_binder);
	close(kfd);
	free(L->buf);
	free(L);
	return ktap_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "lockstep"))
		return lockstep_main(argv[2], (uint32_t)strtoul(argv[3], NULL, 0));
	if (argc >= 2 && !strcmp(argv[1], "messages"))
		return messages_main();
	if (argc >= 4 && !strcmp(argv[1], "threads"))
		return threads_main((uint32_t)strtoul(argv[2], NULL, 0), (uint32_t)strtoul(argv[3], NULL, 0));
	fprintf(stderr, "usage: binder_fuzz lockstep SEED[,SEED...] OPS | threads SEED OPS | messages\n");
	return 2;
}
