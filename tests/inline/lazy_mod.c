/* SPDX-License-Identifier: MIT */
/*
 * lazy.c's module: linked with --emit-relocs but with lazy binding (not
 * through staticcall_inline(), which adds -z now), so that its sites,
 * reached through PLT slots the dynamic linker fills at the first call,
 * start "pending".  Call sites of the executable's l_op1 and l_op2, and two
 * targets in reach of them.
 */
#include <staticcall.h>

typedef int l_fn_t(int x);
DECLARE_STATIC_CALL(l_op1, l_fn_t);
DECLARE_STATIC_CALL(l_op2, l_fn_t);

__attribute__((noinline)) int lm_call1(int x)
{
	int r = static_call(l_op1)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

__attribute__((noinline)) int lm_call2(int x)
{
	int r = static_call(l_op2)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

__attribute__((noinline)) int lm_a(int x) { return x + 1; }
__attribute__((noinline)) int lm_b(int x) { return x * 2; }
