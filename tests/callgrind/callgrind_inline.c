/* SPDX-License-Identifier: MIT */
/*
 * Inline call sites cost exactly what direct calls cost, counted in
 * instructions by callgrind (deterministic, unlike a timing).
 *
 * This program is linked with staticcall_inline(): its static_call() sites
 * are rewritten at load into direct calls to the target.  Each ir_* function
 * below is the same loop of N calls; only the callee differs:
 *
 *   ir_direct    ci_t0(x)                          a direct call
 *   ir_inline    static_call(ci_op)(x)             an inline site
 *   ir_tramp     the trampoline of ci_op, called through an alias symbol,
 *                which the library does not take as a site: call + jmp
 *   ir_direct1   ci_t1(x)                          (see the update below)
 *   ir_updated   static_call(ci_op)(x)             another inline site
 *
 * Without arguments (ctest), it runs itself under
 * `valgrind --tool=callgrind --toggle-collect=<function>` once per function
 * and per N (N1 and N2 = 2 N1), so that the "totals:" line of each output
 * file is that function's inclusive instruction count, and checks:
 *
 *   1. every count is linear in N with an integer slope: Ir(N) = fixed +
 *      N * per_call, per_call = (Ir(N2) - Ir(N1)) / (N2 - N1) exactly;
 *   2. ir_inline: per_call equal to ir_direct's, and the same fixed part
 *      within SETUP_SLACK instructions (the two functions compile to the
 *      same instructions but for the call's displacement, so the fixed
 *      part, the function's entry, exit and loop set-up, is expected to be
 *      equal; the slack allows a compiler that allocates registers
 *      differently in two functions, outside the loop);
 *   3. ir_tramp: per_call one more than ir_direct (the trampoline's jmp);
 *      and ir_inline in a run with STATICCALL_INLINE=off (its site left as
 *      compiled, a call into the trampoline): one more as well;
 *   4. after static_call_update() to ci_t1, ir_updated costs what
 *      ir_direct1 costs.  Both run once (N = 1) before the update, so that
 *      valgrind has translated ir_updated's site while it still called
 *      ci_t0: the library must discard that translation when it rewrites
 *      the site (VALGRIND_DISCARD_TRANSLATIONS), or the loop would still
 *      call ci_t0 and return N instead of 2 N.
 *
 * Under valgrind (--child), the program first checks that it really runs
 * under valgrind and that the library found and patched its sites
 * (static_call_sites(): every one STATIC_CALL_SITE_INLINE on the current
 * target; none with STATICCALL_INLINE=off), and every loop's result.  For
 * the main program the library reads /proc/self/exe; valgrind (3.19 at
 * least) opens the client's own file for it, not the tool's, so the
 * library's check of the program headers passes.
 *
 *   callgrind_inline            the check; exit 0, 1 (failed), 77 (skipped)
 *   callgrind_inline --csv      the same, and the counts as CSV (bench/run)
 *   callgrind_inline --child N  run under callgrind by the above
 *
 * Skipped (77, with the reason) without valgrind, without
 * valgrind/valgrind.h (the library could not tell valgrind about the code
 * it patches), and in sanitizer builds: valgrind cannot run a program built
 * with AddressSanitizer (both reserve the address space and replace malloc).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <staticcall.h>

#ifdef SC_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "callgrind_inline.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CI_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||     \
	__has_feature(memory_sanitizer)
#define CI_SANITIZED 1
#endif
#endif
#ifndef CI_SANITIZED
#define CI_SANITIZED 0
#endif
#ifndef SC_TEST_SANITIZE
#define SC_TEST_SANITIZE ""
#endif
#ifndef SC_VALGRIND
#define SC_VALGRIND ""
#endif

#define N1 10000L
#define SETUP_SLACK 4
#define SLACK_STR "4"

DEFINE_STATIC_CALL(ci_op, ci_t0);

/* A second global name for ci_op's trampoline: `call ci_tramp` is the same
 * instruction as the `call __SCT__ci_op` that static_call() compiles to, but
 * its relocation does not name a __SCT__ symbol, so it is no inline site. */
__asm__(".globl ci_tramp\n\t"
	".protected ci_tramp\n\t"
	".type ci_tramp, @function\n\t"
	".set ci_tramp, " STATIC_CALL_TRAMP_STR(ci_op));
