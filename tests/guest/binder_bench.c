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
 *   pressure    the same under memory pressure (swap on zram, a hog of
 *               600 MiB touching its pages in a 512 MiB guest); R's loop is
 *               bare mmap/munmap. The mmap lock is traced (see profile):
 *               under pressure the loop's iteration times are mostly CPU
 *               sharing, its lock waits are what binder adds. Variant
 *               pressure-fault: the loop also touches its pages.
 *   steady      ping-pong with installed pages: 0 B, 4 KiB, 64 KiB
 *               (client and service on CPU 0).
 *   cold        short-lived processes each opening binder, mapping it and
 *               making their first calls (app launch; on CPU 0).
 *   memory      kernel memory (slab) per binder process with a mapping and
 *               some installed pages.
 *   profile     the contention workload with the mmap_lock tracepoints on:
 *               how long each loop waited for its mmap lock, and who held
 *               the receiver's mmap lock (other tasks: senders installing
 *               pages, reclaim; the drop_caches reclaimer), in which mode
 *               and for how long; and, from binder's tracepoints, the
 *               churn: buffers allocated, pages installed and reclaimed.
 *   churn       install and reclaim, one call at a time: a 32 KiB echo
 *               (8 pages installed in the service's mapping, 8 in the
 *               client's), then the binder shrinker reclaims them all
 *               (drop_caches); for scripts/insn-profile.sh's instructions
 *               per installed and per reclaimed page (on CPU 0).
 *   profile-steady  the steady workload with binder.c's tracepoints on:
 *               the time spent in binder_alloc_new_buf() and
 *               binder_alloc_free_buf() per call.
 *
 * Knobs (environment): BENCH_RECLAIMER=0 (no drop_caches loop),
 * BENCH_TRACE=0/1, BENCH_HOG_MIB=N, BENCH_HOG_RANDOM=0.
 *
 * Usage: binder_bench WORKLOAD [seconds]
 */
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include "binder_service.h"

#define CALL_SIZE (32 * 1024)
#define MAX_SAMPLES (1 << 20)

static int seconds = 5;
static volatile int *stop;
/* Set by the hog once all of its memory is written: pressure is on. */
static volatile int *hog_ready;

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
	const char *who;
};

#define TRACING "/sys/kernel/debug/tracing"

/* Tells the profile (below) which task is which: "receiver" and
 * "control" (the two loops) or "sender" (a client thread). */
static void trace_mark_task(const char *who)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "bench_task %s tid=%ld", who, (long)syscall(SYS_gettid));
	write_file(TRACING "/trace_marker", msg);
}

/* The receiver's loop thread, for the CPU accounting of contention. */
static volatile pid_t *receiver_loop_tid;

static void *mm_loop(void *arg)
{
	struct loop_args *a = arg;

	trace_mark_task(a->who);
	if (!strcmp(a->who, "receiver"))
		*receiver_loop_tid = (pid_t)syscall(SYS_gettid);
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
		/* Read every page of the call, as a real service does: in
		 * page-fault mode this is where the pages get mapped. */
		for (size_t i = 0; i < ev.tr.data_size; i += 4096)
			(void)((volatile uint8_t *)(uintptr_t)ev.tr.data.ptr.buffer)[i];
		binder_free_buffer(&rb, ev.tr.data.ptr.buffer);
		binder_send(&rb, BC_REPLY, 0, 0, 0, &ok, sizeof(ok));
	}
	return NULL;
}

static void receiver(int ready, struct samples *lat, int touch)
{
	pthread_t t[3];
	struct loop_args a = { lat, touch, "receiver" };
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
	trace_mark_task("sender");
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

/*
 * The hog: 600 MiB (BENCH_HOG_MIB) in a 512 MiB guest, every page written
 * once and then touched again and again, round and round: more than the
 * guest holds, so it swaps (to zram) all the time and page allocations
 * enter direct reclaim. This is the hog with which an independent
 * measurement saw stock's long receiver stalls. BENCH_HOG_RANDOM=1 makes
 * half of each page random, so that zram compresses it only 2:1.
 */
static void hog(void)
{
	const char *mib = getenv("BENCH_HOG_MIB");
	size_t size = (size_t)(mib ? atoi(mib) : 600) << 20;
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(1);
	if (getenv("BENCH_HOG_RANDOM") && atoi(getenv("BENCH_HOG_RANDOM"))) {
		uint64_t x = 88172645463325252ull;

		for (size_t i = 0; i < size && !*stop; i += 4096)
			for (size_t j = 0; j < 2048; j += 8) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				memcpy(p + i + j, &x, 8);
			}
	}
	for (size_t i = 0; i < size && !*stop; i += 4096)
		p[i]++;
	*hog_ready = 1;
	while (!*stop)
		for (size_t i = 0; i < size && !*stop; i += 4096)
			p[i]++;
	_exit(0);
}

