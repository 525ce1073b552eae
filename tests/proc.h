/* SPDX-License-Identifier: MIT */
/*
 * Test helpers that do not use the library (tests/proc.c), for programs
 * that must not link it themselves (test_two_copies); common.h includes
 * this header.
 */
#ifndef SC_TEST_PROC_H
#define SC_TEST_PROC_H

/* Seconds a stress test runs: @dflt, scaled by STATICCALL_TEST_SECONDS
 * (an absolute number of seconds) for soak runs. */
double sc_test_seconds(double dflt);
double sc_now(void);

/* How many times slower than native this run is: 1, or 20 under an
 * emulator (SC_TEST_EMULATOR: qemu-user, one instruction per translation
 * block), for tests whose load is a rate (a timer) rather than a time. */
double sc_test_slowdown(void);

/* Wait (up to 10 s) until no thread of the process blocks SIGTRAP: a
 * thread made by pthread_create() runs with every signal blocked until it
 * has started, and the int3 protocol refuses to patch (-EAGAIN) while a
 * thread blocks SIGTRAP (under load, for longer than the library's 20 ms
 * of patience).  Call it after creating threads, before int3 updates.
 * 0, or -1 on time-out. */
int sc_test_wait_unblocked(void);

/* Is @tid a thread of the emulator's own (qemu-user), not the program's?
 * Only under SC_TEST_EMULATOR (the emulator's command line, set by CMake
 * for emulated runs). */
int sc_test_emulator_thread(long tid);
/* execv(), through the emulator when there is one (qemu-user cannot exec
 * an aarch64 program by itself without binfmt_misc). */
int sc_test_execv(const char *path, char *const argv[]);

/* Watchdog: kill the process (failing the test) with a message if it is
 * still running after @seconds; prints every thread's state first.  Also
 * starts the W^X checker (sc_test_wx_start()). */
void sc_test_watchdog(double seconds);

/* W^X checker: a thread that scans /proc/self/maps every
 * SC_TEST_WX_PAUSE_US microseconds for the life of the process and exits
 * it with status 97 (the mappings printed) if one is writable and
 * executable, or if a shared writable mapping has the device and inode of
 * an executable mapping (a writable alias of code, issue 18; accepted when
 * the environment has SC_TEST_WX_ALIAS=allow, for runs that choose the
 * in-place store protocol); the number of scans is printed at exit.
 * Idempotent; call it again in a fork child (threads do not survive
 * fork). */
#define SC_TEST_WX_PAUSE_US 1000
void sc_test_wx_start(void);
unsigned long sc_test_wx_scans(void);
/* Accept (1) a writable mapping of code pages from now on: for a process
 * that switches to the store protocol (STATICCALL_PROTOCOL=store in the
 * environment or SC_TEST_WX_ALIAS=allow accept it from the start). */
void sc_test_wx_allow_alias(int allow);

/* A system call made from one known instruction, for the seccomp fault
 * injectors (tests/stress/faults.c, tests/regress/rg_seccomp.c): their
 * filters let every call whose instruction pointer is
 * sc_test_raw_syscall_ip (the address after the syscall / svc, as seccomp
 * reports it) through, and their SIGSYS handlers perform the real call of
 * a trapped one with it.  Returns the raw result (-errno on failure).
 * x86-64 and aarch64. */
long sc_test_raw_syscall6(long nr, long a, long b, long c, long d, long e,
			  long f);
extern const char sc_test_raw_syscall_ip[];

/* The perf map of this process (perf_map=on), /tmp/perf-<pid>.map, in
 * @buf (64 bytes are enough), and removing it.  The library appends to the
 * file, as JITs do, and perf reads it after the process is gone, so nothing
 * removes it but the tests: a test that turns the perf map on removes its
 * own (and its fork children's) at the start, so that a file left by an
 * earlier process with the same pid is not read as this one's, and at the
 * end, so that /tmp does not fill up with them. */
const char *sc_test_perf_map_path(char *buf, unsigned long size);
void sc_test_perf_map_remove(void);

#endif
