/* SPDX-License-Identifier: MIT */
/*
 * Issue 18: no writable mapping of code, ever.
 *
 * test_no_alias_after_updates: under the default options, with the
 * executable linked for inline call sites, every kind of site is changed:
 * a trampoline (called through a pointer) and an inline call site of
 * rg_wx_op, a static key site of rg_exe_key, a key site built with
 * STATICCALL_KEYS_TRAPFREE (wx_alias_tf.c), and the plug-in's sites
 * (sc_rg_mod_inline: key sites, its own static call with an inline site).
 * Asserts (results checked after each change): /proc/self/maps holds no
 * mapping that is writable and executable, and no shared writable mapping
 * of an inode (device + inode) that is also mapped executable; with the
 * plug-in loaded and after it is gone.  Run with SC_TEST_WX_ALIAS=allow so
 * that this test's own scan, not the background checker, reports.
 *
 * test_checker_catches_alias (the checker of tests/proc.c, in fork
 * children): a memfd mapped r-x and rw- shared ends the child with 97; the
 * same with SC_TEST_WX_ALIAS=allow, and an r-x mapping next to a PRIVATE
 * writable one, do not.
 *
 * On the code of issue 18: the first test fails (the trampoline page's
 * and the trap-free key site's page's `rw-s /memfd:staticcall-text`
 * views); the second passes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "regress.h"
#include "wx_alias.h"

__attribute__((noinline, used)) int wx_a(int x) { return x * 4 + 1; }
__attribute__((noinline, used)) int wx_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_wx_op, wx_a);

__attribute__((noinline)) static int wx_inline(int x)
{
	int r = static_call(rg_wx_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

static int (*volatile wx_tramp)(int) = &STATIC_CALL_TRAMP(rg_wx_op);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static void test_no_alias_after_updates(void **state)
{
	struct static_call_site s[8];
	struct rg_mod m;
	(void)state;

	assert_true(static_call_sites(rg_wx_op, s, 8) >= 1);
	for (int i = 0; i < 3; i++) {
		int on = !(i & 1);
		assert_int_equal(static_call_update(rg_wx_op, on ? wx_b : wx_a),
				 0);
		assert_int_equal(wx_inline(5), on ? wx_b(5) : wx_a(5));
		assert_int_equal(wx_tramp(5), on ? wx_b(5) : wx_a(5));
		assert_int_equal(on ? static_branch_enable(&rg_exe_key)
				    : static_branch_disable(&rg_exe_key),
				 0);
		assert_int_equal(exe_probe(), on);
		assert_int_equal(on ? static_branch_enable(&rg_wx_tf_key)
				    : static_branch_disable(&rg_wx_tf_key),
				 0);
		assert_int_equal(rg_wx_tf_probe(), on);
	}
	assert_int_equal(rg_mod_open(RG_MOD_INLINE, &m), 0);
	assert_int_equal(m.update(1), 0);
	assert_int_equal(rgm_decode(5, m.call(5)), 1);
	assert_int_equal(m.toggle(1), 0);
	assert_int_equal(m.probe_own(), 1);
	assert_int_equal(m.probe_exe(), 1);
	assert_int_equal(static_branch_disable(&rg_exe_key), 0);
	assert_int_equal(m.probe_exe(), 0);
	printf("with the plug-in loaded:\n");
	assert_int_equal(rg_code_aliases(), 0);
	assert_int_equal(rg_mod_close(&m), 0);
	printf("after the plug-in is gone:\n");
	assert_int_equal(rg_code_aliases(), 0);
}

enum { ALIAS, ALIAS_ALLOWED, PRIVATE };

static int checker_child(void *arg)
{
	int how = (int)(intptr_t)arg;
	int fd = (int)syscall(SYS_memfd_create, "rg-wx", 0x10 /* MFD_EXEC */);
	void *x, *w;

	if (fd < 0)
		fd = (int)syscall(SYS_memfd_create, "rg-wx", 0);
	RG_CHECK(fd >= 0 && ftruncate(fd, 4096) == 0, "memfd: %s",
		 strerror(errno));
	if (how == ALIAS_ALLOWED)
		setenv("SC_TEST_WX_ALIAS", "allow", 1);
	else
		unsetenv("SC_TEST_WX_ALIAS");
	sc_test_wx_start();
	x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 how == PRIVATE ? MAP_PRIVATE : MAP_SHARED, fd, 0);
	RG_CHECK(x != MAP_FAILED && w != MAP_FAILED, "mmap: %s",
		 strerror(errno));
	usleep(200000); /* the checker scans every millisecond */
	return 0;
}

static void test_checker_catches_alias(void **state)
{
	(void)state;
	assert_true(rg_exited(rg_child("rw-s alias of r-x", checker_child,
				       (void *)(intptr_t)ALIAS, 10),
			      97));
	assert_true(rg_exited(rg_child("the same, allowed", checker_child,
				       (void *)(intptr_t)ALIAS_ALLOWED, 10),
			      0));
	assert_true(rg_exited(rg_child("rw-p next to r-x", checker_child,
				       (void *)(intptr_t)PRIVATE, 10),
			      0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker_catches_alias),
		cmocka_unit_test(test_no_alias_after_updates),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