/*
 * Rate, percentiles, and stall_ms_per_s: the time per second the loop
 * spent in iterations of 1 ms or more (a robust view of the stalls; the
 * single worst one, max, is noisy).
 */
static void print_lat(const char *workload, const char *who, struct samples *s)
{
	double stall_ns = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] >= 1000000)
			stall_ns += s->v[i];
	qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
	printf("# BENCH {\"workload\": \"%s\", \"who\": \"%s\", \"rate\": %.1f, "
	       "\"p50\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f, "
	       "\"stall_ms_per_s\": %.2f}\n",
	       workload, who, s->n / (double)seconds, pct(s, 0.5), pct(s, 0.99), pct(s, 0.999),
	       pct(s, 1.0), stall_ns / 1e6 / seconds);
}

/* Trace the mmap lock during the first TRACE_SECONDS of the run
 * (BENCH_TRACE=1; the profile and pressure workloads). */
#define TRACE_SECONDS 3
static int trace_locks;
static int profile_prepare(void);
static int profile_stop(const char *workload, pid_t reclaimer);

/* A counter of /proc/vmstat; with a trailing '*', the sum of the counters
 * whose names start with what comes before it. */
static long vmstat(const char *key)
{
	char line[128], k[64];
	size_t n = strlen(key);
	long v, sum = 0;
	FILE *f = fopen("/proc/vmstat", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", k, &v) == 2 &&
		    (key[n - 1] == '*' ? !strncmp(k, key, n - 1) : !strcmp(k, key)))
			sum += v;
	if (f)
		fclose(f);
	return sum;
}

/* CPU time (user + system, ms) of a process (tid 0) or one of its threads. */
static double task_cpu_ms(pid_t pid, pid_t tid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	ssize_t n;
	int fd;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* After "(comm) ": state is field 3, utime 14, stime 15. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &utime, &stime) != 2)
		return 0;
	return (utime + stime) * 1000.0 / sysconf(_SC_CLK_TCK);
}

