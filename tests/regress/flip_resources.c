/* SPDX-License-Identifier: MIT */
/*
 * Issue 14: resource exhaustion gives a clean errno with NOTHING written,
 * and the process is fine afterwards.
 *
 * Sites: a 19-page section (rg_pages.h) with two sites of rs_k, on pages
 * 0 and 12 (two regions), one of rs_fresh on page 6 and one of rs_warm on
 * page 18; a static call rs_op.  Each scenario runs in a fork child of a process that never
 * updated anything, so rs_k's pages and rs_op's trampoline page were never
 * flipped.  In each, while a resource is exhausted, rs_k is enabled and
 * rs_op retargeted: each must return 0 (and then every site and call
 * follows) or a negative errno (and then every site and call is as it
 * was).  Where the resource comes back, the same changes must then
 * succeed, and toggles of rs_fresh (a page nobody wrote) must flip under
 * the default protocol, without falling back to int3.
 *
 *  fds_first     RLIMIT_NOFILE exhausted before the first flip ever
 *                (memfd_create and every /proc open fail), then freed;
 *  vmas_first    vm.max_map_count exhausted (our own mappings, alternating
 *                protections) before the first flip ever, then freed;
 *  vmas_later    the same after a first flip of another page;
 *  fds_later     RLIMIT_NOFILE exhausted after a first flip;
 *  space         ftruncate and fallocate fail with ENOSPC (seccomp) after
 *                a first flip: the region of rs_warm still flips;
 *  pwrite        pwrite64 fails with ENOSPC after a first flip;
 *  memfd         memfd_create fails with EMFILE from the start;
 *  mmap_fixed    every MAP_FIXED mmap fails with ENOMEM after a first flip.
 *
 * On the code of the page-flip merge (main at 6caf2a0): fds_first and
 * vmas_first fail: the first flip's probe of an executable memfd mapping
 * (src/flip.c, exec_allowed()) caches ANY error for good, so once the
 * resource is back every update still takes the int3 protocol (traps);
 * the other scenarios pass.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "regress.h"
#include "rg_pages.h"
#include "rg_seccomp.h"

DEFINE_STATIC_KEY_FALSE(rs_k);
DEFINE_STATIC_KEY_FALSE(rs_warm);
DEFINE_STATIC_KEY_FALSE(rs_fresh);
RG_KEY_REF(rs_k_ref, rs_k);
RG_KEY_REF(rs_warm_ref, rs_warm);
RG_KEY_REF(rs_fresh_ref, rs_fresh);

int rs_a0(void), rs_f6(void), rs_a12(void), rs_w18(void);

__asm__(RG_PAGES_MACRO
	".pushsection .text.rg_flip_resources, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site rs_a0, rs_k_ref, 0\n"
	"rg_key_site rs_f6, rs_fresh_ref, (6*4096)\n"
	"rg_key_site rs_a12, rs_k_ref, (12*4096)\n"
	"rg_key_site rs_w18, rs_warm_ref, (18*4096)\n"
	".org 19 * 4096 - 1, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

static int op_a(int x) { return x * 4 + 1; }
static int op_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rs_op, op_a);

__attribute__((noinline)) static int call_op(int x)
{
	int r = static_call(rs_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

/* ------------------------------------------------------------------------
 * The state every check compares with
 * ------------------------------------------------------------------------ */

/* Every site of rs_k and the call agree with the recorded states. */
static void check_all(const char *when)
{
	int k = static_key_enabled(&rs_k), w = static_key_enabled(&rs_warm);
	int (*want)(int) =
		static_call_query(rs_op) == (void *)op_b ? op_b : op_a;

	RG_CHECK(rs_a0() == k && rs_a12() == k, "%s: rs_k %d, sites %d %d",
		 when, k, rs_a0(), rs_a12());
	RG_CHECK(rs_w18() == w, "%s: rs_warm %d, site %d", when, w, rs_w18());
	RG_CHECK(call_op(7) == want(7), "%s: call gives %d, want %d", when,
		 call_op(7), want(7));
}

/* Enable rs_k and retarget rs_op (to B) while a resource is exhausted:
 * each works or fails with a negative errno, with nothing changed. */
static void change_starved(const char *what, int *errs)
{
	int e1 = static_branch_enable(&rs_k);
	int e2 = static_call_update(rs_op, op_b);

	RG_CHECK(e1 <= 0 && e2 <= 0, "%s: results %d %d", what, e1, e2);
	RG_CHECK(static_key_enabled(&rs_k) == (e1 == 0), "%s: key state", what);
	RG_CHECK(static_call_query(rs_op) == (void *)(e2 == 0 ? op_b : op_a),
		 "%s: call target", what);
	check_all(what);
	errs[0] = e1;
	errs[1] = e2;
}

