// SPDX-License-Identifier: GPL-2.0
/*
 * binder_faults: transactions while page and slab allocations fail.
 *
 * fail_page_alloc and failslab (debug kernel) are limited to this task
 * (task-filter + /proc/self/make-it-fail, set only around each call), at
 * a few probabilities. The sender's allocations are the ones that fail:
 * binder.c's transaction structures, the allocator's bookkeeping, and the
 * receiver's buffer pages, which the sender installs. Before each call
 * the pages are reclaimed so that every call needs fresh ones.
 *
 * Checks: every call either returns intact data or fails with
 * BR_FAILED_REPLY (-ENOMEM inside); faults were actually injected; calls
 * succeed again once injection stops; after the processes exit, free pages
 * are back to the level before (within a bound); the guest's kmemleak scan
 * and splat check cover the rest.
 *
 * On a kernel without fault injection (base) every case is skipped.
 * Output: KTAP on stdout.
 */
#include "binder_service.h"

#define FPA "/sys/kernel/debug/fail_page_alloc"
#define FSL "/sys/kernel/debug/failslab"
#define CALLS_PER_LEVEL 60
#define LEAK_BOUND_PAGES 64

static const int levels[] = { 10, 30, 60 };
#define NR_LEVELS (int)(sizeof(levels) / sizeof(levels[0]))

static int configure(const char *dir, int probability)
{
	char path[128], val[16];
	static const char *const settings[][2] = {
		{ "task-filter", "Y" }, { "interval", "1" }, { "times", "-1" },
		{ "verbose", "0" }, { "space", "0" }, { "ignore-gfp-wait", "N" },
	};
	int ret = 0;

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]) && !ret; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, settings[i][0]);
		ret = write_file(path, settings[i][1]);
	}
	/* Binder's pages are highmem-capable: fail those too. */
	snprintf(path, sizeof(path), "%s/ignore-gfp-highmem", dir);
	if (!access(path, F_OK) && !ret)
		ret = write_file(path, "N");
	snprintf(path, sizeof(path), "%s/probability", dir);
	snprintf(val, sizeof(val), "%d", probability);
	if (!ret)
		ret = write_file(path, val);
	return ret;
}

static int make_it_fail(int on)
{
	/* Turning it off can itself hit an injected failure: insist. */
	for (int i = 0; i < 1000; i++)
		if (!write_file("/proc/self/make-it-fail", on ? "1" : "0") || on)
			return 0;
	return -1;
}

struct tally {
	int ok, failed, bad;
};

/* One echo with fresh pages, allocations failing at the current level. */
static void faulty_call(size_t len, struct tally *t)
{
	static uint8_t in[64 * 1024];
	struct binder_event ev;
	long ret;

	drop_caches();
	pattern_fill(in, len, (uint32_t)len);
	make_it_fail(1);
	ret = binder_call(&cb, &cr, 0, CODE_ECHO, in, len, &ev);
	make_it_fail(0);
	if (ret == BR_REPLY) {
		const uint8_t *rep = (const void *)(uintptr_t)ev.tr.data.ptr.buffer;

		if (ev.tr.data_size == len && pattern_check(rep, len, (uint32_t)len ^ 0x5a) < 0)
			t->ok++;
		else
			t->bad++;
		binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
	} else if (ret == BR_FAILED_REPLY) {
		t->failed++;
	} else {
		ktap_diag("unexpected result %s", br_name(ret));
		t->bad++;
	}
}

/* The client and service run in a child, so their exit can be measured. */
static int run(void)
{
	struct tally total = { 0 };
	char why[128];
	int recovered = 1;

	if (service_start() || binder_open(&cb, dev, map_size))
		return 2;
	for (int l = 0; l < NR_LEVELS; l++) {
		struct tally t = { 0 };
		char name[64];

		if (configure(FPA, levels[l]) || configure(FSL, levels[l])) {
			kill(service_pid, SIGKILL);
			return 3;
		}
		for (int i = 0; i < CALLS_PER_LEVEL; i++)
			faulty_call(4096 + 1000 * (size_t)i, &t);
		configure(FPA, 0);
		configure(FSL, 0);
		ktap_diag("%d%% failing: %d intact, %d refused (BR_FAILED_REPLY), %d bad",
			  levels[l], t.ok, t.failed, t.bad);
		snprintf(name, sizeof(name), "calls_at_%d_percent_clean", levels[l]);
		ktap_result(t.bad == 0, name, "%d intact, %d refused, %d bad", t.ok,
			    t.failed, t.bad);
		total.ok += t.ok;
		total.failed += t.failed;
		total.bad += t.bad;
	}
	ktap_result(total.failed > 0, "faults_injected", "%d calls refused of %d",
		    total.failed, NR_LEVELS * CALLS_PER_LEVEL);
	for (int i = 0; i < 20; i++) {
		drop_caches();
		if (echo_once(8192 + 512 * (size_t)i, why, sizeof(why)))
			recovered = 0;
	}
	ktap_result(recovered, "calls_succeed_after_injection_stops", NULL);
	if (service_stop())
		return 4;
	binder_close(&cb);
	return 0;
}


int main(void)
{
	long base, after;
	int status = 0;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access(FPA, F_OK) || access(FSL, F_OK)) {
		ktap_header(1);
		ktap_result(1, "fault_injection", "SKIP kernel without fail_page_alloc/failslab");
		return 0;
	}
	ktap_header(NR_LEVELS + 4);
	base = settled_free_pages(-1, LEAK_BOUND_PAGES);
	pid = fork();
	if (pid == 0)
		_exit(run());
	waitpid(pid, &status, 0);
	ktap_index = NR_LEVELS + 2; /* the child numbered its own results */
	ktap_result(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run_completed",
		    "status 0x%x", status);
	after = settled_free_pages(base, LEAK_BOUND_PAGES);
	ktap_free_pages_balance(base, after, LEAK_BOUND_PAGES, "");
	return ktap_failed ? 1 : 0;
}
