/* SPDX-License-Identifier: MIT */
/* The second translation unit of regress_protocol_switch: a static call
 * whose trampolines fill a page of their own. */
#include "protocol_switch.h"

static int b_a(int x) { return x * 8 + 1; }
static int b_b(int x) { return x * 8 + 2; }
DEFINE_STATIC_CALL(ps_op2, b_a);

__attribute__((noinline)) int ps_call2(int x)
{
	int r = static_call(ps_op2)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

int ps_update2(int k)
{
	switch (k) {
	case 0:
		return static_call_update(ps_op2, b_a);
	case 1:
		return static_call_update(ps_op2, b_b);
	default:
		return static_call_update(ps_op2, static_call_return0);
	}
}
