/* SPDX-License-Identifier: MIT */
/*
 * Two copies of libstaticcall in one process: the interface of the test
 * module (two_copies_mod.c, built twice, each with libstaticcall.a linked
 * in and none of its symbols exported) to the program that loads both
 * (two_copies.c), which does not link the library at all.
 */
#ifndef SC_TWO_COPIES_H
#define SC_TWO_COPIES_H

struct tc_report {
	unsigned long calls, wrong, unknown, key_calls, key_wrong;
	unsigned long updates, batches, toggles, errors;
	int first_err;
	unsigned long long traps_emulated, traps_rewound, traps_foreign;
	unsigned long long writes_procmem, writes_mprotect, writes_view;
	unsigned long long segv_waits;
};

struct tc_api {
	const char *name;
	/* Start a caller thread, a static key reader and an updater thread
	 * (which waits for go()); 0 or -errno. */
	int (*start)(unsigned int seed);
	void (*go)(void);
	/* Stop the threads and report. */
	void (*stop)(struct tc_report *r);
	/* One update from the calling thread; 0 or -errno. */
	int (*update)(void);
};

/* The one symbol each module exports. */
const struct tc_api *tc_get_api(void);
typedef const struct tc_api *tc_get_api_fn(void);

#endif
