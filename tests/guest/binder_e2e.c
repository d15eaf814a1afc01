// SPDX-License-Identifier: GPL-2.0
/*
 * binder_e2e: transactions end to end between two processes.
 *
 * A context manager process (the "service") and a client exchange
 * synchronous calls of several payload sizes, verified byte for byte in
 * both directions, then flood the service with one-way calls until the
 * driver refuses them (async space is half the mapping) and check that
 * the service recovers once it has drained and freed them.
 *
 * Usage: binder_e2e [-v] [-d device] [-m map_bytes]
 *   -v  print a transcript of every call and the binder debugfs state
 * Output: KTAP on stdout, exit status 0 when every case passed.
 */
#include "binder_util.h"

enum {
	CODE_ECHO = 1, /* verify pattern(len), reply pattern(len ^ 0x5a)  */
	CODE_PAUSE,    /* reply, then stop reading binder until resumed  */
	CODE_ONEWAY,   /* one-way: verify and count                      */
	CODE_COUNT,    /* reply { oneway ok, oneway bad }                */
	CODE_EXIT,     /* reply, then exit                               */
};

#define ONEWAY_SIZE (32 * 1024)

static int verbose;
static pid_t service_pid;
static const char *dev = BINDER_DEV_DEFAULT;
static size_t map_size = 1024 * 1024;

/* ---- the service (context manager) ------------------------------------ */

static void service_reply(struct binder *b, const void *data, size_t len)
{
	if (binder_send(b, BC_REPLY, 0, 0, 0, data, len))
		_exit(10);
}

static void service_main(int ready_fd, int resume_fd)
{
	struct binder b;
	struct binder_reader r = { 0 };
	struct binder_event ev;
	uint32_t counts[2] = { 0, 0 };
	uint8_t *out = malloc(map_size + 8);
	int32_t status;

	status = binder_open(&b, dev, map_size);
	if (!status && ioctl(b.fd, BINDER_SET_CONTEXT_MGR, 0) < 0)
		status = -errno;
	if (!status)
		status = binder_write(&b, &(uint32_t){ BC_ENTER_LOOPER }, sizeof(uint32_t));
	if (write(ready_fd, &status, sizeof(status)) != sizeof(status) || status)
		_exit(1);
	close(ready_fd);

	for (;;) {
		if (binder_next_event(&b, &r, &ev))
			_exit(2);
		if (ev.cmd != BR_TRANSACTION)
			continue;

		const uint8_t *data = (const void *)(uintptr_t)ev.tr.data.ptr.buffer;
		size_t len = ev.tr.data_size;
		int ok = pattern_check(data, len, (uint32_t)len) < 0;
		binder_uintptr_t buf = ev.tr.data.ptr.buffer;

		if (binder_free_buffer(&b, buf))
			_exit(3);

		switch (ev.tr.code) {
		case CODE_ECHO:
			if (ok) {
				pattern_fill(out, len, (uint32_t)len ^ 0x5a);
				service_reply(&b, out, len);
			} else {
				/* A 3-byte reply never matches a valid echo. */
				service_reply(&b, "bad", 3);
			}
			break;
		case CODE_PAUSE: {
			char c;

			service_reply(&b, NULL, 0);
			/* Flush the reply before blocking: a write-only ioctl. */
			if (read(resume_fd, &c, 1) != 1)
				_exit(4);
			break;
		}
		case CODE_ONEWAY:
			counts[ok ? 0 : 1]++;
			break;
		case CODE_COUNT:
			service_reply(&b, counts, sizeof(counts));
			break;
		case CODE_EXIT:
			service_reply(&b, NULL, 0);
			binder_close(&b);
			_exit(0);
		default:
			service_reply(&b, "bad", 3);
		}
	}
}

/* ---- the client ---------------------------------------------------------- */

static struct binder cb;
static struct binder_reader cr;

/* Print @path, or only its "proc @pid" section when @pid is not 0. */
static void print_file(const char *path, pid_t pid)
{
	char line[256], head[32];
	int in = !pid;
	FILE *f = fopen(path, "r");

	if (!f) {
		ktap_diag("(no %s: %s)", path, strerror(errno));
		return;
	}
	snprintf(head, sizeof(head), "proc %d\n", pid);
	ktap_diag("---- %s%s", path, pid ? " (this process's section)" : "");
	while (fgets(line, sizeof(line), f)) {
		if (pid && !strncmp(line, "proc ", 5))
			in = !strcmp(line, head);
		if (!in)
			continue;
		line[strcspn(line, "\n")] = 0;
		ktap_diag("  %s", line);
	}
	fclose(f);
}

