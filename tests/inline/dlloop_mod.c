/* SPDX-License-Identifier: MIT */
/*
 * The module dlloop.c loads and unloads in a loop: inline call sites (a
 * call and a tail call) of the executable's static call d_op, reached
 * through this module's PLT.
 */
#include <staticcall.h>

typedef int d_fn_t(int x);
DECLARE_STATIC_CALL(d_op, d_fn_t);

__attribute__((noinline)) int dm_call(int x)
{
	int r = static_call(d_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

__attribute__((noinline)) int dm_tail(int x) { return static_call(d_op)(x); }
