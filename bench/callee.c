/* SPDX-License-Identifier: MIT */
/* A call target in a shared object: the executable reaches it through its
 * PLT (and a static call reaches it through the far trampoline form). */
#include "calls.h"

long bench_lib_target(long x)
{
	__asm__ volatile("" : "+r"(x));
	return x + 1;
}
