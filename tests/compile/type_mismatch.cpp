/* SPDX-License-Identifier: MIT */
/*
 * Compile-time type checking of new targets in C++ (the counterpart of
 * type_mismatch.c; CMakeLists.txt here builds it):
 *
 *   -DGOOD            every accepted form; must compile with -Werror
 *                     (-DNO_ZERO: without the literal 0 target, for
 *                     -Wzero-as-null-pointer-constant)
 *   -DBAD_<case>      one wrong target; must fail to compile, whatever the
 *                     warning flags, with the static_assert's message
 */
#include <cstddef>
#include <cstdlib>

#include <staticcall.h>

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }
static void hit(int x) { (void)x; }
namespace ns
{
int twice(int x);
int twice(int x) { return 2 * x; }
} // namespace ns

/* the wrong ones */
__attribute__((unused)) static long ret_long(int x) { return x; }
__attribute__((unused)) static int arg_long(long x)
{
	return static_cast<int>(x);
}
__attribute__((unused)) static int two_args(int x, int y) { return x + y; }
__attribute__((unused)) static int arg_ptr(int *x) { return *x; }
__attribute__((unused)) static int ret_void_call(int x) { return x; }
__attribute__((unused)) static int may_throw(int x) { return x; }

/* overloads: an update takes the one of the call's type */
__attribute__((unused)) static int over(int x) { return x; }
__attribute__((unused)) static int over(long x) { return static_cast<int>(x); }
__attribute__((unused)) static int nothrow(int x) noexcept { return x; }

DEFINE_STATIC_CALL(cf_op, add1);
DEFINE_STATIC_CALL_NULL(cf_void, hit);
DEFINE_STATIC_CALL_RET0(cf_ret0, add1);
DEFINE_STATIC_CALL_UNSET(cf_unset, int(int));
DEFINE_STATIC_CALL(cf_nothrow, nothrow);
DEFINE_STATIC_KEY_FALSE(cf_key);

int cf_updates(void);

int cf_updates(void)
{
	struct static_call_batch_entry ents[8];
	struct static_call_batch b;
	int err = 0;

	static_call_batch_init(&b, ents, 8);
#if defined(GOOD)
	err |= static_call_update(cf_op, add2);
	err |= static_call_update(cf_op, &add1);
	err |= static_call_update(cf_op, ns::twice);
	err |= static_call_update(cf_op, std::abs); /* an overload set */
	err |= static_call_update(cf_op, over);
	err |= static_call_update(cf_op, nothrow); /* noexcept into a call
						    * that may throw */
	err |= static_call_update(cf_op, nullptr);
	err |= static_call_update(cf_op, NULL);
#ifndef NO_ZERO
	err |= static_call_update(cf_op, 0);
#endif
	err |= static_call_update(cf_op, static_call_return0);
	/* escape hatch, as in C: a void * */
	err |= static_call_update(cf_op, reinterpret_cast<void *>(&arg_long));
	err |= static_call_update(cf_void, hit);
	err |= static_call_update(cf_void, nullptr);
	err |= static_call_update(cf_ret0, static_call_return0);
	err |= static_call_update(cf_unset, add1);
	err |= static_call_update(cf_nothrow, nothrow);
	err |= static_call_batch_add(&b, cf_op, add2);
	err |= static_call_batch_add(&b, cf_op, over);
	err |= static_call_batch_add(&b, cf_void, nullptr);
	err |= static_call_batch_add(&b, cf_ret0, static_call_return0);
	err |= static_branch_batch_enable(&b, &cf_key);
	err |= static_call_query(cf_op) == nullptr;
	err |= static_call_query(cf_unset) == &add1;
	err |= static_branch_unlikely(&cf_key);
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
#elif defined(BAD_UPDATE_CONST_VOIDP)
	err |= static_call_update(
		cf_op, static_cast<const void *>(static_call_return0));
#elif defined(BAD_UPDATE_NOEXCEPT)
	err |= static_call_update(cf_nothrow, may_throw);
#elif defined(BAD_BATCH_RET)
	err |= static_call_batch_add(&b, cf_op, ret_long);
#elif defined(BAD_BATCH_ARG)
	err |= static_call_batch_add(&b, cf_ret0, arg_long);
#elif defined(BAD_BATCH_NOEXCEPT)
	err |= static_call_batch_add(&b, cf_nothrow, may_throw);
#elif defined(BAD_KEY_TYPE)
	err |= static_branch_likely(&err);
#else
#error "define GOOD or one BAD_* case"
#endif
	return err | static_call_batch_commit(&b);
}
