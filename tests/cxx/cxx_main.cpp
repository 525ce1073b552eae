/* SPDX-License-Identifier: MIT */
/*
 * Every public macro from C++ (tests/cxx, built with g++ or clang++ as
 * C++11): static calls defined in cxx_def.cpp and in a shared library
 * (cxx_lib.cpp), declared in cxx.h, called, updated, queried and batched
 * here; static keys and key arrays toggled here with sites here, in the
 * library, in inline functions, a class and templates; inline call sites
 * (both modules are linked with staticcall_inline()); exceptions through
 * static calls; and DEFINE_STATIC_CALL_UNSET, whose call aborts with a
 * message naming it (in fork children) until it is updated.
 */
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "cxx.h"

extern "C" {
#include "proc.h"
int sc_test_count_wx(void); /* tests/common.c */
}

int cx_local_call(int x);

static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__,     \
				     __LINE__, #cond);                         \
			failures++;                                            \
		}                                                              \
	} while (0)
#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long a_ = static_cast<long long>(a),                      \
			  b_ = static_cast<long long>(b);                      \
		if (a_ != b_) {                                                \
			std::fprintf(stderr,                                   \
				     "FAIL %s:%d: %s == %lld, not %s "         \
				     "== %lld\n",                              \
				     __FILE__, __LINE__, #a, a_, #b, b_);      \
			failures++;                                            \
		}                                                              \
	} while (0)

static int sub1(int x) { return x - 1; }

/*
 * Before main(), in C++ dynamic initialisation: this file is linked before
 * cxx_def.cpp, so its initialisers run first, and cx_start's key and
 * trampoline must already be usable then (constant-initialised: a key
 * initialised later would undo this update).
 */
static int start_err = -1;
static struct set_at_start {
	set_at_start()
	{
		start_err = static_call_update(cx_start, cx::times10);
	}
} set_at_start_;

/* Calls through the sites of this file: not inlined, so that each is a
 * site of its own that static_call_sites() can list. */
__attribute__((noinline)) static int call_op(int x)
{
	return static_call(cx_op)(x);
}
__attribute__((noinline)) static int call_unset(int x)
{
	return static_call(cx_unset)(x) + 1; /* not a tail call */
}
__attribute__((noinline)) static void cond_unset_void(int x)
{
	static_call_cond(cx_unset_void)(x);
	cx_hits++;
}

static void test_calls_and_updates(void)
{
	CHECK_EQ(static_call(cx_op)(1), 2);
	CHECK_EQ(call_op(1), 2);
	CHECK_EQ(cxl_call_cx(1), 2);
	CHECK(static_call_query(cx_op) == &cx::add1);
	CHECK_EQ(cx_local_call(5), 15);

	CHECK_EQ(static_call_update(cx_op, sub1), 0);
	CHECK_EQ(call_op(10), 9);
	CHECK_EQ(cxl_call_cx(10), 9);
	CHECK(static_call_query(cx_op) == &sub1);
	CHECK_EQ(static_call_update(cx_op, &cx::times10), 0);
	CHECK_EQ(call_op(4), 40);

	/* an overloaded name: the overload of the call's type */
	CHECK_EQ(static_call_update(cx_op, cx::pick), 0);
	CHECK_EQ(call_op(1), 1001);
	/* a captureless lambda, as a function pointer */
	int (*lambda)(int) = [](int x) { return x * x; };
	CHECK_EQ(static_call_update(cx_op, lambda), 0);
	CHECK_EQ(call_op(7), 49);
	CHECK(static_call_query(cx_op) == lambda);
#if __cplusplus >= 202002L /* a lambda in an unevaluated operand */
	CHECK_EQ(static_call_update(
			 cx_op, +[](int x) { return x + 100; }),
		 0);
	CHECK_EQ(call_op(1), 101);
#endif

	/* return 0, and the null pointer constants */
	CHECK_EQ(static_call_update(cx_op, static_call_return0), 0);
	CHECK_EQ(call_op(7), 0);
	CHECK(static_call_query(cx_op) ==
	      reinterpret_cast<int (*)(int)>(static_call_return0));
	CHECK_EQ(static_call_update(cx_op, nullptr), 0);
	CHECK(static_call_query(cx_op) == nullptr);
	CHECK_EQ(static_call_update(cx_op, NULL), 0);
	CHECK_EQ(static_call_update(cx_op, 0), 0);
	CHECK(static_call_query(cx_op) == nullptr);

	/* RET0 definition, a pointer-free signature with two parameters */
	CHECK_EQ(static_call(cx_ret0)("x", 3), 0);
	CHECK(static_call_query(cx_ret0) ==
	      reinterpret_cast<int (*)(const char *, unsigned long)>(
		      static_call_return0));

	/* the library's static call, from here */
	CHECK_EQ(cxl_call(5), -5);
	CHECK_EQ(static_call(cxl_op)(6), -6);
	CHECK_EQ(static_call_update(cxl_op, cx::add1), 0);
	CHECK_EQ(cxl_call(5), 6);

	CHECK_EQ(static_call_update(cx_op, cx::add1), 0);
	CHECK_EQ(call_op(1), 2);
}

