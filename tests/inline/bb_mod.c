/* SPDX-License-Identifier: MIT */
/* The black-box module (see bb_mod.h and blackbox.c). */
#include "bb_mod.h"

#define BB_NOINLINE __attribute__((noinline, used))
#define BB_HIDDEN __attribute__((visibility("hidden")))

BB_HIDDEN void *volatile bb_last_ra;

BB_HIDDEN BB_NOINLINE int bb_a(int x)
{
	bb_last_ra = __builtin_return_address(0);
	return x + 1;
}

BB_HIDDEN BB_NOINLINE int bb_b(int x)
{
	bb_last_ra = __builtin_return_address(0);
	return x * 3;
}

DEFINE_STATIC_CALL(bb_op, bb_a);

/* The empty asm after the call keeps it a call: no tail call. */
static BB_NOINLINE int bb_call1(int x)
{
	int r = static_call(bb_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

static BB_NOINLINE int bb_call2(int x)
{
	int r = static_call(bb_op)(x + 100);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r - 100;
}

static int bb_update(int k)
{
	return static_call_update(bb_op, k ? bb_b : bb_a);
}

static int bb_sites(struct static_call_site *buf, size_t max)
{
	return static_call_sites(bb_op, buf, max);
}

static const struct bb_api api = {
	.call1 = bb_call1,
	.call2 = bb_call2,
	.update = bb_update,
	.sites = bb_sites,
	.fn = {(void *)bb_a, (void *)bb_b},
	.tramp = (void *)&STATIC_CALL_TRAMP(bb_op),
	.last_ra = &bb_last_ra,
};

const struct bb_api *bb_api(void) { return &api; }
