/* SPDX-License-Identifier: MIT */
/*
 * Our SIGTRAP and SIGSEGV handlers run on the alternate signal stack
 * (SA_ONSTACK), as programs with small stacks need (Go's runtime with cgo
 * requires it of every handler), and a foreign signal is passed on to the
 * handler that was there before with the flags it asked for: SA_ONSTACK,
 * SA_SIGINFO, its mask, and SA_RESETHAND (one-shot: after one delivery the
 * next one gets the default action).
 *
 * The stack pointer is put 512 bytes above a guard page before the int3 is
 * run, so the kernel cannot build a signal frame there (over 1 KiB on
 * x86-64): the handler can only run if it runs on the alternate stack.
 *
 * Each case runs in a fresh copy of this program (fork + exec of
 * /proc/self/exe with "--child <case>"), so that the library's first
 * update, which installs its handlers, happens in it; the child reports
 * on stdout and the parent checks what it printed and how it ended.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"

#define TINY_LEFT 512 /* bytes of stack left above the guard page */
#define ALT_SIZE (64 * 1024)

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }

DEFINE_STATIC_CALL(os_op, add1);

/* ------------------------------------------------------------------------
 * Child side
 * ------------------------------------------------------------------------ */
static char *alt_lo;	       /* the alternate stack */
static char *tiny_top;	       /* TINY_LEFT bytes above a guard page */
static volatile int hits;      /* foreign traps the app's handler got */
static volatile int bad;       /* the app's handler found something wrong */
static volatile char why[128]; /* ...what */

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(3);
}

static void set_bad(const char *s)
{
	if (!bad)
		strncpy((char *)why, s, sizeof(why) - 1);
	bad = 1;
}

static bool on_alt_stack(const void *p)
{
	return (const char *)p >= alt_lo && (const char *)p < alt_lo + ALT_SIZE;
}

static void setup_stacks(void)
{
	stack_t ss;
	long ps = sysconf(_SC_PAGESIZE);
	char *m;

	alt_lo = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m = mmap(NULL, 2 * (size_t)ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (alt_lo == MAP_FAILED || m == MAP_FAILED ||
	    mprotect(m, (size_t)ps, PROT_NONE) != 0) {
		say("mmap failed\n");
		_exit(2);
	}
	tiny_top = m + ps + TINY_LEFT; /* 16-byte aligned */
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = alt_lo;
	ss.ss_size = ALT_SIZE;
	if (sigaltstack(&ss, NULL) != 0) {
		say("sigaltstack failed\n");
		_exit(2);
	}
}

/* Call @fn(@arg) with the stack pointer at @sp.  @fn must be a leaf that
 * needs (almost) no stack: a static call target, or the int3 below. */
static long call_on_stack(const void *fn, long arg, void *sp)
{
#if defined(__x86_64__)
	long ret;

	__asm__ __volatile__("mov %%rsp, %%rbx\n\t"
			     "mov %[sp], %%rsp\n\t"
			     "call *%[fn]\n\t"
			     "mov %%rbx, %%rsp\n\t"
			     : "=a"(ret), "+D"(arg)
			     : [fn] "r"(fn), [sp] "r"(sp)
			     : "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10",
			       "r11", "memory", "cc");
	return ret;
#elif defined(__aarch64__)
	register long x0 __asm__("x0") = arg;

	/* x19 (callee-saved, so the callee keeps it) holds our stack */
	__asm__ __volatile__(
		"mov x19, sp\n\t"
		"mov sp, %[sp]\n\t"
		"blr %[fn]\n\t"
		"mov sp, x19\n\t"
		: "+r"(x0)
		: [fn] "r"(fn), [sp] "r"(sp)
		: "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10",
		  "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19",
		  "x30", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16",
		  "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25",
		  "v26", "v27", "v28", "v29", "v30", "v31", "memory", "cc");
	return x0;
#endif
}

/* A breakpoint of the application's own, in a function that uses no
 * stack (it returns its argument). */
#if defined(__x86_64__)
__asm__(".pushsection .text\n"
	".globl os_app_int3\n"
	".type os_app_int3, @function\n"
	"os_app_int3:\n"
	"int3\n"
	"mov %rdi, %rax\n"
	"ret\n"
	".size os_app_int3, . - os_app_int3\n"
	".popsection\n");
#elif defined(__aarch64__)
__asm__(".pushsection .text\n"
	".globl os_app_int3\n"
	".type os_app_int3, @function\n"
	"os_app_int3:\n"
	"brk #0x1234\n"
	"ret\n"
	".size os_app_int3, . - os_app_int3\n"
	".popsection\n");
#endif
void os_app_int3(void);

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	sigset_t cur;
	int local;

	sc_test_skip_brk(uc);
	hits++;
	if (write(1, "hit\n", 4) < 0)
		_exit(3);
	if (sig != SIGTRAP || !si || si->si_code != SC_TEST_BRK_SICODE)
		set_bad("no siginfo, or not the int3's");
	if (!on_alt_stack(&local))
		set_bad("the handler is not on the alternate stack");
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	if (sigismember(&cur, SIGUSR2) != 1)
		set_bad("SIGUSR2 (in sa_mask) is not blocked");
	if (sigismember(&cur, SIGTRAP) != 1)
		set_bad("SIGTRAP is not blocked (no SA_NODEFER)");
}

static void install_app(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_handler;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(SIGTRAP, &sa, NULL) != 0)
		_exit(2);
}

static void update_or_die(int (*f)(int))
{
	int err = static_call_update(os_op, f);

	if (err) {
		fprintf(stdout, "update: %d\n", err);
		fflush(stdout);
		_exit(2);
	}
}

