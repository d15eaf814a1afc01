// SPDX-License-Identifier: GPL-2.0
/*
 * binder_stress: everything at once, for a bounded time.
 *
 * - a service process (the context manager) with a pool of binder threads
 *   and one thread that maps, touches and unmaps its own memory in a loop
 *   (page faults and mmap calls under its mmap lock);
 * - N client processes x M threads sending sync and one-way calls of
 *   random sizes (many straddling page boundaries), data checked on both
 *   sides;
 * - a reclaimer forcing the binder shrinker (drop_caches) all the time;
 * - chaos: clients are SIGKILLed at random mid-transaction, and some
 *   clients unmap their own binder mapping while calls are in flight;
 *   the supervisor replaces them.
 *
 * At the end every call either succeeded with intact data or failed with
 * an error the driver documents (BR_DEAD_REPLY, BR_FAILED_REPLY); the
 * processes exit; free pages return to the level before (within a bound).
 * The guest's splat check and kmemleak scan cover the kernel side.
 *
 * Usage: binder_stress [seconds] [clients] [threads]  (default 30 3 3)
 * Output: KTAP on stdout.
 */
#include <pthread.h>
#include <signal.h>
#include "binder_service.h"

#define MAX_CALL (48 * 1024)
#define LEAK_BOUND_PAGES 192
#define SERVICE_THREADS 3

struct shared {
	long sync_ok, oneway_ok, failed_documented, bad, service_bad;
	long kills, unmaps, spawned;
	int stop;
};

static struct shared *sh;
static int seconds = 30, nclients = 3, nthreads = 3;

static void bump(long *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

static uint32_t rnd(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

/* ---- the service: a pool of looper threads -------------------------------- */

static struct binder svc;

static void *service_thread(void *arg __attribute__((unused)))
{
	struct binder_reader r = { 0 };
	static __thread uint8_t out[MAX_CALL + 8];
	uint32_t cmd = BC_ENTER_LOOPER;
	struct binder_event ev;

	binder_write(&svc, &cmd, sizeof(cmd));
	for (;;) {
		if (binder_next_event(&svc, &r, &ev))
			return NULL;
		if (ev.cmd != BR_TRANSACTION)
			continue; /* failed replies to dead clients are expected */
		const uint8_t *data = (const void *)(uintptr_t)ev.tr.data.ptr.buffer;
		size_t len = ev.tr.data_size;
		int ok = len <= MAX_CALL && pattern_check(data, len, (uint32_t)len) < 0;

		if (!ok)
			bump(&sh->service_bad);
		binder_free_buffer(&svc, ev.tr.data.ptr.buffer);
		if (ev.tr.flags & TF_ONE_WAY)
			continue;
		if (!ok)
			len = 0;
		pattern_fill(out, len, (uint32_t)len ^ 0x5a);
		binder_send(&svc, BC_REPLY, 0, 0, 0, out, len);
	}
}

/* Page faults and mmap/munmap on the service's own memory. */
static void *service_mm_thread(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		uint8_t *p = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			continue;
		for (int i = 0; i < 16; i++)
			p[i * 4096] = (uint8_t)i;
		munmap(p, 64 * 1024);
	}
	return NULL;
}

static void service_main_stress(int ready)
{
	pthread_t tid[SERVICE_THREADS + 1];
	int32_t status;

	status = binder_open(&svc, dev, 1024 * 1024);
	if (!status && ioctl(svc.fd, BINDER_SET_CONTEXT_MGR, 0) < 0)
		status = -errno;
	if (!status) {
		uint32_t max = SERVICE_THREADS;

		ioctl(svc.fd, BINDER_SET_MAX_THREADS, &max);
	}
	if (write(ready, &status, sizeof(status)) != sizeof(status) || status)
		_exit(1);
	for (int i = 0; i < SERVICE_THREADS; i++)
		pthread_create(&tid[i], NULL, service_thread, i == 0 ? (void *)1 : NULL);
	pthread_create(&tid[SERVICE_THREADS], NULL, service_mm_thread, NULL);
	pthread_join(tid[SERVICE_THREADS], NULL);
	_exit(0);
}

/* ---- clients ---------------------------------------------------------------- */

static struct binder cl;
static volatile int unmapped;

static void *client_thread(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u ^ (uint32_t)getpid();
	struct binder_reader r = { 0 };
	static __thread uint8_t data[MAX_CALL];

	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		uint32_t x = rnd(&seed);
		/* Sizes around page boundaries, and some larger ones. */
		size_t len = (x % 4 == 0) ? x % MAX_CALL
					  : ((x >> 8) % 8) * 4096 + 4096 - 64 + (x >> 16) % 128;
		int oneway = (x >> 28) % 4 == 0;
		struct binder_event ev;
		long ret;

		if (len > MAX_CALL)
			len = MAX_CALL;
		pattern_fill(data, len, (uint32_t)len);
		if (oneway) {
			ret = binder_call_oneway(&cl, &r, 0, CODE_ONEWAY, data, len);
			if (ret == BR_TRANSACTION_COMPLETE || ret == BR_ONEWAY_SPAM_SUSPECT)
				bump(&sh->oneway_ok);
			else if (ret == BR_FAILED_REPLY || ret == BR_DEAD_REPLY)
				bump(&sh->failed_documented);
			else
				bump(&sh->bad);
			continue;
		}
		ret = binder_call(&cl, &r, 0, CODE_ECHO, data, len, &ev);
		if (ret == BR_REPLY) {
			const uint8_t *rep = (const void *)(uintptr_t)ev.tr.data.ptr.buffer;

			if (!unmapped && (ev.tr.data_size != len ||
					  pattern_check(rep, len, (uint32_t)len ^ 0x5a) >= 0))
				bump(&sh->bad);
			else
				bump(&sh->sync_ok);
			binder_free_buffer(&cl, ev.tr.data.ptr.buffer);
		} else if (ret == BR_FAILED_REPLY || ret == BR_DEAD_REPLY) {
			bump(&sh->failed_documented);
		} else {
			bump(&sh->bad);
		}
		if (unmapped)
			break;
	}
	return NULL;
}

