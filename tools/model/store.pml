/* SPDX-License-Identifier: MIT */
/*
 * A Promela model of the store protocol (protocol=store: in-place atomic
 * word stores to a trampoline through its writable view, then one sync),
 * checked by tools/model/check.sh.  docs/model.md says what is in it, what
 * is not, and what each variant shows.
 *
 * A trampoline is two 8-byte words.  Word 0 is the instruction: a near
 * `jmp target` (the target is in its rel32), the far `jmp *slot` (the same
 * bytes whatever the target), or `ret` (NULL).  RET0 is a jmp, near or far,
 * to __static_call_return0 (R0 here).  Word 1 is the slot: the absolute
 * target, read only by the far form; 0 as the compiler emits it.
 *
 * A caller fetches word 0 whole from its core's view of it (a view, as in
 * patch.pml: what the core's instruction fetch holds; it catches up with
 * memory at any time, and SYNC makes every view equal to memory).  The far
 * form then loads the slot from memory (a data load: coherent) LATER: any
 * number of steps of the updater may come between the fetch and the load,
 * syncs included.  That is more than hardware allows: fetch and load are
 * one instruction, so an interrupt between them drops the fetched
 * instruction, which is fetched again after it, and a sync interrupts every
 * core that runs a thread of the process.  -DGAP_BOUNDED models that: a
 * sync sends a caller in the gap back to fetch word 0 again.
 *
 * One caller, making one call at any time: callers write nothing that the
 * updater or another caller reads, so a second one only interleaves
 * independent steps, and every property is about one call (checked by hand
 * with -DNCALLERS=2: 4.2 million states, no error).
 *
 * The updater makes UPDATES updates in a row, each to any of the forms
 * near (targets A, B), far (targets C, D), NULL, RET0 near and RET0 far:
 * every transition between the four kinds, with distinct targets.  Each
 * update stores the words that change with single atomic stores, the slot
 * before word 0, then one SYNC (membarrier SYNC_CORE).  The fixed protocol:
 * the slot is only ever written with a valid target, before the word 0 that
 * starts using it, and never cleared (NULL and near keep the old slot).
 *
 * Properties, for every call (a call starts when it fetches word 0; lo is
 * the number of updates that had returned then, hi the number that had
 * begun when it reaches its target):
 *   it never jumps to address 0:                       assert(!zero);
 *   it reaches the target of a configuration that was live at some point
 *   during the call (initial configuration lo, or that of an update lo+1..hi
 *   that had begun), so a call that starts after update k returned reaches
 *   the target of k or a later one: never an older one: assert(!stale),
 *   never one that was never installed:                 assert(!bogus);
 *   it never executes a mix of two instructions:        assert(!mix).
 *
 * Variants:
 *   ZERO_SLOT       the NULL form zeroes the slot (the engine until the fix
 *                   of issue 13);
 *   NEAR_SETS_SLOT  the near form writes its own target into the slot (the
 *                   engine until that fix; harmless by itself);
 *   INSN_FIRST      word 0 stored before the slot, always;
 *   ZERO_LAST       word 0 stored before the slot when the new form is NULL
 *                   (with ZERO_SLOT: the instruction first, then the slot
 *                   zeroed), the slot first otherwise;
 *   SYNC_BETWEEN    one more sync between the two stores;
 *   NO_SYNC         no sync at the end of an update;
 *   GAP_BOUNDED     see above;
 *   SLOT_HALVES     the slot stored in two halves (not one aligned atomic
 *                   store): in between it holds half of each address;
 *   SPLIT_FETCH     word 0 is fetched in two halves that catch up with memory
 *                   separately (an instruction not inside one atomically
 *                   stored word and one fetch block).
 */

#ifndef UPDATES
#define UPDATES 3
#endif
#ifndef NCALLERS
#define NCALLERS 1
#endif

/* targets, and what a call reaches */
#define ZERO 0			/* address 0 */
#define TA 1			/* near-reachable */
#define TB 2
#define TC 3			/* out of rel32 reach: far */
#define TD 4
#define R0 5			/* __static_call_return0: RET0 */
#define RETW 6			/* word 0 = ret (NULL); a call "reaches" ret */
#define FARW 7			/* word 0 = jmp *slot */
#define HALF 8			/* a slot half old, half new: no target */
/* word 0 of a near jmp is its target (TA, TB, R0) */

/* the kinds of configuration, for the transition witnesses */
#define K_NEAR 0
#define K_FAR 1
#define K_NULL 2
#define K_RET0 3
#define KIND(w, t) \
	((t) == R0 -> K_RET0 : ((w) == RETW -> K_NULL : ((w) == FARW -> K_FAR : K_NEAR)))

