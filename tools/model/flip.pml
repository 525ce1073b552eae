/* SPDX-License-Identifier: MIT */
/*
 * A Promela model of the page flip protocol (protocol=flip, the default on
 * x86-64), checked by tools/model/check.sh.  docs/model.md says what is in
 * it, what is not, what it assumes of the hardware and what each variant
 * shows.
 *
 * ONE instruction straddles two pages: its head is in page 0, its tail in
 * page 1.  The code of the two pages lives in two copies (memfd pages,
 * copies 1 and 2); content[] is the version of the instruction's bytes in
 * each page of each copy.  Copy 1 is mapped, copy 2 is the spare.  An
 * update k (k = 1..UPDATES) writes version k into both pages of the spare
 * (pwrite into the memfd: no mapping of it can execute), then replaces the
 * mapping of both pages with the spare in ONE mmap(MAP_FIXED): under the
 * mm's write lock, it zaps the page table entries (pte[]), points the
 * mapping (vma[]) at the spare, and shoots down every core's translations
 * (tlb[]) before it releases the lock and returns; then one SYNC
 * (membarrier SYNC_CORE).  The copy just mapped out is the spare of the
 * NEXT update, which writes into it (lazy catch-up): update 2 reuses copy
 * 1, update 3 copy 2.
 *
 * Each core's instruction fetch (the loop in init) translates each page
 * through its TLB entry, or, if it has none, walks the page table: a present
 * entry fills the TLB; an empty one faults, and the fault waits for the
 * mmap lock, then maps the page from vma[] and the fetch starts over.  A
 * TLB entry may be evicted at any time.  What a core fetched it keeps (bh,
 * bt: head and tail, and the copy each came from) until it executes it or
 * a SYNC drops it; a page shootdown drops translations, not what was
 * already fetched through them (broadcast invalidation, e.g. AMD INVLPGB,
 * interrupts no core).  Fetched bytes are not a snapshot: each may catch up
 * with a later write to the physical copy it came from (cross-modifying
 * code, as in patch.pml), until a SYNC.
 *
 * The base model fetches an instruction through the translations of one
 * instant (both pages looked up in one step).  -DSPLIT_FETCH fetches the
 * head and the tail in two steps, any time apart: the core may hold half an
 * instruction while the translation of the other page changes.  -DIPI
 * makes the shootdown an interrupt on every core (Linux's IPI shootdown):
 * it also drops whatever each core had fetched.
 *
 * Callers: each makes one call at any time (its core may have fetched the
 * site's bytes before the call starts: prefetch).  Two, because one core's
 * fault fills a page table entry that another core's walk then finds (as
 * MAP_POPULATE by the updater would).  Properties:
 *   (a) no torn instruction is executed (head and tail of the same
 *       version): assert(!torn);
 *   (b) a call that starts after update k returned runs version k or
 *       later: assert(!stale);
 *   and no deadlock (pan's invalid end states): a fault waits for the lock
 *   and nothing else.
 *
 * Variants:
 *   TWO_MMAPS      the two pages replaced in two separate mmap calls;
 *   EAGER_CATCHUP  the copy just mapped out is written (brought up to date)
 *                  right after the mmap, before the SYNC;
 *   NO_SYNC        no SYNC after the flip;
 *   SPLIT_FETCH, IPI: see above.
 */

#ifndef UPDATES
#define UPDATES 3
#endif
#ifndef NCALLERS
#define NCALLERS 2
#endif

#define NONE 0
#define PG(copy, p) ((copy) * 2 + (p))
#define TLB(c, p) tlb[(c) * 2 + (p)]

byte content[6];		/* [PG(copy, page)]: version; copy 0 unused */
byte vma[2];			/* the copy each page is mapped from */
byte pte[2];			/* page table: copy, or NONE (zapped) */
bool lock;			/* the mm's write lock (mmap) */
byte committed;			/* updates 1..committed have returned */

