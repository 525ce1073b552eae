/* SPDX-License-Identifier: MIT */
/*
 * Static calls across modules: one defined in a shared library and used
 * (called, updated, queried) from the executable; one defined in the
 * executable and used from the library; one in a module loaded with
 * dlopen(), reached through dlsym(); and a batch spanning all three.  Built
 * twice: against libstaticcall.so (test_shared) and against libstaticcall.a
 * linked into the executable, whose exports serve the modules
 * (test_shared_static).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "common.h"
#include "shared_mod.h"

#ifndef SC_DLMOD_PATH
#error "SC_DLMOD_PATH: the path of the dlopen() test module"
#endif

static int ex_initial(int x) { return x - 1; }
static int ex_neg(int x) { return -x; }
static int ex_add7(int x) { return x + 7; }

DEFINE_STATIC_CALL(ex_op, ex_initial);

/* ------------------------------------------------------------------------
 * Defined in the library, used from here
 * ------------------------------------------------------------------------ */
static void test_library_call_from_executable(void **state)
{
	(void)state;
	assert_int_equal(static_call(sm_op)(1), 101);
	assert_int_equal(sm_call_op(1), 101);
	assert_ptr_equal(static_call_query(sm_op), sm_query_op());

	/* updated here: the library's own call sites follow */
	assert_int_equal(static_call_update(sm_op, ex_neg), 0);
	assert_int_equal(static_call(sm_op)(5), -5);
	assert_int_equal(sm_call_op(5), -5);
	assert_ptr_equal(static_call_query(sm_op), ex_neg);
	assert_ptr_equal(sm_query_op(), ex_neg);

	/* a target inside the library itself */
	assert_int_equal(static_call_update(sm_op, sm_double), 0);
	assert_int_equal(static_call(sm_op)(5), 10);
	assert_int_equal(sm_call_op(5), 10);

	/* updated by the library: seen here */
	assert_int_equal(sm_update_op(ex_add7), 0);
	assert_int_equal(static_call(sm_op)(5), 12);
	assert_ptr_equal(static_call_query(sm_op), ex_add7);

	/* RET0 and a libc target (far from both modules) */
	assert_int_equal(static_call_update(sm_op, static_call_return0), 0);
	assert_int_equal(sm_call_op(5), 0);
	assert_int_equal(static_call_update(sm_op, abs), 0);
	assert_int_equal(sm_call_op(-9), 9);
	assert_int_equal(static_call(sm_op)(-9), 9);

	assert_int_equal(sm_update_op(ex_neg), 0);
	assert_int_equal(sm_call_op(3), -3);
}

/* The initial target is a global function of the library. */
static void test_library_global_initial_target(void **state)
{
	(void)state;
	assert_int_equal(static_call(sm_op2)(21), 42);
	assert_int_equal(sm_call_op2(21), 42);
	assert_ptr_equal(static_call_query(sm_op2), sm_double);
	assert_int_equal(static_call_update(sm_op2, ex_add7), 0);
	assert_int_equal(sm_call_op2(1), 8);
	assert_int_equal(static_call(sm_op2)(1), 8);
	assert_int_equal(static_call_update(sm_op2, sm_double), 0);
	assert_int_equal(sm_call_op2(4), 8);
}

/* ------------------------------------------------------------------------
 * Defined here, used from the library
 * ------------------------------------------------------------------------ */
static void test_executable_call_from_library(void **state)
{
	(void)state;
	assert_int_equal(static_call(ex_op)(10), 9);
	assert_int_equal(sm_call_ex_op(10), 9);
	assert_ptr_equal(sm_query_ex_op(), ex_initial);

	assert_int_equal(static_call_update(ex_op, ex_add7), 0);
	assert_int_equal(sm_call_ex_op(10), 17);
	assert_ptr_equal(sm_query_ex_op(), ex_add7);

	/* a target in the library: the executable's trampoline reaches it */
	assert_int_equal(sm_update_ex_op(sm_double), 0);
	assert_int_equal(static_call(ex_op)(10), 20);
	assert_int_equal(sm_call_ex_op(10), 20);
	assert_ptr_equal(static_call_query(ex_op), sm_double);

	assert_int_equal(sm_update_ex_op(ex_initial), 0);
	assert_int_equal(static_call(ex_op)(10), 9);
}

