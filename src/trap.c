/* SPDX-License-Identifier: MIT */
/*
 * The SIGTRAP side of the patch protocol.
 *
 * A thread that executes a site while its first byte is int3 lands here.  The
 * handler never waits for the patcher (the patcher itself, or a signal
 * handler running on top of it, may be the thread that trapped), so it can
 * never deadlock.  It does one of three things:
 *
 *  1. the site is in the published batch: emulate the site's NEW instruction
 *     (the old or the new behaviour is correct while an update is under way;
 *     the new one is always known and final);
 *  2. the site is one of ours but in no published batch: the trap is late
 *     (the signal was queued before the patch ended, or a core ran a stale
 *     int3): point the thread back at the site to run it again, whatever
 *     its first byte is now (see handle_ours());
 *  3. anything else belongs to someone else: pass it on.
 *
 * Lifetime of the batch: the handler counts itself in `readers` before it
 * loads `active`; the patcher clears `active` and then waits for `readers`
 * to drop to zero (both sequentially consistent, so one of the two always
 * sees the other).  Handlers run with every signal blocked, never block, and
 * leave the count before chaining to a foreign handler (which might never
 * return), so the wait is short and bounded.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "signals.h"

struct batch_desc {
	struct sc_poke *pokes;
	size_t n;
};

static struct batch_desc desc; /* under the patch lock */
static _Atomic(struct batch_desc *) active;
static _Atomic long readers;

SC_HIDDEN void sc_trap_handler(int sig, siginfo_t *si, void *uc);
SC_HIDDEN void sc_trap_entry(int sig, siginfo_t *si, void *uc);
SC_ARCH_SIG_ENTRY(sc_trap_entry, sc_trap_handler);
static struct sc_sigslot trap_slot = {.sig = SIGTRAP, .entry = sc_trap_entry};

/* Threads inside sc_trap_handler() (for sc_sigtrap_blocker()), and threads
 * passing a foreign trap on (to notice it coming back to us). */
static struct sc_marks in_handler, chaining;

/* The int3 poke of @site in a batch sorted by address (a poke of another
 * protocol has no breakpoint to answer for: a late trap of an earlier int3
 * update of the same site is re-run instead). */
static SC_SIGNAL_CODE const struct sc_poke *find(const struct batch_desc *d,
						 uintptr_t site)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uintptr_t a = (uintptr_t)d->pokes[mid].addr;
		if (a == site)
			return d->pokes[mid].via == SC_VIA_INT3 ? &d->pokes[mid]
								: NULL;
		if (a < site)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool sc_trap_in_handler(long tid) { return sc_marks_has(&in_handler, tid); }

/* The poke for @site in the published batch (or a pinned one), emulated.
 * The batch is read under the `readers` count. */
static SC_SIGNAL_CODE bool emulate(uintptr_t site, void *uc)
{
	const struct batch_desc *d;
	const struct sc_poke *p = NULL;

	atomic_fetch_add(&readers, 1);
	d = atomic_load(&active);
	if (d)
		p = find(d, site);
	if (!p)
		p = sc_int3_find_pinned(site);
	if (p)
		sc_arch_emulate(uc, &p->emu);
	atomic_fetch_sub(&readers, 1);
	return p != NULL;
}

/*
 * Ours: emulate or rewind.  Returns false if the trap is not ours.
 *
 * A site of ours that is in no published batch had a trap that arrived
 * late: its batch ended before we looked.  Re-running the site is right
 * whatever its first byte is now: the new instruction, or (if the NEXT
 * update of the same site has written its int3 meanwhile, and its batch
 * was published before that int3) a fresh trap that finds that batch.
 * Reading the byte to decide would take that fresh int3 for a foreign one.
 */
static SC_SIGNAL_CODE bool handle_ours(siginfo_t *si, void *uc)
{
	uintptr_t site;

	if (!sc_arch_is_trap(si))
		return false;
	site = sc_arch_trap_site(uc);
	if (emulate(site, uc)) {
		sc_stat_add(traps_emulated, 1);
		return true;
	}
	if (sc_siteset_contains((void *)site)) {
		sc_arch_trap_rewind(uc, site);
		sc_stat_add(traps_rewound, 1);
		return true;
	}
	return false;
}

SC_SIGNAL_CODE void sc_trap_handler(int sig, siginfo_t *si, void *uc)
{
	long tid;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	int slot;
	bool ours;

	if (sc_sig_answer(&trap_slot, si, uc))
		return; /* another copy of the library asked */
	tid = sc_gettid();
	slot = sc_mark(&in_handler, tid, sp);
	ours = handle_ours(si, uc);

	sc_unmark(&in_handler, slot);
	if (ours)
		return;
	sc_stat_add(traps_foreign, 1);
	if (sc_marked(&chaining, tid, sp)) {
		/* A trap we passed on came back to us: the handler we chain
		 * to chains to us in turn.  Nobody handles it: default. */
		sc_sig_default(sig);
		return;
	}
	slot = sc_mark(&chaining, tid, sp);
	sc_sig_chain(sig, si, uc, &trap_slot);
	sc_unmark(&chaining, slot);
}

