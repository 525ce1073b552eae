/* SPDX-License-Identifier: MIT */
/* The call-cost loops that live in their own translation units, compiled
 * with their own flags (see CMakeLists.txt). */
#ifndef BENCH_CALLS_H
#define BENCH_CALLS_H

/* calls_retpoline.c: compiled with retpolines (-mindirect-branch=thunk for
 * gcc, -mretpoline for clang). */
long run_fp_retpoline(long n);
long run_rand_fp_retpoline(long n);
/* calls_switch.c: compiled with -fno-jump-tables, so that choosing one of
 * eight calls is a chain of conditional branches, not an indirect jump. */
long run_rand_switch_direct(long n);
long run_rand_switch_static(long n); /* trampolines (bench_tramp) */
long run_rand_switch_inline(long n); /* inline sites (static_call) */
/* The eight static calls of the switch, for the check of their sites. */
struct static_call_key;
extern struct static_call_key *const bench_switch_keys[8];
/* callee.c, a shared object: called through the PLT. */
long bench_lib_target(long x);

#endif
