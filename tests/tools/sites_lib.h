/* SPDX-License-Identifier: MIT */
/* A static call defined in sites_lib.so, called from sites_prog. */
#ifndef SITES_LIB_H
#define SITES_LIB_H

#include <staticcall.h>

int lib_target(int x);
int lib_call(int x);
DECLARE_STATIC_CALL(tool_lib, lib_target);

#endif
