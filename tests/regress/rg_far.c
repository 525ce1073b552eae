/* SPDX-License-Identifier: MIT */
/* A shared library linked to regress_far_null: its function is a target
 * more than 2 GiB away from the PIE executable's trampoline. */
#include <stdatomic.h>

__attribute__((visibility("default"))) _Atomic unsigned long rg_far_hits;

__attribute__((visibility("default"), noinline)) void rg_far_hit(void)
{
	atomic_fetch_add_explicit(&rg_far_hits, 1, memory_order_relaxed);
}