static void test_cond(void)
{
	cx_hits = 0;
	CHECK(static_call_query(cx_void) == nullptr);
	static_call_cond(cx_void)(5); /* NULL: no call */
	CHECK_EQ(cx_hits, 0);
	CHECK_EQ(static_call_update(cx_void, cx_count), 0);
	static_call_cond(cx_void)(5);
	static_call(cx_void)(2);
	CHECK_EQ(cx_hits, 7);
	CHECK_EQ(static_call_update(cx_void, nullptr), 0);
	static_call_cond(cx_void)(5);
	CHECK_EQ(cx_hits, 7);
}

static void test_batch(void)
{
	struct static_call_batch_entry ents[8];
	struct static_call_batch b;

	CHECK_EQ(static_call_batch_init(&b, ents, 8), 0);
	CHECK_EQ(static_call_batch_add(&b, cx_op, cx::times10), 0);
	CHECK_EQ(static_call_batch_add(&b, cxl_op, sub1), 0);
	CHECK_EQ(static_call_batch_add(&b, cx_void, cx_count), 0);
	CHECK_EQ(static_call_batch_add(&b, cx_ret0, static_call_return0), 0);
	CHECK_EQ(static_branch_batch_enable(&b, &cx_kf), 0);
	CHECK_EQ(static_branch_batch_disable(&b, &cx_kta[3]), 0);
	CHECK_EQ(b.count, 6u);
	CHECK_EQ(static_call_batch_commit(&b), 0);
	CHECK_EQ(b.count, 0u);
	CHECK_EQ(call_op(3), 30);
	CHECK_EQ(cxl_call(3), 2);
	CHECK(static_key_enabled(&cx_kf));
	CHECK(!static_key_enabled(&cx_kta[3]));
	CHECK_EQ(cx_branches() & 1, 1);
	CHECK_EQ(cx_arrays() & 0xf, 0x7);

	/* and back */
	CHECK_EQ(static_call_batch_add(&b, cx_op, cx::add1), 0);
	CHECK_EQ(static_call_batch_add(&b, cxl_op, nullptr), 0);
	CHECK_EQ(static_branch_batch_disable(&b, &cx_kf), 0);
	CHECK_EQ(static_branch_batch_enable(&b, &cx_kta[3]), 0);
	CHECK_EQ(static_call_batch_commit(&b), 0);
	CHECK_EQ(call_op(3), 4);
	CHECK(static_call_query(cxl_op) == nullptr);
	CHECK_EQ(cx_branches() & 1, 0);
	CHECK_EQ(cx_arrays() & 0xf, 0xf);
	static_call_batch_reset(&b);
	CHECK_EQ(b.count, 0u);
}