/* ------------------------------------------------------------------------
 * A module loaded with dlopen()
 * ------------------------------------------------------------------------ */
struct dlm {
	void *h;
	struct static_call_key *key;
	sm_fn_t *tramp;
	dlm_call_fn *call;
	dlm_set_fn *set;
	sm_fn_t *triple;
};

static void dlm_open(struct dlm *m)
{
	m->h = dlopen(SC_DLMOD_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!m->h)
		fail_msg("dlopen %s: %s", SC_DLMOD_PATH, dlerror());
	m->key = dlsym(m->h, DLM_KEY_SYM);
	*(void **)&m->tramp = dlsym(m->h, DLM_TRAMP_SYM);
	*(void **)&m->call = dlsym(m->h, "dlm_call");
	*(void **)&m->set = dlsym(m->h, "dlm_set");
	*(void **)&m->triple = dlsym(m->h, "dlm_triple");
	assert_non_null(m->key);
	assert_non_null(m->tramp);
	assert_non_null(m->call);
	assert_non_null(m->set);
	assert_non_null(m->triple);
	assert_ptr_equal(m->key->tramp, (void *)m->tramp);
}

static void test_dlopen_module(void **state)
{
	struct dlm m;
	(void)state;

	for (int round = 0; round < 2; round++) {
		dlm_open(&m);
		/* fresh module (again, after a dlclose): initial target */
		assert_int_equal(m.call(4), 40);
		assert_int_equal(m.tramp(4), 40);
		assert_non_null(m.key->func);

		/* updated from here, with a target in the module */
		assert_int_equal(__static_call_update(m.key, (void *)m.triple),
				 0);
		assert_int_equal(m.call(4), 12);
		assert_int_equal(m.tramp(4), 12);
		assert_ptr_equal(m.key->func, (void *)m.triple);

		/* a target in the executable */
		assert_int_equal(__static_call_update(m.key, (void *)ex_neg),
				 0);
		assert_int_equal(m.call(4), -4);
		assert_int_equal(m.tramp(4), -4);

		/* updated by the module itself */
		assert_int_equal(m.set(sm_double), 0);
		assert_int_equal(m.call(4), 8);
		assert_ptr_equal(m.key->func, (void *)sm_double);
		assert_int_equal(m.set(NULL), 0);
		assert_null(m.key->func);
		assert_int_equal(m.set(ex_add7), 0);
		assert_int_equal(m.tramp(1), 8);

		assert_int_equal(dlclose(m.h), 0);
	}
	/* the rest is untouched by the unload */
	assert_int_equal(static_call_update(ex_op, ex_add7), 0);
	assert_int_equal(sm_call_ex_op(1), 8);
	assert_int_equal(static_call_update(ex_op, ex_initial), 0);
}

/* One batch over the three modules: one protocol run. */
static void test_batch_across_modules(void **state)
{
	struct static_call_batch_entry ents[4];
	struct static_call_batch b;
	struct static_call_stats before, after;
	struct dlm m;
	(void)state;

	dlm_open(&m);
	assert_int_equal(static_call_update(sm_op, sm_double), 0);
	assert_int_equal(static_call_batch_init(&b, ents, 4), 0);
	assert_int_equal(static_call_batch_add(&b, sm_op, ex_add7), 0);
	assert_int_equal(static_call_batch_add(&b, ex_op, ex_neg), 0);
	assert_int_equal(__static_call_batch_add(&b, m.key, (void *)m.triple),
			 0);
	before = sc_test_stats();
	assert_int_equal(static_call_batch_commit(&b), 0);
	after = sc_test_stats();
	assert_int_equal(after.batches - before.batches, 1);
	assert_int_equal(after.sites_patched - before.sites_patched, 3);
	/* one sync with the trap-free protocol, three with int3 (on aarch64
	 * two when no far slot changed: the targets' distances decide) */
	if (sc_test_int3())
		assert_true(after.syncs - before.syncs >= SC_TEST_INT3_STEPS &&
			    after.syncs - before.syncs <= 3);
	else
		assert_int_equal(after.syncs - before.syncs, 1);
	assert_int_equal(sm_call_op(1), 8);
	assert_int_equal(static_call(sm_op)(1), 8);
	assert_int_equal(sm_call_ex_op(1), -1);
	assert_int_equal(static_call(ex_op)(1), -1);
	assert_int_equal(m.call(5), 15);
	assert_int_equal(dlclose(m.h), 0);
	assert_int_equal(static_call_update(ex_op, ex_initial), 0);
}

