/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"

#ifdef SC_TEST_TSAN
#include <sanitizer/common_interface_defs.h>

static void *tsan_nothing(void *arg) { return arg; }

/*
 * ThreadSanitizer starts a background thread of its own at the first
 * pthread_create(), with every signal blocked.  It never runs the program's
 * code, but the library cannot know that: its SIGTRAP check (an int3 would
 * kill a thread that blocks SIGTRAP) refuses every int3 patch, with -EAGAIN,
 * while that thread exists.  Start it now with a thread of our own, then
 * stop it the one way TSan offers: the sandbox notification, after which it
 * is not started again.  It only flushes memory and writes profiles, which
 * the tests do not ask for.
 */
__attribute__((constructor)) static void tsan_stop_background_thread(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, tsan_nothing, NULL) == 0)
		pthread_join(t, NULL);
	__sanitizer_sandbox_on_notify(NULL);
}
#endif

int sc_test_count_wx(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char perms[8];
		if (sscanf(line, "%*s %7s", perms) == 1 && perms[1] == 'w' &&
		    perms[2] == 'x') {
			fprintf(stderr, "W+X mapping: %s", line);
			n++;
		}
	}
	fclose(f);
	return n;
}

/* What code needs after a store (aarch64: clean the data cache, invalidate
 * the instruction cache; also how qemu-user learns of the change). */
static void flush_icache(void *addr, size_t len)
{
	__builtin___clear_cache((char *)addr, (char *)addr + len);
}

int sc_test_poke_code(void *addr, const void *bytes, size_t len)
{
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		n = pwrite(fd, bytes, len, (off_t)(uintptr_t)addr);
		close(fd);
	}
	if (n == (ssize_t)len) {
		flush_icache(addr, len);
		return 0;
	}
	/* A trampoline page with a writable view is a shared mapping, which
	 * /proc/self/mem does not write: make it writable (not executable)
	 * for a moment.  Only for single-threaded moments of a test. */
	uintptr_t page = (uintptr_t)addr & ~(uintptr_t)4095;
	size_t span = (uintptr_t)addr + len - page;
	if (mprotect((void *)page, span, PROT_READ | PROT_WRITE) != 0)
		return -1;
	memcpy(addr, bytes, len);
	if (mprotect((void *)page, span, PROT_READ | PROT_EXEC) != 0)
		return -1;
	flush_icache(addr, len);
	return 0;
}

static char last_log[512];

static void capture(enum static_call_print_level level, const char *msg)
{
	(void)level;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

void sc_test_capture_log(void)
{
	last_log[0] = 0;
	static_call_set_print(capture);
}

const char *sc_test_last_log(void) { return last_log; }

int sc_test_int3(void)
{
	const char *p = getenv("STATICCALL_PROTOCOL");
	return p && !strcmp(p, "int3");
}

int sc_test_store(void)
{
	const char *p = getenv("STATICCALL_PROTOCOL");
	return p && !strcmp(p, "store");
}

int sc_test_sigtrap_check(void)
{
	const char *v = getenv("STATICCALL_SIGTRAP_CHECK");

	return !v || strcmp(v, "off") != 0;
}

int sc_test_code_syncs(void)
{
#if SC_TEST_KEYS_STORED
	/* every key site takes stores under the store protocol; the int3
	 * protocol rewrites one instruction word: no tail step */
	return sc_test_int3() ? SC_TEST_INT3_STEPS : 1;
#else
	return sc_test_int3() || sc_test_store() ? 3 : 1;
#endif
}

struct static_call_stats sc_test_stats(void)
{
	struct static_call_stats st;
	static_call_get_stats(&st, sizeof(st));
	return st;
}