static void test_keys(void)
{
	cx_widget w(10);

	/* initial states, at sites in this module and in the library */
	CHECK_EQ(cx_branches(), 2);
	CHECK_EQ(cxl_branches(), 2);
	CHECK(!static_key_enabled(&cx_kf));
	CHECK(static_key_enabled(&cx_kt));
	CHECK_EQ(static_key_count(&cx_kt), 1);
	CHECK_EQ(w.run(1), 12);

	CHECK_EQ(static_branch_enable(&cx_kf), 0);
	CHECK_EQ(static_branch_disable(&cx_kt), 0);
	CHECK_EQ(static_branch_enable(&cxl_key), 0);
	CHECK_EQ(cx_branches(), 1 | 4);
	CHECK_EQ(cxl_branches(), 1 | 4);
	CHECK_EQ(w.run(1), -12);

	/* counted: inc/dec, and a dec below zero is refused */
	CHECK_EQ(static_branch_inc(&cx::ns_key), 0);
	CHECK_EQ(static_branch_inc(&cx::ns_key), 0);
	CHECK_EQ(static_key_count(&cx::ns_key), 2);
	CHECK_EQ(cx_branches() & 8, 8);
	CHECK_EQ(static_branch_dec(&cx::ns_key), 0);
	CHECK_EQ(cxl_branches() & 8, 8);
	CHECK_EQ(static_branch_dec(&cx::ns_key), 0);
	CHECK_EQ(cx_branches() & 8, 0);
	CHECK_EQ(cxl_branches() & 8, 0);
	CHECK_EQ(static_branch_dec(&cx::ns_key), -EINVAL);
	CHECK_EQ(static_key_count(&cx::ns_key), 0);

	CHECK_EQ(static_branch_disable(&cx_kf), 0);
	CHECK_EQ(static_branch_enable(&cx_kt), 0);
	CHECK_EQ(static_branch_disable(&cxl_key), 0);
	CHECK_EQ(cx_branches(), 2);
	CHECK_EQ(cxl_branches(), 2);
	CHECK_EQ(w.run(1), 12);
}

static void test_key_arrays(void)
{
	/* true keys on, false keys off, in both modules' copies of the
	 * template sites */
	CHECK_EQ(cx_arrays(), 0xf | 3 << 7);
	CHECK_EQ(cxl_arrays(), 0xf | 3 << 7);
	for (int i = 0; i < 4; i++) {
		CHECK(static_key_enabled(&cx_kta[i]));
		CHECK_EQ(static_key_count(&cx_kta[i]), 1);
	}
	for (int i = 0; i < 3; i++)
		CHECK(!static_key_enabled(&cx_kfa[i]));

	/* one element at a time */
	CHECK_EQ(static_branch_disable(&cx_kta[1]), 0);
	CHECK_EQ(static_branch_enable(&cx_kfa[2]), 0);
	CHECK_EQ(static_branch_disable(&cxl_kta[0]), 0);
	CHECK_EQ(cx_arrays(), 0xd | 4 << 4 | 2 << 7);
	CHECK_EQ(cxl_arrays(), 0xd | 4 << 4 | 2 << 7);
	CHECK_EQ(static_branch_enable(&cx_kta[1]), 0);
	CHECK_EQ(static_branch_disable(&cx_kfa[2]), 0);
	CHECK_EQ(static_branch_enable(&cxl_kta[0]), 0);
	CHECK_EQ(cx_arrays(), 0xf | 3 << 7);
	CHECK_EQ(cxl_arrays(), 0xf | 3 << 7);
}

static void test_inline_sites(void)
{
	struct static_call_site s[32];
	int n, inl = 0;

	/* call_op() and cx_widget::run() at least, in this executable */
	CHECK_EQ(static_call_update(cx_op, cx::times10), 0);
	n = static_call_sites(cx_op, s, 32);
	CHECK(n >= 2 && n <= 32);
	for (int i = 0; i < n && i < 32; i++) {
		CHECK(s[i].state == STATIC_CALL_SITE_INLINE ||
		      s[i].state == STATIC_CALL_SITE_TRAMPOLINE);
		if (s[i].state == STATIC_CALL_SITE_INLINE) {
			CHECK(s[i].target ==
			      reinterpret_cast<void *>(&cx::times10));
			inl++;
		}
	}
	CHECK(inl >= 2); /* the executable's sites reach the target */
	CHECK_EQ(call_op(2), 20);
	CHECK_EQ(cxl_call_cx(2), 20);
	CHECK_EQ(static_call_update(cx_op, nullptr), 0);
	n = static_call_sites(cx_op, s, 32);
	for (int i = 0; i < n && i < 32; i++)
		CHECK(s[i].state != STATIC_CALL_SITE_INLINE);
	CHECK_EQ(static_call_update(cx_op, cx::add1), 0);
	CHECK_EQ(call_op(2), 3);

	/* the library's own site of its own static call: inline there */
	CHECK_EQ(static_call_update(cxl_op, cx::add1), 0);
	CHECK_EQ(cxl_call(1), 2);
	n = static_call_sites(cxl_op, s, 32);
	CHECK(n >= 1);
	CHECK_EQ(static_call_update(cxl_op, nullptr), 0);
}

