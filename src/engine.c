/* SPDX-License-Identifier: MIT */
/*
 * The engine: one patch of a batch of pokes, each carried out by one
 * protocol, with a constant number of syncs however many sites.
 *
 * Which protocol.  A page flip (flip.c) by default; the store protocol
 * (store.c) for pages that have a writable view, or when asked for; the
 * int3 protocol where neither applies: an executable memfd mapping is
 * refused, a page holds bytes the library did not write (a breakpoint, a
 * uprobe), a poke's pages cannot flip together, or protocol=int3.
 *
 * The steps, for a batch that has int3 pokes (without them, only the
 * starred steps run: one mmap per flipped region, the stores, ONE sync):
 *
 *   *  write the spare copies of the regions that flip (flip.c: invisible)
 *      publish the batch for the SIGTRAP handler
 *   1. int3 (the arch's breakpoint) over the start of every int3 site. SYNC.
 *      From here on no thread can start executing such a site's old
 *      bytes: a thread that reaches it traps, and the handler emulates the
 *      site's new instruction.  The sync waits out every thread that was
 *      in the middle of an old instruction.
 *   2. The rest of every int3 site's bytes.  SYNC (skipped when none).
 *   3.* The new first bytes of the int3 sites; the flips (one mmap per
 *      region); the in-place stores.  SYNC*.  A core may still run a stale
 *      breakpoint until it serialises; such a late trap finds the site in
 *      no published batch and runs it again (trap.c).  The model
 *      (docs/model.md) shows this last sync is not needed for the int3
 *      sites' correctness, and that 1 and 2 are; the flips and stores need
 *      it for a call that starts after the update returns to run the new
 *      code on every core.
 *      unpublish; wait until no handler still reads the batch.
 *
 * The trace hook, a static call, is called between the steps: it is a
 * site inside the patch path that tests put into batches, so the patcher
 * runs into its own breakpoint (the recursive case) on every such update.
 *
 * Errors.  Everything that can fail without being seen fails first (the
 * checks, the spare copies, the guard).  A write that fails mid-protocol
 * puts every site back to its old bytes in the reverse order (tails, sync,
 * heads, sync) and maps the old copies back; only if even that fails is
 * the int3 part pinned (int3.c).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

#include "internal.h"

static struct {
	struct sc_poke *p;
	size_t n;
	unsigned int retired; /* sc_code_retirements() when it began */
} cur;

/*
 * The hook may unload a module (dlclose from a hook, or from a signal
 * handler while the hook runs): that module's code is gone, so its pokes
 * leave the batch (module.c retired it).  Signal handlers that do the same
 * at any other point meet the pokes' writes failing (-EFAULT), and the
 * batch is rolled back.
 */
static void trace(enum static_call_trace_step step, size_t n)
{
	static_call_cond(static_call_trace_hook)(step, (unsigned int)n);
	if (sc_code_retirements() == cur.retired)
		return;
	for (size_t i = 0; i < cur.n; i++)
		if (sc_code_retired(cur.p[i].addr))
			cur.p[i].via = SC_VIA_NONE;
	sc_flip_drop_retired();
	cur.retired = sc_code_retirements();
}

/* The protocol for each poke (SC_VIA_*); 0 or -errno. */
static int choose(struct sc_poke *p, size_t n)
{
	enum sc_via want;
	int err = 0;

	switch (sc_opt.protocol) {
	case SC_PROTO_INT3:
		want = SC_VIA_INT3;
		break;
	case SC_PROTO_STORE:
		want = SC_VIA_STORE;
		break;
	default:
		want = SC_VIA_FLIP;
		break;
	}
	for (size_t i = 0; i < n; i++) {
		struct sc_poke *q = &p[i];
		if (memcmp(q->old, q->new, q->len) == 0) {
			q->via = SC_VIA_NONE; /* only checked */
			continue;
		}
		/* a page with a view is a shared mapping: written through
		 * the view (stores, or the int3 protocol's writes), unless
		 * the default protocol is back: then it flips, and its view
		 * goes (flip.c) */
		if ((sc_store_view(q->addr, q->len, &err) || err) &&
		    (want != SC_VIA_FLIP || err))
			q->via = q->stores && want != SC_VIA_INT3 ? SC_VIA_STORE
								  : SC_VIA_INT3;
		else
			q->via = (uint8_t)want;
		if (err)
			return err;
	}
	sc_store_plan(p, n);
	sc_flip_check_fork();
	sc_flip_plan(p, n);
	if (want != SC_VIA_INT3)
		for (size_t i = 0; i < n; i++)
			if (p[i].via == SC_VIA_INT3) {
				sc_debug("site %p: int3 protocol",
					 (void *)p[i].addr);
				sc_stat_add(int3_fallbacks, 1);
			}
	return 0;
}

/* Put the int3 sites back after a failure in step @step (1..3) at site
 * @done of that step.  False if that failed too (the caller pins). */
static bool roll_back(struct sc_poke *p, size_t n, int step, size_t done)
{
	size_t k;
	bool any;

	/* Undo tails first (sites still trap at their start), then heads.
	 * A head may only be released after a successful sync: a core could
	 * otherwise combine it with a stale tail (the model's NO_SYNC2, in
	 * reverse). */
	if (step >= 2) {
		size_t upto = step == 2 && done < n ? done + 1 : n;
		if (sc_int3_tails(p, upto, false, &k, &any))
			return false;
		if (any && sc_sync_cores())
			return false;
	}
	/* in step 1 a breakpoint was written to sites [0, done) only */
	if (sc_int3_heads(p, step == 1 ? done : n, false, &k))
		return false;
	/* after this sync, no core runs the old breakpoint except as a late
	 * trap, which re-runs the site: a failure here is harmless */
	sc_sync_cores();
	return true;
}

