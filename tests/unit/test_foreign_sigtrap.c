/* SPDX-License-Identifier: MIT */
/*
 * The application's own SIGTRAP handling keeps working next to the
 * library's handler:
 *  a) a handler installed before the library's first update;
 *  b) one installed after the library's (taken over again by the next
 *     update, which passes the app's traps on to it), SA_SIGINFO or plain;
 *     one that itself passes unknown traps to the handler it replaced; and
 *     the instant of the take-over, made deterministic with ptrace;
 *  c) the default action and SIG_IGN, in child processes, compared with the
 *     same program without the library;
 *  d) SIGTRAPs raised in a loop while other threads update and call.
 *
 * The child cases of c) run in a fresh copy of this program (fork + exec of
 * /proc/self/exe with "--child ..."), so that "the first update" really is
 * the first one in that process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"

/* si_code of the application's own breakpoint (int3 on x86-64, BRK on
 * aarch64) */
#define TRAP_SI_KERNEL SC_TEST_BRK_SICODE

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }
static int add3(int x) { return x + 3; }

DEFINE_STATIC_CALL(fs_op, add1);

/* ------------------------------------------------------------------------
 * The application's handlers
 * ------------------------------------------------------------------------ */
static _Atomic int app_hits;	    /* every SIGTRAP the app saw */
static _Atomic int app_hits_kernel; /* of which int3 (SI_KERNEL) */
static _Atomic int app_hits_plain;  /* seen by the plain sa_handler */
static volatile int app_last_code;
static volatile int app_mask_trap, app_mask_usr1, app_mask_usr2;
static volatile long app_set_rax; /* nonzero: the handler sets RAX */

static void app_record_mask(void)
{
	sigset_t cur;

	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	app_mask_trap = sigismember(&cur, SIGTRAP);
	app_mask_usr1 = sigismember(&cur, SIGUSR1);
	app_mask_usr2 = sigismember(&cur, SIGUSR2);
}

static void app_action(int sig, siginfo_t *si, void *uc)
{
	if (sig != SIGTRAP)
		return;
	app_last_code = si->si_code;
	if (si->si_code == TRAP_SI_KERNEL) {
		atomic_fetch_add(&app_hits_kernel, 1);
		if (app_set_rax)
			SC_TEST_RETREG((ucontext_t *)uc) = app_set_rax;
		sc_test_skip_brk(uc);
	}
	app_record_mask();
	atomic_fetch_add(&app_hits, 1);
}

static void app_plain(int sig)
{
	if (sig != SIGTRAP)
		return;
	app_record_mask();
	atomic_fetch_add(&app_hits_plain, 1);
	atomic_fetch_add(&app_hits, 1);
}

static void reset_app_counts(void)
{
	app_hits = 0;
	app_hits_kernel = 0;
	app_hits_plain = 0;
	app_last_code = 0;
	app_set_rax = 0;
	app_mask_trap = app_mask_usr1 = app_mask_usr2 = -1;
}

/* SA_SIGINFO handler; SIGUSR2 in its mask, SIGTRAP deferred as usual. */
static void install_app_action(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_action;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	assert_int_equal(sigaction(SIGTRAP, &sa, old), 0);
}

/* Plain sa_handler with SA_NODEFER: SIGTRAP stays unblocked inside. */
static void install_app_plain(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = app_plain;
	sa.sa_flags = SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGTRAP, &sa, old), 0);
}

static struct sigaction current_trap_action(void)
{
	struct sigaction cur;

	memset(&cur, 0, sizeof(cur));
	sigaction(SIGTRAP, NULL, &cur);
	return cur;
}

/* A breakpoint of the application's own; the handler may change the
 * return register (RAX, x0). */
static long app_int3(long rax) { return sc_test_app_brk(rax); }

/*
 * The same for a plain handler (sa_handler, no context).  On aarch64 the
 * kernel reports a BRK at its own address, and only a handler that edits
 * the context can step over it: raise() stands for it there (the library
 * passes both on alike: a foreign trap).
 */
static long app_int3_plain(long v)
{
#if defined(__x86_64__)
	return app_int3(v);
#else
	raise(SIGTRAP);
	return v;
#endif
}

