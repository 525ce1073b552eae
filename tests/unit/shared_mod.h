/* SPDX-License-Identifier: MIT */
/*
 * Static calls shared between the test executable and the shared library
 * sc_testmod (shared_mod.c): each side defines one and declares the other.
 */
#ifndef SC_TEST_SHARED_MOD_H
#define SC_TEST_SHARED_MOD_H

#include <staticcall.h>

typedef int sm_fn_t(int);

/* Defined in the shared library (initial target: x + 100, static). */
DECLARE_STATIC_CALL(sm_op, sm_fn_t);
/* Defined in the shared library with a global initial target, sm_double. */
DECLARE_STATIC_CALL(sm_op2, sm_fn_t);

int sm_double(int x);	      /* a target that lives in the library */
int sm_call_op(int x);	      /* static_call(sm_op)(x), inside the library */
int sm_call_op2(int x);	      /* static_call(sm_op2)(x), inside the library */
int sm_update_op(sm_fn_t *f); /* static_call_update(sm_op, f) from there */
sm_fn_t *sm_query_op(void);   /* static_call_query(sm_op) from there */

/* Defined in the executable (initial target: x - 1), used by the library. */
DECLARE_STATIC_CALL(ex_op, sm_fn_t);

int sm_call_ex_op(int x);
int sm_update_ex_op(sm_fn_t *f);
sm_fn_t *sm_query_ex_op(void);

/* The module loaded with dlopen() (dl_mod.c), looked up with dlsym(). */
#define DLM_KEY_SYM "__SCK__dlm_op"
#define DLM_TRAMP_SYM "__SCT__dlm_op"
typedef int dlm_call_fn(int);	   /* dlm_call: static_call(dlm_op) */
typedef int dlm_set_fn(sm_fn_t *); /* dlm_set: update from the module */

#endif
