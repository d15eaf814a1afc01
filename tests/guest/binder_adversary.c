// SPDX-License-Identifier: GPL-2.0
/*
 * binder_adversary: a receiving process that changes its own binder
 * mapping while transactions arrive.
 *
 * The receiver owns its page tables: it can zap its binder PTEs
 * (MADV_DONTNEED, as the OOM reaper does), make the mapping PROT_NONE,
 * fork with MADV_DOFORK so that a child maps the same pages, move the PTEs
 * elsewhere (MREMAP_DONTUNMAP), move or unmap (part of) the mapping, or
 * die mid-traffic (SIGKILL, a memory cgroup's OOM killer). None of that
 * may leak a page, free one the kernel still uses, or deliver data where
 * the receiver reads something else.
 *
 * Each scenario: a receiver (the context manager) with a pool of binder
 * threads and an adversary thread doing the scenario's operation in a
 * loop (or once, for those that end the mapping); CLIENTS processes x
 * CLIENT_THREADS threads sending calls of 100-3000 bytes, so that
 * buffers share pages; the driver running the binder shrinker all the
 * time, so that pages are reclaimed and installed again. Every call
 * carries a fresh seed and bytes derived from it; the receiver copies
 * the buffer out of its mapping with SIGBUS/SIGSEGV caught (a page it
 * zapped or protected itself is unreadable, as with the C allocator) and
 * replies with what it read: intact, unreadable, or wrong.
 *
 * Checks per scenario: traffic flowed; no wrong byte ever (stale or
 * zeroed data means a page slot and the PTE disagree); a failed call got
 * BR_DEAD_REPLY or BR_FAILED_REPLY, and only in scenarios that end the
 * mapping (the others: no failure at all). After all scenarios: free
 * pages back to the level before them, within LEAK_BOUND_PAGES (a lost
 * page reference leaks a page per occurrence: hundreds here). The
 * guest's splat check and kmemleak scan cover the kernel side (debug
 * kernel). A check the stock module fails is reported as XFAIL with its
 * numbers.
 *
 * Usage: binder_adversary [seconds per scenario] [race window us]
 *        (default 3 and 0; a window needs the test build's knob
 *        install_race_delay_us, which makes installers of a page overlap)
 * Output: KTAP on stdout.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include "binder_util.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define MAP_BYTES (128 * 1024)
#define MAP_PAGES (MAP_BYTES / 4096)
#define RECV_THREADS 3
#define CLIENTS 3
#define CLIENT_THREADS 3
#define MIN_CALL 100
#define MAX_CALL 3000
#define LEAK_BOUND_PAGES 64
#define CGROUP "/sys/fs/cgroup/binder_adversary"
#define KNOB "/sys/module/binder_linux/parameters/install_race_delay_us"

enum op {
	OP_NONE,
	OP_DONTNEED,
	OP_DONTNEED_PART,
	OP_MPROTECT,
	OP_DOFORK,
	OP_DONTUNMAP,
	OP_MUNMAP_PART,
	OP_MREMAP_MOVE,
	OP_SIGKILL,
	OP_OOM,
};

struct scenario {
	const char *name;
	enum op op;
	int ends_mapping; /* calls may fail (BR_DEAD_REPLY) once it happened */
};

static const struct scenario scenarios[] = {
	{ "no_adversary", OP_NONE, 0 },
	{ "madv_dontneed_whole", OP_DONTNEED, 0 },
	{ "madv_dontneed_part", OP_DONTNEED_PART, 0 },
	{ "mprotect_none", OP_MPROTECT, 0 },
	{ "madv_dofork_then_fork", OP_DOFORK, 0 },
	{ "mremap_dontunmap", OP_DONTUNMAP, 0 },
	{ "munmap_part", OP_MUNMAP_PART, 1 },
	{ "mremap_move", OP_MREMAP_MOVE, 1 },
	{ "sigkill", OP_SIGKILL, 1 },
	{ "oom_kill", OP_OOM, 1 },
};
#define NR_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* Counters of one scenario, shared by all its processes. */
struct shared {
	long sent, intact, unreadable, wrong_recv, wrong_reply;
	long dead_reply, failed_reply, other_failure;
	long ops, op_errors, children;
	int op_errno;
	int stop;
};

