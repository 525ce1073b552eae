/* SPDX-License-Identifier: MIT */
/* The shared library sc_testmod: see shared_mod.h. */
#include "shared_mod.h"

static int sm_initial(int x) { return x + 100; }
int sm_double(int x) { return 2 * x; }

DEFINE_STATIC_CALL(sm_op, sm_initial);
DEFINE_STATIC_CALL(sm_op2, sm_double);

int sm_call_op(int x) { return static_call(sm_op)(x); }
int sm_call_op2(int x) { return static_call(sm_op2)(x); }
int sm_update_op(sm_fn_t *f) { return static_call_update(sm_op, f); }
sm_fn_t *sm_query_op(void) { return static_call_query(sm_op); }

int sm_call_ex_op(int x) { return static_call(ex_op)(x); }
int sm_update_ex_op(sm_fn_t *f) { return static_call_update(ex_op, f); }
sm_fn_t *sm_query_ex_op(void) { return static_call_query(ex_op); }
