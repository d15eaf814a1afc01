// SPDX-License-Identifier: GPL-2.0
/*
 * binder_bench: the A/B benchmark's workloads, run in a guest with one
 * binder module; scripts/bench.sh boots the same guest with the stock and
 * with this project's module and compares. Every result is one line
 *   # BENCH {"workload": ..., "metric": value, ...}
 * (times in microseconds).
 *
 * Workloads (argv[1]):
 *   contention  a receiver R serves 32 KiB calls from 2 client processes x
 *               2 threads while a reclaimer runs the binder shrinker every
 *               2 ms, so R's pages are installed again and again; a thread
 *               of R maps 64 KiB, touches it and unmaps it in a loop. The
 *               same loop runs in a control process binder never maps
 *               into (CPU-sharing control).
 *   pressure    the same under memory pressure (swap on zram, a hog
 *               touching more than RAM); R's loop is bare mmap/munmap, so
 *               it measures only waiting for its mmap lock. Variant
 *               pressure-fault: the loop also touches its pages.
 *   steady      ping-pong with installed pages: 0 B, 4 KiB, 64 KiB.
 *   cold        short-lived processes each opening binder, mapping it and
 *               making their first calls (app launch).
 *   memory      kernel memory (slab) per binder process with a mapping and
 *               some installed pages.
 *
 * Usage: binder_bench WORKLOAD [seconds]
 */
#include <pthread.h>
#include <signal.h>
#include "binder_service.h"

#define CALL_SIZE (32 * 1024)
#define MAX_SAMPLES (1 << 20)

static int seconds = 5;
static volatile int *stop;

struct samples {
	uint64_t *v;
	size_t n;
};

static void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n < MAX_SAMPLES)
		s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile in microseconds of sorted samples. */
static double pct(struct samples *s, double p)
{
	if (!s->n)
		return 0;
	return s->v[(size_t)((s->n - 1) * p)] / 1000.0;
}

static struct samples *shared_samples(void)
{
	struct samples *s = mmap(NULL, sizeof(*s) + MAX_SAMPLES * sizeof(uint64_t),
				 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED)
		exit(1);
	s->v = (uint64_t *)(s + 1);
	s->n = 0;
	return s;
}

/* ---- the mm loop: R's third thread, and the control process ------------------ */

struct loop_args {
	struct samples *lat;
	int touch;
};

static void *mm_loop(void *arg)
{
	struct loop_args *a = arg;

	while (!*stop) {
		uint64_t t0 = now_ns();
		uint8_t *p = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p != MAP_FAILED) {
			if (a->touch)
				for (int i = 0; i < 16; i++)
					p[i * 4096] = 1;
			munmap(p, 64 * 1024);
		}
		samples_add(a->lat, now_ns() - t0);
	}
	return NULL;
}

/* ---- receiver R: binder threads plus the mm loop ------------------------------- */

static struct binder rb;

static void *r_binder_thread(void *arg)
{
	struct binder_reader r = { 0 };
	uint32_t cmd = BC_ENTER_LOOPER, ok = 0;
	struct binder_event ev;

	(void)arg;
	binder_write(&rb, &cmd, sizeof(cmd));
	while (!binder_next_event(&rb, &r, &ev)) {
		if (ev.cmd != BR_TRANSACTION)
			continue;
		binder_free_buffer(&rb, ev.tr.data.ptr.buffer);
		binder_send(&rb, BC_REPLY, 0, 0, 0, &ok, sizeof(ok));
	}
	return NULL;
}

static void receiver(int ready, struct samples *lat, int touch)
{
	pthread_t t[3];
	struct loop_args a = { lat, touch };
	int32_t status = binder_open(&rb, dev, 4u << 20);

	if (!status && ioctl(rb.fd, BINDER_SET_CONTEXT_MGR, 0) < 0)
		status = -errno;
	if (write(ready, &status, sizeof(status)) != sizeof(status) || status)
		_exit(1);
	pthread_create(&t[0], NULL, r_binder_thread, NULL);
	pthread_create(&t[1], NULL, r_binder_thread, NULL);
	pthread_create(&t[2], NULL, mm_loop, &a);
	pthread_join(t[2], NULL);
	_exit(0);
}

/* ---- clients -------------------------------------------------------------------- */

static struct samples *call_lat;
static struct binder cl;

static void *client_thread(void *arg)
{
	struct binder_reader r = { 0 };
	static __thread uint8_t data[CALL_SIZE];
	struct binder_event ev;

	(void)arg;
	while (!*stop) {
		uint64_t t0 = now_ns();

		if (binder_call(&cl, &r, 0, CODE_ECHO, data, CALL_SIZE, &ev) == BR_REPLY)
			binder_free_buffer(&cl, ev.tr.data.ptr.buffer);
		samples_add(call_lat, now_ns() - t0);
	}
	return NULL;
}

