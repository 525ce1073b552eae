/* SPDX-License-Identifier: MIT */
/*
 * Shared by the stress tests: four static calls with several targets each,
 * and the bookkeeping that tells, for every single call made while updates
 * run, whether its result is one that was legal at that moment.
 *
 * Targets.  Static call i (0..ST_KEYS-1) has ST_TARGETS targets:
 *   k = 0..3   st_f<i><k>(x) = x * 64 + i * 4 + k   (near jmp)
 *   k = 4      static_call_return0                  (xor %eax,%eax; ret)
 *   k = 5      abs() from libc, i.e. x for x > 0    (far form: jmp *slot)
 * so that, with 0 < x < 2^20, the result names the target that ran, and
 * updates move each trampoline between all of its encodings.
 *
 * Generations.  Each static call has a counter of started updates
 * (pending), of finished ones (committed) and a ring that maps a
 * generation to its target.  The updater publishes generation g+1 (ring,
 * then pending) before the update that installs its target and raises
 * committed to g+1 once the update returned.  A caller reads c = committed
 * before the call and p = pending after it: the target it reached is legal
 * iff it is the target of some generation in [c, p].  With several
 * updaters of one static call, the generation is taken inside the update,
 * from the trace hook at STATIC_CALL_TRACE_BEGIN (the patch lock is held
 * there, so generations follow the order in which the library applies
 * the updates): see st_plan and st_hook_begin().
 *
 * STRESS_NO_RET0=1 in the environment leaves the RET0 target out of the
 * updates, to look for other failures while that encoding has a known
 * problem (see repro_ret0_step.c).
 *
 * Everything a caller uses is lock-free and async-signal-safe.
 */
#ifndef SC_STRESS_H
#define SC_STRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <staticcall.h>

#define ST_KEYS 4
#define ST_LOCAL 4 /* targets defined here */
#define ST_TARGETS 6
#define ST_K_RET0 4
#define ST_K_FAR 5
#define ST_RING 256 /* generations a caller can look back */
#define ST_XMAX 0xfffff

typedef int st_fn_t(int x);

DECLARE_STATIC_CALL(st_op0, st_fn_t);
DECLARE_STATIC_CALL(st_op1, st_fn_t);
DECLARE_STATIC_CALL(st_op2, st_fn_t);
DECLARE_STATIC_CALL(st_op3, st_fn_t);

/* st_target[i][k]: the function (or static_call_return0) of target k. */
extern void *const st_target[ST_KEYS][ST_TARGETS];
extern struct static_call_key *const st_key[ST_KEYS];

/* Call static call @i directly (a direct call into its trampoline). */
static inline int st_call(int i, int x)
{
	switch (i) {
	case 0:
		return static_call(st_op0)(x);
	case 1:
		return static_call(st_op1)(x);
	case 2:
		return static_call(st_op2)(x);
	default:
		return static_call(st_op3)(x);
	}
}

/* The target k that produced @r for static call @i and argument @x
 * (0 < x <= ST_XMAX), or -1 for a result no target of @i gives. */
static inline int st_decode(int i, int x, int r)
{
	if (r == 0)
		return ST_K_RET0;
	if (r == x)
		return ST_K_FAR;
	if (r >> 6 != x || (r & 63) / ST_LOCAL != i)
		return -1;
	return (r & 63) % ST_LOCAL;
}

static inline int st_next_x(int x) { return x % ST_XMAX + 1; }

/* Which target k the static call's key points at now; -1 if none. */
int st_current(int i);

/* Update static call @i to target @k (static_call_update()). */
int st_update(int i, int k);
/* Queue the same in a batch (static_call_batch_add()). */
int st_batch_add(struct static_call_batch *b, int i, int k);

/* ------------------------------------------------------------------------
 * Generations
 * ------------------------------------------------------------------------ */
struct st_gen {
	_Atomic unsigned long pending;
	_Atomic unsigned long committed;
	_Atomic unsigned long ring[ST_RING]; /* gen << 8 | k */
} __attribute__((aligned(64)));

extern struct st_gen st_gen[ST_KEYS];

/* Start generation counting from the current targets (no update running). */
void st_gen_reset(void);

/* One update or batch commit as the updater plans it. */
struct st_plan {
	int n;
	int key[ST_KEYS];
	int k[ST_KEYS];
	unsigned long gen[ST_KEYS]; /* 0: not published */
};

/* A random plan over static calls [key_lo, key_lo + key_n): one of them
 * when @single, else 1..key_n of them; each gets a target other than its
 * current one (exact when this thread is the only updater of the key). */
