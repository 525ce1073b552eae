/* SPDX-License-Identifier: MIT */
/*
 * Start-up cost of static key sites: dlopen() of a shared object with 100k
 * branch sites over 100 keys (each registered by the library's module
 * constructor: checked, sorted by key), against the same object built with
 * plain `if (__builtin_expect(flag, 0))` tests instead.  Each measurement
 * runs in a fresh child process (so that RSS starts from the same point);
 * the two variants alternate, R rounds.  Also times enabling then disabling
 * all 100 keys in one batch (100k sites patched).
 *
 * Then the same for inline call sites: dlopen() of a shared object with
 * 10k static call sites over 100 static calls, linked with
 * staticcall_inline() (the library reads the file's relocations, checks
 * every site and patches them all in one batch before dlopen() returns),
 * against the same object with the option inline=off (the same file, its
 * sites left alone) and the same sources linked without the flags.  Each
 * also reports the object's file size (--emit-relocs keeps the relocations
 * in it) and the sites the library registered.
 *
 *   startup [--reps R] [--csv]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <staticcall.h>

#include "bench.h"

#define NKEYS 100

struct result {
	double open_us, rss_kib, enable_us, disable_us;
	int ok;
};

static struct result measure(const char *path, int keys)
{
	struct result res = {0};
	long rss0 = bench_rss_kib();
	double t0 = bench_now_ns();
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	double t1 = bench_now_ns();
	long rss1 = bench_rss_kib();

	if (!h) {
		fprintf(stderr, "startup: %s\n", dlerror());
		return res;
	}
	res.open_us = (t1 - t0) / 1e3;
	res.rss_kib = (double)(rss1 - rss0);
	long (*run)(long) = (long (*)(long))dlsym(h, "bench_reg_run");
	const long *nsites = dlsym(h, "bench_reg_sites");
	if (!run || !nsites || run(0) != 0)
		return res;
	if (keys) {
		struct static_key_false *k = dlsym(h, "bench_reg_keys");
		struct static_call_batch_entry ents[NKEYS];
		struct static_call_batch b;
		int err = k ? static_call_batch_init(&b, ents, NKEYS) : -ENOENT;

		for (int i = 0; i < NKEYS && !err; i++)
			err = static_branch_batch_enable(&b, &k[i]);
		double t2 = bench_now_ns();
		if (!err)
			err = static_call_batch_commit(&b);
		double t3 = bench_now_ns();
		if (err || run(0) != *nsites) {
			fprintf(stderr, "startup: enable: %s\n",
				strerror(-err));
			return res;
		}
		for (int i = 0; i < NKEYS && !err; i++)
			err = static_branch_batch_disable(&b, &k[i]);
		double t4 = bench_now_ns();
		if (!err)
			err = static_call_batch_commit(&b);
		double t5 = bench_now_ns();
		if (err || run(0) != 0) {
			fprintf(stderr, "startup: disable: %s\n",
				strerror(-err));
			return res;
		}
		res.enable_us = (t3 - t2) / 1e3;
		res.disable_us = (t5 - t4) / 1e3;
	}
	res.ok = 1;
	return res;
}

/* dlopen() of a module with inline sites; @mode 0: linked for inline
 * sites, 1: the same with the option inline=off, 2: not linked for them. */
static struct result measure_inline(const char *path, int mode)
{
	struct result res = {0};
	struct static_call_stats a, b;

	if (mode == 1 && static_call_set_option("inline", "off"))
		return res;
	static_call_get_stats(&a, sizeof(a));
	long rss0 = bench_rss_kib();
	double t0 = bench_now_ns();
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	double t1 = bench_now_ns();
	long rss1 = bench_rss_kib();
	static_call_get_stats(&b, sizeof(b));

	if (!h) {
		fprintf(stderr, "startup: %s\n", dlerror());
		return res;
	}
	res.open_us = (t1 - t0) / 1e3;
	res.rss_kib = (double)(rss1 - rss0);
	/* enable_us: the sites registered (0 unless linked for them) */
	res.enable_us = (double)(b.sites_found - a.sites_found);
	long (*run)(long) = (long (*)(long))dlsym(h, "bench_imod_run");
	const long *nsites = dlsym(h, "bench_imod_sites");
	if (!run || !nsites || run(0) != *nsites)
		return res;
	if (mode == 0 && res.enable_us != (double)*nsites) {
		fprintf(stderr,
			"startup: %.0f inline sites registered, %ld "
			"expected\n",
			res.enable_us, *nsites);
		return res;
	}
	res.ok = 1;
	return res;
}