/* Alternate the target a few times and check every result. */
static void check_updates_work(void)
{
	for (int i = 0; i < 6; i++) {
		int (*f)(int) = (i % 3 == 0)   ? add2
				: (i % 3 == 1) ? add3
					       : add1;
		assert_int_equal(static_call_update(fs_op, f), 0);
		assert_ptr_equal(static_call_query(fs_op), f);
		assert_int_equal(static_call(fs_op)(10), f(10));
	}
}

/* ------------------------------------------------------------------------
 * a) the app's handler is installed before the library's first update
 * ------------------------------------------------------------------------ */
static void test_app_handler_before_first_update(void **state)
{
	struct sigaction old, cur;
	struct static_call_stats before, after;
	(void)state;

	/* This test must be the first to update in this process. */
	before = sc_test_stats();
	assert_int_equal(before.batches, 0);
	cur = current_trap_action();
	assert_true(cur.sa_handler == SIG_DFL);

	reset_app_counts();
	install_app_action(&old);
	assert_true(old.sa_handler == SIG_DFL);
	assert_int_equal(raise(SIGTRAP), 0); /* no library handler yet */
	assert_int_equal(app_hits, 1);

	/* the first update installs the library's handler over ours */
	assert_int_equal(static_call(fs_op)(1), 2);
	assert_int_equal(static_call_update(fs_op, add2), 0);
	assert_int_equal(static_call(fs_op)(1), 3);
	cur = current_trap_action();
	assert_true(cur.sa_flags & SA_SIGINFO);
	assert_true(cur.sa_sigaction != app_action);

	reset_app_counts();
	before = sc_test_stats();
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(app_hits, 1);
	assert_int_equal(app_hits_kernel, 0);
	assert_true(app_last_code == SI_TKILL || app_last_code == SI_USER);

	assert_int_equal(app_int3(5), 5);
	assert_int_equal(app_hits, 2);
	assert_int_equal(app_hits_kernel, 1);
	assert_int_equal(app_last_code, TRAP_SI_KERNEL);

	/* the app's handler edits the context it is given: it is the real
	 * one of the trap, not a copy */
	app_set_rax = 42;
	assert_int_equal(app_int3(5), 42);
	app_set_rax = 0;
	assert_int_equal(app_hits_kernel, 2);

	/* the mask is the one the app asked for: its sa_mask and SIGTRAP,
	 * not the library's everything-blocked mask */
	assert_int_equal(app_mask_trap, 1);
	assert_int_equal(app_mask_usr2, 1);
	assert_int_equal(app_mask_usr1, 0);

	after = sc_test_stats();
	assert_int_equal(after.traps_foreign - before.traps_foreign, 3);
	assert_int_equal(after.traps_emulated, before.traps_emulated);

	/* updates keep working, and so does the app's handler */
	check_updates_work();
	for (int i = 0; i < 10; i++) {
		assert_int_equal(raise(SIGTRAP), 0);
		assert_int_equal(app_int3(i), i);
	}
	assert_int_equal(app_hits, 3 + 20);
	assert_int_equal(app_hits_kernel, 2 + 10);
	after = sc_test_stats();
	assert_int_equal(after.traps_foreign - before.traps_foreign, 23);
	/* still the library's handler in front */
	cur = current_trap_action();
	assert_true(cur.sa_sigaction != app_action);
}

/* ------------------------------------------------------------------------
 * b) the app's handler is installed after the library's
 * ------------------------------------------------------------------------ */