/* Reply of the receiver to each call. */
struct verdict {
	uint32_t status; /* V_* */
	uint32_t seed;	 /* the seed it read */
};
enum { V_INTACT, V_UNREADABLE, V_WRONG };

static struct shared *sh;
static const struct scenario *sc;
static int seconds = 3;
static int is_stock;
static const char *dev = BINDER_DEV_DEFAULT;

static void bump(long *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static int stopping(void)
{
	return __atomic_load_n(&sh->stop, __ATOMIC_RELAXED);
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* ---- reading the receiver's own mapping, faults caught -------------------- */

static __thread sigjmp_buf probe_jb;
static __thread volatile int probing;

static void on_fault(int sig)
{
	if (probing)
		siglongjmp(probe_jb, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Copies @len bytes of the mapping; -1 if the receiver cannot read them. */
static int probe_copy(void *dst, const void *src, size_t len)
{
	if (sigsetjmp(probe_jb, 1)) {
		probing = 0;
		return -1;
	}
	probing = 1;
	memcpy(dst, src, len);
	probing = 0;
	return 0;
}

/* ---- the receiver ---------------------------------------------------------- */

static struct binder rb;

static void *receiver_thread(void *arg)
{
	struct binder_reader r = { 0 };
	uint8_t copy[MAX_CALL];
	uint32_t cmd = BC_ENTER_LOOPER;
	struct binder_event ev;

	(void)arg;
	binder_write(&rb, &cmd, sizeof(cmd));
	for (;;) {
		struct verdict v = { V_WRONG, 0 };
		size_t len;

		if (binder_next_event(&rb, &r, &ev))
			return NULL;
		if (ev.cmd != BR_TRANSACTION)
			continue;
		len = ev.tr.data_size;
		if (len < 8 || len > MAX_CALL) {
			bump(&sh->wrong_recv);
		} else if (probe_copy(copy, (void *)(uintptr_t)ev.tr.data.ptr.buffer, len)) {
			v.status = V_UNREADABLE;
		} else {
			uint32_t hdr[2];

			memcpy(hdr, copy, sizeof(hdr));
			v.seed = hdr[0];
			if (hdr[1] == len && pattern_check(copy + 8, len - 8, hdr[0]) < 0)
				v.status = V_INTACT;
			else
				bump(&sh->wrong_recv);
		}
		binder_free_buffer(&rb, ev.tr.data.ptr.buffer);
		binder_send(&rb, BC_REPLY, 0, 0, 0, &v, sizeof(v));
	}
}

/* A child of MADV_DOFORK + fork: maps the same pages; reads them. */
static void dofork_child(void)
{
	volatile uint8_t sink = 0;
	uint8_t byte;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		for (int i = 0; i < MAP_PAGES; i++)
			if (!probe_copy(&byte, (uint8_t *)rb.map + i * 4096, 1))
				sink += byte;
		usleep(1000);
	}
}

static void op_done(int ret)
{
	bump(&sh->ops);
	if (ret) {
		bump(&sh->op_errors);
		sh->op_errno = errno;
	}
}

static void dontneed(uint32_t *seed, int part)
{
	size_t first = part ? rnd(seed) % MAP_PAGES : 0;
	size_t n = part ? 1 + rnd(seed) % (MAP_PAGES - first) : MAP_PAGES;

	op_done(madvise((uint8_t *)rb.map + first * 4096, n * 4096, MADV_DONTNEED));
}

/* What the scenario does to the receiver's own mapping. */
static void *adversary_thread(void *arg)
{
	uint32_t seed = (uint32_t)getpid() * 2654435761u | 1;
	int ncopies = 0;

	(void)arg;
	switch (sc->op) {
	case OP_NONE:
	case OP_SIGKILL:
		return NULL;
	case OP_MUNMAP_PART:
		sleep(1);
		op_done(munmap((uint8_t *)rb.map + MAP_BYTES / 2, MAP_BYTES / 4));
		return NULL;
	case OP_MREMAP_MOVE: {
		void *to = mmap(NULL, MAP_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		sleep(1);
		op_done(to == MAP_FAILED ||
			mremap(rb.map, MAP_BYTES, MAP_BYTES, MREMAP_MAYMOVE | MREMAP_FIXED, to) != to);
		return NULL;
	}
	case OP_OOM:
		sleep(1);
		op_done(0);
		for (;;) {
			uint8_t *p = malloc(1 << 20);

			if (p)
				memset(p, 0x5a, 1 << 20);
		}
	case OP_DOFORK:
		op_done(madvise(rb.map, MAP_BYTES, MADV_DOFORK));
		break;
	default:
		break;
	}
	for (int i = 0;; i++) {
		switch (sc->op) {
		case OP_DONTNEED:
			dontneed(&seed, 0);
			break;
		case OP_DONTNEED_PART:
			dontneed(&seed, 1);
			break;
		case OP_MPROTECT:
			op_done(mprotect(rb.map, MAP_BYTES, PROT_NONE));
			usleep(100 + rnd(&seed) % 400);
			op_done(mprotect(rb.map, MAP_BYTES, PROT_READ));
			if (i % 4 == 0)
				dontneed(&seed, 1);
			break;
		case OP_DOFORK:
			/* A few children map the pages; the parent zaps its own. */
			if (i % 50 == 0 && sh->children < 3) {
				pid_t pid = fork();

				if (pid == 0)
					dofork_child();
				op_done(pid < 0);
				if (pid > 0)
					bump(&sh->children);
			}
			dontneed(&seed, 1);
			break;
		case OP_DONTUNMAP:
			/* The PTEs move to a new VMA; ours stays, empty. */
			if (i % 50 == 0 && ncopies < 4) {
				void *to = mremap(rb.map, MAP_BYTES, MAP_BYTES,
						  MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);

				/* Kept until the receiver dies: its close would end ours. */
				op_done(to == MAP_FAILED);
				ncopies += to != MAP_FAILED;
			}
			dontneed(&seed, 1);
			break;
		default:
			return NULL;
		}
		usleep(rnd(&seed) % 300);
	}
	return NULL;
}

static int join_oom_cgroup(void)
{
	char pid[16];

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_file(CGROUP "/cgroup.procs", pid))
		return -1;
	return write_file("/proc/self/oom_score_adj", "1000");
}

static void receiver_main(int ready)
{
	pthread_t tid[RECV_THREADS + 1];
	struct sigaction sa = { .sa_handler = on_fault };
	int32_t status = 0;

	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	if (sc->op == OP_OOM && join_oom_cgroup())
		status = -EINVAL;
	if (!status)
		status = binder_open(&rb, dev, MAP_BYTES);
	/* The previous scenario's receiver may still be released. */
	for (int i = 0; !status && i < 100; i++) {
		if (ioctl(rb.fd, BINDER_SET_CONTEXT_MGR, 0) == 0)
			break;
		status = errno == EBUSY && i < 99 ? 0 : -errno;
		usleep(50000);
	}
	if (write(ready, &status, sizeof(status)) != sizeof(status) || status)
		_exit(1);
	for (int i = 0; i < RECV_THREADS; i++)
		pthread_create(&tid[i], NULL, receiver_thread, NULL);
	pthread_create(&tid[RECV_THREADS], NULL, adversary_thread, NULL);
	for (;;)
		pause();
}

/* ---- the clients --------------------------------------------------------------- */

static struct binder cbind;

static void *client_thread(void *arg)
{
	struct binder_reader r = { 0 };
	uint32_t seed = (uint32_t)(uintptr_t)arg * 7919u + (uint32_t)getpid() * 104729u + 1;
	uint8_t data[MAX_CALL];

	while (!stopping()) {
		size_t len = MIN_CALL + rnd(&seed) % (MAX_CALL - MIN_CALL + 1);
		uint32_t call_seed = rnd(&seed), hdr[2] = { call_seed, (uint32_t)len };
		struct binder_event ev;
		long ret;

		memcpy(data, hdr, sizeof(hdr));
		pattern_fill(data + 8, len - 8, call_seed);
		bump(&sh->sent);
		ret = binder_call(&cbind, &r, 0, 1, data, len, &ev);
		if (ret == BR_REPLY) {
			struct verdict v = { V_WRONG, 0 };

			if (ev.tr.data_size == sizeof(v))
				memcpy(&v, (void *)(uintptr_t)ev.tr.data.ptr.buffer, sizeof(v));
			binder_free_buffer(&cbind, ev.tr.data.ptr.buffer);
			if (v.status == V_UNREADABLE)
				bump(&sh->unreadable);
			else if (v.status == V_INTACT && v.seed == call_seed)
				bump(&sh->intact);
			else
				bump(&sh->wrong_reply);
			continue;
		}
		if (ret == BR_DEAD_REPLY)
			bump(&sh->dead_reply);
		else if (ret == BR_FAILED_REPLY)
			bump(&sh->failed_reply);
		else
			bump(&sh->other_failure);
		usleep(1000);
	}
	return NULL;
}

static void client_main(void)
{
	pthread_t tid[CLIENT_THREADS];

	if (binder_open(&cbind, dev, MAP_BYTES))
		_exit(1);
	for (long i = 0; i < CLIENT_THREADS; i++)
		pthread_create(&tid[i], NULL, client_thread, (void *)i);
	for (int i = 0; i < CLIENT_THREADS; i++)
		pthread_join(tid[i], NULL);
	_exit(0);
}

/* ---- the driver ------------------------------------------------------------------- */

/* A memory cgroup small enough that the receiver's hog meets its OOM killer. */
static int setup_oom_cgroup(void)
{
	mkdir("/sys/fs/cgroup", 0755);
	if (access("/sys/fs/cgroup/cgroup.subtree_control", F_OK) &&
	    system("mount -t cgroup2 none /sys/fs/cgroup"))
		return -1;
	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (mkdir(CGROUP, 0755) && errno != EEXIST)
		return -1;
	write_file(CGROUP "/memory.swap.max", "0");
	return write_file(CGROUP "/memory.max", "32M");
}

/* Waits up to @secs for @pid; SIGKILLs it after that. 1 if it had to. */
static int reap(pid_t pid, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return 0;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 1;
}

/* Reports @ok, or on the stock module an expected failure (XFAIL). */
static void result_or_xfail(int ok, const char *name, const char *why)
{
	if (is_stock && !ok)
		ktap_result(1, name, "XFAIL stock 6.12: %s", why);
	else
		ktap_result(ok, name, "%s", why);
}

static void run_scenario(const struct scenario *s)
{
	long stale0 = alloc_stat("install_stale_ptes_replaced");
	long retries0 = alloc_stat("install_retries");
	long races0 = alloc_stat("install_races_recovered");
	long reclaimed0 = alloc_stat("pages_reclaimed");
	long reused0 = alloc_stat("reclaim_vma_reused");
	long unmapped0 = alloc_stat("pages_freed_unmapped");
	pid_t receiver, clients[CLIENTS];
	int ready[2], hung = 0;
	int32_t status = -1;
	char name[96], why[200];
	uint64_t start, end;

	memset(sh, 0, sizeof(*sh));
	sc = s;
	if (s->op == OP_OOM && setup_oom_cgroup()) {
		snprintf(name, sizeof(name), "%s.traffic", s->name);
		ktap_result(1, name, "SKIP no memory cgroup: %s", strerror(errno));
		return;
	}
	if (pipe(ready))
		return;
	receiver = fork();
	if (receiver == 0) {
		close(ready[0]);
		receiver_main(ready[1]);
	}
	close(ready[1]);
	if (read(ready[0], &status, sizeof(status)) != sizeof(status))
		status = -EPIPE;
	close(ready[0]);
	if (status) {
		snprintf(name, sizeof(name), "%s.traffic", s->name);
		ktap_result(0, name, "receiver set-up failed: %s", strerror(-status));
		reap(receiver, 1);
		return;
	}
	for (int i = 0; i < CLIENTS; i++) {
		clients[i] = fork();
		if (clients[i] == 0)
			client_main();
	}
	start = now_ns();
	end = start + (uint64_t)seconds * 1000000000ull;
	while (now_ns() < end) {
		drop_caches();
		usleep(5000);
		/* One second into the traffic (drop_caches is slow on debug). */
		if (s->op == OP_SIGKILL && !sh->ops && now_ns() - start >= 1000000000ull) {
			kill(receiver, SIGKILL);
			bump(&sh->ops);
		}
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < CLIENTS; i++)
		hung += reap(clients[i], 30);
	kill(receiver, SIGKILL);
	waitpid(receiver, NULL, 0);

	long calls = sh->intact + sh->unreadable + sh->wrong_reply;
	long failed = sh->dead_reply + sh->failed_reply + sh->other_failure;
	long wrong = sh->wrong_recv + sh->wrong_reply;

	ktap_diag("%s: %ld calls (%ld intact, %ld unreadable to the receiver, %ld wrong), "
		  "%ld failed (%ld BR_DEAD_REPLY, %ld BR_FAILED_REPLY, %ld other); "
		  "%ld operations (%ld failed, errno %d), %ld children",
		  s->name, calls, sh->intact, sh->unreadable, wrong, failed, sh->dead_reply,
		  sh->failed_reply, sh->other_failure, sh->ops, sh->op_errors, sh->op_errno,
		  sh->children);
	if (stale0 >= 0)
		ktap_diag("%s: installer counters: %ld races recovered, %ld retries, %ld stale PTEs "
			  "replaced", s->name, alloc_stat("install_races_recovered") - races0,
			  alloc_stat("install_retries") - retries0,
			  alloc_stat("install_stale_ptes_replaced") - stale0);
	if (reused0 >= 0)
		ktap_diag("%s: shrinker counters: %ld pages reclaimed, %ld through a reused VMA, "
			  "%ld freed unmapped", s->name, alloc_stat("pages_reclaimed") - reclaimed0,
			  alloc_stat("reclaim_vma_reused") - reused0,
			  alloc_stat("pages_freed_unmapped") - unmapped0);

	snprintf(name, sizeof(name), "%s.traffic", s->name);
	ktap_result(calls > 0 && !hung && (s->op == OP_NONE || sh->ops > 0) && !sh->op_errors,
		    name, "%ld calls, %ld operations (%ld failed), %d clients hung", calls,
		    sh->ops, sh->op_errors, hung);
	snprintf(name, sizeof(name), "%s.no_wrong_bytes", s->name);
	snprintf(why, sizeof(why), "%ld of %ld delivered buffers read wrong", wrong, calls);
	result_or_xfail(wrong == 0, name, why);
	snprintf(name, sizeof(name), "%s.failures_clear", s->name);
	snprintf(why, sizeof(why), "%ld BR_DEAD_REPLY, %ld BR_FAILED_REPLY, %ld other%s",
		 sh->dead_reply, sh->failed_reply, sh->other_failure,
		 s->ends_mapping ? "" : " (none expected: the mapping lives on)");
	result_or_xfail(sh->other_failure == 0 && (s->ends_mapping || failed == 0), name, why);
}

int main(int argc, char **argv)
{
	const char *window = argc > 2 ? argv[2] : "0";
	long base, after;

	if (argc > 1)
		seconds = atoi(argv[1]);
	if (seconds < 1)
		return 2;
	if (strcmp(window, "0") && write_file(KNOB, window)) {
		fprintf(stderr, "binder_adversary: cannot set %s (not the test build?)\n", KNOB);
		return 2;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 2;
	is_stock = alloc_stat("pages_installed") < 0;
	ktap_header(3 * NR_SCENARIOS + 1);
	ktap_diag("%d s per scenario, %d clients x %d threads, %d KiB mapping, module %s, "
		  "race window %s us", seconds, CLIENTS, CLIENT_THREADS, MAP_BYTES / 1024,
		  is_stock ? "stock" : "ours", window);
	/*
	 * The first scenario, without adversary, warms up what a first run
	 * allocates once; the balance covers all the others.
	 */
	run_scenario(&scenarios[0]);
	base = settled_free_pages(-1, LEAK_BOUND_PAGES);
	for (size_t i = 1; i < NR_SCENARIOS; i++)
		run_scenario(&scenarios[i]);
	after = settled_free_pages(base, LEAK_BOUND_PAGES);
	if (kernel_has_kasan() || !is_stock) {
		ktap_free_pages_balance(base, after, LEAK_BOUND_PAGES, " after the adversarial scenarios");
	} else {
		char why[128];

		ktap_diag("free pages: %ld before, %ld after (difference %ld, bound %d)", base, after,
			  base - after, LEAK_BOUND_PAGES);
		snprintf(why, sizeof(why), "%ld pages missing", base - after);
		result_or_xfail(base - after <= LEAK_BOUND_PAGES, "free_pages_back_to_baseline", why);
	}
	if (strcmp(window, "0"))
		write_file(KNOB, "0");
	return ktap_failed ? 1 : 0;
}
