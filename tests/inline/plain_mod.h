/* SPDX-License-Identifier: MIT */
/* undiscovered.c's library, linked WITHOUT staticcall_inline(): its call
 * sites are not in any site table. */
#ifndef SC_PLAIN_MOD_H
#define SC_PLAIN_MOD_H

#include <staticcall.h>

typedef int u_fn_t(int x);

/* Defined in the executable, called here through the PLT. */
DECLARE_STATIC_CALL(u_op, u_fn_t);
int pm_call_u(int x); /* a call site */
int pm_tail_u(int x); /* a tail site */

/* Defined here (initial target x + 5), called here and from the
 * executable. */
DECLARE_STATIC_CALL(pm_op, u_fn_t);
int pm_call_own(int x);

#endif
