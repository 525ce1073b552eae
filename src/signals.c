/* SPDX-License-Identifier: MIT */
/* Installing our handlers and passing on the signals that are not ours. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "signals.h"

int sc_sig_take(int sig, void (*handler)(int, siginfo_t *, void *),
		struct sigaction *prev)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (sigaction(sig, &sa, prev) != 0) {
		int e = errno;
		sc_warn("sigaction(%d): %s", sig, strerror(e));
		return -e;
	}
	/* We may be taking over from ourselves (a reinstall after someone
	 * replaced us and then put us back): never chain to ourselves. */
	if (prev->sa_sigaction == handler) {
		prev->sa_handler = SIG_DFL;
		prev->sa_flags = 0;
	}
	return 0;
}

static SC_SIGNAL_CODE bool sync_trap(const siginfo_t *si)
{
	/* si_code > 0: raised by the kernel for the faulting instruction */
	return si->si_code > 0;
}

SC_SIGNAL_CODE void sc_sig_chain(int sig, siginfo_t *si, void *uc,
				 const struct sigaction *prev)
{
	struct sigaction p = *prev;
	sigset_t mask;

	if (p.sa_handler == SIG_IGN && !sync_trap(si))
		return;
	if (p.sa_handler == SIG_DFL || p.sa_handler == SIG_IGN) {
		/* Restore the default action and make it happen: re-raising
		 * terminates (and dumps core) once this handler returns and
		 * the signal is unblocked, exactly as without us. */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(sig, &dfl, NULL);
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
		return;
	}
	/* The mask the kernel would have set for the previous handler. */
	mask = ((ucontext_t *)uc)->uc_sigmask;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&p.sa_mask, s) == 1)
			sigaddset(&mask, s);
	if (!(p.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (p.sa_flags & SA_SIGINFO)
		p.sa_sigaction(sig, si, uc);
	else
		p.sa_handler(sig);
}