/* Flips and stores only: one round of mmaps and stores, one sync. */
static int patch_trapfree(struct sc_poke *p, size_t n, size_t live)
{
	sigset_t all, old;
	int err;

	trace(STATIC_CALL_TRACE_BEGIN, n);
	/* no signal handler may run (and dlclose a module) between the last
	 * look at the module list and the mmaps over its code */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = sc_flip_apply();
	if (!err)
		sc_store_apply(p, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return err;
	err = sc_sync_cores();
	if (err) {
		/* Without the sync, a core may still run the old code after
		 * we return: put the old copies and bytes back and fail.
		 * (sc_sync_usable() found membarrier allowed just before: a
		 * filter on its argument, or a refusal since, gets here.) */
		sc_flip_undo();
		sc_store_undo(p, n);
		return err;
	}
	trace(STATIC_CALL_TRACE_FINISH, n);
	sc_flip_finish();
	sc_flip_synced();
	sc_stat_add(batches, 1);
	sc_stat_add(sites_patched, live);
	return 0;
}

static int patch_int3(struct sc_poke *p, size_t n, size_t live)
{
	size_t done = 0;
	bool any_tail;
	int err, step = 1;
	sigset_t all, old;

	/* our handler, installed again if someone replaced it since the last
	 * int3 patch (their traps are passed on to them) */
	err = sc_trap_install();
	if (!err)
		err = sc_int3_guard();
	if (err)
		return err;

	/* BEGIN before the batch is visible to anyone: once published, a
	 * late trap left by the previous update of a site may already be
	 * emulated with this batch's new instruction. */
	trace(STATIC_CALL_TRACE_BEGIN, n);
	sc_trap_publish(p, n);

	err = sc_int3_traps(p, n, &done);
	if (!err)
		err = sc_sync_cores();
	if (err)
		goto fail;
	trace(STATIC_CALL_TRACE_INT3, n);

	step = 2;
	err = sc_int3_tails(p, n, true, &done, &any_tail);
	if (!err && any_tail)
		err = sc_sync_cores();
	if (err)
		goto fail;
	trace(STATIC_CALL_TRACE_TAIL, n);

	step = 3;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = sc_flip_apply();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		done = 0;
		goto fail;
	}
	err = sc_int3_heads(p, n, true, &done);
	if (err) {
		sc_flip_undo();
		goto fail;
	}
	sc_store_apply(p, n);
	/* A failure of this last sync leaves only stale breakpoints in some
	 * core's pipeline, which the handler re-runs: the int3 part is
	 * complete, and cannot be taken back without syncs either. */
	if (sc_sync_cores())
		sc_warn("final sync failed; late traps will be re-run");
	trace(STATIC_CALL_TRACE_FINISH, n);

	sc_trap_unpublish();
	sc_int3_unguard();
	sc_flip_finish();
	sc_flip_synced();
	sc_stat_add(batches, 1);
	sc_stat_add(sites_patched, live);
	return 0;

fail:
	if (step == 3) {
		/* sites [0, done) are complete: trap them again before their
		 * tails go back.  A site that cannot be trapped again is live:
		 * its tail must not be touched.  That, or no sync: pin. */
		size_t k;
		if (sc_int3_traps(p, done, &k) || sc_sync_cores()) {
			sc_int3_pin(p, n);
			sc_trap_unpublish(); /* the pinned copy answers now */
			sc_int3_unguard();
			return err;
		}
	}
	if (!roll_back(p, n, step, done))
		sc_int3_pin(p, n);
	/* restored, or pinned (the pinned copy answers the traps): either
	 * way the batch itself, which the caller reuses, goes */
	sc_trap_unpublish();
	sc_int3_unguard();
	sc_flip_finish(); /* nothing was flipped: forget the plan */
	return err;
}

/*
 * A flip that could not be taken back (mapping the old copy refused too):
 * its sites hold their new bytes.  They go back with the int3 protocol,
 * written through the region's live copy (sc_flip_write()), each site
 * emulated as its OLD instruction meanwhile: then the batch has written
 * nothing, as every failed update promises.  If even that fails, the
 * library's records follow memory (batch.c), and the sites come right with
 * the next change of their static call or key.
 */
static struct sc_pokes revert;

static void take_back(struct sc_poke *p, size_t n)
{
	size_t m = 0;

	revert.n = 0;
	for (size_t i = 0; i < n; i++) {
		struct sc_poke *q;
		if (!p[i].stuck)
			continue;
		q = sc_pokes_add(&revert);
		if (!q)
			return;
		*q = p[i];
		memcpy(q->old, p[i].new, p[i].len);
		memcpy(q->new, p[i].old, p[i].len);
		q->emu = p[i].emu_old;
		q->via = SC_VIA_INT3;
		m++;
	}
	if (!m || patch_int3(revert.v, revert.n, m) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		p[i].stuck = 0;
}

int sc_patch(struct sc_poke *p, size_t n)
{
	size_t live = 0, traps = 0;
	int err = choose(p, n);

	cur.p = p;
	cur.n = n;
	cur.retired = sc_code_retirements();
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		live += p[i].via != SC_VIA_NONE;
		traps += p[i].via == SC_VIA_INT3;
	}
	if (live == 0)
		return 0;
	err = sc_sync_usable();
	for (size_t i = 0; !err && i < n; i++)
		if (p[i].via == SC_VIA_INT3)
			err = sc_siteset_add(p[i].addr);
	if (err) {
		sc_flip_abort();
		return err;
	}
	err = sc_flip_prepare();
	if (!err)
		err = traps ? patch_int3(p, n, live)
			    : patch_trapfree(p, n, live);
	if (err) {
		sc_flip_finish(); /* whatever the spare copies hold now */
		take_back(p, n);
	}
	return err;
}
