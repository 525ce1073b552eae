/* SPDX-License-Identifier: MIT */
/*
 * Issue 14 (perf: the perf map covers every flipped page): the perf map of
 * a process that forks, with STATICCALL_PERF_MAP=on (as ctest runs it).
 *
 * A one-page section (rg_pages.h) holds 16 key site functions of pm_k.
 * 100 rounds: fork() (the child exits at once), then toggle pm_k (the
 * page flips again, in the parent's new memfd generation).  Asserts: the
 * toggles return 0 and the sites follow; /tmp/perf-<pid>.map names each
 * of the 16 functions; and it does not grow with the forks: after round
 * 100 it has at most twice the lines it had after round 10 (the same
 * code at the same addresses needs its lines once).
 *
 * On the code of the page-flip merge (main at 6caf2a0): after each fork
 * the page's next flip makes a new region (src/flip.c, sc_flip_finish()),
 * which appends every function of the page to the perf map again: the
 * file grows by 16 lines per fork, for as long as the process lives.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "regress.h"
#include "rg_pages.h"

DEFINE_STATIC_KEY_FALSE(pm_k);
RG_KEY_REF(pm_k_ref, pm_k);

int pm_s0(void);

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_perf_map_fork, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site pm_s0, pm_k_ref, 0\n"
	"rg_key_site pm_s1, pm_k_ref, 256\n"
	"rg_key_site pm_s2, pm_k_ref, 512\n"
	"rg_key_site pm_s3, pm_k_ref, 768\n"
	"rg_key_site pm_s4, pm_k_ref, 1024\n"
	"rg_key_site pm_s5, pm_k_ref, 1280\n"
	"rg_key_site pm_s6, pm_k_ref, 1536\n"
	"rg_key_site pm_s7, pm_k_ref, 1792\n"
	"rg_key_site pm_s8, pm_k_ref, 2048\n"
	"rg_key_site pm_s9, pm_k_ref, 2304\n"
	"rg_key_site pm_s10, pm_k_ref, 2560\n"
	"rg_key_site pm_s11, pm_k_ref, 2816\n"
	"rg_key_site pm_s12, pm_k_ref, 3072\n"
	"rg_key_site pm_s13, pm_k_ref, 3328\n"
	"rg_key_site pm_s14, pm_k_ref, 3584\n"
	"rg_key_site pm_s15, pm_k_ref, 3840\n"
	".org 4095, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

static int map_lines(int *named)
{
	char path[64], line[256];
	int n = 0;
	FILE *f;

	*named = 0;
	f = fopen(sc_test_perf_map_path(path, sizeof(path)), "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a;
		char name[64];
		n++;
		if (sscanf(line, "%lx %*x %63s", &a, name) == 2 &&
		    !strncmp(name, "pm_s", 4) &&
		    a == (uintptr_t)pm_s0 + 256 * strtoul(name + 4, NULL, 10))
			(*named)++;
	}
	fclose(f);
	return n;
}

static void test_perf_map_forks(void **state)
{
	int lines10 = 0, lines, named;
	(void)state;

	assert_int_equal((uintptr_t)pm_s0 % RG_PAGE, 0);
	for (int round = 1; round <= 100; round++) {
		int status, on = round & 1;
		pid_t pid;
		fflush(stdout);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_int_equal(on ? static_branch_enable(&pm_k)
				    : static_branch_disable(&pm_k),
				 0);
		assert_int_equal(pm_s0(), on);
		if (round == 10)
			lines10 = map_lines(&named);
	}
	lines = map_lines(&named);
	printf("perf map: %d lines after 10 forks, %d after 100; %d lines "
	       "name pm_s* at their addresses\n",
	       lines10, lines, named);
	sc_test_perf_map_remove();
	assert_true(named >= 16);
	assert_true(lines <= 2 * lines10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_perf_map_forks),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
