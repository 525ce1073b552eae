/* SPDX-License-Identifier: MIT */
/* The README example, compiled and run as a test. */
#include <stdio.h>

#include <staticcall.h>

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }

DEFINE_STATIC_CALL(my_op, add1);

int main(void)
{
	printf("%d\n", static_call(my_op)(40));	  /* 41: a direct call */
	if (static_call_update(my_op, add2) != 0) /* live, thread-safe */
		return 1;
	printf("%d\n", static_call(my_op)(40)); /* 42 */
	return 0;
}
