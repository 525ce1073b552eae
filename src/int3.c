/* SPDX-License-Identifier: MIT */
/*
 * The int3 protocol's own parts (the engine, engine.c, runs its steps):
 * the guard before any breakpoint is written, the writes of each step,
 * and the pinned batches of its last resort.
 *
 * The guard.  A thread that executes a breakpoint with SIGTRAP blocked is
 * killed by the kernel (a blocked synchronous signal falls back to its
 * default action), so before any breakpoint is written every thread's
 * blocked mask is read (/proc/self/task/<tid>/stat).  The check fails
 * closed: if the list of threads or a thread's mask cannot be read (no
 * /proc, file descriptors exhausted), the patch is refused with that
 * errno.  The patching thread itself is not checked but made safe: if it
 * blocks SIGTRAP (an update from a handler installed with a full sa_mask),
 * SIGTRAP is unblocked on it for the length of the protocol, since the
 * patcher may run into its own breakpoints (the trace hook, a signal
 * handler calling a site: the recursive case).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

static const uint8_t trap_insn[SC_ARCH_TRAP_LEN] = SC_ARCH_TRAP_INSN;

/* ------------------------------------------------------------------------
 * The guard
 * ------------------------------------------------------------------------ */

/*
 * A thread seen with SIGTRAP blocked may just be passing through one of our
 * handlers: its mask is then the handler's, and it runs no site (the
 * SIGTRAP handler, or the SIGSEGV handler waiting out an mprotect window).
 * Inside the handler it is marked, but between the kernel setting the
 * handler's mask and the mark (and between unmark and sigreturn) it is
 * not, and a loaded machine can leave it waiting for a CPU right there for
 * longer than any fixed time.  That window costs microseconds of CPU and
 * never sleeps.  So the thread is believed to block SIGTRAP only once it
 * was seen blocked and unmarked at every look for 20 ms and, over that
 * time, it either slept (or was stopped) or ran for 1 ms of CPU; or after
 * 1 s in any case.  1: blocks it; 0: does not (or is gone); -errno.
 */
static int still_blocked(long tid)
{
	const struct timespec pause = {0, 100000L};
	long long ran0 = sc_os_thread_cpu_ns(tid);

	for (int i = 0; i < 10000; i++) {
		bool blocked = false;
		char state = 0;
		long long ran;
		int err = sc_os_thread_blocks_sigtrap(tid, &blocked, &state);
		if (err == -ESRCH)
			return 0; /* exited */
		if (err)
			return err;
		if (!blocked || sc_trap_in_handler(tid) ||
		    sc_text_in_handler(tid))
			return 0;
		if (i >= 200) {
			ran = sc_os_thread_cpu_ns(tid);
			if (state == 'S' || state == 'T' || state == 't' ||
			    ran < 0 || ran0 < 0 || ran - ran0 >= 1000000)
				return 1;
		}
		nanosleep(&pause, NULL);
	}
	return 1;
}

static long check_thread(long tid, void *self)
{
	int r;

	if (tid == *(long *)self)
		return 0;
	r = still_blocked(tid);
	return r > 0 ? tid : r;
}

static bool unblocked_self; /* under the patch lock */
static sigset_t self_mask;

int sc_int3_guard(void)
{
	sigset_t trap;
	long self = sc_gettid(), r;

	sigemptyset(&trap);
	sigaddset(&trap, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, NULL, &self_mask);
	unblocked_self = sigismember(&self_mask, SIGTRAP) == 1;
	if (unblocked_self)
		pthread_sigmask(SIG_UNBLOCK, &trap, NULL);
	if (!sc_opt.sigtrap_check)
		return 0;
	r = sc_os_threads(check_thread, &self);
	if (r == 0)
		return 0;
	sc_int3_unguard();
	if (r < 0) {
		sc_warn("cannot read the threads' signal masks (%s): an int3 "
			"patch could kill one; not patching",
			sc_strerror((int)-r));
		return (int)r;
	}
	sc_warn("thread %ld blocks SIGTRAP: an int3 patch could kill it; not "
		"patching",
		r);
	sc_stat_add(int3_refused, 1);
	return -EAGAIN;
}

void sc_int3_unguard(void)
{
	if (unblocked_self)
		pthread_sigmask(SIG_SETMASK, &self_mask, NULL);
	unblocked_self = false;
}