/* Idle time of all CPUs (ms), from /proc/stat. */
static double idle_ms(void)
{
	unsigned long long v[5];
	FILE *f = fopen("/proc/stat", "r");
	int ok;

	if (!f)
		return 0;
	ok = fscanf(f, "cpu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]) == 5;
	fclose(f);
	return ok ? (v[3] + v[4]) * 1000.0 / sysconf(_SC_CLK_TCK) : 0;
}

/*
 * Where the guest's CPU went during a contention run (ms per second): the
 * receiver's mm loop thread and its binder threads, the control loop, the
 * senders (both client processes), the reclaimer (this process:
 * drop_caches runs the shrinker in its context) and idle.
 */
enum { CPU_R_LOOP, CPU_R_ALL, CPU_CONTROL, CPU_SENDERS, CPU_RECLAIMER, CPU_IDLE, NR_CPU };
static const char *const cpu_names[NR_CPU] = { "receiver_loop_ms", "receiver_binder_ms",
	"control_loop_ms", "senders_ms", "reclaimer_ms", "idle_ms" };

static void cpu_sample(double *v, pid_t receiver, pid_t control, const pid_t *clients, int nc)
{
	struct timespec ts;

	v[CPU_R_LOOP] = *receiver_loop_tid ? task_cpu_ms(receiver, *receiver_loop_tid) : 0;
	v[CPU_R_ALL] = task_cpu_ms(receiver, 0);
	v[CPU_CONTROL] = task_cpu_ms(control, 0);
	v[CPU_SENDERS] = 0;
	for (int i = 0; i < nc; i++)
		v[CPU_SENDERS] += task_cpu_ms(clients[i], 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	v[CPU_RECLAIMER] = ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
	v[CPU_IDLE] = idle_ms();
}

static const char *const pressure_counters[] = { "pswpin", "pswpout", "allocstall_*",
						 "pgscan_direct" };
#define NR_PRESSURE_COUNTERS 4

/*
 * reclaimer: run the binder shrinker (drop_caches) every 2 ms; without it
 * only memory pressure reclaims R's pages. BENCH_RECLAIMER=0/1 overrides.
 */
static int contention(const char *workload, int pressure, int touch, int reclaimer)
{
	struct samples *r_lat = shared_samples(), *c_lat = shared_samples();
	pid_t kids[8];
	int nk = 0, ready[2];
	int32_t status = -1;
	pid_t receiver_pid, control_pid, clients[2];
	uint64_t end, trace_end;
	long vm0[NR_PRESSURE_COUNTERS];
	double cpu0[NR_CPU], cpu1[NR_CPU];

	if (getenv("BENCH_RECLAIMER"))
		reclaimer = atoi(getenv("BENCH_RECLAIMER"));
	/* Under pressure the loop's iteration times are mostly CPU sharing:
	 * the mmap lock is traced to see its own share. */
	trace_locks |= pressure;
	if (getenv("BENCH_TRACE"))
		trace_locks = atoi(getenv("BENCH_TRACE"));
	call_lat = shared_samples();
	if (pipe(ready) || (trace_locks && profile_prepare()))
		return 1;
	/* Measure under pressure only: the hog first fills its memory. */
	if (pressure && (kids[nk++] = fork()) == 0)
		hog();
	for (end = now_ns() + 120 * 1000000000ull; pressure && !*hog_ready && now_ns() < end;)
		usleep(10000);
	if (pressure && !*hog_ready)
		printf("# the hog did not fill its memory in 120 s\n");
	if (trace_locks)
		write_file(TRACING "/tracing_on", "1");
	if ((receiver_pid = kids[nk++] = fork()) == 0)
		receiver(ready[1], r_lat, touch);
	if (read(ready[0], &status, sizeof(status)) != sizeof(status) || status) {
		*stop = 1;
		for (int i = 0; i < nk; i++)
			waitpid(kids[i], NULL, 0);
		return 1;
	}
	if ((control_pid = kids[nk++] = fork()) == 0) {
		struct loop_args a = { c_lat, touch, "control" };

		mm_loop(&a);
		_exit(0);
	}
	for (int i = 0; i < 2; i++)
		if ((clients[i] = kids[nk++] = fork()) == 0)
			client();
	for (int i = 0; i < NR_PRESSURE_COUNTERS; i++)
		vm0[i] = vmstat(pressure_counters[i]);
	cpu_sample(cpu0, receiver_pid, control_pid, clients, 2);
	end = now_ns() + (uint64_t)seconds * 1000000000ull;
	trace_end = now_ns() + (uint64_t)TRACE_SECONDS * 1000000000ull;
	while (now_ns() < end) {
		if (reclaimer)
			drop_caches();
		usleep(2000);
		/* The same traced window for every run, short enough for the
		 * trace buffer. */
		if (trace_locks && trace_end && now_ns() >= trace_end) {
			write_file(TRACING "/tracing_on", "0");
			trace_end = 0;
		}
	}
	cpu_sample(cpu1, receiver_pid, control_pid, clients, 2);
	*stop = 1;
	kill(receiver_pid, SIGKILL);
	for (int i = 0; i < nk; i++)
		waitpid(kids[i], NULL, 0);
	/* The receiver's binder threads: the process minus its loop. */
	cpu1[CPU_R_ALL] -= cpu1[CPU_R_LOOP];
	cpu0[CPU_R_ALL] -= cpu0[CPU_R_LOOP];
	printf("# BENCH {\"workload\": \"%s\", \"who\": \"cpu\"", workload);
	for (int i = 0; i < NR_CPU; i++)
		printf(", \"%s\": %.1f", cpu_names[i], (cpu1[i] - cpu0[i]) / seconds);
	printf("}\n");
	print_lat(workload, "receiver_loop", r_lat);
	print_lat(workload, "control_loop", c_lat);
	print_lat(workload, "calls", call_lat);
	/* How much memory pressure there was: swapping and direct reclaim
	 * during the measurement. */
	printf("# BENCH {\"workload\": \"%s\", \"who\": \"vmstat\", \"pswpin\": %ld, "
	       "\"pswpout\": %ld, \"allocstall\": %ld, \"pgscan_direct\": %ld}\n", workload,
	       vmstat(pressure_counters[0]) - vm0[0], vmstat(pressure_counters[1]) - vm0[1],
	       vmstat(pressure_counters[2]) - vm0[2], vmstat(pressure_counters[3]) - vm0[3]);
	return trace_locks ? profile_stop(workload, getpid()) : 0;
}

/*
 * steady and cold measure what one call or one process costs: the client
 * and the service run on CPU 0, so that every boot measures the same
 * same-CPU hand-off rather than whichever placement the scheduler picked
 * (placement alone moved the median latency by 20% between boots).
 */
static int pin_to_cpu0(void)
{
	unsigned long mask = 1;

	return syscall(SYS_sched_setaffinity, 0, sizeof(mask), &mask) ? -1 : 0;
}

/* The workload name steady prints (profile-steady runs it too). */
static const char *steady_name = "steady";

static int steady(void)
{
	static const size_t sizes[] = { 0, 4096, 65536 };
	static uint8_t data[65536];
	struct samples s = { malloc(MAX_SAMPLES * sizeof(uint64_t)), 0 };

	map_size = 1u << 20;
	if (pin_to_cpu0() || service_start() || binder_open(&cb, dev, map_size))
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
		snprintf(name, sizeof(name), "%s_%zu", steady_name, sizes[k]);
		qsort(s.v, s.n, sizeof(uint64_t), cmp_u64);
		printf("# BENCH {\"workload\": \"%s\", \"who\": \"calls\", \"rate\": %.1f, "
		       "\"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f}\n", name,
		       s.n / (seconds / 3.0), pct(&s, 0.5), pct(&s, 0.99), pct(&s, 1.0));
	}
	return service_stop() ? 1 : 0;
}

static int churn(void)
{
	static uint8_t data[CALL_SIZE];
	unsigned long calls = 0, failed = 0;
	uint64_t end;

	map_size = 1u << 20;
	if (pin_to_cpu0() || service_start() || binder_open(&cb, dev, map_size))
		return 1;
	pattern_fill(data, sizeof(data), 7);
	end = now_ns() + (uint64_t)seconds * 1000000000ull;
	while (now_ns() < end) {
		struct binder_event ev;

		if (binder_call(&cb, &cr, 0, CODE_ECHO, data, sizeof(data), &ev) == BR_REPLY)
			binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
		else
			failed++;
		calls++;
		write_file("/proc/sys/vm/drop_caches", "2");
	}
	printf("# BENCH {\"workload\": \"churn\", \"who\": \"calls\", \"rate\": %.1f, "
	       "\"failed\": %lu}\n", calls / (double)seconds, failed);
	return service_stop() || failed ? 1 : 0;
}

static int cold(void)
{
	int n = 0;
	uint64_t t0, end;

	map_size = 1u << 20;
	if (pin_to_cpu0() || service_start())
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
	const int n = 128;
	int ready[2];
	pid_t kids[128];
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

/* ---- profile: the contention workload seen through the mmap_lock tracepoints ---- */

#define MAX_TID 65536

/* Lock waits or holds of one kind: count, total, max and the samples (ns). */
struct lock_use {
	long n;
	double total_us, max_us;
	struct samples s;
};

static void lock_use_add(struct lock_use *u, double us)
{
	u->n++;
	u->total_us += us;
	if (us > u->max_us)
		u->max_us = us;
	if (!u->s.v)
		u->s.v = malloc(MAX_SAMPLES * sizeof(uint64_t));
	if (u->s.v)
		samples_add(&u->s, (uint64_t)(us * 1000));
}

static void print_lock_use(const char *workload, const char *who, struct lock_use *u)
{
	if (u->s.v)
		qsort(u->s.v, u->s.n, sizeof(uint64_t), cmp_u64);
	printf("# BENCH {\"workload\": \"%s\", \"who\": \"%s\", \"count\": %ld, "
	       "\"total_ms\": %.2f, \"mean_us\": %.2f, \"p99_us\": %.1f, \"max_us\": %.1f}\n",
	       workload, who, u->n, u->total_us / 1000, u->n ? u->total_us / u->n : 0.0,
	       pct(&u->s, 0.99), u->max_us);
	free(u->s.v);
}

/* Per task: when its pending lock request started, and what it holds. */
struct task_lock {
	double start_ts, hold_ts;
	char mm[24];
	int holding, write;
};

static double trace_ts(const char *line, const char *event)
{
	const char *p = event - 2;	/* the ':' after the timestamp */

	while (p > line && p[-1] != ' ')
		p--;
	return strtod(p, NULL);
}

/*
 * Reads the trace: how long the receiver's and the control's loops waited
 * for their mmap lock, and who else held the receiver's mmap lock (binder
 * installing pages from the senders' context; the shrinker from the
 * reclaimer's), in which mode and for how long.
 */
static int profile_report(const char *workload, pid_t reclaimer)
{
	static struct task_lock t[MAX_TID];
	static char sender[MAX_TID];
	struct lock_use r_wait = { 0 }, c_wait = { 0 }, install_read = { 0 }, install_write = { 0 },
			shrinker_hold = { 0 }, install_wait = { 0 }, sender_read = { 0 },
			sender_write = { 0 }, sender_wait = { 0 }, r_behind = { 0 };
	/*
	 * The part of the receiver loop's waits during which another task
	 * held the receiver's mmap lock: what others add to its waits, as
	 * opposed to the time a woken waiter waits for a CPU (the control's
	 * loop, alone in its mm, waits as long for that).
	 */
	int r_waiting = 0, others_holding = 0;
	double sweep_ts = 0, behind_us = 0;
	long r_tid = -1, c_tid = -1, lines = 0, buffers = 0, installed = 0, reclaimed = 0;
	double window_s = seconds < TRACE_SECONDS ? seconds : TRACE_SECONDS;
	char line[512], r_mm[24] = "", mm[24], write[8], success[8];
	FILE *f = fopen(TRACING "/trace", "r");

	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		const char *ev;
		long tid = trace_tid(line);
		double ts;

		if (line[0] == '#' || tid < 0 || tid >= MAX_TID)
			continue;
		lines++;
		if ((ev = strstr(line, "tracing_mark_write: bench_task "))) {
			long id = strtol(strstr(ev, "tid=") + 4, NULL, 10);

			if (strstr(ev, "receiver"))
				r_tid = id;
			else if (strstr(ev, "control"))
				c_tid = id;
			else if (id >= 0 && id < MAX_TID)
				sender[id] = 1;
			continue;
		}
		/* The churn the lock waits come from: buffers allocated, pages
		 * installed and reclaimed (the same tracepoints in both
		 * allocators). */
		if (strstr(line, " binder_transaction_alloc_buf:")) {
			buffers++;
			continue;
		}
		if (strstr(line, " binder_alloc_page_end:")) {
			installed++;
			continue;
		}
		if (strstr(line, " binder_unmap_kernel_end:")) {
			reclaimed++;
			continue;
		}
		trace_field(line, "mm=", mm, sizeof(mm));
		trace_field(line, "write=", write, sizeof(write));
		if (tid == r_tid && !r_mm[0])
			strcpy(r_mm, mm);
		if (!(ev = strstr(line, " mmap_lock_")))
			continue;
		ts = trace_ts(line, ev + 1);
		if (r_waiting && others_holding > 0)
			behind_us += (ts - sweep_ts) * 1e6;
		sweep_ts = ts;
		if ((ev = strstr(line, "mmap_lock_start_locking:"))) {
			t[tid].start_ts = ts;
			if (tid == r_tid) {
				r_waiting = 1;
				behind_us = 0;
			}
		} else if ((ev = strstr(line, "mmap_lock_acquire_returned:"))) {
			trace_field(line, "success=", success, sizeof(success));
			if (t[tid].start_ts > 0) {
				double us = (ts - t[tid].start_ts) * 1e6;

				if (tid == r_tid) {
					lock_use_add(&r_wait, us);
					lock_use_add(&r_behind, behind_us);
					r_waiting = 0;
				}
				else if (tid == c_tid)
					lock_use_add(&c_wait, us);
				else if (r_mm[0] && !strcmp(mm, r_mm)) {
					lock_use_add(&install_wait, us);
					if (sender[tid])
						lock_use_add(&sender_wait, us);
				}
				t[tid].start_ts = 0;
			}
			if (!strcmp(success, "true")) {
				t[tid].holding = 1;
				t[tid].hold_ts = ts;
				t[tid].write = !strcmp(write, "true");
				strcpy(t[tid].mm, mm);
				if (tid != r_tid && r_mm[0] && !strcmp(mm, r_mm))
					others_holding++;
			}
		} else if ((ev = strstr(line, "mmap_lock_released:"))) {
			double us;

			if (!t[tid].holding)
				continue;
			t[tid].holding = 0;
			if (tid != r_tid && r_mm[0] && !strcmp(t[tid].mm, r_mm) && others_holding > 0)
				others_holding--;
			us = (ts - t[tid].hold_ts) * 1e6;
			if (tid == r_tid || tid == c_tid || !r_mm[0] || strcmp(t[tid].mm, r_mm))
				continue;
			if (tid == reclaimer)
				lock_use_add(&shrinker_hold, us);
			else
				lock_use_add(t[tid].write ? &install_write : &install_read, us);
			if (sender[tid])
				lock_use_add(t[tid].write ? &sender_write : &sender_read, us);
		}
	}
	fclose(f);
	printf("# profile: %ld trace lines; receiver loop tid %ld, control loop tid %ld\n", lines,
	       r_tid, c_tid);
	printf("# BENCH {\"workload\": \"%s\", \"who\": \"churn\", \"buffers_per_s\": %.1f, "
	       "\"installed_per_s\": %.1f, \"reclaimed_per_s\": %.1f, "
	       "\"installed_per_buffer\": %.3f}\n", workload, buffers / window_s,
	       installed / window_s, reclaimed / window_s,
	       buffers ? (double)installed / buffers : 0.0);
	print_lock_use(workload, "receiver_loop_lock_wait", &r_wait);
	print_lock_use(workload, "receiver_loop_wait_behind_others", &r_behind);
	print_lock_use(workload, "control_loop_lock_wait", &c_wait);
	print_lock_use(workload, "receiver_mm_read_held_by_others", &install_read);
	print_lock_use(workload, "receiver_mm_write_held_by_others", &install_write);
	print_lock_use(workload, "receiver_mm_others_lock_wait", &install_wait);
	print_lock_use(workload, "receiver_mm_held_by_drop_caches", &shrinker_hold);
	print_lock_use(workload, "receiver_mm_read_held_by_senders", &sender_read);
	print_lock_use(workload, "receiver_mm_write_held_by_senders", &sender_write);
	print_lock_use(workload, "receiver_mm_senders_lock_wait", &sender_wait);
	return r_tid < 0 || c_tid < 0 || !r_mm[0];
}

static int trace_truncate(void)
{
	int fd = open(TRACING "/trace", O_WRONLY | O_TRUNC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static long trace_overruns(void)
{
	char path[96], line[128];
	long total = 0, v;

	for (int cpu = 0; cpu < 64; cpu++) {
		FILE *f;

		snprintf(path, sizeof(path), TRACING "/per_cpu/cpu%d/stats", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "overrun: %ld", &v) == 1)
				total += v;
		fclose(f);
	}
	return total;
}

#define NR(a) (sizeof(a) / sizeof((a)[0]))

/* Events (paths under events/) of the two profiles. */
static const char *const lock_events[] = {
	"mmap_lock", "binder/binder_transaction_alloc_buf", "binder/binder_alloc_page_end",
	"binder/binder_unmap_kernel_end",
};
static const char *const steady_events[] = {
	"binder/binder_transaction", "binder/binder_transaction_alloc_buf",
	"binder/binder_transaction_buffer_release", "binder/binder_write_done",
};

static int trace_enable(const char *const *events, size_t n, const char *on)
{
	char path[128];
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), TRACING "/events/%s/enable", events[i]);
		ret |= write_file(path, on);
	}
	return ret;
}