static void test_app_handler_after_library(void **state)
{
	struct sigaction old, cur;
	struct static_call_stats before, after;
	void (*lib_handler)(int, siginfo_t *, void *);
	(void)state;

	/* make sure the library's handler is in place */
	assert_int_equal(static_call_update(fs_op, add1), 0);
	assert_int_equal(static_call_update(fs_op, add2), 0);
	cur = current_trap_action();
	assert_true(cur.sa_flags & SA_SIGINFO);
	lib_handler = cur.sa_sigaction;
	assert_true(lib_handler != app_action);

	reset_app_counts();
	install_app_action(&old);
	assert_true(old.sa_sigaction == lib_handler);

	/* until the next update the app's handler gets its traps directly */
	before = sc_test_stats();
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(app_int3(7), 7);
	assert_int_equal(app_hits, 2);
	assert_int_equal(app_hits_kernel, 1);
	after = sc_test_stats();
	assert_int_equal(after.traps_foreign, before.traps_foreign);

	/* the next int3 patch takes over again (an update that writes
	 * nothing patches nothing, and leaves the app's handler in front) */
	assert_int_equal(static_call_update(fs_op, add2), 0);
	assert_true(current_trap_action().sa_sigaction == app_action);
	assert_int_equal(static_call_update(fs_op, add1), 0);
	cur = current_trap_action();
	assert_true(cur.sa_sigaction == lib_handler);
	assert_true(cur.sa_sigaction != app_action);

	/* and passes the app's traps on to it */
	before = sc_test_stats();
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(app_hits, 3);
	assert_int_equal(app_int3(8), 8);
	assert_int_equal(app_hits, 4);
	assert_int_equal(app_hits_kernel, 2);
	assert_int_equal(app_last_code, TRAP_SI_KERNEL);
	app_set_rax = 99;
	assert_int_equal(app_int3(8), 99);
	app_set_rax = 0;
	assert_int_equal(app_mask_trap, 1);
	assert_int_equal(app_mask_usr2, 1);
	assert_int_equal(app_mask_usr1, 0);
	after = sc_test_stats();
	assert_int_equal(after.traps_foreign - before.traps_foreign, 3);

	check_updates_work();
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(app_int3(9), 9);
	assert_int_equal(app_hits, 7);
	cur = current_trap_action();
	assert_true(cur.sa_sigaction == lib_handler);
}

