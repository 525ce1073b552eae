/* SPDX-License-Identifier: MIT */
/* Installing our handlers and passing on the signals that are not ours. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "signals.h"

static bool is_ours(const struct sc_sigslot *s, const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == s->entry;
}

/* ------------------------------------------------------------------------
 * Other copies of the library in the process
 * ------------------------------------------------------------------------ */
struct sc_sig_query {
	uint64_t magic; /* SC_SIG_MAGIC */
	uint32_t
		size; /* of this structure: later fields only if large enough */
	uint32_t answered;
	struct sigaction prev; /* answer: where foreign signals go */
};

static SC_SIGNAL_CODE void get_prev(struct sc_sigslot *s, struct sigaction *out,
				    bool deliver);

SC_SIGNAL_CODE bool sc_sig_answer(struct sc_sigslot *s, siginfo_t *si, void *uc)
{
	struct sc_sig_query *q = uc;

	if (si)
		return false; /* the kernel's call */
	if (q && q->magic == SC_SIG_MAGIC && q->size >= sizeof(*q)) {
		get_prev(s, &q->prev, false);
		q->answered = 1;
	}
	return true;
}

/* Is @sa the entry of another copy's handler?  Its first bytes are read
 * through process_vm_readv(), which fails instead of faulting on memory
 * that is unmapped or execute-only; where that system call is refused
 * (seccomp profiles that reserve it to tracers; qemu-user, which does not
 * implement it), through /proc/self/mem, which fails alike. */
static bool is_copy(const struct sigaction *sa)
{
	uint8_t b[SC_ARCH_SIG_ENTRY_LEN];
	struct iovec here = {b, sizeof(b)};
	struct iovec there = {(void *)sa->sa_sigaction, sizeof(b)};
	long n;

	if (!(sa->sa_flags & SA_SIGINFO) || (uintptr_t)sa->sa_sigaction < 4096)
		return false;
	n = syscall(SYS_process_vm_readv, getpid(), &here, 1UL, &there, 1UL,
		    0UL);
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1
			   : pread(fd, b, sizeof(b),
				   (off_t)(uintptr_t)sa->sa_sigaction);
		if (fd >= 0)
			close(fd);
	}
	if (n != (long)sizeof(b))
		return false;
	return sc_arch_sig_entry_is(b);
}

/* Is our handler reached from @sa, through handlers of other copies? */
static bool behind(const struct sc_sigslot *s, const struct sigaction *sa)
{
	struct sigaction cur = *sa;

	for (int hop = 0; hop < 16; hop++) {
		struct sc_sig_query q;
		if (is_ours(s, &cur))
			return true;
		if (!is_copy(&cur))
			return false;
		memset(&q, 0, sizeof(q));
		q.magic = SC_SIG_MAGIC;
		q.size = sizeof(q);
		cur.sa_sigaction(s->sig, NULL, &q);
		if (!q.answered)
			return false;
		cur = q.prev;
	}
	return false;
}

static bool same(const struct sigaction *a, const struct sigaction *b)
{
	return a->sa_handler == b->sa_handler && a->sa_flags == b->sa_flags;
}

/* Patch lock held: make @sa the handler to pass foreign signals to. */
static void set_prev(struct sc_sigslot *s, const struct sigaction *sa)
{
	int idx = atomic_load(&s->idx) ^ 1;

	/* A handler may still be copying this slot: it loaded the index
	 * before the last flip.  It copies a few words with every signal
	 * blocked, so the wait is short. */
	while (atomic_load(&s->readers[idx]) != 0)
		sched_yield();
	s->prev[idx] = *sa;
	atomic_store(&s->fired[idx], false); /* a new handler: a new shot */
	atomic_store(&s->idx, idx);
}

/*
 * The handler foreign signals go to, copied; SIG_DFL for a one-shot
 * (SA_RESETHAND) handler that was delivered once.  With @deliver, the copy
 * is for a delivery: a one-shot handler is used up by it.  The flag is
 * changed while the slot is counted in readers, so it cannot land on a
 * handler saved later in the same slot.  Async-signal-safe.
 */
