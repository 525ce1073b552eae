/* SPDX-License-Identifier: MIT */
/* The library of far.c (see far_mod.h). */
#include "far_mod.h"

__attribute__((noinline)) int fm_call(int x)
{
	int r = static_call(f_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

__attribute__((noinline)) int fm_tail(int x) { return static_call(f_op)(x); }

__attribute__((noinline)) int fm_near(int x) { return x + 11; }