static void test_app_plain_handler_after_library(void **state)
{
	struct sigaction old, cur;
	struct static_call_stats before, after;
	void (*lib_handler)(int, siginfo_t *, void *);
	(void)state;

	assert_int_equal(static_call_update(fs_op, add3), 0);
	cur = current_trap_action();
	lib_handler = cur.sa_sigaction;
	assert_true(cur.sa_flags & SA_SIGINFO);

	reset_app_counts();
	install_app_plain(&old);
	assert_true((old.sa_flags & SA_SIGINFO) &&
		    old.sa_sigaction == lib_handler);
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(app_int3_plain(1), 1);
	assert_int_equal(app_hits_plain, 2);
#ifndef SC_TEST_TSAN /* TSan runs every handler with all signals blocked */
	assert_int_equal(app_mask_trap, 0); /* SA_NODEFER */
#endif

	/* an update takes over again; the plain handler keeps its traps */
	assert_int_equal(static_call_update(fs_op, add1), 0);
	cur = current_trap_action();
	assert_true((cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == lib_handler);
	assert_true(cur.sa_handler != app_plain);

	before = sc_test_stats();
	app_mask_trap = -1;
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(app_int3_plain(2), 2);
	assert_int_equal(app_hits_plain, 4);
	assert_int_equal(app_hits, 4);
	/* chained with the mask the app asked for: SA_NODEFER honoured */
	assert_int_equal(app_mask_trap, 0);
	assert_int_equal(app_mask_usr1, 0);
	after = sc_test_stats();
	assert_int_equal(after.traps_foreign - before.traps_foreign, 2);

	check_updates_work();
	for (int i = 0; i < 5; i++)
		assert_int_equal(app_int3_plain(i), i);
	assert_int_equal(app_hits_plain, 9);

	/* leave the SA_SIGINFO handler in place for the next tests */
	reset_app_counts();
	install_app_action(NULL);
	assert_int_equal(static_call_update(fs_op, add1), 0);
}

/* ------------------------------------------------------------------------
 * c) default action and SIG_IGN, in a fresh child process
 * ------------------------------------------------------------------------ */
enum child_mode {
	CHILD_NO_LIB = 0, /* never update: the behaviour without the library */
	CHILD_FIRST = 1,  /* disposition set, then the first update */
	CHILD_AFTER = 2,  /* update, then the disposition, then an update */
};

enum child_how { HOW_RAISE = 0, HOW_INT3 = 1 };

#define CHILD_SURVIVED 0
#define CHILD_SETUP_FAILED 20

/* Runs in the child: returns only if the process survived the traps. */
static int child_main(void (*disp)(int), enum child_how how,
		      enum child_mode mode)
{
	struct sigaction cur;

	if (mode == CHILD_AFTER) {
		if (static_call_update(fs_op, add3) != 0)
			return CHILD_SETUP_FAILED + 1;
	}
	if (signal(SIGTRAP, disp) == SIG_ERR)
		return CHILD_SETUP_FAILED + 2;
	if (mode != CHILD_NO_LIB) {
		if (static_call_update(fs_op, add2) != 0)
			return CHILD_SETUP_FAILED + 3;
		if (static_call(fs_op)(1) != 3)
			return CHILD_SETUP_FAILED + 4;
		/* the library's handler is in front */
		if (sigaction(SIGTRAP, NULL, &cur) != 0 ||
		    !(cur.sa_flags & SA_SIGINFO))
			return CHILD_SETUP_FAILED + 5;
	}
	for (int i = 0; i < 3; i++) {
		if (how == HOW_RAISE)
			raise(SIGTRAP);
		else
			app_int3(i);
	}
	/* survived: updates still work */
	if (mode != CHILD_NO_LIB && (static_call_update(fs_op, add1) != 0 ||
				     static_call(fs_op)(1) != 2))
		return CHILD_SETUP_FAILED + 6;
	return CHILD_SURVIVED;
}

static int run_child(const char *disp, enum child_how how, enum child_mode mode)
{
	char how_s[8], mode_s[8];
	int status;
	pid_t pid;

	snprintf(how_s, sizeof(how_s), "%d", (int)how);
	snprintf(mode_s, sizeof(mode_s), "%d", (int)mode);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {0, 0};
		setrlimit(RLIMIT_CORE, &rl); /* no core files from the deaths */
		alarm(20);		     /* never outlive the test */
		char *argv[] = {"test_foreign_sigtrap",
				"--child",
				(char *)disp,
				how_s,
				mode_s,
				NULL};
		sc_test_execv("/proc/self/exe", argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void check_child(const char *disp, enum child_how how,
			enum child_mode mode, int want_sig)
{
	int st = run_child(disp, how, mode);

	if (want_sig) {
		if (!WIFSIGNALED(st) || WTERMSIG(st) != want_sig)
			fail_msg("child %s/%s/mode %d: status %#x (exit %d, "
				 "signal %d), expected death by signal %d",
				 disp, how == HOW_RAISE ? "raise" : "int3",
				 (int)mode, st,
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				 WIFSIGNALED(st) ? WTERMSIG(st) : -1, want_sig);
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != CHILD_SURVIVED) {
		fail_msg("child %s/%s/mode %d: status %#x (exit %d, signal "
			 "%d), expected to survive",
			 disp, how == HOW_RAISE ? "raise" : "int3", (int)mode,
			 st, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
			 WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	}
}

static void test_default_and_ignore_in_child(void **state)
{
	static const struct {
		const char *disp;
		enum child_how how;
		int want_sig; /* 0: survives */
	} cases[] = {
		{"dfl", HOW_RAISE, SIGTRAP},
		{"dfl", HOW_INT3, SIGTRAP},
		{"ign", HOW_RAISE, 0},
		/* the kernel forces a synchronous trap even when ignored */
		{"ign", HOW_INT3, SIGTRAP},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* without the library first: the reference behaviour */
		check_child(cases[i].disp, cases[i].how, CHILD_NO_LIB,
			    cases[i].want_sig);
		check_child(cases[i].disp, cases[i].how, CHILD_FIRST,
			    cases[i].want_sig);
		check_child(cases[i].disp, cases[i].how, CHILD_AFTER,
			    cases[i].want_sig);
	}
}

/*
 * An application handler that chains to the handler it replaced (the
 * library's) for traps it does not own, as crash reporters and runtimes do.
 * Without the library such a trap reaches the default action: death by
 * SIGTRAP.  With the library, after the library re-installed itself in
 * front of that handler, the same trap must still end in the default action
 * (and not bounce between the two handlers forever).
 */
static struct sigaction chain_old;
static volatile int chain_hits;

static void app_chaining(int sig, siginfo_t *si, void *uc)
{
	chain_hits++;
	if (chain_hits > 1000) {
		/* ping-pong between the two handlers: report it */
		static const char m[] = "app_chaining: trap bounced back to "
					"the app handler 1000 times\n";
		if (write(2, m, sizeof(m) - 1) < 0)
			_exit(31);
		_exit(30);
	}
	if (chain_old.sa_flags & SA_SIGINFO) {
		chain_old.sa_sigaction(sig, si, uc);
	} else if (chain_old.sa_handler == SIG_DFL) {
		signal(sig, SIG_DFL);
		raise(sig);
	} else if (chain_old.sa_handler != SIG_IGN) {
		chain_old.sa_handler(sig);
	}
}

static int chain_child_main(enum child_mode mode)
{
	struct sigaction sa;

	if (mode != CHILD_NO_LIB && static_call_update(fs_op, add2) != 0)
		return CHILD_SETUP_FAILED + 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_chaining;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGTRAP, &sa, &chain_old) != 0)
		return CHILD_SETUP_FAILED + 2;
	/* the library takes over again, in front of the chaining handler */
	if (mode != CHILD_NO_LIB && static_call_update(fs_op, add3) != 0)
		return CHILD_SETUP_FAILED + 3;
	app_int3(0);
	return CHILD_SURVIVED;
}

static void test_chaining_app_handler_in_child(void **state)
{
	(void)state;
	check_child("chain", HOW_INT3, CHILD_NO_LIB, SIGTRAP);
	check_child("chain", HOW_INT3, CHILD_AFTER, SIGTRAP);
}

/*
 * The take-over is atomic for other threads: a SIGTRAP that another thread
 * raises at the instant the library puts its handler back in front (after
 * the kernel switched handlers, before sigaction() has even returned to the
 * library) must still reach the handler it displaced.  The instant is made
 * deterministic with ptrace: this process stops the child's updating thread
 * at the exit of that rt_sigaction() call, and only then lets the child's
 * second thread raise SIGTRAP.  Before the take-over the library was in
 * front of SIG_DFL, so a trap passed to the stale handler kills the child.
 */
#if defined(__x86_64__)
struct race_shm {
	_Atomic int phase, go, raised;
};

static _Atomic int race_app_hits;

static void race_app(int sig)
{
	(void)sig;
	atomic_fetch_add(&race_app_hits, 1);
}

static void *race_raiser(void *arg)
{
	struct race_shm *shm = arg;

	while (!atomic_load(&shm->go))
		sched_yield();
	raise(SIGTRAP);
	atomic_store(&shm->raised, 1);
	return NULL;
}

static int race_child(struct race_shm *shm)
{
	pthread_t t;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
		return 77;
	raise(SIGSTOP);
	/* library in front of SIG_DFL, then the app's handler in front */
	signal(SIGTRAP, SIG_DFL);
	if (static_call_update(fs_op, add2) != 0)
		return CHILD_SETUP_FAILED + 1;
	signal(SIGTRAP, race_app);
	if (pthread_create(&t, NULL, race_raiser, shm) != 0)
		return CHILD_SETUP_FAILED + 2;
	atomic_store(&shm->phase, 1);
	/* the take-over: the parent stops us inside it */
	if (static_call_update(fs_op, add3) != 0)
		return CHILD_SETUP_FAILED + 3;
	atomic_store(&shm->phase, 2);
	atomic_store(&shm->go, 1); /* in case the parent never triggered */
	pthread_join(t, NULL);
	if (atomic_load(&race_app_hits) != 1)
		return CHILD_SETUP_FAILED + 4;
	return CHILD_SURVIVED;
}

static void test_takeover_window(void **state)
{
	struct race_shm *shm;
	const char *err = NULL;
	bool triggered = false;
	int st = 0;
	pid_t pid;
	(void)state;

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(shm != MAP_FAILED);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {0, 0};
		setrlimit(RLIMIT_CORE, &rl);
		alarm(20);
		_exit(race_child(shm));
	}
	assert_int_equal(waitpid(pid, &st, __WALL), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		munmap(shm, sizeof(*shm));
		skip(); /* ptrace not permitted here */
	}
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		err = "the child did not stop for its tracer";
	else if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
			(void *)(long)(PTRACE_O_TRACESYSGOOD |
				       PTRACE_O_EXITKILL)) != 0 ||
		 ptrace(PTRACE_SYSCALL, pid, NULL, NULL) != 0)
		err = "ptrace setup failed";
	while (!err) {
		struct user_regs_struct regs;
		int inject = 0;

		if (waitpid(pid, &st, __WALL) != pid) {
			err = "waitpid failed";
			break;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			inject = WSTOPSIG(st); /* a signal: deliver it */
		} else if (!triggered && atomic_load(&shm->phase) == 1 &&
			   ptrace(PTRACE_GETREGS, pid, NULL, &regs) == 0 &&
			   regs.orig_rax == SYS_rt_sigaction &&
			   (long)regs.rax != -ENOSYS && regs.rdi == SIGTRAP &&
			   regs.rsi != 0) {
			/* stopped right after the kernel switched handlers:
			 * now the other thread raises */
			int r = 0;

			triggered = true;
			atomic_store(&shm->go, 1);
			for (int i = 0; i < 5000 && !atomic_load(&shm->raised);
			     i++) {
				r = waitpid(pid, &st, WNOHANG | __WALL);
				if (r == pid)
					break;
				usleep(1000);
			}
			if (r == pid && (WIFEXITED(st) || WIFSIGNALED(st)))
				break; /* the raise killed the child */
			if (!atomic_load(&shm->raised)) {
				err = "the child's raiser thread never ran";
				break;
			}
		}
		ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)inject);
	}
	if (err) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, __WALL);
		munmap(shm, sizeof(*shm));
		fail_msg("%s", err);
	}
	munmap(shm, sizeof(*shm));
	assert_true(triggered);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != CHILD_SURVIVED)
		fail_msg("child status %#x (exit %d, signal %d): the SIGTRAP "
			 "raised during the take-over did not reach the app's "
			 "handler",
			 st, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
			 WIFSIGNALED(st) ? WTERMSIG(st) : -1);
}

