/* SPDX-License-Identifier: MIT */
/*
 * The message path (src/log.c), which must be async-signal-safe: the
 * formatter against the C library's snprintf() for every conversion the
 * library uses, truncation, sc_strerror(), and that a message nobody would
 * see is not formatted at all.  Linked against libstaticcall.a to reach
 * the internal functions (hidden symbols link statically).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h"

/* Both formatters on the same format and arguments must agree. */
#define SAME(fmt, ...)                                                         \
	do {                                                                   \
		char want[256], got[256];                                      \
		int nw = snprintf(want, sizeof(want), fmt, __VA_ARGS__);       \
		int ng = sc_format(got, sizeof(got), fmt, __VA_ARGS__);        \
		if (strcmp(want, got) != 0 || nw != ng)                        \
			fail_msg("format \"%s\": want \"%s\" (%d), got "       \
				 "\"%s\" (%d)",                                \
				 fmt, want, nw, got, ng);                      \
	} while (0)

static void test_conversions(void **state)
{
	(void)state;
	SAME("%d %d %d %d", 0, 42, -42, INT_MIN);
	SAME("%d", INT_MAX);
	SAME("%i|%5i|%-5i|%05i|%+i|% i", 7, 7, 7, -7, 7, 7);
	SAME("%.3d|%.0d|%8.3d|%-8.3d|%08d", 5, 0, -5, 5, -123);
	SAME("%u %u", 0u, UINT_MAX);
	SAME("%ld %ld %ld", 0L, LONG_MIN, LONG_MAX);
	SAME("%lu %lu", 0UL, ULONG_MAX);
	SAME("%lld %llu", LLONG_MIN, ULLONG_MAX);
	SAME("%zu %zu %zd", (size_t)0, SIZE_MAX, (ssize_t)-3);
	SAME("%hd %hu %hhd %hhu", (short)-2, (unsigned short)65535,
	     (signed char)-1, (unsigned char)255);
	SAME("%x %x %X %#x %#X %#x", 0u, 0xdeadbeefu, 0xabcu, 255u, 255u, 0u);
	SAME("%lx %lx %08lx %-8lx| %.4lx", 0UL, ULONG_MAX, 0x1fUL, 0x1fUL,
	     0xaUL);
	SAME("%o %#o %o", 8u, 8u, 0u);
	SAME("%p %p", (void *)0x7fffdeadbeefUL, (void *)1);
	SAME("%p", (void *)0);
	SAME("%20p|%-20p|", (void *)0x1234, (void *)0x1234);
	SAME("%c%c%c|%3c|%-3c|", 'a', 'Z', '0', 'x', 'y');
	SAME("%s %s|%10s|%-10s|%.2s|%10.2s|", "", "abc", "abc", "abc", "abc",
	     "abc");
	SAME("%*d|%-*d|%*d|%.*d|%.*s|", 6, 42, 6, 42, -6, 42, 4, 7, 2, "abcd");
	SAME("100%% %s%%", "done");
	SAME("%s", "no conversion at the end");
	SAME("%s: %s at %p (%zu bytes), %ld %d", "site", "EILSEQ",
	     (void *)0x401000, (size_t)5, -1L, 3);
}

/* What the C library prints for NULL is not standard: ours is fixed. */
static void test_null_string(void **state)
{
	char b[64];
	const char *volatile null = NULL; /* hidden from -Wformat-overflow */
	(void)state;

	assert_int_equal(sc_format(b, sizeof(b), "[%s]", null), 8);
	assert_string_equal(b, "[(null)]");
	sc_format(b, sizeof(b), "[%10s]", null);
	assert_string_equal(b, "[    (null)]");
	sc_format(b, sizeof(b), "[%.3s]", null); /* as glibc: too short */
	assert_string_equal(b, "[]");
	sc_format(b, sizeof(b), "[%p]", (void *)0);
	assert_string_equal(b, "[(nil)]");
}

/* Truncation: always terminated, never a byte past the buffer, the length
 * the whole text would have returned. */