void st_plan_random(struct st_plan *pl, unsigned int *seed, int key_lo,
		    int key_n, bool single);
/* Publish a generation for every entry of @pl (single updater per key). */
void st_plan_publish(struct st_plan *pl);
/* After a successful update or commit of @pl: raise committed (and
 * forget the generations, so that @pl can be reused). */
void st_plan_commit(struct st_plan *pl);
/* Apply @pl: static_call_update() for one entry when @single, else one
 * batch commit.  Returns the library's return code. */
int st_plan_apply(struct st_plan *pl, bool single);

/* Several updaters per key: set st_cur_plan (thread-local) around the
 * update and call st_hook_begin() from the trace hook; it publishes the
 * plan's generations inside the patch lock. */
extern _Thread_local struct st_plan *st_cur_plan;
void st_hook_begin(enum static_call_trace_step step);

enum st_verdict { ST_LEGAL = 0, ST_WRONG, ST_UNKNOWN };

/* Is target @k of static call @i legal for a call made between reading
 * committed == @c and pending == @p?  ST_UNKNOWN when the ring no longer
 * holds those generations (the caller slept through ST_RING updates). */
static inline enum st_verdict st_check(int i, unsigned long c, unsigned long p,
				       int k)
{
	struct st_gen *g = &st_gen[i];
	bool unknown = false;

	if (k < 0)
		return ST_WRONG;
	if (p < c || p - c >= ST_RING)
		return ST_UNKNOWN;
	for (unsigned long n = c; n <= p; n++) {
		unsigned long e = atomic_load_explicit(&g->ring[n % ST_RING],
						       memory_order_acquire);
		if (e >> 8 != n)
			unknown = true;
		else if ((int)(e & 0xff) == k)
			return ST_LEGAL;
	}
	return unknown ? ST_UNKNOWN : ST_WRONG;
}

/* Counters of checked calls; lock-free, usable from signal handlers. */
struct st_counts {
	_Atomic unsigned long calls, wrong, unknown;
};

/* The first wrong result seen, for the report. */
struct st_wrong_info {
	_Atomic int taken;
	int key, x, r, k;
	unsigned long c, p;
	const char *where;
};
extern struct st_wrong_info st_first_wrong;

/* Call static call @i once with @x, check the result against the
 * generations, count it in @cnt.  Returns the verdict. */
static inline enum st_verdict
st_call_checked(int i, int x, struct st_counts *cnt, const char *where)
{
	unsigned long c = atomic_load_explicit(&st_gen[i].committed,
					       memory_order_acquire);
	int r = st_call(i, x);
	unsigned long p =
		atomic_load_explicit(&st_gen[i].pending, memory_order_acquire);
	int k = st_decode(i, x, r);
	enum st_verdict v = st_check(i, c, p, k);

	atomic_fetch_add_explicit(&cnt->calls, 1, memory_order_relaxed);
	if (v == ST_WRONG) {
		atomic_fetch_add_explicit(&cnt->wrong, 1, memory_order_relaxed);
		if (!atomic_exchange(&st_first_wrong.taken, 1)) {
			st_first_wrong.key = i;
			st_first_wrong.x = x;
			st_first_wrong.r = r;
			st_first_wrong.k = k;
			st_first_wrong.c = c;
			st_first_wrong.p = p;
			st_first_wrong.where = where;
		}
	} else if (v == ST_UNKNOWN) {
		atomic_fetch_add_explicit(&cnt->unknown, 1,
					  memory_order_relaxed);
	}
	return v;
}

void st_counts_add(struct st_counts *to, struct st_counts *from);

/* Print the first wrong result, if any (not from a signal handler). */
void st_report_wrong(void);

/* A caller thread: calls every static call in turn, checked, until
 * *arg->stop; the counts go to arg->cnt. */
struct st_caller_arg {
	_Atomic int *stop;
	struct st_counts *cnt;
	int seed;
};
void *st_caller_thread(void *arg);

/*
 * Report a crash (which thread, where, the trampoline's bytes if it was in
 * one) on stderr before dying of it: cmocka's own handlers cannot report
 * a fault in a thread other than the test's.  Call at the start of each
 * test (cmocka installs its handlers per test).  With @trap, also install
 * it for SIGTRAP, where the library passes on the traps it does not own:
 * only before the first update (the library then keeps it as the handler
 * to pass on to; installed later, it would replace the library's).
 */
void st_crash_report(bool trap);

/* A counting print callback (messages are expected in these tests). */
extern _Atomic unsigned long st_log_count;
void st_count_log(enum static_call_print_level level, const char *msg);

#endif