static SC_SIGNAL_CODE void get_prev(struct sc_sigslot *s, struct sigaction *out,
				    bool deliver)
{
	int idx;

	for (;;) {
		idx = atomic_load(&s->idx);
		atomic_fetch_add(&s->readers[idx], 1);
		if (atomic_load(&s->idx) == idx)
			break; /* counted before the slot could be reused */
		atomic_fetch_sub(&s->readers[idx], 1);
	}
	*out = s->prev[idx];
	if ((out->sa_flags & SA_RESETHAND) && out->sa_handler != SIG_DFL &&
	    out->sa_handler != SIG_IGN) {
		bool used = deliver ? atomic_exchange(&s->fired[idx], true)
				    : atomic_load(&s->fired[idx]);
		if (used) {
			out->sa_handler = SIG_DFL;
			out->sa_flags &= ~(SA_SIGINFO | SA_RESETHAND);
		}
	}
	atomic_fetch_sub(&s->readers[idx], 1);
}

void sc_sig_after_fork(struct sc_sigslot *s)
{
	atomic_store(&s->readers[0], 0);
	atomic_store(&s->readers[1], 0);
}

int sc_sig_take(struct sc_sigslot *s)
{
	struct sigaction cur, got, sa;

	if (sigaction(s->sig, NULL, &cur) != 0)
		return -errno;
	if (is_ours(s, &cur)) {
		s->installed = true;
		return 0;
	}
	/* another copy of the library in front of us, passing our signals on
	 * to us: taking over again would close a circle */
	if (s->installed && behind(s, &cur))
		return 0;
	if (s->installed)
		sc_info("handler of signal %d was replaced; installing ours "
			"again and passing other signals on to it",
			s->sig);
	set_prev(s, &cur);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = s->entry;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	if (sigaction(s->sig, &sa, &got) != 0) {
		int e = errno;
		sc_warn("sigaction(%d): %s", s->sig, sc_strerror(e));
		return -e;
	}
	if (!same(&got, &cur) && !is_ours(s, &got)) {
		/* replaced again between our two calls: keep the newest */
		set_prev(s, &got);
	}
	s->installed = true;
	return 0;
}

int sc_mark(struct sc_marks *m, long tid, uintptr_t sp)
{
	for (int i = 0; i < SC_MARK_SLOTS; i++) {
		long expect = 0;
		if (atomic_compare_exchange_strong(&m->tid[i], &expect, tid)) {
			atomic_store(&m->sp[i], sp);
			return i;
		}
	}
	return -1; /* full: not marked (the checks then err on the safe side) */
}

void sc_unmark(struct sc_marks *m, int slot)
{
	if (slot >= 0) {
		atomic_store(&m->sp[slot], 0);
		atomic_store(&m->tid[slot], 0);
	}
}

bool sc_marks_has(struct sc_marks *m, long tid)
{
	for (int i = 0; i < SC_MARK_SLOTS; i++)
		if (atomic_load(&m->tid[i]) == tid)
			return true;
	return false;
}

bool sc_marked(struct sc_marks *m, long tid, uintptr_t sp)
{
	for (int i = 0; i < SC_MARK_SLOTS; i++) {
		if (atomic_load(&m->tid[i]) != tid)
			continue;
		if (sp < atomic_load(&m->sp[i]))
			return true;
		/* a stale mark (its handler longjmp()ed away): drop it */
		sc_unmark(m, i);
	}
	return false;
}

void sc_sig_default(int sig)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

static SC_SIGNAL_CODE bool sync_trap(const siginfo_t *si)
{
	/* si_code > 0: raised by the kernel for the faulting instruction */
	return si->si_code > 0;
}

SC_SIGNAL_CODE void sc_sig_chain(int sig, siginfo_t *si, void *uc,
				 struct sc_sigslot *s)
{
	struct sigaction p;
	sigset_t mask;

	get_prev(s, &p, true);

	if (p.sa_handler == SIG_IGN && !sync_trap(si))
		return;
	if (p.sa_handler == SIG_DFL || p.sa_handler == SIG_IGN) {
		/* Restore the default action and make it happen: re-raising
		 * terminates (and dumps core) once this handler returns and
		 * the signal is unblocked, exactly as without us. */
		sc_sig_default(sig);
		return;
	}
	/* The mask the kernel would have set for the previous handler. */
	mask = ((ucontext_t *)uc)->uc_sigmask;
	for (int n = 1; n < NSIG; n++)
		if (sigismember(&p.sa_mask, n) == 1)
			sigaddset(&mask, n);
	if (!(p.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (p.sa_flags & SA_SIGINFO)
		p.sa_sigaction(sig, si, uc);
	else
		p.sa_handler(sig);
}
