/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A test service and its client calls, shared by the guest test programs.
 *
 * service_start() forks a process that becomes the binder context manager
 * (handle 0) and answers these codes:
 *   CODE_ECHO    verify pattern(len), reply pattern(len ^ 0x5a)
 *   CODE_PAUSE   reply, then stop reading binder until resumed
 *   CODE_ONEWAY  one-way: verify and count
 *   CODE_COUNT   reply { one-way intact, one-way corrupt }
 *   CODE_MUNMAP  unmap its binder mapping, reply
 *   CODE_FILL    request: u32 n; reply pattern(n ^ 0x5a) of n bytes
 *   CODE_EXIT    reply, then exit
 * The client side keeps one connection (cb) per process.
 */
#ifndef BINDER_SERVICE_H
#define BINDER_SERVICE_H

#include "binder_util.h"

enum {
	CODE_ECHO = 1, /* verify pattern(len), reply pattern(len ^ 0x5a)  */
	CODE_PAUSE,    /* reply, then stop reading binder until resumed  */
	CODE_ONEWAY,   /* one-way: verify and count                      */
	CODE_COUNT,    /* reply { oneway ok, oneway bad }                */
	CODE_EXIT,     /* reply, then exit                               */
	CODE_MUNMAP,   /* unmap the binder mapping, reply                */
	CODE_FILL,     /* request u32 n: reply pattern(n ^ 0x5a), n bytes */
};

static int verbose;
static const char *dev = BINDER_DEV_DEFAULT;
static size_t map_size = 1024 * 1024;
static pid_t service_pid;
static int service_resume_fd = -1;

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
		uint32_t fill = 0;

		/* Read what is needed before the buffer goes back. */
		if (len == sizeof(fill))
			memcpy(&fill, data, sizeof(fill));
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
		case CODE_FILL:
			if (fill > map_size)
				fill = 0;
			pattern_fill(out, fill, fill ^ 0x5a);
			service_reply(&b, out, fill);
			break;
		case CODE_MUNMAP:
			munmap(b.map, b.map_size);
			b.map_size = 0;
			service_reply(&b, NULL, 0);
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

/* Fork the service; returns 0 once it is the context manager. */
static int service_start(void)
{
	int ready[2], resume[2];
	int32_t status = -1;

	if (pipe(ready) || pipe(resume))
		return -errno;
	service_pid = fork();
	if (service_pid < 0)
		return -errno;
	if (service_pid == 0) {
		close(ready[0]);
		close(resume[1]);
		service_main(ready[1], resume[0]);
	}
	close(ready[1]);
	close(resume[0]);
	service_resume_fd = resume[1];
	if (read(ready[0], &status, sizeof(status)) != sizeof(status))
		status = -EPIPE;
	close(ready[0]);
	if (status)
		kill(service_pid, SIGKILL);
	return status;
}

/* ---- the client -------------------------------------------------------- */

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

/* Ask the service to exit; returns 0 when it exited with status 0. */
static int service_stop(void)
{
	int ret = simple_call(CODE_EXIT, NULL, 0), wstatus = 0;

	waitpid(service_pid, &wstatus, 0);
	if (ret)
		return ret;
	return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : -ECHILD;
}

#endif /* BINDER_SERVICE_H */
