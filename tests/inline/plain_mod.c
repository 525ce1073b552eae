/* SPDX-License-Identifier: MIT */
/* See plain_mod.h. */
#include "plain_mod.h"

__attribute__((noinline)) int pm_call_u(int x)
{
	int r = static_call(u_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

__attribute__((noinline)) int pm_tail_u(int x) { return static_call(u_op)(x); }

__attribute__((noinline, visibility("hidden"))) int pm_a(int x)
{
	return x + 5;
}

DEFINE_STATIC_CALL(pm_op, pm_a);

__attribute__((noinline)) int pm_call_own(int x)
{
	int r = static_call(pm_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}