/* The allocator's state for @pid as binder's debugfs shows it. */
static void print_debugfs(const char *when, pid_t pid)
{
	char path[96];

	ktap_diag("binder debugfs state of pid %d %s:", pid, when);
	snprintf(path, sizeof(path), "/sys/kernel/debug/binder/proc/%d", pid);
	print_file(path, 0);
	print_file("/sys/kernel/debug/binder/stats", pid);
}

/* Synchronous echo of @len bytes; returns NULL on success or a reason. */
static const char *echo_once(size_t len, char *why, size_t whylen)
{
	static uint8_t *in;
	struct binder_event ev;
	uint64_t t0 = now_ns();
	long ret;

	if (!in)
		in = malloc(map_size + 8);
	pattern_fill(in, len, (uint32_t)len);
	ret = binder_call(&cb, &cr, 0, CODE_ECHO, in, len, &ev);
	if (ret != BR_REPLY) {
		snprintf(why, whylen, "call returned %s", br_name(ret));
		return why;
	}
	const uint8_t *rep = (const void *)(uintptr_t)ev.tr.data.ptr.buffer;
	long bad = ev.tr.data_size == len ?
		pattern_check(rep, len, (uint32_t)len ^ 0x5a) : -2;

	if (verbose)
		ktap_diag("client -> service: ECHO %zu bytes, reply %llu bytes, %s, %llu us",
			  len, (unsigned long long)ev.tr.data_size,
			  bad == -1 ? "data intact" : "DATA MISMATCH",
			  (unsigned long long)(now_ns() - t0) / 1000);
	binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
	if (bad == -2) {
		snprintf(why, whylen, "reply size %llu, expected %zu",
			 (unsigned long long)ev.tr.data_size, len);
		return why;
	}
	if (bad >= 0) {
		snprintf(why, whylen, "reply byte %ld differs", bad);
		return why;
	}
	return NULL;
}

static int simple_call(uint32_t code, void *reply, size_t reply_len)
{
	struct binder_event ev;
	long ret = binder_call(&cb, &cr, 0, code, NULL, 0, &ev);

	if (ret != BR_REPLY)
		return ret < 0 ? (int)ret : -EPROTO;
	if (reply && ev.tr.data_size == reply_len)
		memcpy(reply, (void *)(uintptr_t)ev.tr.data.ptr.buffer, reply_len);
	binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
	return 0;
}

/* Wait until the service has received @want one-way calls. */
static int wait_oneway_count(uint32_t want, uint32_t counts[2])
{
	for (int i = 0; i < 500; i++) {
		if (simple_call(CODE_COUNT, counts, 2 * sizeof(uint32_t)))
			return -1;
		if (counts[0] + counts[1] >= want)
			return 0;
		usleep(10000);
	}
	return -1;
}

static void test_oneway_flood(int resume_fd)
{
	static uint8_t payload[ONEWAY_SIZE];
	uint32_t expect = (uint32_t)(map_size / 2 / ONEWAY_SIZE);
	uint32_t sent = 0, counts[2];
	long ret;
	int spam_seen = 0;

	pattern_fill(payload, sizeof(payload), sizeof(payload));
	ret = simple_call(CODE_PAUSE, NULL, 0);
	ktap_result(ret == 0, "pause_service", ret ? "%s" : NULL, br_name(ret));
	if (ret)
		return;

	for (;;) {
		ret = binder_call_oneway(&cb, &cr, 0, CODE_ONEWAY, payload,
					 sizeof(payload));
		if (ret == BR_ONEWAY_SPAM_SUSPECT)
			spam_seen = 1;
		else if (ret != BR_TRANSACTION_COMPLETE)
			break;
		if (++sent > 4 * expect)
			break;
	}
	if (verbose)
		ktap_diag("client: %u one-way calls of %d bytes accepted, then %s",
			  sent, ONEWAY_SIZE, br_name(ret));
	ktap_result(ret == BR_FAILED_REPLY && sent == expect,
		    "oneway_until_refused", "%u accepted (expected %u), then %s",
		    sent, expect, br_name(ret));
	ktap_result(spam_seen, "oneway_spam_suspect_reported",
		    spam_seen ? NULL : "no BR_ONEWAY_SPAM_SUSPECT while async space ran low");

	if (verbose)
		print_debugfs("while it holds the one-way calls", service_pid);
	if (write(resume_fd, "g", 1) != 1) {
		ktap_result(0, "oneway_drained", "resume: %s", strerror(errno));
		return;
	}
	ret = wait_oneway_count(sent, counts);
	ktap_result(ret == 0 && counts[1] == 0 && counts[0] == sent,
		    "oneway_drained", "service got %u intact, %u corrupt of %u",
		    counts[0], counts[1], sent);

	ret = binder_call_oneway(&cb, &cr, 0, CODE_ONEWAY, payload, sizeof(payload));
	int ok = ret == BR_TRANSACTION_COMPLETE || ret == BR_ONEWAY_SPAM_SUSPECT;
	if (ok)
		ok = wait_oneway_count(sent + 1, counts) == 0 && counts[0] == sent + 1;
	ktap_result(ok, "oneway_recovers_after_free", "%s", br_name(ret));
}

