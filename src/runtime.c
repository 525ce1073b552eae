/* SPDX-License-Identifier: MIT */
/*
 * Lazy setup, the patch lock, fork and exit.
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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

SC_HIDDEN void sc_os_forget_tid(void);

static _Atomic long lock_owner; /* tid of the holder, 0 when free */
static _Atomic int lock_waiters;
static _Atomic pid_t lock_pid; /* the process the holder belongs to */
static bool lock_lost;	       /* under the lock: see sc_lock() */
static bool runtime_ready;     /* under the lock */
static pid_t runtime_pid;      /* under the lock */
static _Atomic int atfork_done;
static _Atomic bool exiting;
/* A page the kernel zeroes in a child after any fork (MADV_WIPEONFORK):
 * one load tells the fast paths that this is still the process that set
 * it, without a getpid() system call. */
static volatile uint8_t *fork_marker;
/* getpid() of the process that set the marker: valid while it reads 1.
 * Written before the marker, read after it. */
static _Atomic pid_t marker_pid;

static long futex(_Atomic long *uaddr, int op, long val)
{
	/* The futex word is the low 32 bits of lock_owner (little endian);
	 * tids fit in 32 bits, so the whole value is compared. */
	return syscall(SYS_futex, (void *)uaddr, op, (int)val, NULL, NULL, 0);
}

/*
 * A child forked without atfork handlers (a raw fork or clone system call)
 * inherits the lock word as it was.  Held by one of the parent's threads,
 * it will never be released here, and the update it protected stopped
 * half way in this copy of the process: nothing in the library's state can
 * be trusted, so every update fails with -ENOTRECOVERABLE.  Free, the
 * child carries on (sc_runtime_prepare() notices the new process).
 */
static int lock_check_fork(pid_t pid)
{
	if (atomic_load(&lock_pid) == pid || atomic_load(&lock_pid) == 0)
		return 0;
	sc_os_forget_tid(); /* the TLS of the parent's thread */
	if (atomic_load(&lock_owner) != 0 && !lock_lost) {
		lock_lost = true;
		sc_warn("forked without atfork handlers while an update was "
			"in progress: this process cannot update any more");
	}
	if (lock_lost)
		return -ENOTRECOVERABLE;
	atomic_store(&lock_pid, pid);
	sc_code_retire_reset();
	return 0;
}

bool sc_runtime_fast_ok(void) { return fork_marker && *fork_marker; }

static void fork_marker_set(void)
{
	if (fork_marker) {
		atomic_store(&marker_pid, getpid());
		atomic_thread_fence(memory_order_release);
		*fork_marker = 1;
	}
}

/*
 * getpid() without the system call (half a microsecond on a machine with
 * the usual mitigations, and an update asked for it four times) while the
 * marker says no fork happened since it was set.  A child of any fork
 * reads 0 there until its marker is set again, together with its own pid.
 */
pid_t sc_getpid(void)
{
	if (fork_marker && *fork_marker) {
		atomic_thread_fence(memory_order_acquire);
		return atomic_load(&marker_pid);
	}
	return getpid();
}

int sc_lock(void)
{
	pid_t pid = sc_getpid();
	long self, expect = 0;
	int err = lock_check_fork(pid);

	if (err)
		return err;
	self = sc_gettid();
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
	atomic_store(&lock_pid, pid);
	sc_code_retire_reset();
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
 * mm).  Both move to new copies of code pages (flip.c).  A fork from inside
 * an update (from the trace hook) cannot take the lock: parent and child
 * each go on with the update from where the fork left it, on their own copy
 * of the code, and the child keeps the lock under its own thread id until
 * its copy of the update finishes.
 */
static _Thread_local int fork_lock_err;

static void atfork_prepare(void) { fork_lock_err = sc_lock(); }

static void atfork_parent(void)
{
	/* before anyone can write again: no copy of code may be shared with
	 * the child (flip.c, F1) */
	if (fork_lock_err != -ENOTRECOVERABLE)
		sc_flip_after_fork(false);
	if (fork_lock_err == 0)
		sc_unlock();
}

/* A new process: drop what belonged to the parent's threads and mm. */
static void forget_parent(void)
{
	sc_os_forget_tid();
	sc_trap_after_fork();
	sc_flip_after_fork(true);
	sc_text_after_fork();
	sc_sync_after_fork();
}

static void atfork_child(void)
{
	sc_os_forget_tid(); /* before anything asks for this thread's new id */
	atomic_store(&lock_owner, fork_lock_err == -EDEADLK ? sc_gettid() : 0);
	atomic_store(&lock_waiters, 0);
	atomic_store(&lock_pid, getpid());
	runtime_ready = false;
	forget_parent();
	fork_marker_set();
}

static int register_atfork(void)
{
	int err;

	if (atomic_exchange(&atfork_done, 1))
		return 0;
	err = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	if (err) {
		atomic_store(&atfork_done, 0);
		sc_warn("pthread_atfork: %s", sc_strerror(err));
		return -err;
	}
	return 0;
}

/*
 * exit() runs atexit handlers in reverse order of registration, the
 * dynamic linker's (which runs every module's destructors) among them:
 * __libc_start_main registers it before the program's constructors run,
 * after those of the libraries loaded at start-up.  So this handler is
 * registered twice: when the library is loaded, and when the program's
 * own constructor registers it (sc_runtime_main_loaded()), which is
 * late enough to run first.  From then on no module's code goes away.
 */
static void at_exit(void) { atomic_store(&exiting, true); }

bool sc_exiting(void) { return atomic_load(&exiting); }

void sc_runtime_main_loaded(void)
{
	static bool done;

	if (!done)
		atexit(at_exit);
	done = true;
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
	void *m = mmap(NULL, sc_page_size(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	register_atfork();
	atexit(at_exit);
	if (m != MAP_FAILED && madvise(m, sc_page_size(), MADV_WIPEONFORK) == 0)
		fork_marker = m;
	fork_marker_set();
}

int sc_runtime_prepare(void)
{
	int err;
	pid_t pid = sc_getpid();

	if (runtime_ready && pid == runtime_pid)
		return 0;
	if (runtime_ready) {
		/* forked without atfork handlers (raw clone/syscall) */
		forget_parent();
	}
	fork_marker_set();
	err = register_atfork(); /* a no-op once the constructor did it */
	if (err)
		return err;
	sc_options_from_env();
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