static bool has_onstack(int sig)
{
	struct sigaction cur;

	return sigaction(sig, NULL, &cur) == 0 &&
	       (cur.sa_flags & (SA_ONSTACK | SA_SIGINFO)) ==
		       (SA_ONSTACK | SA_SIGINFO);
}

static int hook_result;
static volatile bool hook_armed; /* only for the update of os_op */

static void hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)nr;
	/* the int3 is on the trampoline: run into it on the tiny stack */
	if (hook_armed && step == STATIC_CALL_TRACE_INT3 && !hook_result)
		hook_result = (int)call_on_stack(STATIC_CALL_KEY(os_op).tramp,
						 10, tiny_top);
}

static int child(const char *what)
{
	char line[256];

	setup_stacks();
	if (static_call_set_option("protocol", "int3") != 0 ||
	    static_call_set_option("write", "mprotect") != 0)
		return 2;
	if (!strcmp(what, "flags")) {
		/* both handlers installed (the SIGSEGV one by the mprotect
		 * writer's first window) */
		update_or_die(add2);
		say(has_onstack(SIGTRAP) ? "SIGTRAP onstack\n"
					 : "SIGTRAP not onstack\n");
		say(has_onstack(SIGSEGV) ? "SIGSEGV onstack\n"
					 : "SIGSEGV not onstack\n");
		return 0;
	}
	if (!strcmp(what, "ours")) {
		/* our own trap, taken on the tiny stack: emulated there */
		if (static_call_update(static_call_trace_hook, hook) != 0)
			return 2;
		hook_armed = true;
		update_or_die(add2);
		hook_armed = false;
		static_call_update(static_call_trace_hook, NULL);
		snprintf(line, sizeof(line), "result %d\n", hook_result);
		say(line);
		return 0;
	}
	if (!strcmp(what, "foreign")) {
		/* the app's SA_ONSTACK handler, behind ours */
		install_app(SA_ONSTACK);
		update_or_die(add2);
		call_on_stack((const void *)os_app_int3, 0, tiny_top);
		os_app_int3(); /* on the normal stack: still the alt stack */
		snprintf(line, sizeof(line), "hits %d%s%s\n", hits,
			 bad ? " bad: " : "", bad ? (const char *)why : "");
		say(line);
		return 0;
	}
	if (!strncmp(what, "resethand", 9)) {
		/* one-shot handler: the second trap gets the default action
		 * (death by SIGTRAP), as without the library ("-nolib") */
		bool lib = strcmp(what, "resethand-nolib") != 0;
		install_app(SA_ONSTACK | SA_RESETHAND);
		if (lib)
			update_or_die(add2);
		os_app_int3();
		if (!strcmp(what, "resethand-renew")) {
			/* installed again (over ours): one more shot */
			install_app(SA_ONSTACK | SA_RESETHAND);
			update_or_die(add1);
			os_app_int3();
		}
		say(bad ? "bad\n" : "second\n");
		os_app_int3();
		say("survived\n");
		return 0;
	}
	return 2;
}

/* ------------------------------------------------------------------------
 * Parent side
 * ------------------------------------------------------------------------ */
struct run {
	int status;
	char out[1024];
};

static void run_child(const char *what, struct run *r)
{
	int fds[2];
	pid_t pid;
	size_t n = 0;
	ssize_t k;

	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {0, 0};
		setrlimit(RLIMIT_CORE, &rl);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		alarm(20);
		char *argv[] = {"test_onstack", "--child", (char *)what, NULL};
		sc_test_execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	while (n < sizeof(r->out) - 1 &&
	       (k = read(fds[0], r->out + n, sizeof(r->out) - 1 - n)) > 0)
		n += (size_t)k;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
	printf("child %s: status %#x, printed:\n%s", what, r->status, r->out);
}

static void expect_exit0(const char *what, const struct run *r)
{
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		fail_msg("child %s: status %#x (signal %d): its handler could "
			 "not run on the tiny stack?",
			 what, r->status,
			 WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0);
}

static void test_flags(void **state)
{
	struct run r;
	(void)state;

	run_child("flags", &r);
	expect_exit0("flags", &r);
	assert_non_null(strstr(r.out, "SIGTRAP onstack\n"));
	assert_non_null(strstr(r.out, "SIGSEGV onstack\n"));
}

static void test_ours_on_tiny_stack(void **state)
{
	struct run r;
	(void)state;

	run_child("ours", &r);
	expect_exit0("ours", &r);
	/* the trap on the trampoline, emulated as the new target */
	assert_string_equal(r.out, "result 12\n");
}

static void test_foreign_onstack(void **state)
{
	struct run r;
	(void)state;

	run_child("foreign", &r);
	expect_exit0("foreign", &r);
	assert_string_equal(r.out, "hit\nhit\nhits 2\n");
}

static void expect_one_shot(const char *what, int shots)
{
	struct run r;
	char want[64] = "";

	run_child(what, &r);
	for (int i = 0; i < shots; i++)
		strcat(want, "hit\n");
	strcat(want, "second\n");
	assert_string_equal(r.out, want);
	if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGTRAP)
		fail_msg("child %s: status %#x: the trap after the one-shot "
			 "handler should have had the default action",
			 what, r.status);
}

static void test_resethand(void **state)
{
	(void)state;
	expect_one_shot("resethand-nolib", 1); /* what the kernel does */
	expect_one_shot("resethand", 1);
	/* a one-shot handler installed again is a new shot */
	expect_one_shot("resethand-renew", 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_ours_on_tiny_stack),
		cmocka_unit_test(test_foreign_onstack),
		cmocka_unit_test(test_resethand),
	};

	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
