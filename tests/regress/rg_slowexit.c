/* SPDX-License-Identifier: MIT */
/* Linked to regress_exit_toggle: a library whose destructor runs after the
 * executable's (dependencies are finalised after their users) and takes
 * 300 ms, so that other threads keep running while exit() goes on. */
#include <unistd.h>

__attribute__((visibility("default"))) int rg_slowexit_linked(void)
{
	return 1;
}

__attribute__((destructor)) static void rg_slowexit(void) { usleep(300000); }