extern __typeof__(ci_t0) ci_tramp;

/* One call per iteration; x carries a dependency from call to call, the asm
 * keeps the compiler from merging iterations. */
#define LOOP(name, call)                                                       \
	long name(long n);                                                     \
	__attribute__((noinline)) long name(long n)                            \
	{                                                                      \
		long x = 0;                                                    \
		for (long i = 0; i < n; i++) {                                 \
			x = call(x);                                           \
			__asm__ volatile("" ::: "memory");                     \
		}                                                              \
		return x;                                                      \
	}

LOOP(ir_direct, ci_t0)
LOOP(ir_inline, static_call(ci_op))
LOOP(ir_tramp, ci_tramp)
LOOP(ir_direct1, ci_t1)
LOOP(ir_updated, static_call(ci_op))

/* ------------------------------------------------------------------------
 * Under valgrind
 * ------------------------------------------------------------------------ */

static int fails;

/* ci_op's sites: @want of them (ir_inline and ir_updated), each inline on
 * @target; or none at all when the library was told not to inline. */
static void check_sites(int inline_on, void *target, const char *when)
{
	struct static_call_site s[8];
	struct static_call_stats st;
	int n = static_call_sites(ci_op, s, 8), want = inline_on ? 2 : 0;

	if (n != want) {
		static_call_get_stats(&st, sizeof(st));
		fprintf(stderr,
			"callgrind_inline --child: %s: %d inline site(s) of "
			"ci_op, %d expected (library: %llu sites found, %llu "
			"rejected; for the main program it reads "
			"/proc/self/exe, run with STATICCALL_LOG=debug)\n",
			when, n, want, st.sites_found, st.sites_rejected);
		fails++;
		return;
	}
	for (int i = 0; i < n; i++)
		if (s[i].state != STATIC_CALL_SITE_INLINE ||
		    s[i].target != target) {
			fprintf(stderr,
				"callgrind_inline --child: %s: site %p in "
				"state %d on %p, not inline on %p\n",
				when, s[i].addr, s[i].state, s[i].target,
				target);
			fails++;
		}
}

static void expect(const char *what, long got, long want)
{
	if (got != want) {
		fprintf(stderr,
			"callgrind_inline --child: %s returned %ld, %ld "
			"expected\n",
			what, got, want);
		fails++;
	}
}

static int child(long n)
{
	const char *e = getenv("STATICCALL_INLINE");
	int inline_on = !(e && strcmp(e, "off") == 0);
	int err;

#ifdef SC_HAVE_VALGRIND_H
	if (!RUNNING_ON_VALGRIND) {
		fprintf(stderr, "callgrind_inline --child: not running under "
				"valgrind\n");
		return 1;
	}
#endif
	check_sites(inline_on, (void *)ci_t0, "at start");
	/* translated now, while ir_updated's site calls ci_t0 */
	expect("ir_updated(1) before the update", ir_updated(1), 1);
	expect("ir_direct1(1)", ir_direct1(1), 2);

	expect("ir_direct", ir_direct(n), n);
	expect("ir_inline", ir_inline(n), n);
	expect("ir_tramp", ir_tramp(n), n);

	err = static_call_update(ci_op, ci_t1);
	if (err) {
		fprintf(stderr,
			"callgrind_inline --child: static_call_update: %s\n",
			strerror(-err));
		return 1;
	}
	check_sites(inline_on, (void *)ci_t1, "after the update");
	expect("ir_updated (stale translation?)", ir_updated(n), 2 * n);
	expect("ir_direct1", ir_direct1(n), 2 * n);
	return fails ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * The driver
 * ------------------------------------------------------------------------ */

struct meas {
	const char *name, *fn; /* row; the function --toggle-collect names */
	int inline_on;	       /* STATICCALL_INLINE=off when 0 */
	const char *label;
	long long ir[2];
	long long per_call, fixed;
};

#define MEAS(n, f, on, l)                                                      \
	{                                                                      \
		.name = n, .fn = f, .inline_on = on, .label = l                \
	}
static struct meas ms[] = {
	MEAS("direct", "ir_direct", 1, "direct call"),
	MEAS("inline", "ir_inline", 1, "static call, inline site"),
	MEAS("tramp", "ir_tramp", 1, "static call, trampoline (call + jmp)"),
	MEAS("inline_off", "ir_inline", 0,
	     "the inline loop, STATICCALL_INLINE=off (call + jmp)"),
	MEAS("direct1", "ir_direct1", 1,
	     "direct call to ci_t1 (+ one call before)"),
	MEAS("updated", "ir_updated", 1,
	     "inline site after an update to ci_t1 (+ one call before)"),
};
#define NMEAS (sizeof(ms) / sizeof(ms[0]))

static char valgrind[4096];

/* valgrind from CMake's find_program, else from PATH. */
static int find_valgrind(void)
{
	const char *path = getenv("PATH");

	if (SC_VALGRIND[0] && access(SC_VALGRIND, X_OK) == 0) {
		snprintf(valgrind, sizeof(valgrind), "%s", SC_VALGRIND);
		return 0;
	}
	while (path && *path) {
		size_t len = strcspn(path, ":");
		snprintf(valgrind, sizeof(valgrind), "%.*s/valgrind", (int)len,
			 path);
		if (len && access(valgrind, X_OK) == 0)
			return 0;
		path += len + (path[len] == ':');
	}
	return -1;
}

static void show_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	if (f)
		fclose(f);
}