static void test_exceptions(void)
{
	int caught = 0;

	/* through an inline site and through the trampoline (the library
	 * reaches cx_op's target from more than 2 GiB away, or not) */
	CHECK_EQ(static_call_update(cx_op, cx::thrower), 0);
	try {
		call_op(5);
	} catch (const cx::oops &e) {
		caught += e.v;
	}
	try {
		cxl_call_cx(6);
	} catch (const cx::oops &e) {
		caught += e.v;
	}
	CHECK_EQ(caught, 11);
	CHECK_EQ(static_call_update(cx_op, cx::add1), 0);
}

/* Runs @fn(@arg) in a child with stderr to a pipe: what it printed, and
 * whether it died of SIGABRT. */
static std::string die(void (*fn)(int), int arg, bool *aborted)
{
	int p[2];
	std::string out;
	char buf[512];
	ssize_t n;
	int st = 0;

	*aborted = false;
	if (pipe(p) != 0)
		return "pipe failed";
	std::fflush(nullptr);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		fn(arg);
		_exit(0); /* the call returned: not what UNSET promises */
	}
	close(p[1]);
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		out.append(buf, static_cast<size_t>(n));
	close(p[0]);
	waitpid(pid, &st, 0);
	*aborted = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
	return out;
}

static void child_call_unset(int x) { _exit(call_unset(x)); }
static void child_cond_unset(int x) { cond_unset_void(x); }
static void child_lib_unset(int x) { _exit(cxl_call_unset(x)); }

static void test_unset(void)
{
	bool ab;
	std::string msg;

	CHECK(static_call_query(cx_unset) == nullptr);
	CHECK(static_call_query(cx_unset_void) == nullptr);
	CHECK(static_call_query(cxl_unset) == nullptr);

	msg = die(child_call_unset, 1, &ab);
	CHECK(ab);
	CHECK(msg.find("static call 'cx_unset' called before "
		       "static_call_update()") != std::string::npos);
	msg = die(child_cond_unset, 1, &ab); /* cond aborts too */
	CHECK(ab);
	CHECK(msg.find("static call 'cx_unset_void'") != std::string::npos);
	msg = die(child_lib_unset, 1, &ab);
	CHECK(ab);
	CHECK(msg.find("static call 'cxl_unset'") != std::string::npos);
	if (failures)
		std::fprintf(stderr, "the children printed: %s\n", msg.c_str());

	CHECK_EQ(static_call_update(cx_unset, cx::times10), 0);
	CHECK_EQ(call_unset(2), 21);
	CHECK(static_call_query(cx_unset) == &cx::times10);
	CHECK_EQ(static_call_update(cx_unset_void, cx_count), 0);
	cx_hits = 0;
	cond_unset_void(4);
	CHECK_EQ(cx_hits, 5);
	CHECK_EQ(static_call_update(cxl_unset, cx::add1), 0);
	CHECK_EQ(cxl_call_unset(1), 3);
	/* NULL afterwards is a NULL call, not the stub */
	CHECK_EQ(static_call_update(cx_unset_void, nullptr), 0);
	cond_unset_void(4);
	CHECK_EQ(cx_hits, 6);
	CHECK(static_call_query(cx_unset_void) == nullptr);
}

int main()
{
	sc_test_watchdog(60);
	if (sc_test_wait_unblocked() != 0)
		std::fprintf(stderr, "a thread still blocks SIGTRAP\n");

	CHECK_EQ(start_err, 0);
	CHECK_EQ(static_call(cx_start)(4), 40);
	CHECK(static_call_query(cx_start) == &cx::times10);

	test_unset(); /* first: the children must find the stubs */
	test_calls_and_updates();
	test_cond();
	test_keys();
	test_key_arrays();
	test_batch();
	test_inline_sites();
	test_exceptions();
	CHECK_EQ(sc_test_count_wx(), 0);

	std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed",
		    failures);
	return failures ? 1 : 0;
}