/* With the resource back: toggles and updates work; and a key whose
 * site was never touched (rs_fresh, page 6) flips. */
static void change_recovered(const char *what)
{
	struct static_call_stats s0, s1;

	for (int i = 0; i < 6; i++) {
		int e1 = i & 1 ? static_branch_disable(&rs_k)
			       : static_branch_enable(&rs_k);
		int e2 = static_call_update(rs_op, i & 1 ? op_a : op_b);
		RG_CHECK(e1 == 0 && e2 == 0, "%s: round %d: %s, %s", what, i,
			 strerror(-e1), strerror(-e2));
		check_all(what);
	}
	s0 = sc_test_stats();
	for (int i = 0; i < 4; i++) {
		int e = i & 1 ? static_branch_disable(&rs_fresh)
			      : static_branch_enable(&rs_fresh);
		RG_CHECK(e == 0, "%s: rs_fresh: %s", what, strerror(-e));
		RG_CHECK(rs_f6() == !(i & 1), "%s: rs_fresh's site", what);
	}
	s1 = sc_test_stats();
	printf("%s: afterwards %llu flips, %llu int3 fallbacks\n", what,
	       s1.flips - s0.flips, s1.int3_fallbacks - s0.int3_fallbacks);
	if (rg_default_protocol())
		RG_CHECK(s1.int3_fallbacks == s0.int3_fallbacks,
			 "%s: %llu sites fell back to int3 once the resource "
			 "was back",
			 what, s1.int3_fallbacks - s0.int3_fallbacks);
}

/* A first flip, on a page of its own (rs_warm's). */
static void warm_up(void)
{
	RG_CHECK(static_branch_enable(&rs_warm) == 0, "warm-up");
	RG_CHECK(static_branch_disable(&rs_warm) == 0, "warm-up");
	check_all("warm-up");
}

/* The library's arrays and handlers in place, without a flip: a toggle
 * under protocol=int3. */
static void warm_up_int3(void)
{
	RG_CHECK(static_call_set_option("protocol", "int3") == 0, "option");
	warm_up();
	RG_CHECK(static_call_set_option("protocol", "auto") == 0, "option");
}

static void report(const char *what, const int *errs)
{
	printf("%s: while starved: enable %s, update %s\n", what,
	       errs[0] ? strerror(-errs[0]) : "0",
	       errs[1] ? strerror(-errs[1]) : "0");
}

/* ------------------------------------------------------------------------
 * Descriptors
 * ------------------------------------------------------------------------ */
static int fd_fill[1024], nfill;

static void fds_exhaust(void)
{
	struct rlimit rl = {64, 64};

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 64 < rl.rlim_max ? 64 : rl.rlim_max;
	RG_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit");
	nfill = 0;
	for (int fd; nfill < 1024 && (fd = dup(0)) >= 0;)
		fd_fill[nfill++] = fd;
	RG_CHECK(errno == EMFILE, "dup: %s", strerror(errno));
	RG_CHECK(open("/proc/self/maps", O_RDONLY) < 0, "still an fd");
}

static void fds_free(void)
{
	while (nfill)
		close(fd_fill[--nfill]);
}

static int sc_fds_first(void *arg)
{
	int errs[2];
	(void)arg;

	fds_exhaust();
	change_starved("fds_first", errs);
	fds_free();
	report("fds_first", errs);
	change_recovered("fds_first");
	return 0;
}

static int sc_fds_later(void *arg)
{
	int errs[2];
	(void)arg;

	warm_up();
	fds_exhaust();
	change_starved("fds_later", errs);
	fds_free();
	report("fds_later", errs);
	change_recovered("fds_later");
	return 0;
}

/* ------------------------------------------------------------------------
 * Mappings (vm.max_map_count)
 * ------------------------------------------------------------------------ */
static void **vmas;
static size_t nvmas, capvmas = 1 << 20;