static void test_truncation(void **state)
{
	char big[1000];
	char buf[32 + 8];
	(void)state;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	for (size_t size = 0; size <= 32; size++) {
		memset(buf, 0x5a, sizeof(buf));
		int n = sc_format(buf, size, "<%s|%d>", big, 123456);
		assert_int_equal(n, 1 + 999 + 1 + 6 + 1); /* <x...x|123456> */
		if (size > 0) {
			assert_int_equal(strlen(buf), size - 1);
			if (size > 1)
				assert_int_equal(buf[0], '<');
		}
		for (size_t i = size; i < sizeof(buf); i++)
			assert_int_equal((unsigned char)buf[i], 0x5a);
	}
	/* a padded field cut in the middle */
	assert_int_equal(sc_format(buf, 8, "%20d", 5), 20);
	assert_string_equal(buf, "       ");
	/* a width beyond any buffer */
	assert_int_equal(sc_format(buf, sizeof(buf), "%*s", 5000, "a"), 5000);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

/* %.Ns reads no further than N: the string need not be terminated (ASan
 * would catch an overread of this exact-size array). */
static void test_precision_reads_no_further(void **state)
{
	char b[16];
	static const char raw[3] = {'a', 'b', 'c'};
	(void)state;

	assert_int_equal(sc_format(b, sizeof(b), "%.3s", raw), 3);
	assert_string_equal(b, "abc");
	assert_int_equal(sc_format(b, sizeof(b), "%.*s", 2, raw), 2);
	assert_string_equal(b, "ab");
}

static void test_strerror(void **state)
{
	static const int known[] = {
		EPERM,	ENOENT, EINTR,	   EIO,	       EBADF,  EAGAIN,	ENOMEM,
		EACCES, EFAULT, EBUSY,	   EEXIST,     EINVAL, EMFILE,	ENFILE,
		ENOSPC, EROFS,	EDEADLK,   ENOSYS,     ESRCH,  ENODATA, ENOEXEC,
		EILSEQ, ESTALE, EOVERFLOW, EOPNOTSUPP,
	};
	const char *a, *b, *c, *d, *e;
	(void)state;

	assert_string_equal(sc_strerror(EILSEQ),
			    "EILSEQ (illegal byte sequence)");
	assert_string_equal(sc_strerror(-EILSEQ),
			    "EILSEQ (illegal byte sequence)");
	assert_string_equal(sc_strerror(EAGAIN),
			    "EAGAIN (resource temporarily unavailable)");
	assert_string_equal(sc_strerror(0), "0 (no error)");
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const char *s = sc_strerror(known[i]);
		assert_non_null(s);
		assert_true(s[0] == 'E');
		assert_non_null(strstr(s, " ("));
		assert_true(s[strlen(s) - 1] == ')');
		assert_true(strncmp(s, "errno ", 6) != 0);
	}
	/* unknown numbers: their value, each in a buffer of its own for the
	 * last four */
	a = sc_strerror(4095);
	b = sc_strerror(-1000);
	c = sc_strerror(INT_MAX);
	d = sc_strerror(INT_MIN);
	e = sc_strerror(200);
	assert_string_equal(b, "errno 1000");
	assert_string_equal(c, "errno 2147483647");
	assert_string_equal(d, "errno 2147483648");
	assert_string_equal(e, "errno 200");
	assert_ptr_not_equal(b, c);
	assert_ptr_not_equal(c, d);
	assert_ptr_not_equal(d, e);
	assert_ptr_equal(a, e); /* the fifth reuses the first buffer */
	assert_string_equal(sc_strerror(134), "errno 134");
}

/* ------------------------------------------------------------------------
 * sc_log(): what is formatted, and where it goes
 * ------------------------------------------------------------------------ */
static char got_msg[512];
static int got_level = -1, got_calls;

static void capture(enum static_call_print_level level, const char *msg)
{
	got_level = (int)level;
	got_calls++;
	snprintf(got_msg, sizeof(got_msg), "%s", msg);
}

/* A %s argument that faults if the formatter reads it. */
#define POISON ((const char *)(uintptr_t)16)

static void test_dropped_not_formatted(void **state)
{
	static_call_print_fn_t dflt;
	unsigned long before;
	(void)state;

	dflt = static_call_set_print(NULL); /* the default printer */
	static_call_set_print(dflt);

	/* the default printer at level warn drops info and debug */
	assert_int_equal(sc_log_set_level("warn"), 0);
	before = atomic_load(&sc_log_formatted);
	sc_debug("debug %s", POISON);
	sc_info("info %s", POISON);
	assert_int_equal(atomic_load(&sc_log_formatted), before);
	assert_int_equal(sc_log_set_level("off"), 0);
	sc_warn("warn %s", POISON);
	assert_int_equal(atomic_load(&sc_log_formatted), before);

	/* no printer at all */
	assert_int_equal(sc_log_set_level("debug"), 0);
	static_call_set_print(NULL);
	sc_warn("warn %s", POISON);
	sc_debug("debug %s", POISON);
	assert_int_equal(atomic_load(&sc_log_formatted), before);

	/* a callback of the application's gets every level */
	assert_int_equal(sc_log_set_level("warn"), 0);
	static_call_set_print(capture);
	got_calls = 0;
	sc_debug("debug %d %s", 42, "x");
	assert_int_equal(got_calls, 1);
	assert_int_equal(got_level, STATIC_CALL_DEBUG);
	assert_string_equal(got_msg, "debug 42 x");
	assert_int_equal(atomic_load(&sc_log_formatted), before + 1);

	static_call_set_print(dflt);
}

/* A message longer than the buffer ends in "..." instead of just stopping. */
static void test_long_message(void **state)
{
	char big[600];
	static_call_print_fn_t prev;
	(void)state;

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	prev = static_call_set_print(capture);
	sc_warn("head %s", big);
	static_call_set_print(prev);
	assert_int_equal(strlen(got_msg), 255);
	assert_memory_equal(got_msg, "head yyy", 8);
	assert_string_equal(got_msg + 252, "...");
}

/* The default printer: one line on stderr, "libstaticcall: " first. */
static void test_default_printer(void **state)
{
	int fds[2], saved;
	char out[512];
	ssize_t n;
	(void)state;

	assert_int_equal(pipe(fds), 0);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fds[1], 2), 2);
	assert_int_equal(sc_log_set_level("info"), 0);
	sc_info("cannot write code at %p: %s", (void *)0x1000,
		sc_strerror(EPERM));
	sc_debug("dropped %s", POISON);
	assert_int_equal(sc_log_set_level("warn"), 0);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal(out, "libstaticcall: cannot write code at 0x1000: "
				 "EPERM (operation not permitted)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversions),
		cmocka_unit_test(test_null_string),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_precision_reads_no_further),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_dropped_not_formatted),
		cmocka_unit_test(test_long_message),
		cmocka_unit_test(test_default_printer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
