/* SPDX-License-Identifier: MIT */
/* Loaded with dlopen() by test_keys_dl: branch sites of a key that lives in
 * the executable, and a key of its own. */
#include "keys_mod.h"

DEFINE_STATIC_KEY_TRUE(km_own_key);

__attribute__((noinline)) int km_probe(void)
{
	int r = 0;

	if (static_branch_unlikely(&km_key))
		r |= 1;
	if (static_branch_likely(&km_key))
		r |= 2;
	if (static_branch_likely(&km_own_key))
		r |= 4;
	return r;
}