int main(int argc, char **argv)
{
	int ready[2], resume[2], opt;
	long ret;
	int32_t status = -1;
	pid_t service;
	char why[128];
	const char *err;

	while ((opt = getopt(argc, argv, "vd:m:")) != -1) {
		switch (opt) {
		case 'v': verbose = 1; break;
		case 'd': dev = optarg; break;
		case 'm': map_size = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-v] [-d dev] [-m map_bytes]\n", argv[0]);
			return 2;
		}
	}

	size_t sizes[] = { 0, 1, 4095, 4096, 4097, 65536, map_size };
	int nsizes = sizeof(sizes) / sizeof(sizes[0]);

	ktap_header(4 + nsizes + 1 + 5 + 1);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (pipe(ready) || pipe(resume))
		return 1;
	service = fork();
	service_pid = service;
	if (service == 0) {
		close(ready[0]);
		close(resume[1]);
		service_main(ready[1], resume[0]);
	}
	close(ready[1]);
	close(resume[0]);
	if (read(ready[0], &status, sizeof(status)) != sizeof(status))
		status = -EPIPE;
	ktap_result(status == 0, "service_becomes_context_manager",
		    status ? "%s" : NULL, strerror(-status));
	if (status) {
		kill(service, SIGKILL);
		return 1;
	}

	ret = binder_open(&cb, dev, map_size);
	ktap_result(ret == 0, "client_open_mmap", ret ? "%s" : NULL, strerror(-ret));
	if (ret) {
		kill(service, SIGKILL);
		return 1;
	}
	if (verbose)
		ktap_diag("service pid %d, client pid %d, mappings of %zu bytes on %s",
			  service, getpid(), map_size, dev);

	ret = ioctl(cb.fd, BINDER_ENABLE_ONEWAY_SPAM_DETECTION, &(uint32_t){ 1 });
	ktap_result(ret == 0, "enable_oneway_spam_detection", ret ? "%s" : NULL,
		    strerror(errno));

	for (int i = 0; i < nsizes; i++) {
		char name[64];

		snprintf(name, sizeof(name), "sync_echo_%zu_bytes", sizes[i]);
		err = echo_once(sizes[i], why, sizeof(why));
		ktap_result(!err, name, "%s", err ? err : "");
	}

	/* One byte more than the mapping can never fit. */
	{
		struct binder_event ev;
		static uint8_t big[8];
		uint8_t *p = malloc(map_size + 8);

		memcpy(p, big, sizeof(big));
		ret = binder_call(&cb, &cr, 0, CODE_ECHO, p, map_size + 1, &ev);
		if (ret == BR_REPLY)
			binder_free_buffer(&cb, ev.tr.data.ptr.buffer);
		ktap_result(ret == BR_FAILED_REPLY, "larger_than_mapping_refused",
			    "got %s", br_name(ret));
		free(p);
	}

	test_oneway_flood(resume[1]);

	/* Echo still works after the flood: space was given back. */
	err = echo_once(map_size, why, sizeof(why));
	ktap_result(!err, "sync_echo_full_mapping_after_flood", "%s", err ? err : "");

	if (verbose)
		print_debugfs("after the calls", service_pid);

	ret = simple_call(CODE_EXIT, NULL, 0);
	int wstatus = 0;

	waitpid(service, &wstatus, 0);
	ktap_result(ret == 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0,
		    "service_exits_cleanly", ret ? "call: %s" : NULL, br_name(ret));
	binder_close(&cb);
	return ktap_failed ? 1 : 0;
}