byte w0;			/* memory: word 0 */
byte slot;			/* memory: word 1 */
byte vw[NCALLERS];		/* each caller core's view of word 0 */
#ifdef SPLIT_FETCH
byte vw2[NCALLERS];		/* ... of its second half */
#endif
bool done[NCALLERS];
bool gap[NCALLERS];		/* fetched jmp *slot, slot not loaded yet */

byte cfg_t[UPDATES + 1];	/* what a call reaches in configuration k */
byte begun;			/* updates 1..begun have begun */
byte committed;			/* updates 1..committed have returned */

#define WITNESS(cond, msg) \
	if \
	:: (cond) -> printf(msg) \
	:: else \
	fi

/* membarrier(SYNC_CORE) */
inline sync()
{
	d_step {
		for (i : 0 .. NCALLERS - 1) {
			if
			:: !done[i] ->
				vw[i] = w0;
#ifdef SPLIT_FETCH
				vw2[i] = w0;
#endif
#ifdef GAP_BOUNDED
				/* a caller between fetch and slot load is
				 * interrupted: the instruction is fetched
				 * again after */
				gap[i] = false
#else
				skip
#endif
			:: else
			fi
		}
		i = 0
	}
}

/*
 * Where target x, reached by a call that started when lo updates had
 * returned, stands: in a configuration live during the call (lo..begun),
 * only in older ones (stale), or in none (bogus).
 */
inline check(x)
{
	zero = (x == ZERO);
	assert(!zero);
	live = false;
	old = false;
	for (j : 0 .. begun) {
		if
		:: cfg_t[j] == x && j >= lo -> live = true
		:: cfg_t[j] == x && j < lo -> old = true
		:: else
		fi
	}
	j = 0;
	stale = (!live && old);
	assert(!stale);
	bogus = (!live && !old);
	assert(!bogus)
}

inline retire(c)
{
	done[c] = true;
	vw[c] = 0;
#ifdef SPLIT_FETCH
	vw2[c] = 0;
#endif
	lo = 0;
	bf = 0;
	sf = 0;
	w = 0;
	live = false;
	old = false
}

/* One call through the trampoline, from core c. */
proctype Caller(byte c)
{
	byte w, lo, bf, sf, j;
	bool zero, stale, bogus, mix, live, old, called;

fetch:
	atomic {
		/* fetch word 0, whole, from this core's view */
		if
		:: !called -> lo = committed; called = true
		:: else	/* fetched again: the call started before */
		fi;
#ifdef SPLIT_FETCH
		mix = (vw[c] != vw2[c]);
		assert(!mix);
#endif
		w = vw[c];
		WITNESS(w != w0, "witness: stale view of word 0\n");
		WITNESS(committed == UPDATES, "witness: call after the updater\n");
		bf = begun;
		sf = slot;
		gap[c] = (w == FARW)
	};
	if
	:: w == FARW ->
		/* the gap: any number of the updater's steps */
		if
		:: atomic {
			gap[c] ->
			gap[c] = false;
			WITNESS(w0 == RETW, "witness: slot loaded after far->NULL\n");
			WITNESS(w0 == TA || w0 == TB,
				"witness: slot loaded after far->near\n");
			WITNESS(w0 == R0, "witness: slot loaded after far->RET0 near\n");
			WITNESS(w0 == FARW && slot != sf,
				"witness: slot changed under a fetched jmp *slot\n");
			WITNESS(committed > bf,
				"witness: slot loaded after a later update returned\n");
			check(slot);
			retire(c)
		   }
		:: atomic { !gap[c] -> goto fetch }	/* GAP_BOUNDED only */
		fi
	:: else ->
		atomic {
			check(w);	/* near: w is the target; ret: RETW */
			retire(c)
		}
	fi
}

/* the slot: one atomic store (SLOT_HALVES: two) */
inline store_slot()
{
#ifdef SLOT_HALVES
	if
	:: slot != ns ->
		slot = HALF;
		slot = ns
	:: else
	fi
#else
	atomic { if :: slot != ns -> slot = ns :: else fi }
#endif
}

/*
 * One update: store the changed words, then sync.  The new configuration
 * is chosen freely: every transition between every kind is reached.
 */
