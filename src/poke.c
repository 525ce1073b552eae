/* SPDX-License-Identifier: MIT */
/*
 * The live-patch protocol: rewrite sites that other threads are executing.
 *
 *   0. Publish the batch (sorted by address) for the SIGTRAP handler.
 *   1. Write the trap byte (int3) over the first byte of every site.  SYNC.
 *      From here on, no thread can start executing a site's old bytes: a
 *      thread that reaches a site traps, and the handler emulates the site's
 *      new instruction.  The sync also waits out every thread that was in
 *      the middle of an old instruction.
 *   2. Write bytes 1..n-1 of every site.  SYNC.  Nobody executes those bytes
 *      now (every entry traps at byte 0); the sync makes sure no core still
 *      holds the old tail when byte 0 is released.
 *   3. Write the new first byte of every site.  SYNC.  A core may still run
 *      the stale int3 until it serialises; such a late trap finds the site
 *      in no published batch and re-runs it (trap.c), whatever its first
 *      byte is by then.  The protocol model (docs/model.md) confirms that
 *      this last sync is not needed for correctness, and that 1 and 2 are.
 *   4. Unpublish; wait until no handler still reads the batch.
 *
 * Three syncs per batch, however many sites.  Single-byte writes of int3 are
 * the only unsynchronised cross-modification the CPU vendors bless, which is
 * why the kernel (and we) take this road rather than storing whole
 * instructions.  The trace hook, a static call, is called between the steps:
 * it is a site inside the patch path that tests put into batches, so the
 * patcher traps on its own int3 (the recursive case) on every such update.
 *
 * Trap-free pokes (rw set: a trampoline with a writable view, alias.c) do
 * not take part in steps 1-2: their new words are stored atomically through
 * the view together with step 3, and the same final sync covers them.  A
 * batch made only of such pokes is one round of stores and ONE sync, and no
 * thread ever traps, whatever its signal mask.
 *
 * Before any int3 is written, every thread's signal mask is checked: a
 * thread that blocks SIGTRAP would be killed by the kernel if it ran into
 * one, so the batch is refused with -EAGAIN instead (nothing written).
 *
 * Errors: every site is restored to its old bytes (the trap handler keeps
 * emulating the new instruction until then, which is one of the two correct
 * behaviours).  Only if even the restoring writes fail is the batch pinned:
 * copied and left published for good, so that its int3 bytes stay handled.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

static const uint8_t trap_byte = SC_ARCH_TRAP_BYTE;

static bool via_int3(const struct sc_poke *q) { return !q->skip && !q->rw; }

static void trace(enum static_call_trace_step step, size_t n)
{
	static_call_cond(static_call_trace_hook)(step, (unsigned int)n);
}

static bool poke_less(const void *x, const void *y)
{
	const struct sc_poke *a = x, *b = y;

	if (a->addr != b->addr)
		return a->addr < b->addr;
	return a->seq < b->seq;
}

void sc_poke_sort(struct sc_poke *p, size_t n)
{
	static const struct sc_sort_ops ops = {sizeof(*p), poke_less, NULL};

	sc_sort(p, n, &ops);
}

/* The changed range of bytes 1..len-1; false when the tail is unchanged. */
static bool tail_range(const struct sc_poke *p, size_t *from, size_t *to)
{
	size_t a = 1, b = p->len;

	while (a < b && p->old[a] == p->new[a])
		a++;
	while (b > a && p->old[b - 1] == p->new[b - 1])
		b--;
	*from = a;
	*to = b;
	return a < b;
}

/* Write the first byte of sites [0, n) from @new_bytes or old bytes. */
static int write_heads(struct sc_poke *p, size_t n, bool use_new, size_t *done)
{
	for (*done = 0; *done < n; (*done)++) {
		struct sc_poke *q = &p[*done];
		int err;
		if (!via_int3(q))
			continue;
		err = sc_text_write(q->addr, use_new ? q->new : q->old, 1);
		if (err)
			return err;
	}
	return 0;
}