#else
/* The tracer reads x86-64 system call registers; not ported (and qemu-user,
 * which runs the aarch64 tests, cannot be traced that way). */
static void test_takeover_window(void **state)
{
	(void)state;
	skip();
}
#endif

/* ------------------------------------------------------------------------
 * d) SIGTRAPs raised while other threads update and call
 * ------------------------------------------------------------------------ */
#define RAISES 3000
#define MIN_UPDATES 100

static _Atomic int stop_callers, raiser_done;
static _Atomic long caller_calls, caller_bad;
static bool raiser_reinstalls;

/*
 * A well-behaved application handler for the variant in which the
 * application keeps installing its handler again while updates run: it owns
 * the SIGTRAPs it raised itself and passes every other one (such as the
 * library's int3 in a trampoline, if it is installed at that moment) to the
 * handler it replaced.
 */
typedef void sigaction_fn(int, siginfo_t *, void *);
static _Atomic(sigaction_fn *) passon_next;
static _Atomic long passon_count;

static void app_passon(int sig, siginfo_t *si, void *uc)
{
	sigaction_fn *next;

	if (si->si_code != TRAP_SI_KERNEL) {
		atomic_fetch_add(&app_hits, 1);
		return;
	}
	atomic_fetch_add(&passon_count, 1);
	next = atomic_load(&passon_next);
	if (next) {
		next(sig, si, uc);
	} else {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

static void install_app_passon(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_passon;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTRAP, &sa, &old) != 0)
		abort();
	if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction != app_passon)
		atomic_store(&passon_next, old.sa_sigaction);
}

