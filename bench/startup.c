/* SPDX-License-Identifier: MIT */
/*
 * Start-up and memory.  Each measurement runs in a fresh child process (so
 * that memory starts from the same point); the variants alternate, R
 * rounds; every figure is a median over the rounds.
 *
 * 1. 100k static key sites: dlopen() of a shared object with 100,000 branch
 *    sites over 100 keys (registered by the library's module constructor),
 *    against the same object built with plain `if (__builtin_expect(flag,
 *    0))` tests.  Then, per protocol (bench_protos but int3_nocheck; "n/a"
 *    where this library refuses the option value), enabling all 100 keys in
 *    one batch (100k sites patched), then disabling them in another, each
 *    timed.  Memory (/proc/self/status VmRSS, RssAnon, RssFile, RssShmem;
 *    the blocks of the process's memfds; the resident pages of its memfd
 *    mappings; the number of mappings) before dlopen(), after it, after
 *    enabling and after disabling; reported as differences from before
 *    dlopen() (bench/report.py: bytes per site beyond the plain object).
 *
 * 2. 10k inline call sites: dlopen() (to its return) of a shared object
 *    with 10,000 static call sites over 100 static calls linked with
 *    staticcall_inline() (the library reads the file's relocations, checks
 *    every site and writes them before dlopen() returns), per protocol;
 *    the same file with the option inline=off; and the same sources linked
 *    without the flags.  The cost of the sites: the difference from the
 *    plain object within each round, then the median, in ms.  Also the
 *    object's file size and the sites the library registered.
 *
 *   startup [--reps R] [--quick] [--csv]
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
#include "bench_update.h"

#define NKEYS 100
#define NKEYSITES 100000

/* The memory figures of a result, as differences from before dlopen(). */
#define MEM_FIELDS(X)                                                          \
	X(rss) X(anon) X(file) X(shmem) X(memfd) X(memfd_rss) X(maps)
#define NMEM 7
#define NSNAP 3 /* after dlopen, after enabling, after disabling */

struct result {
	int ok, err;
	double open_us, enable_us, disable_us, registered;
	double mem[NSNAP][NMEM];
};

static void mem_delta(double *out, const struct bench_mem *a,
		      const struct bench_mem *b)
{
	int i = 0;
#define D(f) out[i++] = (double)(b->f - a->f);
	MEM_FIELDS(D)
#undef D
}

static const char *const mem_names[NMEM] = {
#define N(f) #f,
	MEM_FIELDS(N)
#undef N
};

/* Child: dlopen the 100k-site object (@p < 0: the plain one) and, with
 * @p >= 0, enable then disable every key under protocol @p. */
static struct result measure_keys(int p)
{
	struct result res = {0};
	struct bench_mem m0, m1;
	const char *path = p < 0 ? BENCH_SITES_PLAIN_SO : BENCH_SITES_SO;

	if (p >= 0 && (res.err = bench_proto_set(&bench_protos[p])))
		return res;
	bench_mem_read(&m0);
	double t0 = bench_now_ns();
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	double t1 = bench_now_ns();
	bench_mem_read(&m1);
	if (!h) {
		fprintf(stderr, "startup: %s\n", dlerror());
		return res;
	}
	res.open_us = (t1 - t0) / 1e3;
	mem_delta(res.mem[0], &m0, &m1);
	long (*run)(long) = (long (*)(long))dlsym(h, "bench_reg_run");
	const long *nsites = dlsym(h, "bench_reg_sites");
	if (!run || !nsites || run(0) != 0)
		return res;
	if (p >= 0) {
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
		if (err) {
			res.err = err;
			return res;
		}
		if (run(0) != *nsites) {
			fprintf(stderr, "startup: enable: wrong result\n");
			return res;
		}
		bench_mem_read(&m1);
		mem_delta(res.mem[1], &m0, &m1);
		for (int i = 0; i < NKEYS && !err; i++)
			err = static_branch_batch_disable(&b, &k[i]);
		double t4 = bench_now_ns();
		if (!err)
			err = static_call_batch_commit(&b);
		double t5 = bench_now_ns();
		if (err) {
			res.err = err;
			return res;
		}
		if (run(0) != 0) {
			fprintf(stderr, "startup: disable: wrong result\n");
			return res;
		}
		bench_mem_read(&m1);
		mem_delta(res.mem[2], &m0, &m1);
		res.enable_us = (t3 - t2) / 1e3;
		res.disable_us = (t5 - t4) / 1e3;
	}
	res.ok = 1;
	return res;
}

