/* SPDX-License-Identifier: MIT */
/* See corrupt_mod.h.  Each caller also makes a direct call (to cm_helper)
 * that a damaged relocation can be pointed at. */
#include "corrupt_mod.h"

#define CM_FN __attribute__((noinline, used, visibility("hidden")))
#define CM_CALLER_FN __attribute__((noinline, used))

CM_FN int cm_a(int x) { return x + 1; }
CM_FN int cm_b(int x) { return x * 9; }
CM_FN int cm_helper(int x) { return x ^ 0x55; }

DEFINE_STATIC_CALL(cm_op, cm_a);

#define CM_CALLER(i)                                                           \
	static CM_CALLER_FN int cm_call##i(int x)                              \
	{                                                                      \
		int r = static_call(cm_op)(cm_helper(x) + i);                  \
		__asm__ volatile("" : "+r"(r)::"memory");                      \
		return r - i;                                                  \
	}
CM_CALLER(0)
CM_CALLER(1)
CM_CALLER(2)
CM_CALLER(3)
CM_CALLER(4)
CM_CALLER(5)

static int cm_update(int k)
{
	return static_call_update(cm_op, k ? cm_b : cm_a);
}

static int cm_sites(struct static_call_site *buf, size_t max)
{
	return static_call_sites(cm_op, buf, max);
}

static const struct cm_api api = {
	.call = {cm_call0, cm_call1, cm_call2, cm_call3, cm_call4, cm_call5},
	.helper = cm_helper,
	.update = cm_update,
	.sites = cm_sites,
	.fn = {(void *)cm_a, (void *)cm_b},
	.tramp = (void *)&STATIC_CALL_TRAMP(cm_op),
};

const struct cm_api *cm_api(void) { return &api; }
