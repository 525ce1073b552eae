/* SPDX-License-Identifier: MIT */
/*
 * Trampoline pages moved to memfd copies (src/flip.c): what the mappings
 * look like under the page flip (private copies, no writable mapping of
 * code at all) and under the store protocol (a shared copy with a writable
 * view), that the pages hold only trampolines, and that parent and child
 * of a fork() never patch each other's code through a shared memfd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"

static int f1(int x) { return x + 1; }
static int f2(int x) { return x + 2; }
static int f3(int x) { return x + 3; }

DEFINE_STATIC_CALL(al_op, f1);
DEFINE_STATIC_CALL_NULL(al_other, f1);

static uintptr_t page_of(const void *p)
{
	return (uintptr_t)p & ~(uintptr_t)4095;
}

/*
 * The permissions of the mapping holding @addr, whether it is a memfd, and
 * its inode.  The inode is what identifies another mapping of the same
 * memfd: qemu-user names /proc/self/maps lines by its own rules (a mapping
 * that lands at the guest's brk start is printed "[heap]", whatever file it
 * maps).
 */
static int mapping_of(uintptr_t addr, char perms[5], int *memfd,
		      unsigned long *inode)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx %4s %*x %*x:%*x %lu", &lo, &hi, perms,
			   inode) == 4 &&
		    addr >= lo && addr < hi) {
			*memfd = strstr(line, "memfd:staticcall") != NULL;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static void test_mapping(void **state)
{
	char perms[5];
	int memfd;
	unsigned long ino;
	(void)state;

	assert_int_equal(static_call_update(al_op, f2), 0);
	assert_int_equal(static_call(al_op)(1), 3);
	assert_true(mapping_of(page_of(STATIC_CALL_KEY(al_op).tramp), perms,
			       &memfd, &ino));
	/* flip: a private copy; store: the shared one its view writes */
	assert_string_equal(perms, sc_test_store() ? "r-xs" : "r-xp");
	assert_true(memfd);
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int views = 0;
	while (fgets(line, sizeof(line), f)) {
		char p[5] = "";
		unsigned long i = 0;
		if (sscanf(line, "%*[0-9a-f]-%*[0-9a-f] %4s %*x %*x:%*x %lu", p,
			   &i) == 2 &&
		    p[1] == 'w' &&
		    (strstr(line, "memfd:staticcall") || i == ino))
			views++;
	}
	fclose(f);
	/* a writable view exists only for the store protocol */
	if (sc_test_store())
		assert_true(views >= 1);
	else
		assert_int_equal(views, 0);
	assert_int_equal(sc_test_count_wx(), 0);
	struct static_call_stats st = sc_test_stats();
	if (sc_test_store())
		assert_true(st.writes_view > 0);
	else
		assert_true(st.flips > 0 && st.writes_view == 0);
}

/* Every STATIC_CALL_TRAMP_SIZE bytes of the page: a trampoline (its
 * signature) or padding (int3 on x86-64, udf #0 on aarch64). */
static void test_page_holds_only_trampolines(void **state)
{
	const uint8_t *p =
		(const uint8_t *)page_of(STATIC_CALL_KEY(al_op).tramp);
	int tramps = 0;
	(void)state;

	for (int off = 0; off < 4096; off += STATIC_CALL_TRAMP_SIZE) {
		const uint8_t *c = p + off;
		int pad = 1;
		for (int i = 0; i < STATIC_CALL_TRAMP_SIZE; i++)
			pad &= c[i] == SC_TEST_FILL;
		if (pad)
			continue;
		assert_true(sc_test_tramp_signature(c));
		tramps++;
	}
	assert_true(tramps >= 2);
}

/* Symbols still resolve (the link map does not care about the mapping). */
static void test_symbol_names(void **state)
{
	Dl_info info;
	(void)state;
	assert_true(dladdr(STATIC_CALL_KEY(al_op).tramp, &info) != 0);
	assert_non_null(info.dli_sname);
	assert_string_equal(info.dli_sname, "__SCT__al_op");
}

static void test_fork_isolation(void **state)
{
	int to_child[2], to_parent[2];
	char c;
	pid_t pid;
	int status;
	(void)state;

	assert_int_equal(static_call_update(al_op, f1), 0);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = static_call(al_op)(0) == 1;
		ok &= static_call_update(al_op, f2) == 0;
		ok &= static_call(al_op)(0) == 2;
		ok &= write(to_parent[1], "u", 1) == 1;
		ok &= read(to_child[0], &c, 1) == 1; /* parent updated */
		ok &= static_call(al_op)(0) == 2;    /* ... not us */
		ok &= static_call_query(al_op) == f2;
		ok &= static_call_update(al_op, f1) == 0;
		ok &= static_call(al_op)(0) == 1;
		ok &= sc_test_count_wx() == 0;
		sc_test_perf_map_remove();
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1); /* child updated */
	assert_int_equal(static_call(al_op)(0), 1);	/* ... not us */
	assert_int_equal(static_call_update(al_op, f3), 0);
	assert_int_equal(static_call(al_op)(0), 3);
	assert_int_equal(write(to_child[1], "p", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(static_call(al_op)(0),
			 3); /* the child's last update */
	assert_int_equal(static_call_update(al_op, f1), 0);
	for (int i = 0; i < 4; i++) {
		close(to_child[i & 1]);
		close(to_parent[i & 1]);
	}
}

/* Run with STATICCALL_PERF_MAP=on: the copied page's trampolines are
 * listed for perf, named from the executable's symbol table. */
static void test_perf_map(void **state)
{
	char path[64], line[256], op[64], other[64];
	int seen_op = 0, seen_other = 0;
	FILE *f;
	(void)state;

	snprintf(op, sizeof(op), " %x __SCT__al_op\n", STATIC_CALL_TRAMP_SIZE);
	snprintf(other, sizeof(other), " %x __SCT__al_other\n",
		 STATIC_CALL_TRAMP_SIZE);

	f = fopen(sc_test_perf_map_path(path, sizeof(path)), "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		seen_op |= strstr(line, op) != NULL;
		seen_other |= strstr(line, other) != NULL;
	}
	fclose(f);
	assert_true(seen_op);
	assert_true(seen_other);
}

/* Many forks in a row, each child updating at once. */
static void test_fork_loop(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		pid_t pid = fork();
		int status;
		assert_true(pid >= 0);
		if (pid == 0) {
			int ok = static_call_update(al_op, (i & 1) ? f2 : f3) ==
				 0;
			ok &= static_call(al_op)(0) == ((i & 1) ? 2 : 3);
			sc_test_perf_map_remove();
			_exit(ok ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(static_call(al_op)(0), 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_page_holds_only_trampolines),
		cmocka_unit_test(test_symbol_names),
		cmocka_unit_test(test_perf_map),
		cmocka_unit_test(test_fork_isolation),
		cmocka_unit_test(test_fork_loop),
	};
	int failed;

	sc_test_perf_map_remove(); /* one of an earlier process with our pid */
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	sc_test_perf_map_remove();
	return failed;
}
