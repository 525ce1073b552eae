/* SPDX-License-Identifier: MIT */
/*
 * Call targets of callgrind_inline.c, in a translation unit of their own so
 * that no loop can inline them.  Both are the same two instructions (the asm
 * statement emits nothing; it pins x in a register): `lea k(%rdi),%rax` and
 * `ret`.
 */
#include "callgrind_inline.h"

long ci_t0(long x)
{
	__asm__ volatile("" : "+r"(x));
	return x + 1;
}

long ci_t1(long x)
{
	__asm__ volatile("" : "+r"(x));
	return x + 2;
}