static void client(void)
{
	pthread_t t[2];

	if (binder_open(&cl, dev, 1u << 20))
		_exit(2);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, client_thread, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

static void hog(void)
{
	size_t size = 600u << 20;
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(1);
	while (!*stop)
		for (size_t i = 0; i < size && !*stop; i += 4096)
			p[i]++;
	_exit(0);
}

static void print_lat(const char *workload, const char *who, struct samples *s)
{
	qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
	printf("# BENCH {\"workload\": \"%s\", \"who\": \"%s\", \"rate\": %.1f, "
	       "\"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f}\n",
	       workload, who, s->n / (double)seconds, pct(s, 0.5), pct(s, 0.99), pct(s, 1.0));
}

static int contention(const char *workload, int pressure, int touch)
{
	struct samples *r_lat = shared_samples(), *c_lat = shared_samples();
	pid_t kids[8];
	int nk = 0, ready[2];
	int32_t status = -1;
	uint64_t end;

	call_lat = shared_samples();
	if (pipe(ready))
		return 1;
	if ((kids[nk++] = fork()) == 0)
		receiver(ready[1], r_lat, touch);
	if (read(ready[0], &status, sizeof(status)) != sizeof(status) || status)
		return 1;
	if ((kids[nk++] = fork()) == 0) {
		struct loop_args a = { c_lat, touch };

		mm_loop(&a);
		_exit(0);
	}
	for (int i = 0; i < 2; i++)
		if ((kids[nk++] = fork()) == 0)
			client();
	if (pressure && (kids[nk++] = fork()) == 0)
		hog();
	end = now_ns() + (uint64_t)seconds * 1000000000ull;
	while (now_ns() < end) {
		drop_caches();
		usleep(2000);
	}
	*stop = 1;
	for (int i = 1; i < nk; i++)
		waitpid(kids[i], NULL, 0);
	kill(kids[0], SIGKILL);
	waitpid(kids[0], NULL, 0);
	print_lat(workload, "receiver_loop", r_lat);
	print_lat(workload, "control_loop", c_lat);
	print_lat(workload, "calls", call_lat);
	return 0;
}

static int steady(void)
{
	static const size_t sizes[] = { 0, 4096, 65536 };
	static uint8_t data[65536];
	struct samples s = { malloc(MAX_SAMPLES * sizeof(uint64_t)), 0 };

	map_size = 1u << 20;
	if (service_start() || binder_open(&cb, dev, map_size))
		return 1;
	for (size_t k = 0; k < 3; k++) {
		char name[32];
		uint64_t end;

		pattern_fill(data, sizes[k], (uint32_t)sizes[k]);
		s.n = 0;
		/* Warm up: install the pages once. */
		for (int i = 0; i < 100; i++) {
			struct binder_event ev;

			if (binder_call(&cb, &cr, 0, CODE_ECHO, data, sizes[k], &ev) == BR_REPLY)
				binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
		}
		end = now_ns() + (uint64_t)seconds * 1000000000ull / 3;
		while (now_ns() < end) {
			struct binder_event ev;
			uint64_t t0 = now_ns();

			if (binder_call(&cb, &cr, 0, CODE_ECHO, data, sizes[k], &ev) == BR_REPLY)
				binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
			samples_add(&s, now_ns() - t0);
		}
		snprintf(name, sizeof(name), "steady_%zu", sizes[k]);
		qsort(s.v, s.n, sizeof(uint64_t), cmp_u64);
		printf("# BENCH {\"workload\": \"%s\", \"who\": \"calls\", \"rate\": %.1f, "
		       "\"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f}\n", name,
		       s.n / (seconds / 3.0), pct(&s, 0.5), pct(&s, 0.99), pct(&s, 1.0));
	}
	return service_stop() ? 1 : 0;
}

static int cold(void)
{
	int n = 0;
	uint64_t t0, end;

	map_size = 1u << 20;
	if (service_start())
		return 1;
	t0 = now_ns();
	end = t0 + (uint64_t)seconds * 1000000000ull;
	while (now_ns() < end) {
		pid_t pid = fork();

		if (pid == 0) {
			char why[64];

			if (binder_open(&cb, dev, 1u << 20))
				_exit(1);
			for (int i = 0; i < 3; i++)
				if (echo_once(8192, why, sizeof(why)))
					_exit(1);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		n++;
	}
	printf("# BENCH {\"workload\": \"cold\", \"who\": \"processes\", \"rate\": %.1f, "
	       "\"per_process_us\": %.1f}\n", n / ((now_ns() - t0) / 1e9),
	       (now_ns() - t0) / 1e3 / n);
	if (binder_open(&cb, dev, map_size) == 0)
		service_stop();
	return 0;
}

static long meminfo(const char *key)
{
	char line[128], k[64];
	long v, val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63[^:]: %ld", k, &v) == 2 && !strcmp(k, key))
			val = v;
	if (f)
		fclose(f);
	return val;
}

static int memory(void)
{
	const int n = 32;
	int ready[2];
	pid_t kids[32];
	long slab0, slab1;
	char c;

	map_size = 1u << 20;
	if (service_start() || pipe(ready))
		return 1;
	write_file("/proc/sys/vm/drop_caches", "3");
	slab0 = meminfo("Slab");
	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			char why[64];

			if (binder_open(&cb, dev, 1u << 20) || echo_once(65536, why, sizeof(why)))
				_exit(1);
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		if (read(ready[0], &c, 1) != 1)
			return 1;
	}
	slab1 = meminfo("Slab");
	printf("# BENCH {\"workload\": \"memory\", \"who\": \"per_process\", "
	       "\"slab_kib\": %.2f}\n", (slab1 - slab0) / (double)n);
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	if (binder_open(&cb, dev, map_size) == 0)
		service_stop();
	return 0;
}

int main(int argc, char **argv)
{
	const char *w = argc > 1 ? argv[1] : "steady";

	if (argc > 2)
		seconds = atoi(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	stop = mmap(NULL, sizeof(*stop), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	ktap_header(1);
	int ret = !strcmp(w, "contention") ? contention(w, 0, 1) :
		  !strcmp(w, "pressure") ? contention(w, 1, 0) :
		  !strcmp(w, "pressure-fault") ? contention(w, 1, 1) :
		  !strcmp(w, "steady") ? steady() :
		  !strcmp(w, "cold") ? cold() :
		  !strcmp(w, "memory") ? memory() : 2;

	ktap_result(ret == 0, w, "status %d", ret);
	return ret;
}
