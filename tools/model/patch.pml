/* SPDX-License-Identifier: MIT */
/*
 * A Promela model of the int3 patch protocol (src/poke.c, src/trap.c,
 * docs/design.md), checked by tools/model/check.sh.  docs/model.md says what
 * is in it, what is not, and what each variant shows.
 *
 * ONE site, updated UPDATES times in a row (version 0 -> 1 -> 2).  Byte 0 of
 * the site is INT3 or the head of some version; the tail (bytes 1..n-1) is
 * the tail of some version.  Two updates, not one, because the late-trap
 * race that the old handler lost (tests/stress/repro_late_trap.c) needs the
 * next update of the same site to write its int3.
 *
 * Instruction fetch is where the hardware is weaker than memory: a core may
 * execute bytes it fetched long ago.  Each core has a view (vh[], vt[]) of
 * the site, and executes what its view holds, never memory.  At any time
 * one byte of some core's view may catch up with memory (init does that
 * once it has started everyone): so a fresh head may meet a stale tail, as
 * with prefetched or decoded copies, or an instruction split over two
 * fetch blocks.  SYNC (membarrier SYNC_CORE: every core serialises) makes
 * every view equal to memory.  -DINORDER_FETCH refreshes a whole view at
 * once instead, so that a view is always a snapshot memory once held: the
 * most an x86 vendor could be read to promise.  A thread stays on one core
 * (after a migration it would fetch from another core's view, no staler
 * than those the model allows: all catch up from the same last SYNC).
 *
 * Properties:
 *   (a) no call executes a torn instruction (head and tail of different
 *       versions): assert(!torn);
 *   (b) no deadlock: pan's invalid end states (only init, the fetch side,
 *       may stop for good, at its end label); and no livelock: ltl term,
 *       every process terminates under weak fairness (-DLIVENESS);
 *   (c) a fetch after update k returned runs version k or later, so a call
 *       that starts after the patcher finished runs the final version:
 *       assert(!stale);
 * and the handler's own obligations: it never uses a freed batch (I5,
 * assert(!use_after_free)) and never takes one of our int3 for a foreign
 * one (assert(!foreign): the process would die of SIGTRAP).
 *
 * Variants, each taking away one thing the protocol does:
 *   NO_SYNC1, NO_SYNC2, NO_SYNC3   drop that membarrier;
 *   REREAD_BYTE      the old late-trap rule: re-read byte 0, int3 = foreign;
 *   NO_READERS_WAIT  free the batch without waiting for readers (I5);
 *   HANDLER_WAITS    the handler waits for the int3 to go instead of
 *                    emulating (I4);
 *   PUBLISH_LATE     publish the batch after writing the int3 (I7);
 *   NO_SIGNAL        no signal handler on the patcher's thread;
 *   INORDER_FETCH    see above.
 * check.sh runs them and says which must fail, and how.
 */

#ifndef UPDATES
#define UPDATES 2
#endif
#ifndef NCALLERS
#define NCALLERS 2
#endif
#define NCORES (NCALLERS + 1)	/* the patcher's thread runs on a core too */
#define PCORE NCALLERS
#define NPROCS (NCALLERS + 2)	/* callers, patcher, its signal handler */

#define INT3 0
#define HEAD(ver) ((ver) + 1)	/* byte 0 of version ver */

byte head = HEAD(0);		/* memory: byte 0 */
byte tail = 0;			/* memory: bytes 1..n-1, by version */
byte vh[NCORES] = HEAD(0);	/* each core's view of the same bytes */
byte vt[NCORES] = 0;
bool done[NCORES];		/* the core has no more calls to make */

byte batch;			/* published batch: its update, 0 = none */
byte readers;			/* trap handlers that may use the batch */
byte committed;			/* updates 1..committed have returned, and
				 * their batches are freed */
bool in_sig;			/* the patcher's thread is in a signal handler */
byte ndone;			/* terminated processes, for ltl term */

/*
 * Witnesses: scenarios the model must reach, or the properties could hold
 * for want of runs.  pan does not print during a search; check.sh checks
 * that no witness is in the base run's list of unreached statements.
 */
#define WITNESS(cond, msg) \
	if \
	:: (cond) -> printf(msg) \
	:: else \
	fi

#ifdef LIVENESS
ltl term { <> (ndone == NPROCS) }
#endif

/*
 * membarrier(SYNC_CORE): every core serialises, no view stays stale.  (The
 * view of a core with no more calls to make is kept at 0: fewer states.)
 */
inline sync()
{
	d_step {
		for (i : 0 .. NCORES - 1) {
			if
			:: !done[i] ->
				vh[i] = head;
				vt[i] = tail
			:: else
			fi
		}
		i = 0
	}
}

inline retire(c)
{
	done[c] = true;
	vh[c] = 0;
	vt[c] = 0
}

/*
 * Execute the site on core c: one call of a caller, or the patcher's
 * signal handler calling through the site (the recursive case).  Uses the
 * locals b, lo and the flags of the proctype that expands it, and resets
 * them (and the core's view) when done, so that finished calls do not
 * multiply states.
 *
 * Every fetch decodes from the core's view, never from memory, and samples
 * lo, the number of updates that had returned: what it runs must be at
 * least that new (c).  Execution and its checks are one step: nothing
 * another thread does in between could change what was fetched.
 */