/* An empty buffer of buffer_kb per CPU with the events on, tracing still
 * off: the buffer is allocated before any memory pressure. */
static int trace_prepare(const char *const *events, size_t n, const char *buffer_kb)
{
	if (write_file(TRACING "/tracing_on", "0") || trace_truncate() ||
	    write_file(TRACING "/buffer_size_kb", buffer_kb) || trace_enable(events, n, "1")) {
		printf("# profile: cannot set up the tracepoints\n");
		return 1;
	}
	return 0;
}

/* Stops tracing; the number of events the buffer lost. */
static long trace_finish(const char *const *events, size_t n)
{
	write_file(TRACING "/tracing_on", "0");
	trace_enable(events, n, "0");
	return trace_overruns();
}

/* Back to the small default buffer. */
static void trace_reset(void)
{
	trace_truncate();
	write_file(TRACING "/buffer_size_kb", "1408");
}

static int profile_prepare(void)
{
	return trace_prepare(lock_events, NR(lock_events), "24576");
}

static int profile_stop(const char *workload, pid_t reclaimer)
{
	long lost;
	int ret;

	lost = trace_finish(lock_events, NR(lock_events));
	ret = profile_report(workload, reclaimer);
	if (lost) {
		printf("# profile: the trace buffer overflowed (%ld events lost)\n", lost);
		ret = 1;
	}
	trace_reset();
	return ret;
}

