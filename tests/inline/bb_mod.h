/* SPDX-License-Identifier: MIT */
/*
 * The module of the black-box test (blackbox.c): a static call, two
 * targets that record their return address, two call sites.  Compiled into
 * the test executable (PIE or not) or into a shared library, at every
 * optimisation level; the driver reaches it through bb_api().
 */
#ifndef SC_BB_MOD_H
#define SC_BB_MOD_H

#include <stddef.h>

#include <staticcall.h>

struct bb_api {
	int (*call1)(int x);  /* a call site: call, then use the result */
	int (*call2)(int x);  /* another one */
	int (*update)(int k); /* static_call_update() to fn[k] */
	int (*sites)(struct static_call_site *buf, size_t max);
	void *fn[2];		 /* the targets: x + 1, x * 3 */
	void *tramp;		 /* the trampoline, __SCT__bb_op */
	void *volatile *last_ra; /* the last return address a target saw */
};

const struct bb_api *bb_api(void);

#endif
