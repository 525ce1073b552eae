/* SPDX-License-Identifier: MIT */
#include <staticcall.h>

#include "greet.h"

static int plus1(int x) { return x + 1; }
static int plus2(int x) { return x + 2; }

DEFINE_STATIC_CALL(greet_op, plus1);

int greet(int x) { return static_call(greet_op)(x); }
int greet_upgrade(void) { return static_call_update(greet_op, plus2); }