byte tlb[NCALLERS * 2];		/* each core's translation of each page */
bool fetched[NCALLERS];		/* a whole instruction is fetched */
#ifdef SPLIT_FETCH
bool half[NCALLERS];		/* only its head is */
#endif
byte bh[NCALLERS];		/* fetched head: version, and its copy */
byte hsrc[NCALLERS];
byte bt[NCALLERS];		/* fetched tail */
byte tsrc[NCALLERS];
bool faulted[NCALLERS];		/* in the page fault handler */
bool faultlocked[NCALLERS];	/* ... and it found the lock held */
bool done[NCALLERS];		/* the core has no more calls to make */

#define WITNESS(cond, msg) \
	if \
	:: (cond) -> printf(msg) \
	:: else \
	fi

/* what core c has fetched is dropped: the instruction is fetched again */
inline drop(c)
{
	fetched[c] = false;
#ifdef SPLIT_FETCH
	half[c] = false;
#endif
	bh[c] = 0;
	hsrc[c] = 0;
	bt[c] = 0;
	tsrc[c] = 0
}

/* membarrier(SYNC_CORE): every core serialises */
inline sync()
{
	d_step {
		for (i : 0 .. NCALLERS - 1) {
			drop(i)
		}
		i = 0
	}
}

/* the TLB shootdown of page p (IPI: an interrupt on every core) */
inline shootdown(p)
{
	d_step {
		for (i : 0 .. NCALLERS - 1) {
			TLB(i, p) = NONE;
#ifdef IPI
			drop(i)
#else
			skip
#endif
		}
		i = 0
	}
}

/* mmap(MAP_FIXED) of copy s over pages p..q */
inline flip(s, p, q)
{
	lock = true;
	for (j : p .. q) {
		pte[j] = NONE		/* zap */
	}
	j = 0;
	for (j : p .. q) {
		vma[j] = s
	}
	j = 0;
	for (j : p .. q) {
		shootdown(j)
	}
	j = 0;
	lock = false
}

proctype Updater()
{
	byte k, i, j, cur = 1, spare = 2;

	for (k : 1 .. UPDATES) {
		/* pwrite into the spare: page by page */
		content[PG(spare, 0)] = k;
		content[PG(spare, 1)] = k;
#ifdef TWO_MMAPS
		flip(spare, 0, 0);
		flip(spare, 1, 1);
#else
		flip(spare, 0, 1);
#endif
#ifdef EAGER_CATCHUP
		/* the copy just mapped out, brought up to date at once */
		content[PG(cur, 0)] = k;
		content[PG(cur, 1)] = k;
#endif
#ifndef NO_SYNC
		sync();
#endif
		atomic {
			cur = spare;
			spare = 3 - cur;
			committed = k
		}
	}
}

inline retire(c)
{
	done[c] = true;
	drop(c);
	TLB(c, 0) = NONE;
	TLB(c, 1) = NONE
}

/* One call through the site, on core c. */
proctype Caller(byte c)
{
	byte lo;
	bool torn, stale;

	lo = committed;		/* the call starts */
	atomic {
		fetched[c] ->
		torn = (bh[c] != bt[c]);
		assert(!torn);
		stale = (bh[c] < lo);
		assert(!stale);
		WITNESS(lo == UPDATES, "witness: call after the updater\n");
		WITNESS(!lock && vma[0] != hsrc[c],
			"witness: ran bytes of a copy mapped out by a finished mmap\n");
		WITNESS(hsrc[c] == 1 && bh[c] > 1,
			"witness: ran code from a reused copy\n");
		retire(c);
		lo = 0
	}
}

/* page p is translatable by core c without a fault */
#define XL(c, p) (TLB(c, p) != NONE || pte[p] != NONE)

/* fill core c's TLB entry for page p if needed, then read byte b of it */
#define WALK(c, p) \
	if \
	:: TLB(c, p) == NONE -> TLB(c, p) = pte[p] \
	:: else \
	fi

