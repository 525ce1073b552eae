/* SPDX-License-Identifier: MIT */
/*
 * Which results are legal while one updater retargets a static call (the
 * scheme of tests/stress/stress.h, reduced to one updater per static call):
 * the updater publishes generation g (its target k in a ring, then
 * pending = g) before the update and raises committed to g once the update
 * returned.  A caller reads c = committed before its call and p = pending
 * after it; the target it reached is legal iff it is the target of a
 * generation in [c, p].
 */
#ifndef SC_ITGEN_H
#define SC_ITGEN_H

#include <stdatomic.h>
#include <stdbool.h>

#define ITG_RING 256

struct itg {
	_Atomic unsigned long pending, committed;
	_Atomic unsigned long ring[ITG_RING]; /* gen << 8 | k */
} __attribute__((aligned(64)));

/* Generation 0 is target @k. */
static inline void itg_init(struct itg *g, int k)
{
	for (int i = 0; i < ITG_RING; i++)
		atomic_store(&g->ring[i], ~0ul);
	atomic_store(&g->ring[0], (unsigned long)k);
	atomic_store(&g->pending, 0);
	atomic_store(&g->committed, 0);
}

static inline unsigned long itg_publish(struct itg *g, int k)
{
	unsigned long n = atomic_load(&g->pending) + 1;

	atomic_store(&g->ring[n % ITG_RING], n << 8 | (unsigned long)k);
	atomic_store(&g->pending, n);
	return n;
}

static inline void itg_commit(struct itg *g, unsigned long n)
{
	atomic_store(&g->committed, n);
}

static inline unsigned long itg_before(struct itg *g)
{
	return atomic_load_explicit(&g->committed, memory_order_acquire);
}

static inline unsigned long itg_after(struct itg *g)
{
	return atomic_load_explicit(&g->pending, memory_order_acquire);
}

enum itg_verdict { ITG_LEGAL, ITG_WRONG, ITG_UNKNOWN };

/* Was target @k (-1: no target gives that result) legal in [c, p]? */
static inline enum itg_verdict itg_check(struct itg *g, unsigned long c,
					 unsigned long p, int k)
{
	bool unknown = false;

	if (k < 0)
		return ITG_WRONG;
	if (p < c || p - c >= ITG_RING)
		return ITG_UNKNOWN;
	for (unsigned long n = c; n <= p; n++) {
		unsigned long e = atomic_load(&g->ring[n % ITG_RING]);
		if (e >> 8 != n)
			unknown = true;
		else if ((int)(e & 0xff) == k)
			return ITG_LEGAL;
	}
	return unknown ? ITG_UNKNOWN : ITG_WRONG;
}

struct itg_counts {
	_Atomic unsigned long calls, wrong, unknown;
};

static inline void itg_count(struct itg_counts *cnt, enum itg_verdict v)
{
	atomic_fetch_add_explicit(&cnt->calls, 1, memory_order_relaxed);
	if (v == ITG_WRONG)
		atomic_fetch_add_explicit(&cnt->wrong, 1, memory_order_relaxed);
	else if (v == ITG_UNKNOWN)
		atomic_fetch_add_explicit(&cnt->unknown, 1,
					  memory_order_relaxed);
}

#endif
