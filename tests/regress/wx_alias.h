/* SPDX-License-Identifier: MIT */
#ifndef SC_RG_WX_ALIAS_H
#define SC_RG_WX_ALIAS_H
#include <staticcall.h>

DECLARE_STATIC_KEY_FALSE(rg_wx_tf_key);
int rg_wx_tf_probe(void);
#endif
