/* SPDX-License-Identifier: MIT */
/*
 * Call targets and helpers for the benchmarks, in a translation unit of their
 * own so that no caller can inline them or see their bodies.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

/* Each target is two instructions plus ret: an add and the asm barrier
 * (which emits nothing but pins x in a register). */
#define BENCH_TARGET(i)                                                        \
	long bench_t##i(long x)                                                \
	{                                                                      \
		__asm__ volatile("" : "+r"(x));                                \
		return x + (i) + 1;                                            \
	}
BENCH_TARGET(0)
BENCH_TARGET(1)
BENCH_TARGET(2)
BENCH_TARGET(3)
BENCH_TARGET(4)
BENCH_TARGET(5)
BENCH_TARGET(6)
BENCH_TARGET(7)

/* GNU ifunc: the resolver runs once, at relocation time. */
__attribute__((used)) static long (*resolve_bench_ifunc(void))(long)
{
	return bench_t0;
}
long bench_ifunc(long x) __attribute__((ifunc("resolve_bench_ifunc")));

long (*bench_fp)(long) = bench_t0;
long (*bench_fptab[BENCH_NTARGETS])(long) = {
	bench_t0, bench_t1, bench_t2, bench_t3,
	bench_t4, bench_t5, bench_t6, bench_t7,
};
int bench_flag0 = 0, bench_flag1 = 1;
unsigned char bench_seq[BENCH_SEQ];

/* xorshift32: fixed seed, so every run (and callgrind) sees the same
 * sequence. */
void bench_seq_init(unsigned int ntargets)
{
	uint32_t s = 2463534242u;

	for (size_t i = 0; i < BENCH_SEQ; i++) {
		s ^= s << 13;
		s ^= s >> 17;
		s ^= s << 5;
		bench_seq[i] = (unsigned char)((s >> 8) % ntargets);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

long bench_rss_kib(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long status_kib(const char *text, const char *field)
{
	const char *p = strstr(text, field);

	return p ? atol(p + strlen(field)) : -1;
}

void bench_mem_read(struct bench_mem *m)
{
	char buf[8192];
	size_t n = 0;
	FILE *f = fopen("/proc/self/status", "r");

	m->rss = m->anon = m->file = m->shmem = -1;
	m->memfd = m->memfd_rss = m->maps = -1;
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		m->rss = status_kib(buf, "\nVmRSS:");
		m->anon = status_kib(buf, "\nRssAnon:");
		m->file = status_kib(buf, "\nRssFile:");
		m->shmem = status_kib(buf, "\nRssShmem:");
	}
	/* memfds (the library's copies of code pages), mapped or not: the
	 * blocks each one holds. */
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		long kib = 0;
		while ((e = readdir(d))) {
			char path[300], link[256];
			struct stat st;
			snprintf(path, sizeof(path), "/proc/self/fd/%s",
				 e->d_name);
			ssize_t len = readlink(path, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = 0;
			if (strncmp(link, "/memfd:", 7) == 0 &&
			    stat(path, &st) == 0)
				kib += (long)st.st_blocks / 2;
		}
		closedir(d);
		m->memfd = kib;
	}
	/* VMAs, and the resident pages of memfd mappings (also after the
	 * descriptor is closed). */
	f = fopen("/proc/self/smaps", "r");
	if (f) {
		char line[512];
		int memfd = 0;
		long kib = 0;
		m->maps = 0;
		m->memfd_rss = 0;
		while (fgets(line, sizeof(line), f)) {
			unsigned long lo, hi;
			if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
			    strchr(line, '-') < strchr(line, ' ')) {
				m->maps++;
				memfd = strstr(line, " /memfd:") != NULL;
			} else if (memfd &&
				   sscanf(line, "Rss: %ld kB", &kib) == 1) {
				m->memfd_rss += kib;
			}
		}
		fclose(f);
	}
}
