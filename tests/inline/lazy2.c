/* SPDX-License-Identifier: MIT */
/* lazy.c's second static call, in a translation unit of its own: its key
 * and its trampoline both come after l_op1's (link order). */
#include <staticcall.h>

typedef int l_fn_t(int x);

__attribute__((noinline)) int l_id2(int x) { return x; }

DEFINE_STATIC_CALL(l_op2, l_id2);
