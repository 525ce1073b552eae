/* SPDX-License-Identifier: MIT */
/*
 * Known sites for tools/staticcall-sites (check-sites.sh), at -O2 with gcc
 * and clang: a call of tool_a in call_a, a call of tool_lib (defined in
 * sites_lib.so, reached through the PLT) in call_lib, and a tail call (jmp)
 * of tool_a in tail_a.  Run, it prints how many sites the library took for
 * each static call, for the script to compare with the tool's listing.
 */
#include <stdio.h>

#include "sites_lib.h"

int tool_one(int x) { return x + 1; }

DEFINE_STATIC_CALL(tool_a, tool_one);

__attribute__((noinline)) int call_a(int x)
{
	return static_call(tool_a)(x) + 1;
}

__attribute__((noinline)) int call_lib(int x)
{
	return static_call(tool_lib)(x) * 3;
}

__attribute__((noinline)) int tail_a(int x) { return static_call(tool_a)(x); }

int main(int argc, char **argv)
{
	struct static_call_site buf[8];
	int x = argc; /* 1: no constant for the compiler to fold */

	(void)argv;
	printf("tool_a %d\n", static_call_sites(tool_a, buf, 8));
	printf("tool_lib %d\n", static_call_sites(tool_lib, buf, 8));
	if (call_a(x) != 3 || call_lib(x) != 6 || tail_a(x) != 2 ||
	    lib_call(x) != 1) {
		printf("wrong results\n");
		return 1;
	}
	return 0;
}
