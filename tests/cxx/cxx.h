/* SPDX-License-Identifier: MIT */
/*
 * The C++ test program (tests/cxx): what its translation units and its
 * shared library share.  Static calls and keys are declared here and
 * defined in cxx_def.cpp (the executable) or cxx_lib.cpp (the library);
 * the inline functions, the class and the template below put static call
 * and static branch sites into both modules (in the library, PIC code,
 * where they are vague-linkage functions).
 */
#ifndef SC_CXX_H
#define SC_CXX_H

#include <staticcall.h>

namespace cx
{
int add1(int x);
int times10(int x);
int thrower(int x); /* throws cx::oops(x) */
struct oops {
	int v;
};
/* two overloads: an update picks the one of the call's type */
int pick(int x);
long pick(long x);
} // namespace cx

void cx_count(int by); /* adds to cx_hits */
extern int cx_hits;

/* Defined in cxx_def.cpp (the executable). */
DECLARE_STATIC_CALL(cx_op, cx::add1);
DECLARE_STATIC_CALL(cx_void, void(int)); /* a type, no typedef */
DECLARE_STATIC_CALL(cx_ret0, int(const char *, unsigned long));
DECLARE_STATIC_CALL(cx_unset, int(int));
DECLARE_STATIC_CALL(cx_unset_void, cx_count);
DECLARE_STATIC_CALL(cx_start, int(int)); /* UNSET, set before main() */
DECLARE_STATIC_KEY_FALSE(cx_kf);
DECLARE_STATIC_KEY_TRUE(cx_kt);
DECLARE_STATIC_KEY_ARRAY_TRUE(cx_kta, 4);
DECLARE_STATIC_KEY_ARRAY_FALSE(cx_kfa, 3);
namespace cx
{
DECLARE_STATIC_KEY_FALSE(ns_key); /* a key in a namespace */
}

/* Defined in cxx_lib.cpp (the shared library). */
DECLARE_STATIC_CALL(cxl_op, int(int));
DECLARE_STATIC_CALL(cxl_unset, int(int));
DECLARE_STATIC_KEY_FALSE(cxl_key);
DECLARE_STATIC_KEY_ARRAY_TRUE(cxl_kta, 2);
int cxl_call(int x);	   /* static_call(cxl_op)(x) */
int cxl_call_cx(int x);	   /* static_call(cx_op)(x), from the library */
int cxl_branches(void);	   /* cx_branches() compiled into the library */
int cxl_arrays(void);	   /* cx_arrays() compiled into the library */
int cxl_call_unset(int x); /* static_call(cxl_unset)(x) + 1 */

/* Sites in inline functions, a class and a template: in each module that
 * uses them (vague linkage). */
inline int cx_branches(void)
{
	int r = 0;

	if (static_branch_unlikely(&cx_kf))
		r |= 1;
	if (static_branch_likely(&cx_kt))
		r |= 2;
	if (static_branch_unlikely(&cxl_key))
		r |= 4;
	if (static_branch_unlikely(&cx::ns_key))
		r |= 8;
	return r;
}

template <int I> inline int cx_array_bit(void)
{
	return static_branch_likely(&cx_kta[I]) ? 1 << I : 0;
}

template <int I> inline int cx_false_bit(void)
{
	return static_branch_unlikely(&cx_kfa[I]) ? 1 << I : 0;
}

/* Bits 0-3: cx_kta[0..3]; bits 4-6: cx_kfa[0..2]; bits 7-8: cxl_kta. */
inline int cx_arrays(void)
{
	return cx_array_bit<0>() | cx_array_bit<1>() | cx_array_bit<2>() |
	       cx_array_bit<3>() | cx_false_bit<0>() << 4 |
	       cx_false_bit<1>() << 4 | cx_false_bit<2>() << 4 |
	       (static_branch_likely(&cxl_kta[0]) ? 1 << 7 : 0) |
	       (static_branch_likely(&cxl_kta[1]) ? 1 << 8 : 0);
}

class cx_widget
{
      public:
	explicit cx_widget(int base) : base_(base) {}
	/* a member function defined in the class: inline */
	int run(int x) const
	{
		if (static_branch_unlikely(&cx_kf))
			return -static_call(cx_op)(x + base_);
		return static_call(cx_op)(x + base_);
	}

      private:
	int base_;
};

#endif
