/* SPDX-License-Identifier: MIT */
#ifndef SC_SIGNALS_H
#define SC_SIGNALS_H

#include <signal.h>

#include "internal.h"

/*
 * One of our handlers and the handler it replaced.  The replaced handler is
 * kept in two slots: a (re)install publishes it in the free slot and flips
 * the index BEFORE our handler is installed, so a signal that arrives
 * meanwhile on another thread is always passed on to the right handler.
 * A handler copying a slot counts itself in readers[slot]; a slot is only
 * rewritten once nobody copies it, or a handler slow to copy the slot it
 * found (two re-installs ago) would read a torn struct sigaction.
 *
 * What is installed is @entry, made with SC_ARCH_SIG_ENTRY(): it jumps to
 * the handler, and its first bytes carry SC_SIG_MAGIC, so that another copy
 * of the library in the process (a static libstaticcall.a linked into
 * another shared object) can tell it from any other handler.  The handler
 * answers a query from such a copy (sc_sig_answer()): which handler it
 * passes foreign signals on to.  A copy that finds another copy's handler
 * in front of its own, and is reached from it, leaves it there instead of
 * taking over again, which would make the two pass foreign signals on to
 * each other in a circle.
 */
struct sc_sigslot {
	int sig;
	void (*entry)(int, siginfo_t *, void *);
	struct sigaction prev[2];
	/* prev[i] is a one-shot handler (SA_RESETHAND) that was delivered
	 * once already: the next foreign signal gets the default action */
	_Atomic bool fired[2];
	_Atomic int idx;
	_Atomic int readers[2];
	bool installed; /* under the patch lock */
};

/*
 * Install s->entry for s->sig (SA_SIGINFO, every signal blocked while it
 * runs, so nothing can interrupt a handler that holds a batch reference;
 * SA_ONSTACK, so that it runs on the thread's alternate signal stack if it
 * has one: a thread on a small stack may have no room for a signal frame,
 * and Go's runtime requires it of every handler),
 * unless it is installed already, or was and is still reached through the
 * handlers of other copies of the library in front of it; a handler found
 * in its place is kept as the one to pass foreign signals to.  Patch lock
 * held.
 */
SC_HIDDEN int sc_sig_take(struct sc_sigslot *s);
/* In a fork child: the parent's other threads copy no slot here. */
SC_HIDDEN void sc_sig_after_fork(struct sc_sigslot *s);
/* First thing in each handler: true (and the query answered) when called
 * by another copy of the library (si NULL, a query at uc), not by the
 * kernel. */
SC_HIDDEN bool sc_sig_answer(struct sc_sigslot *s, siginfo_t *si, void *uc);

/*
 * Threads marked as being inside one of our handlers (for the SIGTRAP check
 * and to notice a signal that comes back around), with the stack pointer at
 * the mark: a mark left behind by a handler that longjmp()ed away is above
 * the current stack and no longer counts.  Async-signal-safe.
 */
#define SC_MARK_SLOTS 64
struct sc_marks {
	_Atomic long tid[SC_MARK_SLOTS];
	_Atomic uintptr_t sp[SC_MARK_SLOTS];
};
SC_HIDDEN int sc_mark(struct sc_marks *m, long tid, uintptr_t sp);
SC_HIDDEN void sc_unmark(struct sc_marks *m, int slot);
/* Has @tid a mark at all? */
SC_HIDDEN bool sc_marks_has(struct sc_marks *m, long tid);
/* Is @tid marked at a stack pointer above @sp (i.e. are we nested)? */
SC_HIDDEN bool sc_marked(struct sc_marks *m, long tid, uintptr_t sp);

/*
 * Hand a signal that is not ours to @prev, as the kernel would have
 * delivered it: with @prev's mask (and SIGSEGV/SIGTRAP itself unless
 * SA_NODEFER), with siginfo only for SA_SIGINFO, only once for SA_RESETHAND
 * (then the default action, without a lock: an atomic flag per saved slot,
 * cleared whenever a new previous handler is saved); or with the default
 * action (a synchronous trap that the previous owner ignored or left at
 * default kills the process, as it would have without us).  It runs on the
 * stack our handler runs on: the alternate stack when the thread has one,
 * which is what a previous handler with SA_ONSTACK asked for (one without
 * it runs there too).  Async-signal-safe.
 */
SC_HIDDEN void sc_sig_chain(int sig, siginfo_t *si, void *uc,
			    struct sc_sigslot *s);
/* The default action for @sig, as if nobody had a handler. */
SC_HIDDEN void sc_sig_default(int sig);

#endif
