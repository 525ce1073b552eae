/* SPDX-License-Identifier: MIT */
#ifndef SC_SIGNALS_H
#define SC_SIGNALS_H

#include <signal.h>

#include "internal.h"

/*
 * Install @handler for @sig (SA_SIGINFO, every signal blocked while it runs,
 * so nothing can interrupt a handler that holds a batch reference) and keep
 * the handler that was there in @prev.  Called with the patch lock held.
 */
SC_HIDDEN int sc_sig_take(int sig, void (*handler)(int, siginfo_t *, void *),
			  struct sigaction *prev);

/*
 * Hand a signal that is not ours to @prev, as the kernel would have
 * delivered it: with @prev's mask, or with the default action (a synchronous
 * trap that the previous owner ignored or left at default kills the process,
 * as it would have without us).  Async-signal-safe.
 */
SC_HIDDEN void sc_sig_chain(int sig, siginfo_t *si, void *uc,
			    const struct sigaction *prev);

#endif
