/* SPDX-License-Identifier: MIT */
/* One call site, to a trampoline of its own (a direct call). */
#include "sites_lib.h"

int lib_target(int x) { return 2 * x; }

DEFINE_STATIC_CALL(tool_lib, lib_target);

int lib_call(int x) { return static_call(tool_lib)(x) - 1; }