inline exec_site(c)
{
	do
	:: atomic {
		vh[c] != INT3 ->
		torn = (vt[c] + 1 != vh[c]);
		assert(!torn);
		stale = (vh[c] - 1 < committed);
		assert(!stale);
		WITNESS(committed == UPDATES, "witness: call after the patcher\n");
		retire(c)
	   };
	   break
	:: atomic {
		vh[c] == INT3 ->
		WITNESS(head != INT3, "witness: stale int3\n");
		lo = committed
	   };
		/*
		 * SIGTRAP.  The handler's steps interleave with the patcher's:
		 * it may run long after the fetch (a late trap: this patch, or
		 * the next one too, may have finished or begun meanwhile).
		 */
#ifdef HANDLER_WAITS
		/* "wait until the int3 is gone, then re-run": the patcher's
		 * own signal handler would wait for the thread it stopped */
		(head != INT3);
		lo = 0
#else
		readers++;
		atomic {
			b = batch;
			WITNESS(readers > 1, "witness: two readers\n")
		};
		if
		:: b != 0 ->
			/* found: emulate the batch's new instruction, then
			 * leave the readers */
			atomic {
				use_after_free = (b <= committed);
				assert(!use_after_free);
				stale = (b < lo);
				assert(!stale);
				WITNESS(c == PCORE, "witness: patcher's own trap\n");
				WITNESS(b > lo + 1, "witness: next batch\n");
				readers--;
				b = 0;
				lo = 0;
				retire(c)
			};
			break
		:: else ->
			atomic {
				readers--;
				WITNESS(committed == UPDATES,
					"witness: late trap after the patcher\n");
				lo = 0
			}
#ifdef REREAD_BYTE
			;
			/* the old rule: byte 0 still int3 means not ours */
			foreign = (head == INT3);
			assert(!foreign)
#endif
			/* otherwise: ours (the site set is filled before the
			 * first publish), so late: rewind, run the site again */
		fi
#endif
	od
}

/*
 * sc_poke_batch() for one int3 site, UPDATES times.  The provided clause
 * stops it while its own signal handler runs on its thread.
 */
proctype Patcher() provided (!in_sig)
{
	byte i;

	do
	:: committed < UPDATES ->
#ifndef PUBLISH_LATE
		batch = committed + 1;	/* publish (I7: before the int3) */
#endif
		head = INT3;
#ifdef PUBLISH_LATE
		batch = committed + 1;
#endif
#ifndef NO_SYNC1
		sync();
#endif
		tail = committed + 1;
#ifndef NO_SYNC2
		sync();
#endif
		head = HEAD(committed + 1);
#ifndef NO_SYNC3
		sync();
#endif
		batch = 0;		/* unpublish */
#ifdef NO_READERS_WAIT
		committed++
#else
		/* wait for the readers (blocking, not a spin), free the
		 * batch, return */
		atomic { readers == 0 -> committed++ }
#endif
	:: else -> break
	od;
	ndone++
}

/*
 * A signal handler on the patcher's thread that calls through the site:
 * fires at most once, between any two steps of the patcher, and must never
 * wait for it.
 */
proctype Signal()
{
	byte b, lo;
	bool torn, stale, foreign, use_after_free;

	if
#ifndef NO_SIGNAL
	:: atomic { committed < UPDATES -> in_sig = true };
		exec_site(PCORE);
		in_sig = false
#endif
	:: d_step { retire(PCORE) }
	fi;
	ndone++
}

proctype Caller(byte c)
{
	byte b, lo;
	bool torn, stale, foreign, use_after_free;

	exec_site(c);
	ndone++
}

/*
 * Instruction fetch of core c catching up with memory: one byte of its view
 * (or, -DINORDER_FETCH, the whole view at once).
 */
#ifdef INORDER_FETCH
#define REFRESH(c) \
	:: atomic { \
		!done[c] && (vh[c] != head || vt[c] != tail) -> \
		vh[c] = head; \
		vt[c] = tail \
	   }
#else
#define REFRESH(c) \
	:: atomic { !done[c] && vh[c] != head -> vh[c] = head } \
	:: atomic { !done[c] && vt[c] != tail -> vt[c] = tail }
#endif

/*
 * Starts everyone, then is the instruction-fetch side of every core: at any
 * time, some core's view catches up with memory.  One process for all the
 * cores, not one each: fewer interleavings, fewer fairness copies.  Under
 * weak fairness (the liveness run) a stale view is refreshed eventually:
 * a refresh disables its own option until the patcher writes again, and the
 * patcher writes a bounded number of times, so no option can starve another.
 */
init
{
	byte i;

	atomic {
		for (i : 0 .. NCALLERS - 1) {
			run Caller(i)
		}
		run Patcher();
		run Signal();
		i = 0
	};
end:
	do
	REFRESH(0)
	REFRESH(1)
#if NCORES > 2
	REFRESH(2)
#endif
#if NCORES > 3
#error "REFRESH() only lists 3 cores"
#endif
	od
}
