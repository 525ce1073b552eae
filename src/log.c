/* SPDX-License-Identifier: MIT */
/*
 * Messages go to one callback (libbpf style) rather than straight to stderr.
 * Formatting uses a stack buffer: no allocation, since a message may come
 * from an update made in a signal handler.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static void default_print(enum static_call_print_level level, const char *msg);

static _Atomic(static_call_print_fn_t) print_fn = default_print;
static _Atomic int env_level = -1; /* from STATICCALL_LOG, read once */

static int level_of(const char *e)
{
	if (!strcmp(e, "warn") || !strcmp(e, "0"))
		return STATIC_CALL_WARN;
	if (!strcmp(e, "info") || !strcmp(e, "1"))
		return STATIC_CALL_INFO;
	if (!strcmp(e, "debug") || !strcmp(e, "2"))
		return STATIC_CALL_DEBUG;
	if (!strcmp(e, "off") || !strcmp(e, "none"))
		return -2;
	return -3; /* unknown */
}

int sc_log_set_level(const char *name)
{
	int l = level_of(name);

	if (l == -3)
		return -EINVAL;
	atomic_store_explicit(&env_level, l, memory_order_relaxed);
	return 0;
}

static int default_level(void)
{
	int l = atomic_load_explicit(&env_level, memory_order_relaxed);
	const char *e;

	if (l != -1)
		return l;
	e = sc_getenv("STATICCALL_LOG");
	l = e ? level_of(e) : STATIC_CALL_WARN;
	if (l == -3)
		l = STATIC_CALL_WARN;
	atomic_store_explicit(&env_level, l, memory_order_relaxed);
	return l;
}

static void default_print(enum static_call_print_level level, const char *msg)
{
	char line[320];
	int n;

	if ((int)level > default_level())
		return;
	n = snprintf(line, sizeof(line), "libstaticcall: %s\n", msg);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		return; /* nowhere else to report it */
}

static_call_print_fn_t static_call_set_print(static_call_print_fn_t fn)
{
	return atomic_exchange(&print_fn, fn);
}

void sc_log(enum static_call_print_level level, const char *fmt, ...)
{
	static_call_print_fn_t fn = atomic_load(&print_fn);
	char msg[256];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(level, msg);
}

/* A stand-in until log.c gets its async-signal-safe table (issue #13). */
const char *sc_strerror(int errnum) { return strerror(errnum); }

void sc_hexdump(char *out, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[3 * i] = hex[b[i] >> 4];
		out[3 * i + 1] = hex[b[i] & 15];
		out[3 * i + 2] = i + 1 < n ? ' ' : 0;
	}
}
