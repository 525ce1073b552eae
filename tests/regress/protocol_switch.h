/* SPDX-License-Identifier: MIT */
#ifndef SC_RG_PROTOCOL_SWITCH_H
#define SC_RG_PROTOCOL_SWITCH_H
#include <staticcall.h>

/* protocol_switch_b.c: a static call whose trampoline page is its own
 * translation unit's; its result is x * 8 + k (k = 1, 2) or 0. */
int ps_call2(int x);
int ps_update2(int k); /* 0 A, 1 B, 2 RET0 */
#endif
