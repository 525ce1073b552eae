/* SPDX-License-Identifier: MIT */
/*
 * Static key toggles in a process with many threads: the threads a server
 * has, most of them idle.  Two thread sets, one after the other:
 *
 *   3 threads   this one (toggling) and 2 busy threads running the key's
 *               sites in a loop;
 *   64 threads  the same plus 61 idle ones: half blocked in
 *               pthread_cond_wait(), half sleeping in nanosleep(), and 4 of
 *               them (2 of each) with SIGTRAP blocked (as a thread inside a
 *               signal handler installed with a full sa_mask would be).
 *
 * For each set, protocol (bench_protos; "n/a" where this library refuses
 * the option value), kind of site (plain, STATICCALL_KEYS_TRAPFREE) and key
 * (1 and 100 sites, generated: gen/key_sites*.c): toggles (enable, then
 * disable, R times), each paired with one raw
 * membarrier(PRIVATE_EXPEDITED_SYNC_CORE) timed just before or just after
 * it (alternately), with the same threads alive.  Reported: medians of the
 * toggle and of the raw sync, the median of the per-pair ratios, syncs and
 * traps per toggle.  A protocol that refuses to toggle (the int3 protocol's
 * check finds a thread that blocks SIGTRAP: -EAGAIN) is reported
 * "refused:<errno>", with the time the refusal took in toggle_us.
 *
 *   toggle_threads [--reps R] [--quick] [--csv] [--threads N]
 *
 * Every toggle is checked by running the key's sites.  Nothing about the
 * timings is asserted.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <staticcall.h>

#include "bench_update.h"

/* gen/key_sites.c and gen/key_sites_trapfree.c: keys with 1/10/100/1000
 * sites; run(x) returns x + (number of sites) when the key is on. */
#define NKEYSIZES 4
static const int key_sizes[NKEYSIZES] = {1, 10, 100, 1000};
extern struct static_key_false *const bk_keys[NKEYSIZES];
extern long (*const bk_runs[NKEYSIZES])(long);
extern struct static_key_false *const bkt_keys[NKEYSIZES];
extern long (*const bkt_runs[NKEYSIZES])(long);
static const int sizes_used[] = {0, 2}; /* 1 and 100 sites */

#define BUSY BENCH_BUSY_MAX
#define SIGTRAP_BLOCKED 4

static int csv, quick;
static long reps = 51;
static int supported[BENCH_NPROTOS];

static void die(const char *what, int err)
{
	bench_die("toggle_threads", what, err);
}

/* ---- threads ----------------------------------------------------------- */
static atomic_int stop_busy, stop_idle;
static long (*_Atomic busy_run)(long);
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;

static void *busy(void *arg)
{
	uintptr_t t = (uintptr_t)arg;
	long x = 0;

	while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
		x = atomic_load_explicit(&busy_run, memory_order_relaxed)(x);
		BENCH_BARRIER();
		bench_busy_tick(t);
	}
	return (void *)(x & 0);
}

/* arg: bit 0, sleep (else wait on the condition variable); bit 1, block
 * SIGTRAP. */
static void *idle(void *arg)
{
	uintptr_t how = (uintptr_t)arg;

	if (how & 2) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGTRAP);
		pthread_sigmask(SIG_BLOCK, &s, NULL);
	}
	if (how & 1) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		while (!atomic_load(&stop_idle))
			nanosleep(&ts, NULL);
	} else {
		pthread_mutex_lock(&idle_lock);
		while (!atomic_load(&stop_idle))
			pthread_cond_wait(&idle_cond, &idle_lock);
		pthread_mutex_unlock(&idle_lock);
	}
	return NULL;
}

