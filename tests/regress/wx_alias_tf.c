/* SPDX-License-Identifier: MIT */
/* A key site built for trap-free toggling (STATICCALL_KEYS_TRAPFREE is
 * defined for this file), for regress_wx_alias. */
#include "wx_alias.h"

DEFINE_STATIC_KEY_FALSE(rg_wx_tf_key);

__attribute__((noinline)) int rg_wx_tf_probe(void)
{
	return static_branch_unlikely(&rg_wx_tf_key) ? 1 : 0;
}
