/* SPDX-License-Identifier: MIT */
/*
 * Issue 13 ("each fix must keep nothing written on error") / 14: a batch
 * of two page flips whose second mmap fails, and whose undo fails too.
 *
 * uf_k has sites on pages 0 and 12 of a 13-page section (two regions,
 * flipped by two mmap calls in one batch).  In a fork child, a first
 * toggle of another key flips a page of its own (the first flip), then a
 * seccomp filter sends every executable mmap to a supervisor thread
 * (SECCOMP_RET_USER_NOTIF: the flips run with every signal blocked) that
 * lets the first one run and fails the second and every later one with
 * ENOMEM: the batch enabling uf_k maps its first region, fails on the
 * second, and cannot map the first back.
 *
 * Asserts: the toggle returns 0 with both sites enabled, or a negative
 * errno with static_key_enabled() and EVERY site of uf_k still disabled
 * (the promise of every update: all or nothing); the process survives.
 *
 * On the code of the page-flip merge (main at 6caf2a0): sc_flip_undo()
 * leaves the new copy mapped when mapping the old one back fails ("the
 * new copy stays, complete (F5)") and the engine returns -ENOMEM: the
 * key reads disabled while its site on page 0 runs enabled (and every
 * later toggle of uf_k fails with -EILSEQ).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "regress.h"
#include "rg_pages.h"
#include "rg_seccomp.h"

DEFINE_STATIC_KEY_FALSE(uf_k);
DEFINE_STATIC_KEY_FALSE(uf_warm);
RG_KEY_REF(uf_k_ref, uf_k);
RG_KEY_REF(uf_warm_ref, uf_warm);

int uf_a0(void), uf_a12(void), uf_w30(void);

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_flip_undo_fail, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site uf_a0, uf_k_ref, 0\n"
	"rg_key_site uf_a12, uf_k_ref, (12*4096)\n"
	"rg_key_site uf_w30, uf_warm_ref, (30*4096)\n"
	".org 31 * 4096 - 1, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

static int scenario(void *arg)
{
	/* executable mappings: the flips (not the sanitizers' own MAP_FIXED
	 * mappings, which the supervisor thread makes itself) */
	static const struct rg_rule r[] = {
		{SYS_mmap, 2, PROT_EXEC, PROT_EXEC, 0, true}};
	int err, k, a, b;
	(void)arg;

	RG_CHECK(static_branch_enable(&uf_warm) == 0 && uf_w30() == 1,
		 "first flip");
	RG_CHECK(rg_seccomp_notify(r, 1) == 0, "seccomp");
	rg_inj.first = 2;
	rg_inj.err = ENOMEM;
	atomic_store(&rg_inj.armed, 1);
	err = static_branch_enable(&uf_k);
	atomic_store(&rg_inj.armed, 0);
	k = static_key_enabled(&uf_k);
	a = uf_a0();
	b = uf_a12();
	printf("enable with the 2nd executable mmap and later failing: %s; "
	       "key %d, sites %d %d; %ld executable mmaps, %ld failed\n",
	       err ? strerror(-err) : "0", k, a, b, atomic_load(&rg_inj.seen),
	       atomic_load(&rg_inj.failed));
	RG_CHECK(err <= 0, "result %d", err);
	RG_CHECK(k == (err == 0) && a == k && b == k,
		 "%s but the key reads %d and its sites run %d, %d",
		 err ? "the toggle failed" : "the toggle worked", k, a, b);
	/* the process goes on: the filter lets every mmap through now */
	err = static_branch_disable(&uf_k);
	RG_CHECK(err == 0 && uf_a0() == 0 && uf_a12() == 0,
		 "disable afterwards: %s, sites %d %d", strerror(-err), uf_a0(),
		 uf_a12());
	return 0;
}

static void test_undo_fails(void **state)
{
	(void)state;
	assert_int_equal((uintptr_t)uf_a0 % RG_PAGE, 0);
	assert_true(rg_exited(rg_child("undo fails", scenario, NULL, 30), 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_undo_fails),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