/* Run `valgrind --tool=callgrind --toggle-collect=fn self --child n`; the
 * instructions counted, or -1. */
static long long run_callgrind(const char *self, const char *dir,
			       const struct meas *m, long n)
{
	char out[4200], log[4200], toggle[128], outopt[4300], narg[32];
	char line[256];
	long long ir = -1;
	int status;
	pid_t pid;
	FILE *f;

	snprintf(out, sizeof(out), "%s/cg.%s.%ld", dir, m->name, n);
	snprintf(log, sizeof(log), "%s/log.%s.%ld", dir, m->name, n);
	snprintf(toggle, sizeof(toggle), "--toggle-collect=%s", m->fn);
	snprintf(outopt, sizeof(outopt), "--callgrind-out-file=%s", out);
	snprintf(narg, sizeof(narg), "%ld", n);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (m->inline_on)
			unsetenv("STATICCALL_INLINE");
		else
			setenv("STATICCALL_INLINE", "off", 1);
		execl(valgrind, "valgrind", "-q", "--tool=callgrind", outopt,
		      toggle, self, "--child", narg, (char *)NULL);
		perror(valgrind);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr,
			"callgrind_inline: %s (%s, N = %ld) under callgrind "
			"failed; its output:\n",
			m->fn, m->inline_on ? "inline on" : "inline off", n);
		show_file(log);
		return -1;
	}
	f = fopen(out, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "totals:", 7) == 0 ||
		    (ir < 0 && strncmp(line, "summary:", 8) == 0))
			ir = strtoll(strchr(line, ':') + 1, NULL, 10);
	if (f)
		fclose(f);
	if (ir < 0)
		fprintf(stderr, "callgrind_inline: no totals in %s\n", out);
	return ir;
}

static const struct meas *find(const char *name)
{
	for (size_t i = 0; i < NMEAS; i++)
		if (strcmp(ms[i].name, name) == 0)
			return &ms[i];
	abort();
}

/* @a costs @extra instructions per call more than @b (and, if @fixed_too,
 * the same fixed part within SETUP_SLACK); the verdict goes to @o. */
static int check_equal(FILE *o, const char *a, const char *b, long long extra,
		       int fixed_too)
{
	const struct meas *x = find(a), *y = find(b);
	int ok = x->per_call == y->per_call + extra;

	if (fixed_too) {
		long long d = x->fixed - y->fixed;
		ok = ok && d <= SETUP_SLACK && d >= -SETUP_SLACK;
	}
	fprintf(o,
		"%-4s %s: %lld instructions per call (fixed %lld); %s: %lld "
		"(fixed %lld); expected %s%s\n",
		ok ? "ok" : "FAIL", a, x->per_call, x->fixed, b, y->per_call,
		y->fixed, extra ? "one more per call" : "the same per call",
		fixed_too ? ", fixed parts within " SLACK_STR : "");
	return ok ? 0 : 1;
}

static int skip(const char *why)
{
	printf("SKIPPED: %s\n", why);
	return 77;
}