static struct result in_child(const char *path, int keys)
{
	struct result res = {0};
	int fd[2];

	if (pipe(fd))
		return res;
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		res = keys >= 10 ? measure_inline(path, keys - 10)
				 : measure(path, keys);
		ssize_t w = write(fd[1], &res, sizeof(res));
		_exit(w == (ssize_t)sizeof(res) ? 0 : 1);
	}
	close(fd[1]);
	if (pid < 0 || read(fd[0], &res, sizeof(res)) != (ssize_t)sizeof(res))
		res.ok = 0;
	close(fd[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return res;
}

/* The inline call site modules, alternating, each in a fresh child. */
static int startup_inline(long reps, int csv)
{
	const char *paths[3] = {BENCH_ISITES_SO, BENCH_ISITES_SO,
				BENCH_ISITES_PLAIN_SO};
	const char *names[3] = {"inline_sites", "inline_off",
				"not_linked_inline"};
	double *v[3][3];
	struct stat st;

	for (int k = 0; k < 3; k++)
		for (int j = 0; j < 3; j++)
			if (!(v[k][j] = calloc((size_t)reps, sizeof(double))))
				return 1;
	for (long r = 0; r < reps; r++) {
		for (int kk = 0; kk < 3; kk++) {
			int k = (int)((kk + r) % 3);
			struct result res = in_child(paths[k], 10 + k);
			if (!res.ok) {
				fprintf(stderr, "startup: %s failed\n",
					names[k]);
				return 1;
			}
			v[k][0][r] = res.open_us;
			v[k][1][r] = res.rss_kib;
			v[k][2][r] = res.enable_us;
		}
	}
	if (csv)
		printf("kind,variant,sites,dlopen_us,rss_kib,sites_registered,"
		       "file_kib,reps\n");
	else
		printf("\n%-18s %7s %10s %9s %10s %9s\n", "variant", "sites",
		       "dlopen us", "RSS KiB", "registered", "file KiB");
	for (int k = 0; k < 3; k++) {
		double m[3];
		for (int j = 0; j < 3; j++)
			m[j] = bench_median(v[k][j], (size_t)reps);
		double kib = stat(paths[k], &st) ? -1 : st.st_size / 1024.0;
		if (csv)
			printf("startup_inline,%s,10000,%.1f,%.0f,%.0f,%.0f,%ld"
			       "\n",
			       names[k], m[0], m[1], m[2], kib, reps);
		else
			printf("%-18s %7d %10.1f %9.0f %10.0f %9.0f\n",
			       names[k], 10000, m[0], m[1], m[2], kib);
	}
	return 0;
}

int main(int argc, char **argv)
{
	long reps = 7;
	int csv = 0;
	const char *paths[2] = {BENCH_SITES_SO, BENCH_SITES_PLAIN_SO};
	const char *names[2] = {"static_keys", "plain_flags"};

	if (bench_args(argc, argv, "startup", &reps, &csv))
		return 2;
	double *v[2][4];
	for (int k = 0; k < 2; k++)
		for (int j = 0; j < 4; j++)
			if (!(v[k][j] = calloc((size_t)reps, sizeof(double))))
				return 1;
	for (long r = 0; r < reps; r++) {
		for (int kk = 0; kk < 2; kk++) {
			int k = (int)((kk + r) % 2);
			struct result res = in_child(paths[k], k == 0);
			if (!res.ok) {
				fprintf(stderr, "startup: %s failed\n",
					names[k]);
				return 1;
			}
			v[k][0][r] = res.open_us;
			v[k][1][r] = res.rss_kib;
			v[k][2][r] = res.enable_us;
			v[k][3][r] = res.disable_us;
		}
	}
	if (csv)
		printf("kind,variant,sites,dlopen_us,rss_kib,enable_all_us,"
		       "disable_all_us,reps\n");
	else
		printf("%-12s %7s %10s %9s %14s %14s\n", "variant", "sites",
		       "dlopen us", "RSS KiB", "enable all us",
		       "disable all us");
	for (int k = 0; k < 2; k++) {
		double m[4];
		for (int j = 0; j < 4; j++)
			m[j] = bench_median(v[k][j], (size_t)reps);
		if (csv)
			printf("startup,%s,100000,%.1f,%.0f,%.1f,%.1f,%ld\n",
			       names[k], m[0], m[1], m[2], m[3], reps);
		else
			printf("%-12s %7d %10.1f %9.0f %14.1f %14.1f\n",
			       names[k], 100000, m[0], m[1], m[2], m[3]);
	}
	return startup_inline(reps, csv);
}