proctype Updater()
{
	byte nw, nt, ns, i;
	bool wfirst;	/* word 0 before the slot */

	do
	:: begun < UPDATES ->
		atomic {
			if
			:: nw = TA; nt = TA
			:: nw = TB; nt = TB
			:: nw = FARW; nt = TC
			:: nw = FARW; nt = TD
			:: nw = RETW; nt = RETW
			:: nw = R0; nt = R0
			:: nw = FARW; nt = R0
			fi;
			/* what the encoder writes into the slot */
			if
			:: nw == FARW -> ns = nt
#ifdef NEAR_SETS_SLOT
			:: nw != FARW && nw != RETW -> ns = nt
#endif
#ifdef ZERO_SLOT
			:: nw == RETW -> ns = ZERO
#endif
			:: else -> ns = slot	/* kept */
			fi;
			if
			:: KIND(w0, cfg_t[begun]) == K_NEAR ->
				if
				:: KIND(nw, nt) == K_NEAR -> printf("witness: near->near\n")
				:: KIND(nw, nt) == K_FAR -> printf("witness: near->far\n")
				:: KIND(nw, nt) == K_NULL -> printf("witness: near->NULL\n")
				:: KIND(nw, nt) == K_RET0 -> printf("witness: near->RET0\n")
				fi
			:: KIND(w0, cfg_t[begun]) == K_FAR ->
				if
				:: KIND(nw, nt) == K_NEAR -> printf("witness: far->near\n")
				:: KIND(nw, nt) == K_FAR -> printf("witness: far->far\n")
				:: KIND(nw, nt) == K_NULL -> printf("witness: far->NULL\n")
				:: KIND(nw, nt) == K_RET0 -> printf("witness: far->RET0\n")
				fi
			:: KIND(w0, cfg_t[begun]) == K_NULL ->
				if
				:: KIND(nw, nt) == K_NEAR -> printf("witness: NULL->near\n")
				:: KIND(nw, nt) == K_FAR -> printf("witness: NULL->far\n")
				:: KIND(nw, nt) == K_NULL -> printf("witness: NULL->NULL\n")
				:: KIND(nw, nt) == K_RET0 -> printf("witness: NULL->RET0\n")
				fi
			:: KIND(w0, cfg_t[begun]) == K_RET0 ->
				if
				:: KIND(nw, nt) == K_NEAR -> printf("witness: RET0->near\n")
				:: KIND(nw, nt) == K_FAR -> printf("witness: RET0->far\n")
				:: KIND(nw, nt) == K_NULL -> printf("witness: RET0->NULL\n")
				:: KIND(nw, nt) == K_RET0 -> printf("witness: RET0->RET0\n")
				fi
			fi;
			begun++;
			cfg_t[begun] = nt
		};
		/* the order of the two stores */
#if defined(INSN_FIRST)
		wfirst = true;
#elif defined(ZERO_LAST)
		wfirst = (nw == RETW);
#endif
		if
		:: !wfirst ->
			store_slot();
#ifdef SYNC_BETWEEN
			sync();
#endif
			atomic { if :: w0 != nw -> w0 = nw :: else fi }
		:: else ->
			atomic { if :: w0 != nw -> w0 = nw :: else fi };
#ifdef SYNC_BETWEEN
			sync();
#endif
			store_slot()
		fi;
#ifndef NO_SYNC
		sync();
#endif
		atomic { committed++; nw = 0; nt = 0; ns = 0 }
	:: else -> break
	od
}

/*
 * Instruction fetch of core c catching up with memory: its whole view of
 * word 0 (the instruction is inside one atomically stored word and one
 * fetch block), or -DSPLIT_FETCH each half on its own.
 */
#ifdef SPLIT_FETCH
#define REFRESH(c) \
	:: atomic { !done[c] && vw[c] != w0 -> vw[c] = w0 } \
	:: atomic { !done[c] && vw2[c] != w0 -> vw2[c] = w0 }
#else
#define REFRESH(c) \
	:: atomic { !done[c] && vw[c] != w0 -> vw[c] = w0 }
#endif

/*
 * The trampoline as the compiler emits it (near jmp, RET0 as a near jmp,
 * or ret; slot 0), the processes, then the fetch side of every core.
 */
init
{
	byte i;

	atomic {
		if
		:: w0 = TA; cfg_t[0] = TA
		:: w0 = R0; cfg_t[0] = R0
		:: w0 = RETW; cfg_t[0] = RETW
		fi;
		slot = ZERO;
		for (i : 0 .. NCALLERS - 1) {
			vw[i] = w0;
#ifdef SPLIT_FETCH
			vw2[i] = w0;
#endif
			run Caller(i)
		}
		run Updater();
		i = 0
	};
end:
	do
	REFRESH(0)
#if NCALLERS > 1
	REFRESH(1)
#endif
#if NCALLERS > 2
#error "REFRESH() only lists 2 cores"
#endif
	od
}