int main(int argc, char **argv)
{
	char self[4096], dir[] = "/tmp/sc-callgrind-XXXXXX";
	long n[2] = {N1, 2 * N1};
	int csv = 0, bad = 0;
	ssize_t len;

	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child(atol(argv[2]));
	if (argc == 2 && strcmp(argv[1], "--csv") == 0)
		csv = 1;
	else if (argc != 1) {
		fprintf(stderr, "usage: callgrind_inline [--csv]\n");
		return 2;
	}
	if (CI_SANITIZED != 0 || SC_TEST_SANITIZE[0] != 0)
		return skip("sanitizer build: valgrind cannot run a program "
			    "built with AddressSanitizer (both reserve the "
			    "address space and replace malloc); the gcc and "
			    "clang builds run this test");
#ifndef SC_HAVE_VALGRIND_H
	return skip("valgrind/valgrind.h was not found at configure time: "
		    "the library cannot make valgrind re-translate the code "
		    "it patches (apt-get install valgrind)");
#endif
	if (find_valgrind())
		return skip("valgrind is not installed (apt-get install "
			    "valgrind)");
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return 1;
	self[len] = 0;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}

	for (size_t i = 0; i < NMEAS && !bad; i++) {
		for (int k = 0; k < 2 && !bad; k++) {
			ms[i].ir[k] = run_callgrind(self, dir, &ms[i], n[k]);
			if (ms[i].ir[k] < 0)
				bad = 1;
		}
		if (bad)
			break;
		long long d = ms[i].ir[1] - ms[i].ir[0];
		ms[i].per_call = d / (n[1] - n[0]);
		ms[i].fixed = ms[i].ir[0] - ms[i].per_call * n[0];
		if (!bad && d % (n[1] - n[0]) != 0) {
			printf("FAIL %s: %lld instructions more for %ld more "
			       "calls, not a whole number per call\n",
			       ms[i].name, d, n[1] - n[0]);
			bad = 1;
		}
	}
	if (!bad) {
		if (csv)
			printf("case,function,inline,label,n1,ir_n1,n2,ir_n2,"
			       "per_call,fixed,per_call_minus_direct\n");
		else
			printf("%-11s %-11s %11s %11s %9s %6s  %s\n", "case",
			       "function", "Ir N=10000", "Ir N=20000",
			       "per call", "fixed", "what");
		for (size_t i = 0; i < NMEAS; i++) {
			const struct meas *m = &ms[i];
			const struct meas *ref = find(
				strcmp(m->fn, "ir_direct1") == 0 ||
						strcmp(m->fn, "ir_updated") == 0
					? "direct1"
					: "direct");
			if (csv)
				printf("%s,%s,%s,\"%s\",%ld,%lld,%ld,%lld,%lld,"
				       "%lld,%lld\n",
				       m->name, m->fn,
				       m->inline_on ? "on" : "off", m->label,
				       n[0], m->ir[0], n[1], m->ir[1],
				       m->per_call, m->fixed,
				       m->per_call - ref->per_call);
			else
				printf("%-11s %-11s %11lld %11lld %9lld %6lld  "
				       "%s\n",
				       m->name, m->fn, m->ir[0], m->ir[1],
				       m->per_call, m->fixed, m->label);
		}
		/* in CSV mode, the verdicts go to stderr */
		FILE *o = csv ? stderr : stdout;
		bad |= check_equal(o, "inline", "direct", 0, 1);
		bad |= check_equal(o, "tramp", "direct", 1, 0);
		bad |= check_equal(o, "inline_off", "direct", 1, 0);
		bad |= check_equal(o, "updated", "direct1", 0, 1);
	}
	if (!bad) {
		for (size_t i = 0; i < NMEAS; i++)
			for (int k = 0; k < 2; k++) {
				char p[4200];
				snprintf(p, sizeof(p), "%s/cg.%s.%ld", dir,
					 ms[i].name, n[k]);
				unlink(p);
				snprintf(p, sizeof(p), "%s/log.%s.%ld", dir,
					 ms[i].name, n[k]);
				unlink(p);
			}
		rmdir(dir);
	} else {
		fprintf(stderr, "callgrind_inline: outputs kept in %s\n", dir);
	}
	return bad ? 1 : 0;
}