/*
 * profile-steady: the steady workload with binder.c's tracepoints on, to
 * time the allocator's part of each call. binder_transaction fires just
 * before binder_alloc_new_buf() and binder_transaction_alloc_buf just
 * after it; binder_transaction_buffer_release fires just before
 * binder_alloc_free_buf() in a BC_FREE_BUFFER, and binder_write_done
 * right after it (the free is the only command of its write).
 */
static int profile_steady(void)
{
	static double t_txn[MAX_TID], t_rel[MAX_TID];
	struct lock_use new_buf = { 0 }, free_buf = { 0 };
	char line[512];
	FILE *f;
	int ret;

	if (trace_prepare(steady_events, NR(steady_events), "16384") ||
	    write_file(TRACING "/tracing_on", "1"))
		return 1;
	steady_name = "profile_steady";
	ret = steady();
	if (trace_finish(steady_events, NR(steady_events))) {
		printf("# profile-steady: the trace buffer overflowed\n");
		ret = 1;
	}
	f = fopen(TRACING "/trace", "r");
	while (f && fgets(line, sizeof(line), f)) {
		long tid = trace_tid(line);
		const char *ev;

		if (line[0] == '#' || tid < 0 || tid >= MAX_TID)
			continue;
		if ((ev = strstr(line, " binder_transaction:"))) {
			t_txn[tid] = trace_ts(line, ev + 1);
		} else if ((ev = strstr(line, " binder_transaction_alloc_buf:")) && t_txn[tid] > 0) {
			lock_use_add(&new_buf, (trace_ts(line, ev + 1) - t_txn[tid]) * 1e6);
			t_txn[tid] = 0;
		} else if ((ev = strstr(line, " binder_transaction_buffer_release:"))) {
			t_rel[tid] = trace_ts(line, ev + 1);
		} else if ((ev = strstr(line, " binder_write_done:")) && t_rel[tid] > 0) {
			lock_use_add(&free_buf, (trace_ts(line, ev + 1) - t_rel[tid]) * 1e6);
			t_rel[tid] = 0;
		}
	}
	if (f)
		fclose(f);
	print_lock_use("profile_steady", "binder_alloc_new_buf", &new_buf);
	print_lock_use("profile_steady", "binder_alloc_free_buf", &free_buf);
	trace_reset();
	return ret || !new_buf.n || !free_buf.n;
}

