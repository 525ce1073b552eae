/* SPDX-License-Identifier: MIT */
/* The plug-in of the regression tests (rg_mod.h). */
#include "rg_mod.h"

#define RGM_API __attribute__((visibility("default"), noinline, used))

DEFINE_STATIC_KEY_FALSE(rgm_own_key);

static int rgm_a(int x) { return x * 4 + 1; }
static int rgm_b(int x) { return x * 4 + 2; }

DEFINE_STATIC_CALL(rgm_op, rgm_a);

RGM_API int rgm_probe_exe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

RGM_API int rgm_probe_own(void)
{
	return static_branch_unlikely(&rgm_own_key) ? 1 : 0;
}

/* A call site of rgm_op (an inline site in sc_rg_mod_inline). */
RGM_API int rgm_call(int x)
{
	int r = static_call(rgm_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

RGM_API int rgm_update(int k)
{
	switch (k) {
	case 0:
		return static_call_update(rgm_op, rgm_a);
	case 1:
		return static_call_update(rgm_op, rgm_b);
	default:
		return static_call_update(rgm_op, static_call_return0);
	}
}

RGM_API int rgm_toggle(int on)
{
	return on ? static_branch_enable(&rgm_own_key)
		  : static_branch_disable(&rgm_own_key);
}
