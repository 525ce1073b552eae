/* SPDX-License-Identifier: MIT */
#ifndef SC_CALLGRIND_INLINE_H
#define SC_CALLGRIND_INLINE_H

/* targets.c: ci_t0(x) = x + 1, ci_t1(x) = x + 2, two instructions each. */
long ci_t0(long x);
long ci_t1(long x);

#endif
