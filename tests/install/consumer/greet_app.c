/* SPDX-License-Identifier: MIT */
/* A program that links a library built on libstaticcall (libgreet), not
 * libstaticcall itself: prints 41 and 42 like examples/hello.c. */
#include <stdio.h>

#include "greet.h"

int main(void)
{
	printf("%d\n", greet(40));
	if (greet_upgrade() != 0)
		return 1;
	printf("%d\n", greet(40));
	return 0;
}
