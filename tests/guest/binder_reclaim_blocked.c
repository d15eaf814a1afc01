// SPDX-License-Identifier: GPL-2.0
/*
 * binder_reclaim_blocked: no process can keep the shrinker from
 * reclaiming other processes' binder pages.
 *
 * Process A receives a 3 MiB reply and frees it: 768 unused pages at the
 * head of the global binder LRU. Then A either
 *   - control:  keeps its mapping (and maps 4 MiB of anonymous memory
 *               elsewhere, like the impostor does),
 *   - impostor: unmaps its binder mapping and maps anonymous memory at the
 *               same address, or
 *   - orphan:   forks a child that keeps the binder file open, and exits
 *               (its mm has no users; its binder_proc lives on).
 * Process B then frees a 512 KiB reply: 128 pages behind A's on the LRU.
 * drop_caches runs the shrinker three times.
 *
 * Expected with this project's allocator: B's LRU is empty; A's pages are
 * freed (free pages within a bound of the control run); the impostor's
 * anonymous memory is intact. The stock 6.12 allocator skips A's pages
 * forever (LRU_SKIP leaves them at the head, and every batch is spent on
 * them): its failures are reported as XFAIL, with the numbers.
 *
 * A fourth scenario keeps the service's allocator mutex busy with calls
 * while B's pages are reclaimed: B's LRU must still end empty.
 * Output: KTAP on stdout.
 */
#include <pthread.h>
#include "binder_service.h"

#define A_MAP (4u << 20)
#define A_REPLY (3u << 20)
#define B_MAP (1u << 20)
#define B_REPLY (512u << 10)
#define ANON_SEED 0x77
#define DEFICIT_BOUND_PAGES 96
/* KASAN's quarantine keeps freed memory for a while: a wider bound there,
 * still far below the ~900 pages the stock allocator leaves behind. */
#define DEFICIT_BOUND_PAGES_KASAN 384

enum mode { CONTROL, IMPOSTOR, ORPHAN };
static const char *const mode_names[] = { "control", "impostor", "orphan" };

static int is_stock;

/* Receive a FILL reply of @n bytes into @b's mapping, check it, free it. */
static int fill_and_free(struct binder *b, uint32_t n)
{
	struct binder_reader r = { 0 };
	struct binder_event ev;
	long ret = binder_call(b, &r, 0, CODE_FILL, &n, sizeof(n), &ev);
	int bad;

	if (ret != BR_REPLY)
		return -1;
	bad = ev.tr.data_size != n ||
	      pattern_check((const void *)(uintptr_t)ev.tr.data.ptr.buffer, n, n ^ 0x5a) >= 0;
	binder_free_buffer(b, ev.tr.data.ptr.buffer);
	return bad ? -1 : 0;
}

struct child {
	pid_t pid;
	int ready, go; /* ready: child -> parent; go: parent -> child */
};

static void child_signal(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(9);
}

static char child_wait(int fd)
{
	char c = 0;

	if (read(fd, &c, 1) != 1)
		return 0;
	return c;
}

