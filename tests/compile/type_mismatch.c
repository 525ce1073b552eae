/* SPDX-License-Identifier: MIT */
/*
 * Compile-time type checking of new targets.  Built only with -fsyntax-only
 * or -c by the tests in CMakeLists.txt here:
 *
 *   -DGOOD            every accepted form; must compile with -Werror
 *   -DBAD_<case>      one wrong target; must fail to compile, whatever the
 *                     warning flags, with a diagnostic saying "incompatible"
 */
#include <stddef.h>
#include <stdlib.h>

#include <staticcall.h>

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }
static void hit(int x) { (void)x; }

/* the wrong ones */
__attribute__((unused)) static long ret_long(int x) { return x; }
__attribute__((unused)) static int arg_long(long x) { return (int)x; }
__attribute__((unused)) static int two_args(int x, int y) { return x + y; }
__attribute__((unused)) static int arg_ptr(int *x) { return *x; }
__attribute__((unused)) static int ret_void_call(int x) { return x; }

DEFINE_STATIC_CALL(cf_op, add1);
DEFINE_STATIC_CALL_NULL(cf_void, hit);
DEFINE_STATIC_CALL_RET0(cf_ret0, add1);

int cf_updates(void);

int cf_updates(void)
{
	struct static_call_batch_entry ents[8];
	struct static_call_batch b;
	int err = 0;

	static_call_batch_init(&b, ents, 8);
#if defined(GOOD)
	err |= static_call_update(cf_op, add2);
	err |= static_call_update(cf_op, NULL);
	err |= static_call_update(cf_op, static_call_return0);
	err |= static_call_update(cf_op, abs); /* __attribute__((const)) */
	err |= static_call_update(cf_op, &add1);
	err |= static_call_update(cf_void, hit);
	err |= static_call_update(cf_void, NULL);
	err |= static_call_update(cf_ret0, static_call_return0);
	err |= static_call_update(cf_op, (void *)arg_long); /* escape hatch */
	err |= static_call_batch_add(&b, cf_op, add2);
	err |= static_call_batch_add(&b, cf_op, abs);
	err |= static_call_batch_add(&b, cf_void, NULL);
	err |= static_call_batch_add(&b, cf_ret0, static_call_return0);
#elif defined(BAD_UPDATE_RET)
	err |= static_call_update(cf_op, ret_long);
#elif defined(BAD_UPDATE_ARG)
	err |= static_call_update(cf_op, arg_long);
#elif defined(BAD_UPDATE_ARITY)
	err |= static_call_update(cf_op, two_args);
#elif defined(BAD_UPDATE_PTR_ARG)
	err |= static_call_update(cf_op, arg_ptr);
#elif defined(BAD_UPDATE_VOID)
	err |= static_call_update(cf_void, ret_void_call);
#elif defined(BAD_UPDATE_INT)
	err |= static_call_update(cf_op, 1);
#elif defined(BAD_BATCH_RET)
	err |= static_call_batch_add(&b, cf_op, ret_long);
#elif defined(BAD_BATCH_ARG)
	err |= static_call_batch_add(&b, cf_ret0, arg_long);
#else
#error "define GOOD or one BAD_* case"
#endif
	return err | static_call_batch_commit(&b);
}