#define FETCH_HEAD(c) \
	WALK(c, 0); \
	WITNESS(lock && TLB(c, 0) != vma[0], \
		"witness: fetch through a stale TLB entry, mmap lock held\n"); \
	hsrc[c] = TLB(c, 0); \
	bh[c] = content[PG(hsrc[c], 0)]

#define FETCH_TAIL(c) \
	WALK(c, 1); \
	tsrc[c] = TLB(c, 1); \
	bt[c] = content[PG(tsrc[c], 1)]

/* the page fault: wait for the mmap lock, map the first missing page */
#define FAULT(c) \
	:: atomic { \
		faulted[c] && !lock -> \
		WITNESS(faultlocked[c], \
			"witness: fault waited for the mmap lock\n"); \
		if \
		:: pte[0] == NONE && TLB(c, 0) == NONE -> pte[0] = vma[0] \
		:: else -> pte[1] = vma[1] \
		fi; \
		faulted[c] = false; \
		faultlocked[c] = false \
	   }

#ifdef SPLIT_FETCH
#define FETCH(c) \
	:: atomic { \
		!done[c] && !faulted[c] && !fetched[c] && !half[c] && XL(c, 0) -> \
		FETCH_HEAD(c); \
		half[c] = true \
	   } \
	:: atomic { \
		!done[c] && !faulted[c] && half[c] && XL(c, 1) -> \
		FETCH_TAIL(c); \
		half[c] = false; \
		fetched[c] = true \
	   } \
	:: atomic { \
		!done[c] && !faulted[c] && !fetched[c] && \
		(half[c] && !XL(c, 1) || !half[c] && !XL(c, 0)) -> \
		drop(c); \
		faultlocked[c] = lock; \
		faulted[c] = true \
	   } \
	FAULT(c)
#else
#define FETCH(c) \
	:: atomic { \
		!done[c] && !faulted[c] && !fetched[c] && XL(c, 0) && XL(c, 1) -> \
		WITNESS(TLB(c, 0) != NONE && TLB(c, 1) == NONE, \
			"witness: one page through the TLB, one walked\n"); \
		FETCH_HEAD(c); \
		FETCH_TAIL(c); \
		fetched[c] = true \
	   } \
	:: atomic { \
		!done[c] && !faulted[c] && !fetched[c] && \
		!(XL(c, 0) && XL(c, 1)) -> \
		faultlocked[c] = lock; \
		faulted[c] = true \
	   } \
	FAULT(c)
#endif

/* a TLB entry evicted; a fetched byte catching up with its copy */
#define CORE(c) \
	FETCH(c) \
	:: atomic { !done[c] && TLB(c, 0) != NONE -> TLB(c, 0) = NONE } \
	:: atomic { !done[c] && TLB(c, 1) != NONE -> TLB(c, 1) = NONE } \
	:: atomic { \
		!done[c] && hsrc[c] != NONE && bh[c] != content[PG(hsrc[c], 0)] -> \
		bh[c] = content[PG(hsrc[c], 0)] \
	   } \
	:: atomic { \
		!done[c] && tsrc[c] != NONE && bt[c] != content[PG(tsrc[c], 1)] -> \
		bt[c] = content[PG(tsrc[c], 1)] \
	   }

/*
 * Starts everyone, then is the instruction-fetch side of every core.  At
 * the start copy 1 is mapped and present in the page table, no TLB holds
 * it, both copies hold version 0.
 */
init
{
	byte i;

	atomic {
		vma[0] = 1;
		vma[1] = 1;
		pte[0] = 1;
		pte[1] = 1;
		for (i : 0 .. NCALLERS - 1) {
			run Caller(i)
		}
		run Updater();
		i = 0
	};
end:
	do
	CORE(0)
#if NCALLERS > 1
	CORE(1)
#endif
#if NCALLERS > 2
#error "CORE() only lists 2 cores"
#endif
	od
}