static void *caller_thread(void *arg)
{
	long calls = 0, bad = 0;
	(void)arg;

	while (!atomic_load_explicit(&stop_callers, memory_order_relaxed)) {
		int x = (int)(calls & 1023);
		int r = static_call(fs_op)(x);
		if (r != x + 1 && r != x + 2 && r != x + 3)
			bad++;
		calls++;
	}
	atomic_fetch_add(&caller_calls, calls);
	atomic_fetch_add(&caller_bad, bad);
	return NULL;
}

static void *raiser_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < RAISES; i++) {
		if (raiser_reinstalls && i % 128 == 0)
			install_app_passon(); /* the app takes it back */
		raise(SIGTRAP);
	}
	atomic_store(&raiser_done, 1);
	return NULL;
}

static void run_concurrent(bool reinstalls)
{
	pthread_t callers[2], raiser;
	struct static_call_stats before, after;
	int updates = 0;

	reset_app_counts();
	if (reinstalls)
		install_app_passon();
	else
		install_app_action(NULL);
	/* the library is in front (after an int3 patch), the app's handler
	 * behind it */
	assert_int_equal(static_call_update(fs_op, add2), 0);
	assert_int_equal(static_call_update(fs_op, add1), 0);
	assert_true(current_trap_action().sa_sigaction != app_action);
	assert_true(current_trap_action().sa_sigaction != app_passon);

	stop_callers = 0;
	raiser_done = 0;
	caller_calls = 0;
	caller_bad = 0;
	passon_count = 0;
	raiser_reinstalls = reinstalls;
	before = sc_test_stats();
	for (int i = 0; i < 2; i++)
		assert_int_equal(
			pthread_create(&callers[i], NULL, caller_thread, NULL),
			0);
	assert_int_equal(pthread_create(&raiser, NULL, raiser_thread, NULL), 0);
	assert_int_equal(sc_test_wait_unblocked(), 0);
	while (!atomic_load(&raiser_done) || updates < MIN_UPDATES) {
		int (*f)(int) = updates % 3 == 0   ? add2
				: updates % 3 == 1 ? add3
						   : add1;
		assert_int_equal(static_call_update(fs_op, f), 0);
		updates++;
	}
	pthread_join(raiser, NULL);
	atomic_store(&stop_callers, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(callers[i], NULL);
	after = sc_test_stats();

	/* every raise reached the app, none of the library's int3 did */
	assert_int_equal(app_hits, RAISES);
	assert_int_equal(app_hits_kernel, 0);
	assert_int_equal(caller_bad, 0);
	assert_true(caller_calls > 0);
	assert_int_equal(after.updates - before.updates, updates);
	if (!reinstalls) {
		/* the library stayed in front: it passed on every raise */
		assert_int_equal(after.traps_foreign - before.traps_foreign,
				 RAISES);
	} else {
		/* the app's handler was in front some of the time */
		assert_true(after.traps_foreign - before.traps_foreign <=
			    RAISES);
		print_message("%ld of the library's traps went through the "
			      "app's handler\n",
			      (long)passon_count);
	}
	/* and the static call is still right */
	assert_int_equal(static_call_update(fs_op, add3), 0);
	assert_int_equal(static_call(fs_op)(4), 7);
	install_app_action(NULL);
	assert_int_equal(static_call_update(fs_op, add1), 0);
}

static void test_concurrent_raise(void **state)
{
	(void)state;
	run_concurrent(false);
}

/* The app installs its (passing-on) handler again and again meanwhile. */
static void test_concurrent_raise_app_reinstalls(void **state)
{
	(void)state;
	run_concurrent(true);
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--child") == 0) {
		enum child_how how = (enum child_how)atoi(argv[3]);
		enum child_mode mode = (enum child_mode)atoi(argv[4]);
		if (strcmp(argv[2], "chain") == 0)
			return chain_child_main(mode);
		return child_main(strcmp(argv[2], "ign") == 0 ? SIG_IGN
							      : SIG_DFL,
				  how, mode);
	}

	const struct CMUnitTest tests[] = {
		/* must stay first: it needs a process with no update yet */
		cmocka_unit_test(test_app_handler_before_first_update),
		cmocka_unit_test(test_app_handler_after_library),
		cmocka_unit_test(test_app_plain_handler_after_library),
		cmocka_unit_test(test_default_and_ignore_in_child),
		cmocka_unit_test(test_chaining_app_handler_in_child),
		cmocka_unit_test(test_takeover_window),
		cmocka_unit_test(test_concurrent_raise),
		cmocka_unit_test(test_concurrent_raise_app_reinstalls),
	};
	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
