/* SPDX-License-Identifier: MIT */
/*
 * Static keys across dlopen()/dlclose(): a module loaded after its key was
 * enabled comes up in the key's state; a loaded module follows toggles; an
 * unloaded one is forgotten (toggling afterwards touches nothing of it),
 * also while another thread keeps toggling.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "common.h"
#include "keys_mod.h"

DEFINE_STATIC_KEY_FALSE(km_key);

struct mod {
	void *h;
	int (*probe)(void);
	struct static_key_true *own;
};

static void mod_open(struct mod *m)
{
	m->h = dlopen(KEYS_MOD_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!m->h)
		fail_msg("dlopen: %s", dlerror());
	*(void **)&m->probe = dlsym(m->h, "km_probe");
	m->own = dlsym(m->h, "km_own_key");
	assert_non_null(m->probe);
	assert_non_null(m->own);
}

static int expect(int on, int own) { return (on ? 3 : 0) | (own ? 4 : 0); }

static void test_load_in_current_state(void **state)
{
	struct mod m;
	(void)state;

	/* key off: the module's sites are as compiled */
	mod_open(&m);
	assert_int_equal(m.probe(), expect(0, 1));
	/* toggled while loaded */
	assert_int_equal(static_branch_enable(&km_key), 0);
	assert_int_equal(m.probe(), expect(1, 1));
	assert_int_equal(static_branch_disable(m.own), 0);
	assert_int_equal(m.probe(), expect(1, 0));
	assert_int_equal(dlclose(m.h), 0);

	/* loaded after the key was enabled: its sites come up enabled */
	mod_open(&m);
	assert_int_equal(m.probe(), expect(1, 1)); /* own key: fresh data */
	assert_int_equal(static_branch_disable(&km_key), 0);
	assert_int_equal(m.probe(), expect(0, 1));
	assert_int_equal(dlclose(m.h), 0);

	/* toggling with the module gone touches nothing of it */
	struct static_call_stats before = sc_test_stats();
	assert_int_equal(static_branch_enable(&km_key), 0);
	assert_int_equal(static_branch_disable(&km_key), 0);
	struct static_call_stats after = sc_test_stats();
	assert_int_equal(after.sites_patched, before.sites_patched);
}

static _Atomic int stop;
static _Atomic unsigned long toggles;

static void *toggler(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		assert_int_equal(static_branch_enable(&km_key), 0);
		assert_int_equal(static_branch_disable(&km_key), 0);
		atomic_fetch_add(&toggles, 2);
	}
	return NULL;
}

static void test_dlopen_dlclose_while_toggling(void **state)
{
	pthread_t t;
	int rounds = 0, bad = 0;
	double end = sc_now() + sc_test_seconds(1.5);
	(void)state;

	sc_test_watchdog(60);
	pthread_create(&t, NULL, toggler, NULL);
	while (sc_now() < end) {
		struct mod m;
		mod_open(&m);
		for (int i = 0; i < 100; i++) {
			int r = m.probe();
			/* both forms agree (one key state), own key on */
			bad += r != expect(0, 1) && r != expect(1, 1) &&
			       r != (1 | 4) && r != (2 | 4);
		}
		assert_int_equal(dlclose(m.h), 0);
		rounds++;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("dlopen/dlclose rounds=%d toggles=%lu bad=%d\n", rounds,
	       atomic_load(&toggles), bad);
	assert_int_equal(bad, 0);
	assert_true(rounds > 5);
	assert_true(atomic_load(&toggles) > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_in_current_state),
		cmocka_unit_test(test_dlopen_dlclose_while_toggling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
