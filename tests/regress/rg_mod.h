/* SPDX-License-Identifier: MIT */
/*
 * rg_mod.c: a plug-in the regression tests dlopen(): sites of the
 * executable's key rg_exe_key, a key and a static call of its own.  Built
 * plain (sc_rg_mod, sc_rg_mod2: two files, two handles) and linked for
 * inline call sites (sc_rg_mod_inline).
 */
#ifndef SC_RG_MOD_H
#define SC_RG_MOD_H

#include <staticcall.h>

DECLARE_STATIC_KEY_FALSE(rg_exe_key);

/* Resolved with dlsym(); typedefs for the casts. */
typedef int rgm_probe_fn(void);	   /* rgm_probe_exe, rgm_probe_own */
typedef int rgm_call_fn(int x);	   /* rgm_call: x * 4 + 1 (A) or + 2 (B) */
typedef int rgm_update_fn(int k);  /* rgm_update: 0 A, 1 B, 2 NULL-ish
				   * (static_call_return0): returns the
				   * update's result */
typedef int rgm_toggle_fn(int on); /* rgm_toggle: the module's own key */

/* Target k of rgm_call(x) from its result; -1 if none. */
static inline int rgm_decode(int x, int r)
{
	if (r == 0)
		return 2;
	if (r == x * 4 + 1)
		return 0;
	if (r == x * 4 + 2)
		return 1;
	return -1;
}

#endif
