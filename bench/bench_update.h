/* SPDX-License-Identifier: MIT */
/* Shared by the update benchmarks (update.c, update_inline.c). */
#ifndef BENCH_UPDATE_H
#define BENCH_UPDATE_H

#include <errno.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <staticcall.h>

#include "bench.h"

static inline void bench_die(const char *prog, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what,
		strerror(err < 0 ? -err : err));
	exit(1);
}

static inline struct static_call_stats bench_stats(const char *prog)
{
	struct static_call_stats s;

	if (static_call_get_stats(&s, sizeof(s)))
		bench_die(prog, "static_call_get_stats", EINVAL);
	return s;
}

/* One raw membarrier SYNC_CORE, the floor of every update, in ns. */
static inline double bench_raw_sync_ns(const char *prog)
{
	double t0 = bench_now_ns();

	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE,
		    0, 0) != 0)
		bench_die(prog, "membarrier", errno);
	return bench_now_ns() - t0;
}

#endif
