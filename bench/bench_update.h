/* SPDX-License-Identifier: MIT */
/*
 * Shared by the update benchmarks (update.c, update_inline.c,
 * update_sites.c, toggle_threads.c, startup.c): errors, statistics, one raw
 * membarrier, the protocols compared, busy caller threads.
 */
#ifndef BENCH_UPDATE_H
#define BENCH_UPDATE_H

#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
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

/*
 * Busy caller threads count their rounds (each a loop over the sites), so
 * that bench_settle() can wait for every one of them to be running its loop
 * again.  Right after an update the callers may still be in the kernel (a
 * flip's page fault, waiting for the mm lock): a thread that is not on a CPU
 * needs no IPI, so a raw membarrier timed then is cheaper than the one an
 * update meets with its callers running, and update / sync would be
 * inflated by the difference (seen: 0.7 us against 10 us).
 */
#define BENCH_BUSY_MAX 2
static atomic_ulong bench_busy_rounds[BENCH_BUSY_MAX] __attribute__((unused));

/* busy thread @t (0..BENCH_BUSY_MAX-1) finished a round; only it writes */
static inline void bench_busy_tick(uintptr_t t)
{
	atomic_store_explicit(&bench_busy_rounds[t],
			      atomic_load_explicit(&bench_busy_rounds[t],
						   memory_order_relaxed) +
				      1,
			      memory_order_relaxed);
}

/* wait until each of the first @n busy threads has run two more rounds */
static inline void bench_settle(int n)
{
	unsigned long seen[BENCH_BUSY_MAX];

	for (int t = 0; t < n; t++)
		seen[t] = atomic_load(&bench_busy_rounds[t]);
	for (int t = 0; t < n; t++)
		while (atomic_load(&bench_busy_rounds[t]) < seen[t] + 2)
			sched_yield();
}

static inline struct static_call_stats bench_stats(const char *prog)
{
	struct static_call_stats s;

	if (static_call_get_stats(&s, sizeof(s)))
		bench_die(prog, "static_call_get_stats", EINVAL);
	return s;
}

/* The int3 hits emulated during an update: those of its own patch window.
 * Late hits re-run after a patch ended (traps_rewound) are left out: when
 * protocols take turns they may belong to the update before, an int3 one. */
static inline unsigned long long bench_traps(const struct static_call_stats *a,
					     const struct static_call_stats *b)
{
	return b->traps_emulated - a->traps_emulated;
}

/* The samples of one row of updates: each update's time, the raw syncs
 * timed next to it and their ratio (the medians are reported); syncs per
 * update (least, most), int3 hits and sites patched, summed. */
struct bench_row {
	double *upd, *syn, *rat;
	unsigned long long smin, smax, traps, patched;
};

static inline void bench_row_init(struct bench_row *w, long nr,
				  const char *prog)
{
	w->upd = calloc((size_t)nr, sizeof(double));
	w->syn = calloc((size_t)nr, sizeof(double));
	w->rat = calloc((size_t)nr, sizeof(double));
	if (!w->upd || !w->syn || !w->rat)
		bench_die(prog, "calloc", ENOMEM);
	w->smin = ~0ull;
	w->smax = w->traps = w->patched = 0;
}

static inline void bench_row_add(struct bench_row *w, long r, double upd_ns,
				 double sync_ns,
				 const struct static_call_stats *a,
				 const struct static_call_stats *b)
{
	unsigned long long sy = b->syncs - a->syncs;

	w->upd[r] = upd_ns;
	w->syn[r] = sync_ns;
	w->rat[r] = upd_ns / sync_ns;
	w->smin = sy < w->smin ? sy : w->smin;
	w->smax = sy > w->smax ? sy : w->smax;
	w->traps += bench_traps(a, b);
	w->patched += b->sites_patched - a->sites_patched;
}

static inline void bench_row_free(struct bench_row *w)
{
	free(w->upd);
	free(w->syn);
	free(w->rat);
}

static inline void bench_register_membarrier(const char *prog)
{
	/* The library registers too; registering twice is harmless. */
	if (syscall(SYS_membarrier,
		    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0))
		bench_die(prog, "membarrier register", errno);
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

/*
 * The protocols compared, as option values.  The library of the day may
 * not know one of them (before the page flip: "flip" and "store"); it
 * refuses the value with -EINVAL and that row is reported "n/a".
 * `check`: the value of the option "sigtrap_check" (which only the int3
 * protocol uses); NULL: "on" where the option exists.
 */
struct bench_proto {
	const char *name;     /* the row's label */
	const char *protocol; /* the option "protocol" */
	const char *check;    /* the option "sigtrap_check", or NULL */
};
static const struct bench_proto bench_protos[] = {
	{"auto", "auto", NULL},		 {"flip", "flip", NULL},
	{"store", "store", NULL},	 {"int3", "int3", "on"},
	{"int3_nocheck", "int3", "off"},
};
#define BENCH_NPROTOS (sizeof(bench_protos) / sizeof(bench_protos[0]))

/* 0 once the library said it has no option "sigtrap_check". */
static int bench_check_option = 1;

/* Sets @p's options: 0, or the library's error (-EINVAL: a value it does not
 * know, -ENOENT: an option it does not have). */
static inline int bench_proto_set(const struct bench_proto *p)
{
	int err = static_call_set_option("protocol", p->protocol);

	if (err || (!p->check && !bench_check_option))
		return err;
	err = static_call_set_option("sigtrap_check",
				     p->check ? p->check : "on");
	if (err == -ENOENT && !p->check) {
		bench_check_option = 0;
		err = 0;
	}
	return err;
}

/* Whether this library takes @p's options, found out once, quietly (the
 * library warns about a value it refuses); leaves the options as they were
 * at start (protocol=auto, sigtrap_check=on). */
static inline int bench_proto_supported(const struct bench_proto *p)
{
	const char *lvl = getenv("STATICCALL_LOG");
	int ok;

	static_call_set_option("log", "off");
	ok = bench_proto_set(p) == 0;
	static_call_set_option("protocol", "auto");
	static_call_set_option("sigtrap_check", "on");
	static_call_set_option("log", lvl && *lvl ? lvl : "warn");
	return ok;
}

/* bench_proto_set() or die; the protocol must be supported. */
static inline void bench_proto_use(const char *prog,
				   const struct bench_proto *p)
{
	int err = bench_proto_set(p);

	if (err)
		bench_die(prog, "static_call_set_option", err);
}

/* The row status of a protocol this library does not have. */
#define BENCH_NA "n/a"

#endif
