/* SPDX-License-Identifier: MIT */
/*
 * Every trampoline encoding must be ONE instruction: the int3 protocol
 * guards byte 0 only, so a thread that stands at an instruction boundary
 * inside a trampoline (it was preempted or interrupted there) when bytes
 * 1..15 are rewritten goes on with the new bytes from the middle.
 *
 * The RET0 form "31 c0 c3" (xor %eax,%eax; ret) is two instructions, with
 * a boundary at byte 2.  stress_update found threads that resumed there
 * after an update to a near jmp and ran "f6 ff ff cc 0f 0b" (idiv %bh;
 * dec %esp; ud2) with RSP cut to 32 bits, which killed the process.
 *
 * This program makes that deterministic: it single-steps (EFLAGS.TF) into
 * a trampoline; at every instruction boundary inside it, the SIGTRAP
 * handler updates the static call to another form and lets the thread go
 * on.  The call must return a result of the old or the new target.  Each
 * case runs in a fork()ed child so that a crash fails only that case.
 * Encodings that are one instruction never stop inside the trampoline,
 * so they pass trivially (and so will RET0 once it is one instruction).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "common.h"

#define TF 0x100

static int rp_add1(int x) { return x + 1; }
static int rp_start(int x) { return x + 3; }

DEFINE_STATIC_CALL_RET0(rp_ret0, rp_add1);
DEFINE_STATIC_CALL(rp_near, rp_start);

/* int step_ret0(int x) / step_near(int x): set TF, tail-call the trampoline
 * (the first single-step trap comes after the jmp, at its first byte). */
/* clang-format off */
#define STEP_FN(fn, name)                                                      \
	__asm__(".pushsection .text\n\t"                                       \
		".type " #fn ", @function\n" #fn ":\n\t"                       \
		"pushfq\n\t"                                                   \
		"orq $0x100, (%rsp)\n\t"                                       \
		"popfq\n\t"                                                    \
		"jmp " STATIC_CALL_TRAMP_STR(name) "\n\t"                      \
		".size " #fn ", .-" #fn "\n\t"                                 \
		".popsection\n");                                              \
	int fn(int x)
/* clang-format on */

STEP_FN(step_ret0, rp_ret0);
STEP_FN(step_near, rp_near);

static uintptr_t tramp;	 /* the trampoline being stepped through */
static void *new_target; /* what the handler updates it to */
static struct static_call_key *key;
static volatile int inside; /* offset of the boundary we stopped at */
static volatile int update_rc = 1;

static void step_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	uintptr_t rip = (uintptr_t)g[REG_RIP];
	static const char msg[] = "child: unexpected SIGTRAP (int3 from the "
				  "middle of a trampoline?)\n";

	(void)sig;
	if (si->si_code != TRAP_TRACE) {
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(3);
		_exit(3);
	}
	if (rip == tramp)
		return; /* at the entry: step once more */
	if (rip > tramp && rip < tramp + STATIC_CALL_TRAMP_SIZE && !inside) {
		char m[] = "  child: stopped at byte ? inside the "
			   "trampoline, updated it (rc ?), resuming there\n";
		inside = (int)(rip - tramp);
		update_rc = __static_call_update(key, new_target);
		*strchr(m, '?') = (char)('0' + inside % 10);
		*strchr(m, '?') = update_rc ? '!' : '0';
		if (write(1, m, sizeof(m) - 1) < 0)
			_exit(3);
	}
	g[REG_EFL] &= ~(greg_t)TF;
}

/*
 * In a child: step into @k's trampoline through @step; at any boundary
 * inside it, retarget it to @to.  @legal_old and @legal_new: the results of
 * the old and the new target for x = 10.
 */
static void run_child(struct static_call_key *k, int (*step)(int), void *to,
		      int legal_old, int legal_new)
{
	struct sigaction sa;
	int r;

	/* a crash must end the child (not go to cmocka's handlers) */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = step_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGTRAP, &sa, NULL);
	alarm(10);
	key = k;
	tramp = (uintptr_t)k->tramp;
	new_target = to;
	r = step(10);
	printf("  child: %s, result %d (legal: %d, or %d if updated)\n",
	       inside ? "updated inside" : "never stopped inside", r, legal_old,
	       legal_new);
	fflush(stdout);
	if (inside && update_rc != 0)
		_exit(2);
	_exit(r == legal_old || (inside && r == legal_new) ? 0 : 1);
}

static void run_case(struct static_call_key *k, int (*step)(int), void *to,
		     int legal_old, int legal_new)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		run_child(k, step, to, legal_old, legal_new);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		printf("  child killed by signal %d (%s)\n", WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* RET0 -> near jmp: the case stress_update ran into. */
static void test_ret0_to_near(void **state)
{
	(void)state;
	run_case(&STATIC_CALL_KEY(rp_ret0), step_ret0, (void *)rp_add1, 0, 11);
}

/* RET0 -> far form (abs() in libc). */
static void test_ret0_to_far(void **state)
{
	(void)state;
	run_case(&STATIC_CALL_KEY(rp_ret0), step_ret0, (void *)abs, 0, 10);
}

/* RET0 -> NULL ("c3 cc cc ..."): byte 2 becomes an int3. */
static void test_ret0_to_null(void **state)
{
	(void)state;
	run_case(&STATIC_CALL_KEY(rp_ret0), step_ret0, NULL, 0, 0);
}

/* A one-instruction form, for comparison: never stops inside. */
static void test_near_to_ret0(void **state)
{
	(void)state;
	run_case(&STATIC_CALL_KEY(rp_near), step_near, static_call_return0, 13,
		 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ret0_to_near),
		cmocka_unit_test(test_ret0_to_far),
		cmocka_unit_test(test_ret0_to_null),
		cmocka_unit_test(test_near_to_ret0),
	};

	sc_test_watchdog(60);
	/* the library is set up before the first fork */
	if (static_call_update(rp_near, rp_add1) != 0 ||
	    static_call_update(rp_near, rp_start) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
