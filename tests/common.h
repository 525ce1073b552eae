/* SPDX-License-Identifier: MIT */
/* Helpers shared by the tests (cmocka is included by the test files). */
#ifndef SC_TEST_COMMON_H
#define SC_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <staticcall.h>

/* Built with ThreadSanitizer (clang or gcc)?  Some tests leave out, under
 * TSan only, what TSan changes about the program: it runs every signal
 * handler with all signals blocked, whatever its sa_mask, and delivers
 * asynchronous signals only at its next interceptor. */
#if defined(__SANITIZE_THREAD__)
#define SC_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SC_TEST_TSAN 1
#endif
#endif

#include "proc.h"

/* Number of mappings in /proc/self/maps that are writable and executable
 * at once; prints each one. */
int sc_test_count_wx(void);

/* Overwrite code bytes behind the library's back (through /proc/self/mem). */
int sc_test_poke_code(void *addr, const void *bytes, size_t len);

/* Messages the library printed, captured by sc_test_capture_log(). */
void sc_test_capture_log(void);
const char *sc_test_last_log(void);

/* Does this run use the int3 protocol (STATICCALL_PROTOCOL=int3)? */
int sc_test_int3(void);
/* ... the store protocol (STATICCALL_PROTOCOL=store)? */
int sc_test_store(void);
/* Is the int3 protocol's check of signal masks on (not turned off with
 * STATICCALL_SIGTRAP_CHECK=off, as in emulated runs: CMakeLists.txt)?
 * What a test asserts about its refusals (-EAGAIN) needs it. */
int sc_test_sigtrap_check(void);
/* Syncs one patch costs under this run's protocol for a batch with sites
 * in ordinary code (key or inline sites: 3 with int3, else 1). */
int sc_test_code_syncs(void);

/* A snapshot of the library's counters. */
struct static_call_stats sc_test_stats(void);

#endif
