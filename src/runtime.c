/* SPDX-License-Identifier: MIT */
/*
 * Lazy setup, the patch lock and fork handling.
 *
 * The patch lock is a futex word holding the owner's thread id rather than a
 * pthread mutex, for two reasons: taking it is async-signal-safe, and a
 * thread that already holds it (a signal handler or the trace hook running
 * inside an update) is recognised and refused with -EDEADLK instead of
 * blocking on itself forever.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static _Atomic long lock_owner; /* tid of the holder, 0 when free */
static _Atomic int lock_waiters;
static bool runtime_ready; /* under the lock */
static pid_t runtime_pid;  /* under the lock */
static _Atomic int atfork_done;

/*
 * The thread id, cached per thread: the SIGTRAP handler needs it before it
 * can mark itself as inside the handler, and a system call there is a
 * preemption point in the window where the thread has SIGTRAP blocked but
 * no mark yet (the SIGTRAP check would take it for a thread that blocks
 * SIGTRAP: tests/stress/repro_preempted_handler.c).  initial-exec TLS is a
 * plain load, safe in a signal handler.  A fork child's thread gets a new
 * id: forget_parent() drops the cached one.
 */
static __thread long cached_tid __attribute__((tls_model("initial-exec")));

SC_SIGNAL_CODE long sc_gettid(void)
{
	long tid = cached_tid;

	if (!tid) {
		tid = syscall(SYS_gettid);
		cached_tid = tid;
	}
	return tid;
}

static long futex(_Atomic long *uaddr, int op, long val)
{
	/* The futex word is the low 32 bits of lock_owner (little endian);
	 * tids fit in 32 bits, so the whole value is compared. */
	return syscall(SYS_futex, (void *)uaddr, op, (int)val, NULL, NULL, 0);
}

int sc_lock(void)
{
	long self = sc_gettid();
	long expect = 0;

	if (atomic_load(&lock_owner) == self)
		return -EDEADLK;
	while (!atomic_compare_exchange_weak(&lock_owner, &expect, self)) {
		if (expect != 0) {
			atomic_fetch_add(&lock_waiters, 1);
			futex(&lock_owner, FUTEX_WAIT_PRIVATE, expect);
			atomic_fetch_sub(&lock_waiters, 1);
		}
		expect = 0;
	}
	return 0;
}

void sc_unlock(void)
{
	atomic_store(&lock_owner, 0);
	if (atomic_load(&lock_waiters))
		futex(&lock_owner, FUTEX_WAKE_PRIVATE, 1);
}

/*
 * fork: the child must never inherit a half-done patch (int3 bytes with no
 * patcher left to finish them), so the parent holds the patch lock across
 * fork().  The child has one thread and a new mm: it drops the lock, opens
 * its own /proc/self/mem and registers membarrier again (registration is per
 * mm).  A fork from inside an update (from the trace hook) cannot take the
 * lock: parent and child each go on with the update from where the fork
 * left it, on their own copy of the code, and the child keeps the lock
 * under its own thread id until its copy of the update finishes.
 */
static _Thread_local int fork_lock_err;

static void atfork_prepare(void) { fork_lock_err = sc_lock(); }

static void atfork_parent(void)
{
	/* Before anyone can write again: our trampoline pages must stop
	 * being shared with the child (alias.c). */
	sc_alias_after_fork();
	if (fork_lock_err == 0)
		sc_unlock();
}

/* A new process: drop what belonged to the parent's threads and mm. */
static void forget_parent(void)
{
	cached_tid = 0;
	sc_trap_after_fork();
	sc_alias_after_fork();
	sc_text_after_fork();
	sc_sync_after_fork();
}

static void atfork_child(void)
{
	cached_tid = 0; /* before anything asks for this thread's new id */
	atomic_store(&lock_owner, fork_lock_err == -EDEADLK ? sc_gettid() : 0);
	atomic_store(&lock_waiters, 0);
	runtime_ready = false;
	forget_parent();
}

static int register_atfork(void)
{
	int err;

	if (atomic_exchange(&atfork_done, 1))
		return 0;
	err = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	if (err) {
		atomic_store(&atfork_done, 0);
		sc_warn("pthread_atfork: %s", strerror(err));
		return -err;
	}
	return 0;
}

/*
 * The fork handlers are registered when the library is loaded, not at the
 * first update: registering them inside that update (with the patch lock
 * held) while another thread forks would give a child that inherits the
 * held lock and no handler to release it (found by the fork stress test).
 * The first update still registers them if this constructor could not.
 */
__attribute__((constructor)) static void sc_runtime_load(void)
{
	register_atfork();
}

int sc_runtime_prepare(void)
{
	int err;
	pid_t pid = getpid();

	if (runtime_ready && pid == runtime_pid)
		return sc_trap_install(); /* someone may have replaced it */
	if (runtime_ready) {
		/* forked without atfork handlers (raw clone/syscall) */
		forget_parent();
	}
	err = register_atfork(); /* a no-op once the constructor did it */
	if (err)
		return err;
	sc_options_from_env();
	err = sc_trap_install();
	if (err)
		return err;
	err = sc_sync_init();
	if (err)
		return err;
	runtime_pid = pid;
	runtime_ready = true;
	return 0;
}

/* getenv() is fine here: it neither allocates nor locks in glibc.  The
 * variable may be read from a signal handler's update only after the first
 * update, which is when it is first consulted. */
const char *sc_getenv(const char *name) { return getenv(name); }