/* ------------------------------------------------------------------------
 * Callers in both modules while the executable updates
 * ------------------------------------------------------------------------ */
static _Atomic int stop, running;
static _Atomic long bad, calls;

static int ok(int x, int r) { return r == x + 7 || r == -x || r == 2 * x; }

static void *caller(void *arg)
{
	long n = 0, b = 0;
	(void)arg;

	atomic_fetch_add(&running, 1);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int x = (int)(n & 255);
		b += !ok(x, sm_call_op(x));	    /* inside the library */
		b += !ok(x, static_call(sm_op)(x)); /* here, into the library */
		b += !ok(x, sm_call_ex_op(x));	    /* library, into here */
		if (++n % 256 == 0)
			atomic_fetch_add(&calls, 256);
	}
	atomic_fetch_add(&bad, b);
	atomic_fetch_add(&calls, n % 256);
	return NULL;
}

static void test_concurrent_callers(void **state)
{
	sm_fn_t *targets[] = {ex_add7, ex_neg, sm_double};
	pthread_t t[2];
	(void)state;

	assert_int_equal(static_call_update(sm_op, ex_add7), 0);
	assert_int_equal(static_call_update(ex_op, ex_add7), 0);
	stop = 0;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller, NULL), 0);
	/* updates are fast: make sure the callers run while they happen */
	while (atomic_load(&running) < 2)
		usleep(100);
	double end = sc_now() + 5;
	for (int i = 0;
	     i < 300 || (atomic_load(&calls) < 10000 && sc_now() < end); i++) {
		assert_int_equal(static_call_update(sm_op, targets[i % 3]), 0);
		assert_int_equal(sm_update_ex_op(targets[(i + 1) % 3]), 0);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(bad, 0);
	assert_true(calls > 0);
	assert_int_equal(static_call_update(ex_op, ex_initial), 0);
}

/*
 * After dlclose(), the library forgets the module's sites: an unrelated
 * int3 that later sits at a former site's address is passed on to its
 * owner, not taken for a late trap of ours and re-run forever.
 */
static volatile int app_traps;
static void app_trap(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	sc_test_skip_brk(uc); /* go on to the ret */
	app_traps++;
}

static void test_unloaded_sites_forgotten(void **state)
{
	struct dlm m;
	struct sigaction sa, old;
	uintptr_t site;
	uint8_t *code;
	(void)state;

	if (!sc_test_int3())
		skip(); /* only the int3 protocol records sites */
	dlm_open(&m);
	assert_int_equal(__static_call_update(m.key, (void *)m.triple), 0);
	site = (uintptr_t)m.tramp;
	assert_int_equal(dlclose(m.h), 0);

	/* new code at the same page: int3; ret at the old site */
	code = mmap((void *)(site & ~(uintptr_t)4095), 4096,
		    PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (code == MAP_FAILED)
		skip(); /* the address was taken again meanwhile */
	memset(code, SC_TEST_FILL, 4096);
	sc_test_put_ret(code + (site & 4095) +
			sc_test_put_trap(code + (site & 4095)));
	assert_int_equal(mprotect(code, 4096, PROT_READ | PROT_EXEC), 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_trap;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGTRAP, &sa, &old), 0);
	/* the library takes SIGTRAP back at its next update, chaining */
	assert_int_equal(static_call_update(sm_op, sm_double), 0);
	alarm(10); /* a rewind loop would never return */
	((void (*)(void))site)();
	alarm(0);
	assert_int_equal(app_traps, 1);
	sigaction(SIGTRAP, &old, NULL);
	munmap(code, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_library_call_from_executable),
		cmocka_unit_test(test_library_global_initial_target),
		cmocka_unit_test(test_executable_call_from_library),
		cmocka_unit_test(test_dlopen_module),
		cmocka_unit_test(test_batch_across_modules),
		cmocka_unit_test(test_concurrent_callers),
		cmocka_unit_test(test_unloaded_sites_forgotten),
	};
	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