/* Child: dlopen() of a module with inline sites; @mode 0: linked for
 * inline sites, under protocol @p; 1: the same with the option inline=off;
 * 2: not linked for them. */
static struct result measure_inline(int mode, int p)
{
	struct result res = {0};
	struct static_call_stats a, b;
	struct bench_mem m0, m1;
	const char *path = mode == 2 ? BENCH_ISITES_PLAIN_SO : BENCH_ISITES_SO;

	if (mode == 0 && (res.err = bench_proto_set(&bench_protos[p])))
		return res;
	if (mode == 1 && static_call_set_option("inline", "off"))
		return res;
	static_call_get_stats(&a, sizeof(a));
	bench_mem_read(&m0);
	double t0 = bench_now_ns();
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	double t1 = bench_now_ns();
	bench_mem_read(&m1);
	static_call_get_stats(&b, sizeof(b));

	if (!h) {
		fprintf(stderr, "startup: %s\n", dlerror());
		return res;
	}
	res.open_us = (t1 - t0) / 1e3;
	mem_delta(res.mem[0], &m0, &m1);
	res.registered = (double)(b.sites_found - a.sites_found);
	long (*run)(long) = (long (*)(long))dlsym(h, "bench_imod_run");
	const long *nsites = dlsym(h, "bench_imod_sites");
	if (!run || !nsites || run(0) != *nsites)
		return res;
	if (mode == 0 && res.registered != (double)*nsites) {
		fprintf(stderr,
			"startup: %.0f inline sites registered, %ld "
			"expected\n",
			res.registered, *nsites);
		return res;
	}
	res.ok = 1;
	return res;
}

/* @what 0: measure_keys(@p), 1..3: measure_inline(@what - 1, @p). */
static struct result in_child(int what, int p)
{
	struct result res = {0};
	int fd[2];