static void client_main(int unmap_after_ms)
{
	pthread_t tid[16];

	if (binder_open(&cl, dev, 256 * 1024))
		_exit(2);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&tid[i], NULL, client_thread, (void *)(uintptr_t)(i + 1));
	if (unmap_after_ms) {
		usleep(unmap_after_ms * 1000);
		/* Calls in flight now get their replies refused. */
		unmapped = 1;
		munmap(cl.map, cl.map_size);
		bump(&sh->unmaps);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);
	_exit(0);
}

static pid_t spawn_client(uint32_t *seed)
{
	int unmap = rnd(seed) % 5 == 0 ? 50 + rnd(seed) % 400 : 0;
	pid_t pid = fork();

	if (pid == 0)
		client_main(unmap);
	bump(&sh->spawned);
	return pid;
}

/* ---- supervisor --------------------------------------------------------------- */

static void *reclaimer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		drop_caches();
		usleep(5000);
	}
	return NULL;
}


int main(int argc, char **argv)
{
	pid_t clients[16], service;
	uint32_t seed = 12345;
	int ready[2], status;
	int32_t svc_status = -1;
	pthread_t rt;
	long base, after;
	uint64_t end;

	if (argc > 1)
		seconds = atoi(argv[1]);
	if (argc > 2)
		nclients = atoi(argv[2]);
	if (argc > 3)
		nthreads = atoi(argv[3]);
	if (nclients < 1 || nclients > 16 || nthreads < 1 || nthreads > 16 || seconds < 1)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap_header(5);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	base = settled_free_pages(-1, LEAK_BOUND_PAGES);

	if (pipe(ready))
		return 1;
	service = fork();
	if (service == 0)
		service_main_stress(ready[1]);
	if (read(ready[0], &svc_status, sizeof(svc_status)) != sizeof(svc_status) || svc_status) {
		ktap_result(0, "service_started", "%s", strerror(-svc_status));
		return 1;
	}
	ktap_result(1, "service_started", NULL);

	pthread_create(&rt, NULL, reclaimer, NULL);
	for (int i = 0; i < nclients; i++)
		clients[i] = spawn_client(&seed);
	end = now_ns() + (uint64_t)seconds * 1000000000ull;
	while (now_ns() < end) {
		usleep(20000 + rnd(&seed) % 80000);
		int i = rnd(&seed) % nclients;
		pid_t done = waitpid(clients[i], &status, WNOHANG);

		if (done == 0 && rnd(&seed) % 3 == 0) {
			kill(clients[i], SIGKILL);
			waitpid(clients[i], &status, 0);
			bump(&sh->kills);
			done = clients[i];
		}
		if (done == clients[i])
			clients[i] = spawn_client(&seed);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	pthread_join(rt, NULL);
	for (int i = 0; i < nclients; i++) {
		/* A client stuck in a call would show here as a hang. */
		waitpid(clients[i], &status, 0);
	}
	kill(service, SIGKILL);
	waitpid(service, &status, 0);

	ktap_diag("%lds: %ld sync calls intact, %ld one-way sent, %ld refused as documented, "
		  "%ld bad; service saw %ld corrupt; %ld clients, %ld killed, %ld unmapped",
		  (long)seconds, sh->sync_ok, sh->oneway_ok, sh->failed_documented, sh->bad,
		  sh->service_bad, sh->spawned, sh->kills, sh->unmaps);
	ktap_result(sh->sync_ok > 0 && sh->oneway_ok > 0, "calls_made", "%ld sync, %ld one-way",
		    sh->sync_ok, sh->oneway_ok);
	ktap_result(sh->bad == 0, "client_results_intact_or_documented", "%ld bad", sh->bad);
	ktap_result(sh->service_bad == 0, "service_saw_intact_data", "%ld corrupt",
		    sh->service_bad);
	after = settled_free_pages(base, LEAK_BOUND_PAGES);
	ktap_free_pages_balance(base, after, LEAK_BOUND_PAGES, "");
	return ktap_failed ? 1 : 0;
}
