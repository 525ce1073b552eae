/* SPDX-License-Identifier: MIT */
/* The executable's definitions (tests/cxx): every DEFINE_* macro in C++. */
#include "cxx.h"

int cx_hits;

namespace cx
{
int add1(int x) { return x + 1; }
int times10(int x) { return x * 10; }
int thrower(int x) { throw oops{x}; }
int pick(int x) { return x + 1000; }
long pick(long x) { return x + 2000; }
} // namespace cx

void cx_count(int by) { cx_hits += by; }

/* a mangled initial target (a function in a namespace) */
DEFINE_STATIC_CALL(cx_op, cx::add1);
DEFINE_STATIC_CALL_NULL(cx_void, void(int));
DEFINE_STATIC_CALL_RET0(cx_ret0, int(const char *, unsigned long));
DEFINE_STATIC_CALL_UNSET(cx_unset, int(int));
DEFINE_STATIC_CALL_UNSET(cx_unset_void, cx_count);
DEFINE_STATIC_CALL_UNSET(cx_start, int(int));
DEFINE_STATIC_KEY_FALSE(cx_kf);
DEFINE_STATIC_KEY_TRUE(cx_kt);
DEFINE_STATIC_KEY_ARRAY_TRUE(cx_kta, 4);
DEFINE_STATIC_KEY_ARRAY_FALSE(cx_kfa, 3);
namespace cx
{
DEFINE_STATIC_KEY_FALSE(ns_key);
}

/* An internal-linkage initial target, and a static call used only here. */
static int triple(int x) { return 3 * x; }
DEFINE_STATIC_CALL(cx_local, triple);

int cx_local_call(int x);
int cx_local_call(int x) { return static_call(cx_local)(x); }