static int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- one row ----------------------------------------------------------- */
static void row(size_t p, int tf, int k, int nthreads)
{
	const char *name = bench_protos[p].name;
	const char *kind = tf ? "trapfree" : "plain";
	int n = key_sizes[k];
	struct static_key_false *key = tf ? bkt_keys[k] : bk_keys[k];
	long (*run)(long) = tf ? bkt_runs[k] : bk_runs[k];
	long nr = 2 * reps;
	double *tog = calloc((size_t)nr, sizeof(double));
	double *syn = calloc((size_t)nr, sizeof(double));
	double *rat = calloc((size_t)nr, sizeof(double));
	unsigned long long syncs = 0, traps = 0;
	char status[64] = "ok";
	double refused_us = 0; /* how long the refusal took */
	long r;

	if (!tog || !syn || !rat)
		die("calloc", ENOMEM);
	if (!supported[p]) {
		snprintf(status, sizeof(status), "%s", BENCH_NA);
		r = 0;
		goto print;
	}
	bench_proto_use("toggle_threads", &bench_protos[p]);
	atomic_store(&busy_run, run);
	usleep(5000);
	for (r = 0; r < nr; r++) {
		double s1 = 0, s2 = 0, t0, t1;
		struct static_call_stats a = bench_stats("toggle_threads");
		int on = !(r & 1), err;

		bench_settle(BUSY);
		if ((r >> 1) & 1)
			s1 = bench_raw_sync_ns("toggle_threads");
		t0 = bench_now_ns();
		err = on ? static_branch_enable(key)
			 : static_branch_disable(key);
		t1 = bench_now_ns();
		if (!((r >> 1) & 1)) {
			bench_settle(BUSY);
			s2 = bench_raw_sync_ns("toggle_threads");
		}
		struct static_call_stats b = bench_stats("toggle_threads");
		if (err) {
			snprintf(status, sizeof(status), "refused:%s",
				 strerrorname_np(-err) ? strerrorname_np(-err)
						       : "?");
			refused_us = (t1 - t0) / 1e3;
			break;
		}
		if (run(0) != (on ? n : 0))
			die("wrong result after a toggle", EIO);
		tog[r] = t1 - t0;
		syn[r] = s1 + s2;
		rat[r] = tog[r] / syn[r];
		syncs += b.syncs - a.syncs;
		traps += bench_traps(&a, &b);
	}
	if (static_key_enabled(key) && static_branch_disable(key))
		fprintf(stderr, "toggle_threads: %s: the key stays on\n", name);
print:
	if (strcmp(status, "ok") != 0) {
		if (csv && refused_us > 0)
			printf("toggle,%d,%s,%s,%d,%s,%.3f,,,,,1\n", nthreads,
			       name, kind, n, status, refused_us);
		else if (csv)
			printf("toggle,%d,%s,%s,%d,%s,,,,,,0\n", nthreads, name,
			       kind, n, status);
		else if (refused_us > 0)
			printf("%3d %-13s %-9s %4d  %s (after %.2f us)\n",
			       nthreads, name, kind, n, status, refused_us);
		else
			printf("%3d %-13s %-9s %4d  %s\n", nthreads, name, kind,
			       n, status);
	} else {
		double t = bench_median(tog, (size_t)nr) / 1e3;
		double s = bench_median(syn, (size_t)nr) / 1e3;
		double q = bench_median(rat, (size_t)nr);
		if (csv)
			printf("toggle,%d,%s,%s,%d,ok,%.3f,%.3f,%.3f,%.3f,%."
			       "3f,%ld\n",
			       nthreads, name, kind, n, t, s, q,
			       (double)syncs / (double)nr,
			       (double)traps / (double)nr, nr);
		else
			printf("%3d %-13s %-9s %4d %11.2f %9.2f %9.2f %7.2f "
			       "%8.2f\n",
			       nthreads, name, kind, n, t, s, q,
			       (double)syncs / (double)nr,
			       (double)traps / (double)nr);
	}
	free(tog);
	free(syn);
	free(rat);
}

static void rows(int nthreads)
{
	int alive = count_tasks();

	if (alive != nthreads) {
		fprintf(stderr,
			"toggle_threads: %d threads alive, %d expected\n",
			alive, nthreads);
		exit(1);
	}
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		for (int tf = 0; tf < 2; tf++)
			for (size_t k = 0;
			     k < sizeof(sizes_used) / sizeof(sizes_used[0]);
			     k++)
				row(p, tf, sizes_used[k], nthreads);
}

int main(int argc, char **argv)
{
	int nthreads = 64, qargc = 0;
	char *qargv[8];

	/* --threads N, the rest for bench_args() */
	for (int i = 0; i < argc && qargc < 8; i++) {
		if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else
			qargv[qargc++] = argv[i];
	}
	if (bench_args(qargc, qargv, "toggle_threads", &reps, &csv, &quick, 2))
		return 2;
	if (nthreads < BUSY + 1 + SIGTRAP_BLOCKED + 2)
		nthreads = BUSY + 1 + SIGTRAP_BLOCKED + 2;
	bench_register_membarrier("toggle_threads");
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		supported[p] = bench_proto_supported(&bench_protos[p]);

	pthread_t *tid = calloc((size_t)nthreads, sizeof(*tid));
	if (!tid)
		die("calloc", ENOMEM);
	atomic_store(&busy_run, bk_runs[0]);
	for (int t = 0; t < BUSY; t++)
		if (pthread_create(&tid[t], NULL, busy, (void *)(uintptr_t)t))
			die("pthread_create", errno);
	usleep(20000);

	if (csv)
		printf("kind,threads,protocol,sites_kind,sites,status,toggle_"
		       "us,"
		       "sync_us,ratio,syncs_per_toggle,traps_per_toggle,"
		       "toggles\n");
	else
		printf("%3s %-13s %-9s %4s %11s %9s %9s %7s %8s\n", "thr",
		       "protocol", "sites", "n", "toggle us", "sync us",
		       "tog/sync", "syncs", "traps");
	rows(BUSY + 1);
	int nidle = nthreads - BUSY - 1;
	for (int i = 0; i < nidle; i++) {
		uintptr_t how =
			(uintptr_t)(i & 1) | (i < SIGTRAP_BLOCKED ? 2u : 0u);
		if (pthread_create(&tid[BUSY + i], NULL, idle, (void *)how))
			die("pthread_create", errno);
	}
	usleep(50000);
	rows(nthreads);

	atomic_store(&stop_busy, 1);
	pthread_mutex_lock(&idle_lock);
	atomic_store(&stop_idle, 1);
	pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
	for (int t = 0; t < nthreads - 1; t++)
		pthread_join(tid[t], NULL);
	free(tid);
	return 0;
}
