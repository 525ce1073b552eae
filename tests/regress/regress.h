/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the regression tests (tests/regress): scenarios run in fork
 * children with a time limit, what the default protocol promises, memfd
 * memory and writable aliases of code as /proc shows them.  Each test
 * asserts what the library promises through its public API and /proc,
 * never what one run of the engine happens to do.
 */
#ifndef SC_REGRESS_H
#define SC_REGRESS_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

/* A key of every test executable (exported), with sites in rg_mod.c. */
DECLARE_STATIC_KEY_FALSE(rg_exe_key);

/* A check inside a fork child or a thread (cmocka's asserts belong to
 * the test's own thread): print and leave with status 1. */
#define RG_CHECK(cond, ...)                                                    \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fflush(stdout);                                        \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			fflush(stderr);                                        \
			_exit(1);                                              \
		}                                                              \
	} while (0)

/* Run @fn(@arg) in a fork child (its return value is the exit status),
 * killed after @seconds (SIGKILL).  Returns the wait status; prints what
 * became of the child. */
int rg_child(const char *name, int (*fn)(void *), void *arg, double seconds);

/* The wait status says: exited with @code. */
bool rg_exited(int status, int code);

/* ctest's exit status of a skipped test */
#define RG_SKIP 77

/* In a fork child: a mount namespace of its own (a user namespace too when
 * not root) with a tmpfs over /proc, so that the library finds no /proc.
 * 0, or RG_SKIP (the reason printed) where no such namespace can be made
 * here; fails the child if /proc is still readable. */
int rg_hide_proc(void);

/* Does this run use the default protocol (STATICCALL_PROTOCOL unset,
 * empty, "auto" or "flip")?  Only it promises no trap at all. */
bool rg_default_protocol(void);

/* Traps taken so far (emulated + rewound). */
unsigned long long rg_traps(void);

/* Bytes of memory held by the memfds this process has open (st_blocks of
 * every /proc/self/fd entry that is a memfd), and how many there are. */
long long rg_memfd_bytes(int *nfds);
/* Mappings of memfds in /proc/self/maps. */
int rg_memfd_mappings(void);

/* Writable aliases of code in /proc/self/maps: mappings that are writable
 * and executable, plus shared writable mappings of an inode that is also
 * mapped executable (each printed).  -1 if maps cannot be read. */
int rg_code_aliases(void);

/* fork(2) as a bare system call: no atfork handlers run (aarch64 has no
 * fork system call, only clone). */
long rg_raw_fork(void);

/* sc_test_wait_unblocked() that must work. */
void rg_settle(void);

/* Start a thread that runs @fn(@arg); aborts the test on failure. */
void rg_thread(pthread_t *t, void *(*fn)(void *), void *arg);

/* The plug-in (rg_mod.h), opened with dlopen(RTLD_NOW | RTLD_LOCAL). */
#include "rg_mod.h"
struct rg_mod {
	void *h;
	rgm_probe_fn *probe_exe, *probe_own;
	rgm_call_fn *call;
	rgm_update_fn *update;
	rgm_toggle_fn *toggle;
};
/* 0, or -1 with dlerror() printed. */
/* The updater of the concurrency tests, on the calling thread: until
 * sc_test_seconds(@seconds) have passed, round i (from 1) sets the static
 * call to target i % @ntargets with @set (static_call_update()'s result)
 * and @key to i & 1, each change published in its generation counter
 * (itgen.h) before and committed after; a change that fails commits the
 * state before it again.  Counts into @out. */
struct itg;
struct rg_updates {
	unsigned long ops;
	int errors, first;
};
void rg_update_loop(double seconds, struct itg *call_gen, int ntargets,
		    int (*set)(int k), struct itg *key_gen,
		    struct static_key_false *key, struct rg_updates *out);

int rg_mod_open(const char *path, struct rg_mod *m);
int rg_mod_close(struct rg_mod *m);

/* Unloading a module from inside an update (issue 13.11): the trace hook
 * (static_call_trace_hook) dlclose()s @m at the STATIC_CALL_TRACE_BEGIN step
 * of the next update or toggle, once.  rg_unload_hook_off() removes the
 * hook after that update and returns rg_mod_close()'s result (-1: the hook
 * never ran).  Failures to set the hook fail the child (RG_CHECK). */
void rg_unload_at_next_begin(struct rg_mod *m);
int rg_unload_hook_off(void);

#endif
