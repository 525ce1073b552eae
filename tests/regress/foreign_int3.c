/* SPDX-License-Identifier: MIT */
/*
 * Issue 14: a uprobe-like foreign int3 on a page that holds a key site.
 *
 * A 4 KiB-aligned section written in assembly holds rg_fi_key_fn (a
 * static key site of rg_fi_key, with a jump table entry made by hand, at
 * its start) and, 512 bytes further in the same page, rg_fi_victim, a
 * function never run.  An int3 (0xcc) is written over the second byte
 * of rg_fi_victim (on aarch64 a `brk #0` over its second instruction)
 * through /proc/self/mem, as a uprobe or a debugger would.  Then two threads run the key site while the key is toggled
 * 2000 times.  Asserts: the process survives; each toggle returns 0 (the
 * site then takes the new state) or a negative errno (the site keeps the
 * old one); afterwards the foreign int3 is still there and the victim's
 * other bytes are untouched (never silently dropped by a copy of the
 * page made from the file).
 *
 * On the code of issue 14 (key sites written in place with int3): passes;
 * it guards the page flip, which must not copy such a page from the file
 * nor drop the byte.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "regress.h"

DEFINE_STATIC_KEY_FALSE(rg_fi_key);
__attribute__((used, visibility("hidden"))) struct static_key *const rg_fi_ref =
	&rg_fi_key.key;

int rg_fi_key_fn(void);
extern const unsigned char rg_fi_victim[];

#if defined(__x86_64__)
#define FI_FILL "0xcc"
#define FI_KEY_FN                                                              \
	"1:	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"                              \
	"	xor %eax, %eax\n"                                                    \
	"	ret\n"                                                               \
	"2:	mov $1, %eax\n"                                                    \
	"	ret\n"
#define FI_VICTIM "	.byte 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xc3\n"
/* nop x7, ret; the foreign breakpoint (int3) lands on the second byte */
#define FI_BRK_AT 1
static const unsigned char fi_brk[] = {0xcc};
static const unsigned char fi_want[8] = {0x90, 0xcc, 0x90, 0x90,
					 0x90, 0x90, 0x90, 0xc3};
#else
#define FI_FILL "0"
#define FI_KEY_FN                                                              \
	"1:	nop\n"                                                             \
	"	mov w0, #0\n"                                                        \
	"	ret\n"                                                               \
	"2:	mov w0, #1\n"                                                      \
	"	ret\n"
#define FI_VICTIM "	nop\n	nop\n	nop\n	ret\n"
/* nop x3, ret; the foreign breakpoint (gdb's brk #0) on the second */
#define FI_BRK_AT 4
static const unsigned char fi_brk[] = {0x00, 0x00, 0x20, 0xd4};
static const unsigned char fi_want[16] = {0x1f, 0x20, 0x03, 0xd5, 0x00, 0x00,
					  0x20, 0xd4, 0x1f, 0x20, 0x03, 0xd5,
					  0xc0, 0x03, 0x5f, 0xd6};
#endif

__asm__(".pushsection .text.rg_foreign_int3, \"ax\", @progbits\n"
	".balign 4096, " FI_FILL "\n"
	".globl rg_fi_key_fn\n"
	".type rg_fi_key_fn, @function\n"
	"rg_fi_key_fn:\n" FI_KEY_FN ".size rg_fi_key_fn, . - rg_fi_key_fn\n"
	"	.skip 512 - (. - rg_fi_key_fn), " FI_FILL "\n"
	".globl rg_fi_victim\n"
	".type rg_fi_victim, @function\n"
	"rg_fi_victim:\n" FI_VICTIM ".size rg_fi_victim, . - rg_fi_victim\n"
	".popsection\n"
	".pushsection sc_jump_table, \"aw\"\n"
	".balign 8\n"
	".long 1b - ., 2b - .\n"
	".quad rg_fi_ref - .\n"
	".popsection\n");

static _Atomic int stop;
static _Atomic unsigned long runs;

static void *runner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = rg_fi_key_fn();
		RG_CHECK(r == 0 || r == 1, "key site returned %d", r);
		atomic_fetch_add_explicit(&runs, 1, memory_order_relaxed);
	}
	return NULL;
}

static void test_foreign_int3_on_the_page(void **state)
{
	int ok = 0, failed = 0, first = 0;
	pthread_t t[2];
	(void)state;

	assert_int_equal((uintptr_t)rg_fi_key_fn & 4095, 0);
	assert_int_equal((uintptr_t)rg_fi_victim - (uintptr_t)rg_fi_key_fn,
			 512);
	assert_int_equal(rg_fi_key_fn(), 0);
	assert_int_equal(sc_test_poke_code((void *)(rg_fi_victim + FI_BRK_AT),
					   fi_brk, sizeof(fi_brk)),
			 0);
	assert_memory_equal(rg_fi_victim, fi_want, sizeof(fi_want));

	rg_thread(&t[0], runner, NULL);
	rg_thread(&t[1], runner, NULL);
	rg_settle();
	for (int i = 0; i < 2000; i++) {
		int on = !(i & 1), err;
		err = on ? static_branch_enable(&rg_fi_key)
			 : static_branch_disable(&rg_fi_key);
		assert_true(err <= 0);
		if (err == 0) {
			ok++;
			assert_int_equal(rg_fi_key_fn(), on);
		} else {
			failed++;
			first = first ? first : err;
			assert_int_equal(rg_fi_key_fn(),
					 static_key_enabled(&rg_fi_key));
		}
		assert_memory_equal(rg_fi_victim, fi_want, sizeof(fi_want));
	}
	atomic_store(&stop, 1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("foreign int3 on the page: %d toggles worked, %d failed "
	       "(first: %s); the site ran %lu times\n",
	       ok, failed, first ? strerror(-first) : "-", atomic_load(&runs));
	assert_memory_equal(rg_fi_victim, fi_want, sizeof(fi_want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_int3_on_the_page),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
