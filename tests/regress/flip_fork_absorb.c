/* SPDX-License-Identifier: MIT */
/*
 * Issue 14 (F1 after fork()): regions of the generation before a fork
 * absorbed into new regions, on both sides of the fork.
 *
 * A 12-page section holds sites of fa_k0 (page 0), fa_k3 (page 3) and
 * fa_k10 (page 10).  Before each fork the process flips page 0 and page 10
 * (two regions).  After the fork, parent and child each, with no order
 * between them, toggle fa_k3 (a new region that absorbs the old
 * generation's region of page 0: page 3 is within the flip's gap),
 * fa_k0 and fa_k10, 50 times, each side to states of its own (the
 * child starts with the opposite state), checking all three sites after
 * every toggle.  20 forks.
 *
 * Asserts, on both sides: every toggle returns 0 and every site follows
 * its own process's keys (a copy written by the other process would show
 * the other's states).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "regress.h"
#include "rg_pages.h"

DEFINE_STATIC_KEY_FALSE(fa_k0);
DEFINE_STATIC_KEY_FALSE(fa_k3);
DEFINE_STATIC_KEY_FALSE(fa_k10);
RG_KEY_REF(fa_k0_ref, fa_k0);
RG_KEY_REF(fa_k3_ref, fa_k3);
RG_KEY_REF(fa_k10_ref, fa_k10);

int fa_s0(void), fa_s3(void), fa_s10(void);

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_flip_fork_absorb, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site fa_s0, fa_k0_ref, 0\n"
	"rg_key_site fa_s3, fa_k3_ref, (3*4096)\n"
	"rg_key_site fa_s10, fa_k10_ref, (10*4096)\n"
	".org 12 * 4096 - 1, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

static struct static_key_false *const keys[3] = {&fa_k3, &fa_k0, &fa_k10};

static int set(int k, int on)
{
	return on ? static_branch_enable(keys[k])
		  : static_branch_disable(keys[k]);
}

static bool follow(void)
{
	return fa_s0() == static_key_enabled(&fa_k0) &&
	       fa_s3() == static_key_enabled(&fa_k3) &&
	       fa_s10() == static_key_enabled(&fa_k10);
}

/* 50 toggles from the states @start on; 0, or the round that failed + 1 */
static int toggles(int start)
{
	for (int i = 0; i < 50; i++) {
		int k = i % 3, on = ((i / 3) & 1) ^ start;
		if (set(k, on) != 0 || !follow())
			return i + 1;
	}
	return 0;
}

static void test_fork_absorb(void **state)
{
	(void)state;

	assert_int_equal((uintptr_t)fa_s0 % RG_PAGE, 0);
	for (int round = 0; round < 20; round++) {
		int status = 0, r;
		pid_t pid;
		assert_int_equal(set(0, 0), 0);
		/* pages 0 and 10 flipped: two regions of this generation */
		assert_int_equal(set(1, 1), 0);
		assert_int_equal(set(2, 1), 0);
		assert_int_equal(set(1, 0), 0);
		assert_int_equal(set(2, 0), 0);
		assert_true(follow());
		fflush(stdout);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(toggles(1) ? 1 : 0);
		r = toggles(0);
		if (r)
			fail_msg("round %d: parent, toggle %d: sites %d %d %d, "
				 "keys %d %d %d",
				 round, r - 1, fa_s0(), fa_s3(), fa_s10(),
				 static_key_enabled(&fa_k0),
				 static_key_enabled(&fa_k3),
				 static_key_enabled(&fa_k10));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("round %d: child status %#x", round, status);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_absorb),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
