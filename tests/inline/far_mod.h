/* SPDX-License-Identifier: MIT */
/* far.c's shared library: call sites of the executable's static call
 * f_op, reached through the library's PLT. */
#ifndef SC_FAR_MOD_H
#define SC_FAR_MOD_H

#include <staticcall.h>

typedef int far_fn_t(int x);
DECLARE_STATIC_CALL(f_op, far_fn_t);

int fm_call(int x); /* a call site */
int fm_tail(int x); /* a tail site (at -O2) */
int fm_near(int x); /* a target in the library: x + 11 */

#endif
