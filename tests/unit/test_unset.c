/* SPDX-License-Identifier: MIT */
/*
 * DEFINE_STATIC_CALL_UNSET: until the first update, a call aborts with a
 * message naming the static call and its caller (checked in fork
 * children), static_call_query() is NULL; an update (alone or in a batch)
 * replaces the stub like any target.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int add1(int x) { return x + 1; }
static int times3(int x) { return 3 * x; }
static int hits;
static void bump(int by) { hits += by; }

DEFINE_STATIC_CALL_UNSET(un_op, add1);
DEFINE_STATIC_CALL_UNSET(un_void, bump);
DEFINE_STATIC_CALL_UNSET(un_batch, int(int)); /* a type, no typedef */
DEFINE_STATIC_CALL_UNSET(un_ptr, getenv);     /* returns a pointer */

/* Exported (ENABLE_EXPORTS), not inlined, and not a tail call: the
 * message names them as the caller. */
__attribute__((noinline)) int unset_caller(int x);
__attribute__((noinline)) int unset_caller(int x)
{
	return static_call(un_op)(x) + 1;
}
__attribute__((noinline)) void unset_cond_caller(int x);
__attribute__((noinline)) void unset_cond_caller(int x)
{
	static_call_cond(un_void)(x);
	hits++;
}

/* Runs @fn(@arg) in a child whose stderr goes to @out; returns the wait
 * status. */
static int in_child(void (*fn)(int), int arg, char *out, size_t size)
{
	int p[2], st = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		fn(arg);
		_exit(0); /* returned: the test fails on the status */
	}
	close(p[1]);
	while (got + 1 < size &&
	       (n = read(p[0], out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void child_call(int x) { _exit(unset_caller(x)); }
static void child_cond(int x) { unset_cond_caller(x); }
static void child_ptr(int x)
{
	(void)x;
	_exit(static_call(un_ptr)("HOME") != NULL);
}

static void test_query_null(void **state)
{
	(void)state;
	assert_null(static_call_query(un_op));
	assert_null(static_call_query(un_void));
	assert_null(static_call_query(un_batch));
	assert_null(static_call_query(un_ptr));
}

static void test_call_aborts(void **state)
{
	char out[1024];
	int st;

	(void)state;
	st = in_child(child_call, 1, out, sizeof(out));
	printf("child printed: %s", out);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	assert_non_null(strstr(out, "libstaticcall: static call 'un_op' "
				    "called before static_call_update() gave "
				    "it a target (DEFINE_STATIC_CALL_UNSET)"));
	assert_non_null(strstr(out, "(unset_caller+0x"));

	/* static_call_cond() too: unset is not NULL */
	st = in_child(child_cond, 1, out, sizeof(out));
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	assert_non_null(strstr(out, "static call 'un_void'"));
	assert_non_null(strstr(out, "(unset_cond_caller+0x"));

	st = in_child(child_ptr, 1, out, sizeof(out));
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	assert_non_null(strstr(out, "static call 'un_ptr'"));
}

static void test_update_then_call(void **state)
{
	(void)state;
	assert_int_equal(static_call_update(un_op, times3), 0);
	assert_ptr_equal(static_call_query(un_op), times3);
	assert_int_equal(unset_caller(2), 7);
	assert_int_equal(static_call_update(un_op, add1), 0);
	assert_int_equal(unset_caller(2), 4);

	assert_int_equal(static_call_update(un_void, bump), 0);
	hits = 0;
	unset_cond_caller(5);
	assert_int_equal(hits, 6);
	/* NULL afterwards: a NULL call, not the stub again */
	assert_int_equal(static_call_update(un_void, NULL), 0);
	assert_null(static_call_query(un_void));
	unset_cond_caller(5);
	assert_int_equal(hits, 7);

	assert_int_equal(static_call_update(un_ptr, static_call_return0), 0);
	assert_null(static_call(un_ptr)("HOME"));
	assert_ptr_equal(static_call_query(un_ptr), static_call_return0);
}

static void test_batch(void **state)
{
	struct static_call_batch_entry ents[4];
	struct static_call_batch b;

	(void)state;
	assert_int_equal(static_call_batch_init(&b, ents, 4), 0);
	assert_int_equal(static_call_batch_add(&b, un_batch, times3), 0);
	assert_int_equal(static_call_batch_add(&b, un_op, times3), 0);
	assert_int_equal(static_call_batch_commit(&b), 0);
	assert_int_equal(static_call(un_batch)(5), 15);
	assert_ptr_equal(static_call_query(un_batch), times3);
	assert_int_equal(unset_caller(1), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_null),
		cmocka_unit_test(test_call_aborts),
		cmocka_unit_test(test_update_then_call),
		cmocka_unit_test(test_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
