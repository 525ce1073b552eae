/* SPDX-License-Identifier: MIT */
/*
 * DEFINE_STATIC_CALL_UNSET: what a call reaches before the first update.
 *
 * The header emits a small stub per such static call that passes the
 * static call's name and its own return address here.  We print one line
 * to stderr, always (like a failed assert(): the print callback may be
 * silenced or slow, and the process is about to die), and abort.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

void __static_call_unset(const char *name, void *ret)
{
	char line[512], where[256] = "";
	Dl_info info;
	int n;

	if (dladdr(ret, &info) && info.dli_fname) {
		if (info.dli_sname)
			snprintf(where, sizeof(where), " (%s+0x%lx in %s)",
				 info.dli_sname,
				 (unsigned long)((uintptr_t)ret -
						 (uintptr_t)info.dli_saddr),
				 info.dli_fname);
		else
			snprintf(where, sizeof(where), " (%s+0x%lx)",
				 info.dli_fname,
				 (unsigned long)((uintptr_t)ret -
						 (uintptr_t)info.dli_fbase));
	}
	n = snprintf(line, sizeof(line),
		     "libstaticcall: static call '%s' called before "
		     "static_call_update() gave it a target "
		     "(DEFINE_STATIC_CALL_UNSET); return address %p%s\n",
		     name ? name : "?", ret, where);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		n = 0; /* nowhere else to say it */
	abort();
}
