// SPDX-License-Identifier: GPL-2.0
/*
 * binder_race: concurrent installation of the same page.
 *
 * Each round reclaims every unused binder page (drop_caches), then several
 * client threads send small calls to one service at the same moment. Their
 * buffers are carved next to each other from the service's mapping, so
 * they share fresh pages and the senders race to install the same page:
 * with this project's allocator the losers find the winner's page when
 * they check again under the mmap lock, or get -EBUSY from vm_insert_page
 * and adopt it (counted in debugfs binder_alloc/stats). The
 * module's test-only knob install_race_delay_us widens the window so the
 * race is certain on a 2-vCPU guest. The knob exists only in the test
 * build of the module (make check runs this program there too); the
 * production build and the stock module have none.
 *
 * Checks: every reply intact (each thread has its own payload size, hence
 * its own pattern); races observed (our module); and after the processes
 * exit, free pages back to the level before the run, within a bound: a
 * page reference leaked on the race path (say, GUP's) would keep one page
 * per race.
 *
 * The driver runs twice; free pages are compared around the second run,
 * after the first warmed up one-time allocations. A leak of one page per
 * round (the shared page of each round) exceeds the bound at 100 rounds.
 *
 * Usage: binder_race [threads] [rounds]     (default 4 and 100)
 * Output: KTAP on stdout.
 */
#include <pthread.h>
#include "binder_service.h"

#define KNOB "/sys/module/binder_linux/parameters/install_race_delay_us"
#define LEAK_BOUND_PAGES 48

static int nthreads = 4, rounds = 100;
static pthread_barrier_t start_line, finish_line;
static int bad_replies;

struct worker {
	int id;
	struct binder_reader r;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t len = 200 + 8 * w->id;
	uint8_t data[512];

	pattern_fill(data, len, (uint32_t)len);
	for (int i = 0; i < rounds; i++) {
		struct binder_event ev;
		long ret;

		pthread_barrier_wait(&start_line);
		ret = binder_call(&cb, &w->r, 0, CODE_ECHO, data, len, &ev);
		if (ret != BR_REPLY) {
			__atomic_add_fetch(&bad_replies, 1, __ATOMIC_RELAXED);
		} else {
			const uint8_t *rep = (const void *)(uintptr_t)ev.tr.data.ptr.buffer;

			if (ev.tr.data_size != len ||
			    pattern_check(rep, len, (uint32_t)len ^ 0x5a) >= 0)
				__atomic_add_fetch(&bad_replies, 1, __ATOMIC_RELAXED);
			binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
		}
		pthread_barrier_wait(&finish_line);
	}
	return NULL;
}

/* The service and the clients, in a process of their own. */
static int driver(void)
{
	pthread_t tid[16];
	struct worker workers[16];

	if (service_start() || binder_open(&cb, dev, map_size))
		return 2;
	pthread_barrier_init(&start_line, NULL, nthreads + 1);
	pthread_barrier_init(&finish_line, NULL, nthreads + 1);
	for (int i = 0; i < nthreads; i++) {
		memset(&workers[i], 0, sizeof(workers[i]));
		workers[i].id = i;
		pthread_create(&tid[i], NULL, worker_main, &workers[i]);
	}
	for (int i = 0; i < rounds; i++) {
		drop_caches();
		pthread_barrier_wait(&start_line);
		pthread_barrier_wait(&finish_line);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);
	if (service_stop())
		return 3;
	binder_close(&cb);
	if (bad_replies)
		ktap_diag("%d of %d replies bad", bad_replies, nthreads * rounds);
	return bad_replies ? 1 : 0;
}


int main(int argc, char **argv)
{
	long races0, races1, base, after;
	int has_knob, status = 0;
	pid_t pid;

	if (argc > 1)
		nthreads = atoi(argv[1]);
	if (argc > 2)
		rounds = atoi(argv[2]);
	if (nthreads < 2 || nthreads > 16 || rounds < 1)
		return 2;

	ktap_header(4);
	has_knob = write_file(KNOB, "3000") == 0;
	ktap_diag("%d threads x %d rounds; race window knob %s", nthreads, rounds,
		  has_knob ? "set to 3000 us" : "absent (stock module)");
	/*
	 * A first run warms up what a first run allocates once (slab caches,
	 * per-cpu page lists, binder's own state), so that the second run's
	 * free-page balance shows only what it leaks.
	 */
	pid = fork();
	if (pid == 0)
		_exit(driver());
	waitpid(pid, &status, 0);
	races0 = alloc_stat("install_races_recovered");
	base = settled_free_pages(-1, LEAK_BOUND_PAGES);

	pid = fork();
	if (pid == 0)
		_exit(driver());
	waitpid(pid, &status, 0);
	if (has_knob)
		write_file(KNOB, "0");
	ktap_result(WIFEXITED(status) && WEXITSTATUS(status) != 2 && WEXITSTATUS(status) != 3,
		    "driver_ran", "status 0x%x", status);
	ktap_result(WIFEXITED(status) && WEXITSTATUS(status) == 0, "all_replies_intact",
		    "%d calls", nthreads * rounds);

	races1 = alloc_stat("install_races_recovered");
	if (races0 < 0) {
		ktap_result(1, "install_races_observed", "SKIP the stock module has no counters");
	} else if (!has_knob) {
		ktap_result(1, "install_races_observed",
			    "SKIP no race window knob: production build (the test build counts them)");
	} else {
		ktap_diag("install races recovered: %ld", races1 - races0);
		ktap_result(races1 - races0 > 0, "install_races_observed", "%ld races",
			    races1 - races0);
	}

	after = settled_free_pages(base, LEAK_BOUND_PAGES);
	ktap_free_pages_balance(base, after, LEAK_BOUND_PAGES, " after the second run");
	return ktap_failed ? 1 : 0;
}
