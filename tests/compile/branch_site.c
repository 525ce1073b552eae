/* SPDX-License-Identifier: MIT */
/* Compiled by branch_site.sh at every optimisation level, as C and as C++:
 * the branch site must be a 5-byte nop (or jmp), with no load or test of
 * the key. */
#include <staticcall.h>

#ifdef __cplusplus
extern "C" { /* unmangled names, for branch_site.sh */
#endif
DECLARE_STATIC_KEY_FALSE(site_key);
int slow_path(int);
int probe(int x);
#ifdef __cplusplus
}
#endif

int probe(int x)
{
	if (static_branch_unlikely(&site_key))
		return slow_path(x);
	return x + 1;
}
