/* SPDX-License-Identifier: MIT */
/*
 * Seccomp fault injection for the regression tests (x86-64, aarch64), in the manner
 * of tests/stress/faults.c: rules that fail a system call with an errno
 * for good, or trap it (SIGSYS) to a handler that fails only the calls a
 * counter picks and performs the others itself.  Install them in a fork
 * child only: a filter cannot be removed.
 */
#ifndef SC_RG_SECCOMP_H
#define SC_RG_SECCOMP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct rg_rule {
	int nr;
	int arg;       /* -1: any arguments */
	uint64_t mask; /* match when (args[arg] & mask) == value */
	uint64_t value;
	int err;   /* > 0: fail with this errno for good; 0: trap (SIGSYS) */
	bool trap; /* trap to the injector (err ignored) */
};

/* Under an emulator (SC_TEST_EMULATOR: qemu-user, which refuses seccomp
 * filters, docs/aarch64.md) where a filter cannot be installed: prints why
 * @what is skipped and returns 1.  0 otherwise, and always in a native run
 * (a refused filter there is the test's failure, not a skip). */
int rg_seccomp_refused_by_emulator(const char *what);

/* Install @n rules on every thread (TSYNC): 0 or -errno. */
int rg_seccomp(const struct rg_rule *rules, int n);

/* The injector of trapped calls: calls that match a trap rule are counted
 * (1, 2, ...); call number @first and every later one fails with @err
 * while @armed, the others are performed as asked. */
struct rg_inject {
	_Atomic int armed;
	_Atomic long seen, failed;
	long first;
	int err;
};
extern struct rg_inject rg_inj;
/* Install the SIGSYS handler of the injector: 0 or -errno. */
int rg_inject_install(void);

/* The same counting for calls made while every signal is blocked (a
 * SIGSYS would kill the process there): rules whose trap is set send the
 * matching calls of the CALLING thread only (no TSYNC) to a supervisor
 * thread (SECCOMP_RET_USER_NOTIF), which fails them as rg_inj says or
 * lets them run.  0 or -errno. */
int rg_seccomp_notify(const struct rg_rule *rules, int n);

#endif
