/* SPDX-License-Identifier: MIT */
/* The shared library of the C++ test (PIC, linked with staticcall_inline):
 * its own static calls and keys, and sites of the executable's. */
#include "cxx.h"

static int lib_neg(int x) { return -x; }

DEFINE_STATIC_CALL(cxl_op, lib_neg);
DEFINE_STATIC_CALL_UNSET(cxl_unset, int(int));
DEFINE_STATIC_KEY_FALSE(cxl_key);
DEFINE_STATIC_KEY_ARRAY_TRUE(cxl_kta, 2);

int cxl_call(int x) { return static_call(cxl_op)(x); }
int cxl_call_cx(int x) { return static_call(cx_op)(x); }
int cxl_branches(void) { return cx_branches(); }
int cxl_arrays(void) { return cx_arrays(); }
int cxl_call_unset(int x) { return static_call(cxl_unset)(x) + 1; }