int main(int argc, char **argv)
{
	const char *w = argc > 1 ? argv[1] : "steady";

	if (argc > 2)
		seconds = atoi(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/*
	 * The profiles tell mms apart by the trace's hashed pointers, which
	 * read "(____ptrval____)" for every mm until the random pool is
	 * ready: a blocking getrandom() makes it ready.
	 */
	{
		char seed[16];

		if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
			perror("getrandom");
	}
	stop = mmap(NULL, 4 * sizeof(*stop), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	hog_ready = stop + 1;
	receiver_loop_tid = (volatile pid_t *)(stop + 2);
	ktap_header(1);
	int ret = !strcmp(w, "contention") ? contention(w, 0, 1, 1) :
		  !strcmp(w, "pressure") ? contention(w, 1, 0, 1) :
		  !strcmp(w, "pressure-fault") ? contention(w, 1, 1, 1) :
		  !strcmp(w, "steady") ? steady() :
		  !strcmp(w, "cold") ? cold() :
		  !strcmp(w, "churn") ? churn() :
		  !strcmp(w, "memory") ? memory() :
		  !strcmp(w, "profile-steady") ? profile_steady() :
		  !strcmp(w, "profile") ? (trace_locks = 1, contention(w, 0, 1, 1)) : 2;

	ktap_result(ret == 0, w, "status %d", ret);
	return ret;
}