/* ------------------------------------------------------------------------
 * The writes of each step
 * ------------------------------------------------------------------------ */
static bool via_int3(const struct sc_poke *q) { return q->via == SC_VIA_INT3; }

/* Step 1: the breakpoint over the start of sites [0, n). */
int sc_int3_traps(struct sc_poke *p, size_t n, size_t *done)
{
	for (*done = 0; *done < n; (*done)++) {
		struct sc_poke *q = &p[*done];
		int err = via_int3(q) ? sc_text_write(q->addr, trap_insn,
						      SC_ARCH_TRAP_LEN)
				      : 0;
		if (err)
			return err;
	}
	return 0;
}

/* Step 3 (or a rollback): the first bytes of sites [0, n), new or old. */
int sc_int3_heads(struct sc_poke *p, size_t n, bool use_new, size_t *done)
{
	for (*done = 0; *done < n; (*done)++) {
		struct sc_poke *q = &p[*done];
		int err;
		if (!via_int3(q))
			continue;
		err = sc_text_write(q->addr, use_new ? q->new : q->old,
				    SC_ARCH_TRAP_LEN);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The changed range of the bytes after the head, widened to whole aligned
 * SC_ARCH_STORE_WORD words within the poke; false when unchanged.  Whole
 * words because a thread may read a data word of the tail while it is
 * written: on aarch64 a caller that took a trampoline's `b` to its far
 * stub before the breakpoint went in loads the slot afterwards, and must
 * find one target or the other, never a mix (one aligned 8-byte write:
 * textwrite.c).  On x86-64 no tail byte is read meanwhile; the wider write
 * is the same bytes again.
 */
static bool tail_range(const struct sc_poke *p, size_t *from, size_t *to)
{
	size_t a = SC_ARCH_TRAP_LEN, b = p->len, w = SC_ARCH_STORE_WORD;
	size_t mis = (uintptr_t)p->addr % w;

	while (a < b && p->old[a] == p->new[a])
		a++;
	while (b > a && p->old[b - 1] == p->new[b - 1])
		b--;
	if (a < b) {
		a = (a + mis) / w * w; /* the word's start, may be < mis */
		a = a > mis ? a - mis : 0;
		b = ((b + mis + w - 1) / w * w) - mis;
		a = a < SC_ARCH_TRAP_LEN ? SC_ARCH_TRAP_LEN : a;
		b = b > p->len ? p->len : b;
	}
	*from = a;
	*to = b;
	return a < b;
}

/* Step 2 (or a rollback): the bytes after the head, new or old. */
int sc_int3_tails(struct sc_poke *p, size_t n, bool use_new, size_t *done,
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

/* ------------------------------------------------------------------------
 * Pinned batches: never unpublished, never freed
 *
 * Only the sites that still start with the breakpoint are kept: a site
 * whose first bytes were put back (or that holds its complete new
 * instruction) must not be answered from here, or a late trap on it after
 * a later, successful update would run this batch's instruction instead of
 * re-running the site.
 * ------------------------------------------------------------------------ */
static _Atomic(struct pinned *) pinned_list;
static _Atomic bool pinned_any;
struct pinned {
	struct pinned *next;
	size_t n;
	struct sc_poke pokes[];
};

static bool trapped(const struct sc_poke *q)
{
	return via_int3(q) && memcmp(q->addr, trap_insn, SC_ARCH_TRAP_LEN) == 0;
}

void sc_int3_pin(struct sc_poke *p, size_t n)
{
	size_t m = 0, bytes;
	struct pinned *pn;

	atomic_store(&pinned_any, true);
	for (size_t i = 0; i < n; i++)
		m += trapped(&p[i]);
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
		if (trapped(&p[i]))
			pn->pokes[pn->n++] = p[i];
	pn->next = atomic_load(&pinned_list);
	atomic_store(&pinned_list, pn);
}

bool sc_int3_pinned_any(void) { return atomic_load(&pinned_any); }

SC_SIGNAL_CODE const struct sc_poke *sc_int3_find_pinned(uintptr_t site)
{
	for (struct pinned *pn = atomic_load(&pinned_list); pn; pn = pn->next)
		for (size_t i = 0; i < pn->n; i++)
			if (pn->pokes[i].emu.site == site)
				return &pn->pokes[i];
	return NULL;
}
