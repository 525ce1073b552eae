/* SPDX-License-Identifier: MIT */
/* The module corrupt.c copies, damages and dlopen()s. */
#ifndef SC_CORRUPT_MOD_H
#define SC_CORRUPT_MOD_H

#include <stddef.h>

#include <staticcall.h>

#define CM_CALLERS 6

struct cm_api {
	/* caller i: cm_op(cm_helper(x) + i) - i, one call site each */
	int (*call[CM_CALLERS])(int x);
	int (*helper)(int x); /* x ^ 0x55, called directly */
	int (*update)(int k); /* cm_op to fn[k]: x + 1, x * 9 */
	int (*sites)(struct static_call_site *buf, size_t max);
	void *fn[2];
	void *tramp; /* __SCT__cm_op */
};

const struct cm_api *cm_api(void);

#endif