static int write_tails(struct sc_poke *p, size_t n, bool use_new, size_t *done,
		       bool *any)
{
	*any = false;
	for (*done = 0; *done < n; (*done)++) {
		struct sc_poke *q = &p[*done];
		size_t a, b;
		int err;
		if (!via_int3(q) || !tail_range(q, &a, &b))
			continue;
		*any = true;
		err = sc_text_write(q->addr + a,
				    (use_new ? q->new : q->old) + a, b - a);
		if (err)
			return err;
	}
	return 0;
}

/* Pinned batches: never unpublished, never freed (see above). */
static _Atomic(struct pinned *) pinned_list;
static _Atomic bool pinned_any;
struct pinned {
	struct pinned *next;
	size_t n;
	struct sc_poke pokes[];
};

/*
 * Only the sites that still start with int3 are kept: a site whose first
 * byte was put back (or that holds its complete new instruction) must not
 * be answered from here, or a late trap on it after a later, successful
 * update would run this batch's instruction instead of re-running the site.
 */
static void pin(struct sc_poke *p, size_t n)
{
	size_t m = 0, bytes;
	struct pinned *pn;

	atomic_store(&pinned_any, true);
	for (size_t i = 0; i < n; i++)
		m += via_int3(&p[i]) && *p[i].addr == trap_byte;
	sc_warn("could not restore %zu site(s) after a failed write; their "
		"traps stay emulated for good",
		m);
	if (m == 0)
		return;
	bytes = sizeof(struct pinned) + m * sizeof(*p);
	pn = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pn == MAP_FAILED) {
		/* nothing left to answer these traps: they will be fatal */
		sc_warn("cannot pin the batch (out of memory)");
		return;
	}
	pn->n = 0;
	for (size_t i = 0; i < n; i++)
		if (via_int3(&p[i]) && *p[i].addr == trap_byte)
			pn->pokes[pn->n++] = p[i];
	pn->next = atomic_load(&pinned_list);
	atomic_store(&pinned_list, pn);
}

bool sc_poke_pinned_any(void) { return atomic_load(&pinned_any); }

SC_SIGNAL_CODE const struct sc_poke *sc_poke_find_pinned(uintptr_t site)
{
	for (struct pinned *pn = atomic_load(&pinned_list); pn; pn = pn->next)
		for (size_t i = 0; i < pn->n; i++)
			if ((uintptr_t)pn->pokes[i].addr == site)
				return &pn->pokes[i];
	return NULL;
}

/*
 * Put every site back to its old bytes after a failure in step @failed_step.
 * If that is impossible, the batch is pinned.
 */
static void roll_back(struct sc_poke *p, size_t n, int failed_step, size_t done)
{
	size_t k;
	bool any;

	/* Undo tails first (sites still trap at byte 0), then heads.  A head
	 * may only be released after a successful sync: a core could
	 * otherwise combine it with a stale tail (the model's NO_SYNC2, in
	 * reverse).  If a sync fails, the batch is pinned instead. */
	if (failed_step >= 2) {
		/* step 2 failed at site `done` (or at its sync: done == n) */
		size_t upto = failed_step == 2 && done < n ? done + 1 : n;
		if (write_tails(p, upto, false, &k, &any))
			goto stuck;
		if (any && sc_sync_cores())
			goto stuck;
	}
	/* in step 1 a trap byte was written to sites [0, done) only */
	if (write_heads(p, failed_step == 1 ? done : n, false, &k))
		goto stuck;
	/* after this sync, no core runs the old int3 except as a late trap,
	 * which rewinds: a failure here is harmless */
	sc_sync_cores();
	return;
stuck:
	pin(p, n);
}

static void store_atomic(struct sc_poke *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!p[i].skip && p[i].rw)
			sc_text_store_words(p[i].addr, p[i].rw, p[i].old,
					    p[i].new, p[i].len);
}

