/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 6 and issue 14 ("an application SIGTRAP handler installed
 * mid-toggle"): the application installs its own SIGTRAP disposition from
 * another thread while keys are toggled.
 *
 * In a fork child per disposition: two threads run a site of rg_exe_key
 * and call a static call, a thread toggles the key (and retargets the
 * static call) in a loop, checking after each change that the site
 * follows; the child's main thread installs, at random moments for 1.5 s,
 * (a) a SIGTRAP handler of its own that counts what it receives and
 * passes it on to the handler it replaced, (b) SIG_IGN, (c) SIG_DFL.
 * Asserts: the application's handler never receives a trap (it raised
 * none: every one it gets is the library's), and the child survives
 * (exit status 0) with all three.
 *
 * Under the default protocol (which promises no trap at all) this must
 * pass.  Under STATICCALL_PROTOCOL=int3 (regress_app_sigtrap_int3) the
 * window between the int3 and the library's next check of its handler
 * remains unless the library closes it; the lead may document that
 * instead.  On the code of issue 13 (key sites patched with int3 by
 * default too): the handler receives the library's traps, and SIG_IGN
 * and SIG_DFL kill the child with SIGTRAP, in both runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "regress.h"

static int op_a(int x) { return x * 4 + 1; }
static int op_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_app_op, op_a);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static _Atomic int stop;
static _Atomic unsigned long stolen, toggles;
static struct sigaction chained; /* the handler ours replaced */
static _Atomic int have_chained;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	atomic_fetch_add(&stolen, 1);
	/* a polite application passes on what it does not know */
	if (atomic_load(&have_chained) && (chained.sa_flags & SA_SIGINFO) &&
	    chained.sa_sigaction)
		chained.sa_sigaction(sig, si, uc);
	else
		_exit(3);
}

static void *reader(void *arg)
{
	int x = 1;
	(void)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = static_call(rg_app_op)(x);
		RG_CHECK(r == op_a(x) || r == op_b(x), "wrong result %d", r);
		exe_probe();
		x = x % 100000 + 1;
	}
	return NULL;
}

static void *toggler(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; !atomic_load(&stop); i++) {
		int on = (int)(i & 1), err;
		err = on ? static_branch_enable(&rg_exe_key)
			 : static_branch_disable(&rg_exe_key);
		RG_CHECK(err == 0 || err == -EAGAIN, "toggle: %s",
			 strerror(-err));
		if (err == 0)
			RG_CHECK(exe_probe() == on, "toggle to %d: site %d", on,
				 exe_probe());
		err = static_call_update(rg_app_op, on ? op_b : op_a);
		RG_CHECK(err == 0 || err == -EAGAIN, "update: %s",
			 strerror(-err));
		atomic_fetch_add(&toggles, 1);
	}
	return NULL;
}

enum mode { HANDLER, IGNORE, DEFAULT };
static const char *const mode_name[] = {"a handler", "SIG_IGN", "SIG_DFL"};

static int scenario(void *arg)
{
	enum mode mode = (enum mode)(intptr_t)arg;
	unsigned int seed = 12345;
	unsigned long installs = 0;
	pthread_t t[3];
	double end;

	/* the library's handler is in place before the first toggle */
	RG_CHECK(static_branch_enable(&rg_exe_key) == 0, "first toggle");
	RG_CHECK(static_branch_disable(&rg_exe_key) == 0, "second toggle");
	RG_CHECK(pthread_create(&t[0], NULL, reader, NULL) == 0, "thread");
	RG_CHECK(pthread_create(&t[1], NULL, reader, NULL) == 0, "thread");
	RG_CHECK(pthread_create(&t[2], NULL, toggler, NULL) == 0, "thread");
	end = sc_now() + sc_test_seconds(1.5);
	while (sc_now() < end) {
		struct sigaction sa, old;
		usleep((useconds_t)(rand_r(&seed) % 500));
		memset(&sa, 0, sizeof(sa));
		if (mode == HANDLER) {
			sa.sa_sigaction = app_handler;
			sa.sa_flags = SA_SIGINFO;
		} else {
			sa.sa_handler = mode == IGNORE ? SIG_IGN : SIG_DFL;
		}
		RG_CHECK(sigaction(SIGTRAP, &sa, &old) == 0, "sigaction");
		if (mode == HANDLER && (old.sa_flags & SA_SIGINFO) &&
		    old.sa_sigaction != app_handler) {
			atomic_store(&have_chained, 0);
			chained = old;
			atomic_store(&have_chained, 1);
		}
		installs++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("%s installed %lu times during %lu toggles: the application's "
	       "handler received %lu traps, %llu traps taken in all\n",
	       mode_name[mode], installs, atomic_load(&toggles),
	       atomic_load(&stolen), rg_traps());
	RG_CHECK(atomic_load(&stolen) == 0,
		 "the application's handler received %lu of the library's "
		 "traps",
		 atomic_load(&stolen));
	return 0;
}

static void run(enum mode m)
{
	assert_true(rg_exited(
		rg_child(mode_name[m], scenario, (void *)(intptr_t)m, 30), 0));
}

static void test_app_handler(void **state)
{
	(void)state;
	run(HANDLER);
}

static void test_app_sig_ign(void **state)
{
	(void)state;
	run(IGNORE);
}

static void test_app_sig_dfl(void **state)
{
	(void)state;
	run(DEFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_app_handler),
		cmocka_unit_test(test_app_sig_ign),
		cmocka_unit_test(test_app_sig_dfl),
	};

	sc_test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
