/* SPDX-License-Identifier: MIT */
/*
 * Run under gdb with tools/staticcall.gdb by run.sh (tests/gdb): a static
 * key toggled with the int3 protocol while reader threads run its sites
 * (transient traps, at random), and a trap that is certain on every
 * toggle: the trace hook, called with the int3 on the site, runs the site
 * itself (gdb_probe()), on the patching thread, which only the library's
 * handler can get past.  The application's own SIGTRAP handler must still
 * get its traps (raise() and an int3 of its own).  Prints "gdb_prog: ok"
 * and exits 0 if every result was right.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <staticcall.h>

#define TOGGLES 40
#define READERS 2

DEFINE_STATIC_KEY_FALSE(gdb_key);

static _Atomic int stop, armed;
static _Atomic unsigned long reads, app_traps;
static int probe_result = -1;

/* The site.  (A gdb breakpoint ON the site would be an int3 of gdb's in
 * the middle of the library's code: the library finds bytes it did not
 * write there and refuses to patch it.  run.sh breaks next to it.) */
__attribute__((noinline)) int gdb_probe(void)
{
	if (static_branch_unlikely(&gdb_key))
		return 1;
	return 0;
}

/* Where run.sh sets its breakpoints. */
__attribute__((noinline)) void gdb_before_probe(void) { __asm__(""); }
__attribute__((noinline)) void gdb_reader_tick(void) { __asm__(""); }

static void hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)nr;
	if (atomic_load(&armed) && step == STATIC_CALL_TRACE_INT3) {
		atomic_store(&armed, 0);
		gdb_before_probe();
		probe_result = gdb_probe(); /* int3 there now: traps */
	}
}

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		gdb_probe();
		if (atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed) %
			    256 ==
		    0)
			gdb_reader_tick();
	}
	return NULL;
}

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	atomic_fetch_add(&app_traps, 1);
}

static int fail(const char *what, int err)
{
	printf("gdb_prog: FAILED: %s (%d)\n", what, err);
	return 1;
}

int main(void)
{
	struct static_call_stats st;
	struct sigaction sa;
	pthread_t t[READERS];
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the application's handler, before the library's (it passes the
	 * traps that are not its own on to it) */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGTRAP, &sa, NULL);
	err = static_call_update(static_call_trace_hook, hook);
	if (err)
		return fail("set the trace hook", err);
	for (int i = 0; i < READERS; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < TOGGLES; i++) {
		int on = !(i & 1);
		int tries = 0;
		atomic_store(&armed, 1);
		do /* -EAGAIN: a reader has not started yet (its signals are
		    * blocked until then) */
			err = on ? static_branch_enable(&gdb_key)
				 : static_branch_disable(&gdb_key);
		while (err == -EAGAIN && ++tries < 1000);
		if (err)
			return fail("toggle", err);
		/* the trap was emulated as the new instruction */
		if (probe_result != on)
			return fail("the probe in the window", probe_result);
		if (gdb_probe() != on)
			return fail("the probe after the toggle", on);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	static_call_update(static_call_trace_hook, NULL);

	/* the application's own traps still reach its handler */
	raise(SIGTRAP);
	__asm__ __volatile__("int3");
	if (atomic_load(&app_traps) != 2)
		return fail("application traps", (int)atomic_load(&app_traps));
	static_call_get_stats(&st, sizeof(st));
	if (st.traps_emulated + st.traps_rewound < TOGGLES)
		return fail("traps taken", (int)st.traps_emulated);
	printf("gdb_prog: ok: %d toggles, %llu traps emulated, %llu rewound, "
	       "%lu reads, %lu application traps\n",
	       TOGGLES, st.traps_emulated, st.traps_rewound,
	       atomic_load(&reads), atomic_load(&app_traps));
	return 0;
}
