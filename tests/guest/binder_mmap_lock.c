// SPDX-License-Identifier: GPL-2.0
/*
 * binder_mmap_lock: whose tasks take the receiver's mmap lock, from the
 * kernel's mmap_lock tracepoints.
 *
 * A service (the receiver) maps binder; client threads of this process
 * send calls of growing sizes, so that every call needs fresh pages of the
 * service's mapping, and the service reads every buffer (page faults in
 * its own threads). The trace names the task of every mmap lock request
 * and the mm it is for: the service's mm is the one its own first mmap
 * locked. Counted: requests for the service's mm by the client threads.
 *
 * Expected: the stock allocator and the eager mode of ours take it from
 * the senders' context (stock in write mode, ours in read mode): more than
 * zero, which also shows that the count sees them. In page-fault mode
 * (install_on_fault=1) senders never touch the receiver's mm: zero; and
 * the service's own faults on its binder mapping (counted in debugfs) are
 * served under their VMA lock: the service requests its mmap lock fewer
 * times than it faults (user-mode faults try the VMA lock first; the
 * kernel's own accesses to user memory always take the mmap lock, which
 * is why KUnit cannot show this).
 * Nothing else runs meanwhile (no drop_caches: the shrinker would take the
 * lock from whichever task reclaims). The trace prints an mm as a hashed
 * pointer, which stays "(____ptrval____)" until the kernel's random pool is
 * ready: a blocking getrandom() first makes it ready (jitter entropy).
 * Output: KTAP on stdout.
 */
#include <pthread.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include "binder_service.h"

#define TRACING "/sys/kernel/debug/tracing"
#define MODE_PARAM "/sys/module/binder_linux/parameters/install_on_fault"
#define CLIENT_THREADS 2
#define CALLS 24

static pid_t client_tids[CLIENT_THREADS];
static int bad_calls;

static void *client_thread(void *arg)
{
	long i = (long)arg;
	struct binder_reader r = { 0 };
	uint8_t *data = malloc(map_size / 2);

	client_tids[i] = (pid_t)syscall(SYS_gettid);
	for (int c = 0; data && c < CALLS; c++) {
		/* Each call a little larger: it needs pages no call used yet. */
		size_t len = 4096 * (size_t)(c + 1) + 100 * (size_t)i;
		struct binder_event ev;
		long ret;

		pattern_fill(data, len, (uint32_t)len);
		ret = binder_call(&cb, &r, 0, CODE_ECHO, data, len, &ev);
		if (ret != BR_REPLY) {
			__atomic_add_fetch(&bad_calls, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (ev.tr.data_size != len ||
		    pattern_check((const void *)(uintptr_t)ev.tr.data.ptr.buffer, len,
				  (uint32_t)len ^ 0x5a) >= 0)
			__atomic_add_fetch(&bad_calls, 1, __ATOMIC_RELAXED);
		binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
	}
	free(data);
	return NULL;
}

static int is_client(long tid)
{
	for (int i = 0; i < CLIENT_THREADS; i++)
		if (client_tids[i] == tid)
			return 1;
	return 0;
}

int main(void)
{
	long by_clients = 0, by_clients_write = 0, by_service = 0, lines = 0, faults0, faults;
	char line[512], svc_mm[32] = "", mm[32], write[8], mode[8] = "";
	pthread_t tid[CLIENT_THREADS];
	int fault_mode, ok;
	FILE *f;

	ktap_header(4);
	{
		char seed[16];

		if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
			ktap_diag("getrandom: %s", strerror(errno));
	}
	f = fopen(MODE_PARAM, "r");
	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = 0;
		fclose(f);
	}
	fault_mode = mode[0] == 'Y';
	map_size = 1024 * 1024;
	ok = !write_file(TRACING "/tracing_on", "0") && !write_file(TRACING "/trace", "") &&
	     !write_file(TRACING "/buffer_size_kb", "4096") &&
	     !write_file(TRACING "/events/mmap_lock/enable", "1") &&
	     !write_file(TRACING "/tracing_on", "1");
	if (!ok || service_start() || binder_open(&cb, dev, map_size)) {
		ktap_result(0, "traffic", "set-up failed (tracing %s)", ok ? "on" : "unavailable");
		return 1;
	}
	faults0 = alloc_stat("faults");
	for (long i = 0; i < CLIENT_THREADS; i++)
		pthread_create(&tid[i], NULL, client_thread, (void *)i);
	for (int i = 0; i < CLIENT_THREADS; i++)
		pthread_join(tid[i], NULL);
	write_file(TRACING "/tracing_on", "0");
	faults = alloc_stat("faults") - faults0;
	service_stop();
	binder_close(&cb);
	ktap_result(!bad_calls, "traffic", "%d of %d calls failed or came back wrong", bad_calls,
		    CLIENT_THREADS * CALLS);

	f = fopen(TRACING "/trace", "r");
	while (f && fgets(line, sizeof(line), f)) {
		long t;

		if (line[0] == '#' || !strstr(line, "mmap_lock_start_locking:"))
			continue;
		lines++;
		t = trace_tid(line);
		trace_field(line, "mm=", mm, sizeof(mm));
		trace_field(line, "write=", write, sizeof(write));
		if (t == service_pid && !svc_mm[0])
			strcpy(svc_mm, mm);
		if (!svc_mm[0] || strcmp(mm, svc_mm))
			continue;
		if (t == service_pid)
			by_service++;
		else if (is_client(t)) {
			by_clients++;
			by_clients_write += !strcmp(write, "true");
		}
	}
	if (f)
		fclose(f);
	write_file(TRACING "/events/mmap_lock/enable", "0");
	write_file(TRACING "/trace", "");
	ktap_diag("%ld lock requests traced; for the service's mm: %ld by the service, %ld by the "
		  "client threads (%ld for writing); mode %s", lines, by_service, by_clients,
		  by_clients_write, fault_mode ? "page-fault" : "eager or stock");
	ktap_result(svc_mm[0] != 0 && !strstr(svc_mm, "ptrval"), "receiver_mm_identified", "mm=%s",
		    svc_mm);
	if (fault_mode)
		ktap_result(by_clients == 0, "senders_take_receiver_mmap_lock",
			    "%ld requests by senders (page-fault mode: none expected)", by_clients);
	else
		ktap_result(by_clients > 0, "senders_take_receiver_mmap_lock",
			    "%ld requests by senders (%ld for writing; eager and stock insert pages "
			    "from the sender's context)", by_clients, by_clients_write);
	if (fault_mode)
		ktap_result(faults > 0 && by_service < faults, "receiver_faults_without_mmap_lock",
			    "%ld faults served, %ld mmap lock requests by the service", faults,
			    by_service);
	else
		ktap_result(1, "receiver_faults_without_mmap_lock",
			    "SKIP eager mode and stock: senders map the pages");
	return ktap_failed ? 1 : 0;
}
