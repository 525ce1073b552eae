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

/* Seconds a stress test runs: @dflt, scaled by STATICCALL_TEST_SECONDS
 * (an absolute number of seconds) for soak runs. */
double sc_test_seconds(double dflt);
double sc_now(void);

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

/* Wait (up to 10 s) until no thread of the process blocks SIGTRAP: a
 * thread made by pthread_create() runs with every signal blocked until it
 * has started, and the int3 protocol refuses to patch (-EAGAIN) while a
 * thread blocks SIGTRAP (under load, for longer than the library's 20 ms
 * of patience).  Call it after creating threads, before int3 updates.
 * 0, or -1 on time-out. */
int sc_test_wait_unblocked(void);

/* A snapshot of the library's counters. */
struct static_call_stats sc_test_stats(void);

/* Watchdog: kill the process (failing the test) with a message if it is
 * still running after @seconds; prints every thread's state first.  Also
 * starts the W^X checker (sc_test_wx_start()). */
void sc_test_watchdog(double seconds);

/* W^X checker: a thread that scans /proc/self/maps every
 * SC_TEST_WX_PAUSE_US microseconds for the life of the process and exits
 * it with status 97 (the mapping printed) if one is writable and
 * executable; the number of scans is printed at exit.  Idempotent; call it
 * again in a fork child (threads do not survive fork). */
#define SC_TEST_WX_PAUSE_US 1000
void sc_test_wx_start(void);
unsigned long sc_test_wx_scans(void);

#endif