/* Process A; exits 0 when its anonymous memory is intact at the end. */
static void process_a(enum mode mode, int ready, int go)
{
	struct binder b;
	uint8_t *anon;

	if (binder_open(&b, dev, A_MAP) || fill_and_free(&b, A_REPLY))
		child_signal(ready, 'E'), _exit(2);

	/* Every mode holds 4 MiB of anonymous memory, so free pages compare. */
	if (mode == IMPOSTOR) {
		munmap(b.map, A_MAP);
		anon = mmap(b.map, A_MAP, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	} else {
		anon = mmap(NULL, A_MAP, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (anon == MAP_FAILED)
		child_signal(ready, 'E'), _exit(3);
	pattern_fill(anon, A_MAP, ANON_SEED);
	if (mode == ORPHAN) {
		/* The child shares the anonymous pages and keeps A's binder
		 * file open after A exits. */
		if (fork() == 0) {
			child_wait(go);
			_exit(0);
		}
		child_signal(ready, 'R');
		_exit(0);
	}
	child_signal(ready, 'R');
	child_wait(go);
	_exit(pattern_check(anon, A_MAP, ANON_SEED) < 0 ? 0 : 1);
}

static void process_b(int ready, int go)
{
	struct binder b;

	if (binder_open(&b, dev, B_MAP) || fill_and_free(&b, B_REPLY))
		child_signal(ready, 'E'), _exit(2);
	child_signal(ready, 'R');
	child_wait(go);
	_exit(0);
}

static int spawn(struct child *c, void (*fn)(int, int), enum mode mode)
{
	int ready[2], go[2];

	if (pipe(ready) || pipe(go))
		return -1;
	c->pid = fork();
	if (c->pid == 0) {
		close(ready[0]);
		close(go[1]);
		if (fn)
			fn(ready[1], go[0]);
		else
			process_a(mode, ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);
	c->ready = ready[0];
	c->go = go[1];
	return child_wait(c->ready) == 'R' ? 0 : -1;
}

/* Report @ok, or on the stock module an expected failure (XFAIL). */
static void result_or_xfail(int ok, const char *name, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (is_stock && !ok)
		ktap_result(1, name, "XFAIL stock 6.12 skips such pages: %s", why);
	else
		ktap_result(ok, name, "%s", why);
}

struct outcome {
	int lru_b;
	long free_after;
	int a_status;
};

static int run_scenario(enum mode mode, struct outcome *o)
{
	struct child a, b;
	int active, lru, free_, status = 0;

	for (int i = 0; i < 3; i++)
		drop_caches();
	if (spawn(&a, NULL, mode))
		return -1;
	if (mode == ORPHAN)
		waitpid(a.pid, NULL, 0); /* A is gone; its child keeps the fd */
	if (spawn(&b, process_b, 0))
		return -1;

	for (int i = 0; i < 3; i++)
		drop_caches();
	if (binder_pages_state(b.pid, &active, &lru, &free_))
		return -1;
	o->lru_b = lru;
	o->free_after = free_pages();
	if (mode != ORPHAN && !binder_pages_state(a.pid, &active, &lru, &free_))
		ktap_diag("%s: A pages (active:lru:free) %d:%d:%d", mode_names[mode],
			  active, lru, free_);
	ktap_diag("%s: B has %d pages on the LRU after reclaim; %ld free pages",
		  mode_names[mode], o->lru_b, o->free_after);

	child_signal(a.go, 'G');
	child_signal(b.go, 'G');
	if (mode != ORPHAN)
		waitpid(a.pid, &status, 0);
	waitpid(b.pid, NULL, 0);
	o->a_status = status;
	close(a.go);
	close(b.go);
	close(a.ready);
	close(b.ready);
	/* Let binder release the closed processes before the next scenario. */
	usleep(200000);
	return 0;
}

/* ---- busy allocator mutex ------------------------------------------------ */

static volatile int hammering;

static void *hammer(void *arg)
{
	struct binder_reader r = { 0 };
	uint8_t data[256];
	struct binder_event ev;

	(void)arg;
	pattern_fill(data, sizeof(data), sizeof(data));
	while (hammering) {
		if (binder_call(&cb, &r, 0, CODE_ECHO, data, sizeof(data), &ev) == BR_REPLY)
			binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
	}
	return NULL;
}

static void test_busy_mutex(void)
{
	struct child b;
	pthread_t tid[4];
	int active, lru, free_;
	char why[128];
	const char *err;

	for (int i = 0; i < 3; i++)
		drop_caches();
	/* The service's pages go on the LRU first, B's behind them. */
	err = echo_once(2u << 20, why, sizeof(why));
	if (err || spawn(&b, process_b, 0)) {
		ktap_result(0, "busy_mutex_b_reclaimed", "setup: %s", err ? err : "spawn");
		return;
	}
	hammering = 1;
	for (int i = 0; i < 4; i++)
		pthread_create(&tid[i], NULL, hammer, NULL);
	for (int i = 0; i < 3; i++)
		drop_caches();
	hammering = 0;
	for (int i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	lru = -1;
	binder_pages_state(b.pid, &active, &lru, &free_);
	child_signal(b.go, 'G');
	waitpid(b.pid, NULL, 0);
	result_or_xfail(lru == 0, "busy_mutex_b_reclaimed",
			"B has %d pages on the LRU while the service was busy", lru);
}

int main(void)
{
	struct outcome o[3];
	long ret, freed_unmapped0, freed_unmapped1;
	long bound;

	ktap_header(9);
	setvbuf(stdout, NULL, _IOLBF, 0);
	is_stock = alloc_stat("pages_installed") < 0;
	bound = kernel_has_kasan() ? DEFICIT_BOUND_PAGES_KASAN : DEFICIT_BOUND_PAGES;
	map_size = A_MAP;
	ret = service_start();
	if (!ret)
		ret = binder_open(&cb, dev, map_size);
	ktap_result(ret == 0, "service_ready", ret ? "%s" : NULL, strerror((int)-ret));
	if (ret)
		return 1;

	freed_unmapped0 = alloc_stat("pages_freed_unmapped");
	for (int m = CONTROL; m <= ORPHAN; m++) {
		if (run_scenario(m, &o[m])) {
			ktap_result(0, "scenarios_ran", "%s scenario failed to set up",
				    mode_names[m]);
			return 1;
		}
	}
	freed_unmapped1 = alloc_stat("pages_freed_unmapped");
	ktap_result(1, "scenarios_ran", NULL);

	ktap_result(o[CONTROL].lru_b == 0, "control_b_reclaimed",
		    "B has %d pages on the LRU", o[CONTROL].lru_b);
	for (int m = IMPOSTOR; m <= ORPHAN; m++) {
		long deficit = o[CONTROL].free_after - o[m].free_after;
		char name[64];

		snprintf(name, sizeof(name), "%s_b_reclaimed", mode_names[m]);
		result_or_xfail(o[m].lru_b == 0, name, "B has %d pages on the LRU", o[m].lru_b);
		snprintf(name, sizeof(name), "%s_a_pages_returned", mode_names[m]);
		result_or_xfail(deficit <= bound, name,
				"%ld pages fewer free than in the control run (bound %ld)",
				deficit, bound);
	}
	ktap_result(WIFEXITED(o[IMPOSTOR].a_status) && WEXITSTATUS(o[IMPOSTOR].a_status) == 0,
		    "impostor_memory_intact", "A's anonymous memory %s",
		    WIFEXITED(o[IMPOSTOR].a_status) && WEXITSTATUS(o[IMPOSTOR].a_status) == 0 ?
		    "intact" : "CHANGED");
	if (is_stock)
		ktap_diag("stock module: no pages_freed_unmapped counter");
	else
		ktap_diag("pages freed without a zap: %ld", freed_unmapped1 - freed_unmapped0);

	test_busy_mutex();
	ret = service_stop();
	binder_close(&cb);
	return ktap_failed ? 1 : 0;
}