/* Only trap-free pokes: one round of atomic stores, one sync. */
static int batch_atomic(struct sc_poke *p, size_t n, size_t live)
{
	int err = sc_sync_usable();

	if (err)
		return err;
	trace(STATIC_CALL_TRACE_BEGIN, n);
	store_atomic(p, n);
	/* The stores are done and cannot be taken back; a failed sync only
	 * delays when other cores see them. */
	if (sc_sync_cores())
		sc_warn("sync after atomic stores failed");
	trace(STATIC_CALL_TRACE_FINISH, n);
	sc_stat_add(batches, 1);
	sc_stat_add(sites_patched, live);
	return 0;
}

int sc_poke_batch(struct sc_poke *p, size_t n)
{
	size_t done = 0, live = 0, traps = 0;
	bool any_tail;
	int err, step = 1;
	long tid;

	for (size_t i = 0; i < n; i++) {
		live += !p[i].skip;
		traps += via_int3(&p[i]);
	}
	if (live == 0)
		return 0;
	if (traps == 0)
		return batch_atomic(p, n, live);
	err = sc_sync_usable();
	if (err)
		return err;
	tid = sc_sigtrap_check ? sc_sigtrap_blocker() : 0;
	if (tid > 0) {
		sc_warn("thread %ld blocks SIGTRAP: an int3 patch could kill "
			"it; not patching",
			tid);
		sc_stat_add(int3_refused, 1);
		return -EAGAIN;
	}
	for (size_t i = 0; i < n; i++) {
		err = via_int3(&p[i]) ? sc_siteset_add(p[i].addr) : 0;
		if (err)
			return err;
	}

	/* BEGIN before the batch is visible to anyone, as in batch_atomic():
	 * once published, a late trap left by the previous update of a site
	 * may already be emulated with this batch's new instruction. */
	trace(STATIC_CALL_TRACE_BEGIN, n);
	sc_trap_publish(p, n);

	for (done = 0; done < n; done++) {
		err = via_int3(&p[done])
			      ? sc_text_write(p[done].addr, &trap_byte, 1)
			      : 0;
		if (err)
			goto fail;
	}
	err = sc_sync_cores();
	if (err)
		goto fail;
	trace(STATIC_CALL_TRACE_INT3, n);

	step = 2;
	err = write_tails(p, n, true, &done, &any_tail);
	if (err)
		goto fail;
	if (any_tail) {
		err = sc_sync_cores();
		if (err)
			goto fail;
	}
	trace(STATIC_CALL_TRACE_TAIL, n);

	step = 3;
	err = write_heads(p, n, true, &done);
	if (err)
		goto fail;
	store_atomic(p, n);
	/* A failure of this last sync leaves only stale int3 in some core's
	 * pipeline, which the handler rewinds: the patch itself is complete. */
	if (sc_sync_cores())
		sc_warn("final sync failed; late traps will be re-run");
	trace(STATIC_CALL_TRACE_FINISH, n);

	sc_trap_unpublish();
	sc_stat_add(batches, 1);
	sc_stat_add(sites_patched, live);
	return 0;

fail:
	if (step == 3) {
		/* sites [0, done) are complete: trap them again before their
		 * tails go back.  A site that cannot be trapped again is live:
		 * its tail must not be touched.  That, or no sync: pin. */
		bool trapped = true;
		for (size_t i = 0; trapped && i < done; i++)
			if (via_int3(&p[i]) &&
			    sc_text_write(p[i].addr, &trap_byte, 1))
				trapped = false;
		if (!trapped || sc_sync_cores()) {
			pin(p, n);
			sc_trap_unpublish(); /* the pinned copy answers now */
			return err;
		}
	}
	/* restored, or pinned (the pinned copy answers the traps): either
	 * way the batch itself, which the caller reuses, goes */
	roll_back(p, n, step, done);
	sc_trap_unpublish();
	return err;
}