static void vmas_exhaust(void)
{
	vmas = mmap(NULL, capvmas * sizeof(*vmas), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	RG_CHECK(vmas != MAP_FAILED, "mmap");
	for (nvmas = 0; nvmas < capvmas; nvmas++) {
		/* alternating protections: neighbours never merge */
		int prot = nvmas & 1 ? PROT_READ : PROT_READ | PROT_WRITE;
		void *m = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (m == MAP_FAILED)
			break;
		vmas[nvmas] = m;
	}
	RG_CHECK(nvmas < capvmas, "no limit on mappings?");
}

static void vmas_free(void)
{
	while (nvmas)
		munmap(vmas[--nvmas], 4096);
	munmap(vmas, capvmas * sizeof(*vmas));
}

static int sc_vmas_first(void *arg)
{
	int errs[2];
	size_t n;
	(void)arg;

	warm_up_int3();
	vmas_exhaust();
	n = nvmas;
	change_starved("vmas_first", errs);
	vmas_free();
	printf("vmas_first: %zu mappings of ours\n", n);
	report("vmas_first", errs);
	change_recovered("vmas_first");
	return 0;
}

static int sc_vmas_later(void *arg)
{
	int errs[2];
	size_t n;
	(void)arg;

	warm_up();
	vmas_exhaust();
	n = nvmas;
	change_starved("vmas_later", errs);
	vmas_free();
	printf("vmas_later: %zu mappings of ours\n", n);
	report("vmas_later", errs);
	change_recovered("vmas_later");
	return 0;
}

/* ------------------------------------------------------------------------
 * Filters (for good: the child checks consistency and what still works)
 * ------------------------------------------------------------------------ */
static int filtered(const char *what, const struct rg_rule *r, int n, bool warm)
{
	int errs[2], e;

	if (warm)
		warm_up();
	RG_CHECK(rg_seccomp(r, n) == 0, "seccomp");
	change_starved(what, errs);
	report(what, errs);
	/* rs_warm's region exists (warm): flipping it needs no new space */
	e = static_branch_enable(&rs_warm);
	RG_CHECK(e <= 0, "%s: rs_warm: %d", what, e);
	RG_CHECK(static_key_enabled(&rs_warm) == (e == 0), "%s: state", what);
	check_all(what);
	printf("%s: rs_warm's region: %s\n", what, e ? strerror(-e) : "0");
	return e;
}

static int sc_space(void *arg)
{
	static const struct rg_rule r[] = {
		{SYS_ftruncate, -1, 0, 0, ENOSPC, false},
		{SYS_fallocate, -1, 0, 0, ENOSPC, false}};
	(void)arg;

	RG_CHECK(filtered("space", r, 2, true) == 0,
		 "a region that exists must still flip");
	return 0;
}

static int sc_pwrite(void *arg)
{
	static const struct rg_rule r[] = {
		{SYS_pwrite64, -1, 0, 0, ENOSPC, false}};
	(void)arg;

	filtered("pwrite", r, 1, true);
	return 0;
}

static int sc_memfd(void *arg)
{
	static const struct rg_rule r[] = {
		{SYS_memfd_create, -1, 0, 0, EMFILE, false}};
	(void)arg;

	filtered("memfd", r, 1, false);
	return 0;
}

static int sc_mmap_fixed(void *arg)
{
	static const struct rg_rule r[] = {
		{SYS_mmap, 3, MAP_FIXED, MAP_FIXED, ENOMEM, false}};
	(void)arg;

	filtered("mmap_fixed", r, 1, true);
	return 0;
}

/* ------------------------------------------------------------------------ */
static void run(const char *name, int (*fn)(void *))
{
	int status;

	assert_int_equal((uintptr_t)rs_a0 % RG_PAGE, 0);
	status = rg_child(name, fn, NULL, 30);

	if (!rg_exited(status, 0))
		fail_msg("%s: the child failed", name);
}

#define SCENARIO(n)                                                            \
	static void test_##n(void **state)                                     \
	{                                                                      \
		(void)state;                                                   \
		run(#n, sc_##n);                                               \
	}
SCENARIO(fds_first)
SCENARIO(vmas_first)
SCENARIO(vmas_later)
SCENARIO(fds_later)
/* the same, with a seccomp filter */
#define FILTERED(n)                                                            \
	static void test_##n(void **state)                                     \
	{                                                                      \
		(void)state;                                                   \
		if (rg_seccomp_refused_by_emulator(#n))                        \
			skip();                                                \
		run(#n, sc_##n);                                               \
	}
FILTERED(space)
FILTERED(pwrite)
FILTERED(memfd)
FILTERED(mmap_fixed)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fds_first),
		cmocka_unit_test(test_vmas_first),
		cmocka_unit_test(test_vmas_later),
		cmocka_unit_test(test_fds_later),
		cmocka_unit_test(test_space),
		cmocka_unit_test(test_pwrite),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_mmap_fixed),
	};

	sc_test_watchdog(200);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
