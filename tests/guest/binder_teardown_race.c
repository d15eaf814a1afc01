// SPDX-License-Identifier: GPL-2.0
/*
 * binder_teardown_race: the shrinker racing mapping teardown and exit.
 *
 * Regression guard for the window between a page's isolation on the LRU
 * and the end of its reclaim: the allocator (and its mm) must stay alive
 * while the shrinker works on one of its pages, and teardown must take
 * every page off the LRU before freeing anything.
 *
 * Rounds of: several processes receive replies (their pages go on the
 * LRU), then unmap their binder mapping or exit at random moments, while a
 * reclaimer thread runs the shrinker without pause. The guest's splat
 * check (KASAN use-after-free, lockdep, list corruption) is the main
 * verdict; free pages must come back to the level before.
 *
 * Usage: binder_teardown_race [rounds]   (default 30)
 * Output: KTAP on stdout.
 */
#include <pthread.h>
#include "binder_service.h"

#define PROCS 4
#define LEAK_BOUND_PAGES 64
#define WARMUP_ROUNDS 5

static volatile int stop;

static void *reclaimer(void *arg)
{
	(void)arg;
	while (!stop)
		drop_caches();
	return NULL;
}

static void victim(uint32_t seed)
{
	struct binder b;
	struct binder_reader r = { 0 };
	struct binder_event ev;
	uint32_t n = 64 * 1024 + (seed % 16) * 4096 + seed % 999;

	if (binder_open(&b, dev, 512 * 1024))
		_exit(2);
	if (binder_call(&b, &r, 0, CODE_FILL, &n, sizeof(n), &ev) == BR_REPLY)
		binder_free_buffer(&b, ev.tr.data.ptr.buffer);
	usleep(seed % 3000);
	if (seed & 1)
		munmap(b.map, b.map_size);
	usleep((seed >> 3) % 3000);
	_exit(0);
}


int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 30, bad_exits = 0;
	pthread_t rt;
	long base = -1, after;
	long ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap_header(3);
	ret = service_start();
	ktap_result(ret == 0, "service_start", ret ? "%s" : NULL, strerror((int)-ret));
	if (ret)
		return 1;
	pthread_create(&rt, NULL, reclaimer, NULL);
	for (int i = -WARMUP_ROUNDS; i < rounds; i++) {
		pid_t pids[PROCS];

		for (int p = 0; p < PROCS; p++) {
			pids[p] = fork();
			if (pids[p] == 0)
				victim((uint32_t)((i + WARMUP_ROUNDS) * 7919 + p * 104729));
		}
		for (int p = 0; p < PROCS; p++) {
			int status = 0;

			waitpid(pids[p], &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				bad_exits++;
		}
		/* The first rounds warm up what any process churn allocates
		 * once; the balance covers the rest. */
		if (i == -1)
			base = settled_free_pages(-1, LEAK_BOUND_PAGES);
	}
	stop = 1;
	pthread_join(rt, NULL);
	ktap_result(bad_exits == 0, "victims_ran", "%d of %d failed", bad_exits, rounds * PROCS);

	after = settled_free_pages(base, LEAK_BOUND_PAGES);
	ktap_diag("%d rounds x %d processes", rounds, PROCS);
	ktap_free_pages_balance(base, after, LEAK_BOUND_PAGES, "");
	/* The service is the context manager for the next program: stop it. */
	if (binder_open(&cb, dev, map_size) == 0) {
		service_stop();
		binder_close(&cb);
	}
	return ktap_failed ? 1 : 0;
}
