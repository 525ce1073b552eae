/* SPDX-License-Identifier: MIT */
/* A key defined in the test executable, used by a dlopen()ed module. */
#ifndef KEYS_MOD_H
#define KEYS_MOD_H
#include <staticcall.h>

DECLARE_STATIC_KEY_FALSE(km_key);
/* the module's own key, defined there */
DECLARE_STATIC_KEY_TRUE(km_own_key);

int km_probe(void); /* in the module: 2 bits, unlikely and likely form */
#endif
