/* SPDX-License-Identifier: MIT */
/* A module that test_shared loads with dlopen(): it defines its own static
 * call, dlm_op, found by the executable through dlsym(). */
#include "shared_mod.h"

static int dlm_initial(int x) { return 10 * x; }
int dlm_triple(int x) { return 3 * x; }

DEFINE_STATIC_CALL(dlm_op, dlm_initial);

int dlm_call(int x) { return static_call(dlm_op)(x); }
int dlm_set(sm_fn_t *f) { return static_call_update(dlm_op, f); }
