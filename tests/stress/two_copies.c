/* SPDX-License-Identifier: MIT */
/*
 * Two copies of libstaticcall in one process.  Two shared objects (the
 * same module, two_copies_mod.c, built twice) each link libstaticcall.a
 * and export nothing of it (-Wl,--exclude-libs,ALL), each with its own
 * static calls and static key; this program loads both with dlopen()
 * (RTLD_LOCAL) and does not link the library itself.  In each copy an
 * updater thread retargets the static calls and toggles the key, in
 * single updates and batches, while a caller thread and a key reader
 * check every result (stress.h).  Meanwhile the program raise()s
 * SIGTRAP and executes int3 instructions of its own, which its own
 * SIGTRAP handler, installed before either copy's, must receive: each
 * copy installs its SIGTRAP handler on top of whatever is there and
 * passes on the traps that are not its own.
 *
 * ctest runs it with the default protocol (page flips: no copy installs
 * a handler at all), with STATICCALL_PROTOCOL=store (static key sites
 * use int3), with STATICCALL_PROTOCOL=int3 and with the mprotect writer
 * as well (each copy then installs a SIGSEGV handler too).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch.h"
#include "proc.h"
#include "two_copies.h"

#ifndef TC_MOD_A
#error "TC_MOD_A, TC_MOD_B: the paths of the two modules"
#endif

#define TRAP_SI_KERNEL SC_TEST_BRK_SICODE /* a user-mode int3 or BRK */

static _Atomic unsigned long app_int3, app_raised, app_other;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	if (si->si_code == TRAP_SI_KERNEL) {
		atomic_fetch_add(&app_int3, 1); /* continue after the int3 */
		sc_test_skip_brk(uc);
	} else if (si->si_code == SI_TKILL || si->si_code == SI_USER)
		atomic_fetch_add(&app_raised, 1);
	else
		atomic_fetch_add(&app_other, 1);
}

static const struct tc_api *load(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	tc_get_api_fn *get;

	if (!h) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return NULL;
	}
	get = (tc_get_api_fn *)dlsym(h, "tc_get_api");
	return get ? get() : NULL;
}

/* Which module the current SIGTRAP handler lives in. */
static const char *trap_owner(void)
{
	struct sigaction sa;
	Dl_info info;

	sigaction(SIGTRAP, NULL, &sa);
	if (sa.sa_sigaction == app_handler)
		return "the application";
	if (dladdr((void *)sa.sa_sigaction, &info) && info.dli_fname) {
		const char *s = strrchr(info.dli_fname, '/');
		return s ? s + 1 : info.dli_fname;
	}
	return "?";
}

static void report(const struct tc_api *c, const struct tc_report *r)
{
	printf("  copy %s: calls=%lu key_reads=%lu updates=%lu batches=%lu "
	       "toggles=%lu errors=%lu (first %s) traps_emulated=%llu "
	       "traps_rewound=%llu traps_passed_on=%llu writes: procmem=%llu "
	       "mprotect=%llu view=%llu segv_waits=%llu unchecked=%lu "
	       "wrong=%lu\n",
	       c->name, r->calls, r->key_calls, r->updates, r->batches,
	       r->toggles, r->errors,
	       r->first_err ? strerror(-r->first_err) : "-", r->traps_emulated,
	       r->traps_rewound, r->traps_foreign, r->writes_procmem,
	       r->writes_mprotect, r->writes_view, r->segv_waits, r->unknown,
	       r->wrong + r->key_wrong);
}

static void test_two_copies(void **state)
{
	const struct tc_api *a, *b;
	struct tc_report ra, rb;
	struct sigaction sa;
	unsigned long raises = 0, int3s = 0;
	double end;
	(void)state;

	/* the application's handler first, then the copies' */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_handler;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGTRAP, &sa, NULL), 0);

	a = load(TC_MOD_A);
	b = load(TC_MOD_B);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal(a->start(1), 0);
	assert_int_equal(b->start(2), 0);
	assert_int_equal(sc_test_wait_unblocked(), 0);
	a->go();
	b->go();

	end = sc_now() + sc_test_seconds(2.0);
	while (sc_now() < end) {
		raise(SIGTRAP);
		raises++;
		sc_test_app_brk(0);
		int3s++;
		usleep(200);
	}
	a->stop(&ra);
	b->stop(&rb);

	report(a, &ra);
	report(b, &rb);
	printf("  application: raise(SIGTRAP) %lu, received %lu; int3 %lu, "
	       "received %lu; other %lu; SIGTRAP handler now in %s\n",
	       raises, atomic_load(&app_raised), int3s, atomic_load(&app_int3),
	       atomic_load(&app_other), trap_owner());

	assert_int_equal(atomic_load(&app_raised), raises);
	assert_int_equal(atomic_load(&app_int3), int3s);
	assert_int_equal(atomic_load(&app_other), 0);
	for (int c = 0; c < 2; c++) {
		const struct tc_report *r = c ? &rb : &ra;
		assert_int_equal(r->wrong + r->key_wrong, 0);
		assert_int_equal(r->errors, 0);
		assert_true(r->calls > 0);
		assert_true(r->key_calls > 0);
		assert_true(r->updates > 0);
		assert_true(r->toggles > 0);
	}
	/* every foreign trap went through at least one copy, where the
	 * copies patch with int3 (and so installed their handlers): the key
	 * sites do under the store protocol, unless they are stored in place
	 * like a trampoline's (aarch64) */
	const char *proto = getenv("STATICCALL_PROTOCOL");
	if (proto && (!strcmp(proto, "int3") ||
		      (!strcmp(proto, "store") && !SC_TEST_KEYS_STORED)))
		assert_true(ra.traps_foreign + rb.traps_foreign >=
			    raises + int3s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_copies),
	};

	sc_test_watchdog(5 * sc_test_seconds(2.0) + 60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
