/* SPDX-License-Identifier: MIT */
/*
 * One copy of the library and its users, for two_copies.c: the stress
 * static calls (stress.c: four static calls, every result checked) and a
 * static key, updated by a thread of this module while a caller and a key
 * reader of this module run them.  Built twice (TC_COPY "a" and "b"),
 * each time with libstaticcall.a and -Wl,--exclude-libs,ALL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"
#include "two_copies.h"

#ifndef TC_COPY
#error "TC_COPY: the name of this copy"
#endif

DEFINE_STATIC_KEY_FALSE(tc_key);

__attribute__((noinline)) static int tc_key_probe(void)
{
	return static_branch_unlikely(&tc_key) ? 1 : 0;
}

/* The key's generations, as stress.h keeps them for the static calls. */
static struct st_gen key_gen;

static unsigned long key_publish(int on)
{
	unsigned long n = atomic_load(&key_gen.pending) + 1;

	atomic_store(&key_gen.ring[n % ST_RING], n << 8 | (unsigned long)on);
	atomic_store(&key_gen.pending, n);
	return n;
}

static bool key_legal(unsigned long c, unsigned long p, int v)
{
	if (p < c || p - c >= ST_RING)
		return true; /* slept through too many updates: unchecked */
	for (unsigned long n = c; n <= p; n++) {
		unsigned long e = atomic_load(&key_gen.ring[n % ST_RING]);
		if (e >> 8 != n || (int)(e & 0xff) == v)
			return true;
	}
	return false;
}

static _Atomic int stop, go;
static struct st_counts counts;
static _Atomic unsigned long key_calls, key_wrong, updates, batches, toggles;
static _Atomic unsigned long errors;
static _Atomic int first_err;
static pthread_t threads[3];
static struct st_caller_arg carg;
static unsigned int seed;
static struct static_call_stats before;

static void *key_reader(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned long c = atomic_load(&key_gen.committed);
		int v = tc_key_probe();
		unsigned long p = atomic_load(&key_gen.pending);
		atomic_fetch_add_explicit(&key_calls, 1, memory_order_relaxed);
		if (!key_legal(c, p, v))
			atomic_fetch_add(&key_wrong, 1);
	}
	return NULL;
}

/* A random update: one static call, a batch, or a batch with the key. */
static int update(void)
{
	struct static_call_batch_entry ents[ST_KEYS + 1];
	struct static_call_batch b;
	struct st_plan pl;
	int r = rand_r(&seed) % 4, err;
	bool key = r == 3, on = !static_key_enabled(&tc_key);
	unsigned long kg = 0;

	st_plan_random(&pl, &seed, 0, ST_KEYS, r == 0);
	st_plan_publish(&pl);
	if (key)
		kg = key_publish(on);
	if (r == 0) {
		err = st_plan_apply(&pl, true);
	} else {
		err = static_call_batch_init(&b, ents, ST_KEYS + 1);
		for (int j = 0; !err && j < pl.n; j++)
			err = st_batch_add(&b, pl.key[j], pl.k[j]);
		if (!err && key)
			err = on ? static_branch_batch_enable(&b, &tc_key)
				 : static_branch_batch_disable(&b, &tc_key);
		if (!err)
			err = static_call_batch_commit(&b);
	}
	if (err) {
		int none = 0;
		atomic_fetch_add(&errors, 1);
		atomic_compare_exchange_strong(&first_err, &none, err);
		return err;
	}
	st_plan_commit(&pl);
	if (key) {
		atomic_store(&key_gen.committed, kg);
		atomic_fetch_add(&toggles, 1);
	}
	atomic_fetch_add(&updates, (unsigned long)pl.n);
	atomic_fetch_add(&batches, r != 0);
	return 0;
}

static void *updater(void *arg)
{
	(void)arg;
	while (!atomic_load(&go))
		usleep(100);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		update();
	return NULL;
}

static int start(unsigned int s)
{
	seed = s;
	static_call_set_print(st_count_log);
	/* nothing blocks SIGTRAP here; under load, the other copy's callers
	 * inside its own handler would be taken for threads that do */
	static_call_set_option("sigtrap_check", "off");
	st_gen_reset();
	for (int n = 0; n < ST_RING; n++)
		atomic_store(&key_gen.ring[n], ~0ul);
	atomic_store(&key_gen.ring[0], (unsigned long)tc_key_probe());
	static_call_get_stats(&before, sizeof(before));
	carg = (struct st_caller_arg){&stop, &counts, (int)s * 7919};
	if (pthread_create(&threads[0], NULL, st_caller_thread, &carg) ||
	    pthread_create(&threads[1], NULL, key_reader, NULL) ||
	    pthread_create(&threads[2], NULL, updater, NULL))
		return -EAGAIN;
	return 0;
}

static void go_now(void) { atomic_store(&go, 1); }

static void stop_all(struct tc_report *r)
{
	struct static_call_stats st;

	atomic_store(&go, 1);
	atomic_store(&stop, 1);
	for (int t = 0; t < 3; t++)
		pthread_join(threads[t], NULL);
	static_call_get_stats(&st, sizeof(st));
	memset(r, 0, sizeof(*r));
	r->calls = atomic_load(&counts.calls);
	r->wrong = atomic_load(&counts.wrong);
	r->unknown = atomic_load(&counts.unknown);
	r->key_calls = atomic_load(&key_calls);
	r->key_wrong = atomic_load(&key_wrong);
	r->updates = atomic_load(&updates);
	r->batches = atomic_load(&batches);
	r->toggles = atomic_load(&toggles);
	r->errors = atomic_load(&errors);
	r->first_err = atomic_load(&first_err);
	r->traps_emulated = st.traps_emulated - before.traps_emulated;
	r->traps_rewound = st.traps_rewound - before.traps_rewound;
	r->traps_foreign = st.traps_foreign - before.traps_foreign;
	r->writes_procmem = st.writes_procmem - before.writes_procmem;
	r->writes_mprotect = st.writes_mprotect - before.writes_mprotect;
	r->writes_view = st.writes_view - before.writes_view;
	r->segv_waits = st.segv_waits - before.segv_waits;
	st_report_wrong();
}

static const struct tc_api api = {
	.name = TC_COPY,
	.start = start,
	.go = go_now,
	.stop = stop_all,
	.update = update,
};

__attribute__((visibility("default"))) const struct tc_api *tc_get_api(void)
{
	return &api;
}