/*
 * Called before every batch: somebody may have installed their own SIGTRAP
 * handler since the last one.  Then we take over again and pass their traps
 * on to them.  (A handler installed while an int3 batch is in flight gets
 * that batch's traps: install handlers before updating, or use the default
 * trap-free protocol, which writes no int3.)
 */
int sc_trap_install(void) { return sc_sig_take(&trap_slot); }

/*
 * In a fork child: it has one thread, which is not inside our handler (it
 * is in fork()), so no handler reads the batch there; but the counts and
 * marks of the parent's other threads were copied with the memory.  A child
 * forked from inside an update (the trace hook) would otherwise wait for
 * them forever when it finishes that update.
 */
void sc_trap_after_fork(void)
{
	atomic_store(&readers, 0);
	sc_sig_after_fork(&trap_slot);
	for (int i = 0; i < SC_MARK_SLOTS; i++) {
		sc_unmark(&in_handler, i);
		sc_unmark(&chaining, i);
	}
}

void sc_trap_publish(struct sc_poke *pokes, size_t n)
{
	desc.pokes = pokes;
	desc.n = n;
	atomic_store(&active, &desc);
}

void sc_trap_quiesce(void)
{
	while (atomic_load(&readers) != 0)
		sched_yield();
}

void sc_trap_unpublish(void)
{
	atomic_store(&active, NULL);
	sc_trap_quiesce();
}

/* ------------------------------------------------------------------------
 * The set of patched addresses: open addressing, insert-only, read without
 * locks from the handler.  Growing builds a new table and publishes it; old
 * tables are never unmapped (a handler may still be probing one), which
 * costs at most as much again as the live table.  mmap, not malloc, so that
 * an update from a signal handler stays async-signal-safe.
 * ------------------------------------------------------------------------ */
struct siteset {
	size_t cap; /* power of two */
	size_t used;
	_Atomic uintptr_t slot[];
};

static _Atomic(struct siteset *) siteset;

/* A forgotten address (its module was unloaded): probing goes on past it,
 * inserts do not reuse it (a rehash on growth drops it). */
#define TOMB ((uintptr_t)1)

static size_t slot_of(uintptr_t a, size_t cap)
{
	return (size_t)(((uint64_t)a >> 3) * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

static struct siteset *siteset_new(size_t cap)
{
	size_t bytes = sizeof(struct siteset) + cap * sizeof(uintptr_t);
	struct siteset *s = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED)
		return NULL;
	s->cap = cap;
	return s; /* zero-filled: every slot empty */
}

static void siteset_put(struct siteset *s, uintptr_t a)
{
	size_t i = slot_of(a, s->cap);

	for (;; i = (i + 1) & (s->cap - 1)) {
		uintptr_t v =
			atomic_load_explicit(&s->slot[i], memory_order_relaxed);
		if (v == a)
			return;
		if (v == 0) {
			atomic_store(&s->slot[i], a);
			s->used++;
			return;
		}
	}
}

/* Under the patch lock. */
int sc_siteset_add(const void *addr)
{
	struct siteset *s = atomic_load(&siteset);

	if (!s || (s->used + 1) * 2 > s->cap) {
		struct siteset *n = siteset_new(s ? s->cap * 2 : 1024);
		if (!n)
			return -ENOMEM;
		for (size_t i = 0; s && i < s->cap; i++) {
			uintptr_t v = atomic_load(&s->slot[i]);
			if (v && v != TOMB)
				siteset_put(n, v);
		}
		atomic_store(&siteset, n);
		s = n;
	}
	siteset_put(s, (uintptr_t)addr);
	return 0;
}

/* Under the patch lock, before a module's code goes (dlclose): a foreign
 * int3 later mapped at a former site must not be taken for a late trap. */
void sc_siteset_forget(uintptr_t lo, uintptr_t hi)
{
	struct siteset *s = atomic_load(&siteset);

	for (size_t i = 0; s && i < s->cap; i++) {
		uintptr_t v = atomic_load(&s->slot[i]);
		if (v >= lo && v < hi && v != TOMB)
			atomic_store(&s->slot[i], TOMB);
	}
}

SC_SIGNAL_CODE bool sc_siteset_contains(const void *addr)
{
	struct siteset *s = atomic_load(&siteset);
	uintptr_t a = (uintptr_t)addr;

	if (!s || !a || a == TOMB)
		return false;
	for (size_t i = slot_of(a, s->cap);; i = (i + 1) & (s->cap - 1)) {
		uintptr_t v = atomic_load(&s->slot[i]);
		if (v == a)
			return true;
		if (v == 0)
			return false;
	}
}