	if (pipe(fd))
		return res;
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		res = what == 0 ? measure_keys(p) : measure_inline(what - 1, p);
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

/* The status of a variant whose child returned an error. */
static void status_of(const struct result *r, char *buf, size_t n)
{
	const char *e = strerrorname_np(r->err < 0 ? -r->err : r->err);

	if (r->err == -EINVAL || r->err == -ENOENT)
		snprintf(buf, n, "%s", BENCH_NA);
	else
		snprintf(buf, n, "refused:%s", e ? e : "?");
}

/* A variant of one part: what to run in the child, and its results. */
struct variant {
	const char *name;
	int what, p;
	int done, cap; /* measurements taken; at most cap */
	char status[32];
	double *v[4 + NSNAP * NMEM]; /* open, enable, disable, registered,
					mem */
	double *diff[2];	     /* part 2: open - plain, open - off */
};
#define NV (4 + NSNAP * NMEM)

static void store(struct variant *v, const struct result *r)
{
	v->v[0][v->done] = r->open_us;
	v->v[1][v->done] = r->enable_us;
	v->v[2][v->done] = r->disable_us;
	v->v[3][v->done] = r->registered;
	for (int s = 0; s < NSNAP; s++)
		for (int j = 0; j < NMEM; j++)
			v->v[4 + s * NMEM + j][v->done] = r->mem[s][j];
	v->done++;
}

/* Round-robin over @vars, @reps rounds; a variant whose first measurement
 * took over 2 s is measured 3 times at most.  0, or 1 (a failure). */
static int rounds(struct variant *vars, int nv, long reps, long quick)
{
	for (int i = 0; i < nv; i++) {
		vars[i].cap = (int)reps;
		if (!vars[i].status[0]) /* else n/a */
			snprintf(vars[i].status, sizeof(vars[i].status), "ok");
		for (int j = 0; j < NV; j++)
			if (!(vars[i].v[j] =
				      calloc((size_t)reps, sizeof(double))))
				return 1;
		for (int j = 0; j < 2; j++)
			if (!(vars[i].diff[j] =
				      calloc((size_t)reps, sizeof(double))))
				return 1;
	}
	for (long r = 0; r < reps; r++) {
		for (int kk = 0; kk < nv; kk++) {
			struct variant *v = &vars[(kk + r) % nv];
			if (v->done >= v->cap || strcmp(v->status, "ok"))
				continue;
			double t0 = bench_now_ns();
			struct result res = in_child(v->what, v->p);
			if (res.err) {
				status_of(&res, v->status, sizeof(v->status));
				continue;
			}
			if (!res.ok) {
				fprintf(stderr, "startup: %s failed\n",
					v->name);
				return 1;
			}
			store(v, &res);
			if (v->done == 1 && !quick &&
			    bench_now_ns() - t0 > 2e9 && v->cap > 3)
				v->cap = 3;
		}
	}
	return 0;
}

static double med(struct variant *v, int j)
{
	return bench_median(v->v[j], (size_t)v->done);
}

int main(int argc, char **argv)
{
	long reps = 11;
	int csv = 0, quick = 0, supported[BENCH_NPROTOS];
	struct variant keys[BENCH_NPROTOS + 1], inl[BENCH_NPROTOS + 2];
	int nk = 0, ni = 0;

	if (bench_args(argc, argv, "startup", &reps, &csv, &quick, 1))
		return 2;
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		supported[p] = bench_proto_supported(&bench_protos[p]);
	memset(keys, 0, sizeof(keys));
	memset(inl, 0, sizeof(inl));

	/* 1. 100k key sites */
	keys[nk++] =
		(struct variant){.name = "plain_flags", .what = 0, .p = -1};
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		if (strcmp(bench_protos[p].name, "int3_nocheck") != 0)
			keys[nk++] = (struct variant){
				.name = "static_keys", .what = 0, .p = (int)p};
	for (int i = 1; i < nk; i++)
		if (!supported[keys[i].p])
			snprintf(keys[i].status, sizeof(keys[i].status), "%s",
				 BENCH_NA);
	if (rounds(keys, nk, reps, quick))
		return 1;
	if (csv) {
		printf("kind,variant,protocol,status,sites,dlopen_us,enable_us,"
		       "disable_us");
		static const char *const snap[NSNAP] = {"open", "on", "off"};
		for (int s = 0; s < NSNAP; s++)
			for (int j = 0; j < NMEM; j++)
				printf(",%s_%s", mem_names[j], snap[s]);
		printf(",reps\n");
	} else
		printf("%-12s %-8s %7s %10s %10s %10s %9s %9s %9s %9s\n",
		       "variant", "protocol", "sites", "dlopen us", "enable us",
		       "disable us", "RSS KiB", "on KiB", "shmem on",
		       "memfd on");
	for (int i = 0; i < nk; i++) {
		struct variant *v = &keys[i];
		const char *pn = v->p < 0 ? "-" : bench_protos[v->p].name;
		if (strcmp(v->status, "ok") != 0 || v->done == 0) {
			if (csv)
				printf("startup,%s,%s,%s,%d\n", v->name, pn,
				       v->status, NKEYSITES);
			else
				printf("%-12s %-8s %7d  %s\n", v->name, pn,
				       NKEYSITES, v->status);
			continue;
		}
		if (csv) {
			printf("startup,%s,%s,ok,%d,%.1f,%.1f,%.1f", v->name,
			       pn, NKEYSITES, med(v, 0), med(v, 1), med(v, 2));
			for (int j = 4; j < NV; j++)
				printf(",%.0f", med(v, j));
			printf(",%d\n", v->done);
		} else
			printf("%-12s %-8s %7d %10.1f %10.1f %10.1f %9.0f "
			       "%9.0f "
			       "%9.0f %9.0f\n",
			       v->name, pn, NKEYSITES, med(v, 0), med(v, 1),
			       med(v, 2), med(v, 4 + 0), med(v, 4 + NMEM + 0),
			       med(v, 4 + NMEM + 3), med(v, 4 + NMEM + 4));
	}

	/* 2. 10k inline call sites */
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		if (strcmp(bench_protos[p].name, "int3_nocheck") != 0)
			inl[ni++] = (struct variant){
				.name = "inline_sites", .what = 1, .p = (int)p};
	for (int i = 0; i < ni; i++)
		if (!supported[inl[i].p])
			snprintf(inl[i].status, sizeof(inl[i].status), "%s",
				 BENCH_NA);
	int off = ni, plain = ni + 1;
	inl[ni++] = (struct variant){.name = "inline_off", .what = 2, .p = -1};
	inl[ni++] = (struct variant){
		.name = "not_linked_inline", .what = 3, .p = -1};
	if (rounds(inl, ni, reps, quick))
		return 1;
	/* The differences within each round (the variants alternate: the
	 * k-th measurement of each was taken in round k), before any median
	 * sorts the measurements. */
	double d[BENCH_NPROTOS + 2][2] = {{0}};
	for (int i = 0; i < ni; i++)
		for (int j = 0; j < 2; j++) {
			struct variant *v = &inl[i],
				       *ref = &inl[j ? off : plain];
			int n = v->done < ref->done ? v->done : ref->done;
			for (int k = 0; k < n; k++)
				v->diff[j][k] =
					(v->v[0][k] - ref->v[0][k]) / 1e3;
			d[i][j] = bench_median(v->diff[j], (size_t)n);
		}
	if (csv)
		printf("kind,variant,protocol,status,sites,dlopen_us,"
		       "extra_ms_vs_plain,extra_ms_vs_off,rss_kib,"
		       "sites_registered,file_kib,reps\n");
	else
		printf("\n%-18s %-8s %7s %10s %12s %12s %9s %10s %9s\n",
		       "variant", "protocol", "sites", "dlopen us",
		       "+ms vs plain", "+ms vs off", "RSS KiB", "registered",
		       "file KiB");
	for (int i = 0; i < ni; i++) {
		struct variant *v = &inl[i];
		const char *pn = v->p < 0 ? "-" : bench_protos[v->p].name;
		struct stat st;
		const char *path =
			v->what == 3 ? BENCH_ISITES_PLAIN_SO : BENCH_ISITES_SO;
		double kib = stat(path, &st) ? -1 : st.st_size / 1024.0;
		if (v->done == 0 || strcmp(v->status, "ok") != 0) {
			if (csv)
				printf("startup_inline,%s,%s,%s,10000\n",
				       v->name, pn, v->status);
			else
				printf("%-18s %-8s %7d  %s\n", v->name, pn,
				       10000, v->status);
			continue;
		}
		if (csv)
			printf("startup_inline,%s,%s,ok,10000,%.1f,%.3f,%.3f,%."
			       "0f,%.0f,%.0f,%d\n",
			       v->name, pn, med(v, 0), d[i][0], d[i][1],
			       med(v, 4), med(v, 3), kib, v->done);
		else
			printf("%-18s %-8s %7d %10.1f %12.3f %12.3f %9.0f "
			       "%10.0f %9.0f\n",
			       v->name, pn, 10000, med(v, 0), d[i][0], d[i][1],
			       med(v, 4), med(v, 3), kib);
	}
	return 0;
}
