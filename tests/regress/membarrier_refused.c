/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 5: membarrier refused after the first update.
 *
 * In a fork child: two threads call a static call and run a key site in a
 * loop; one update and one toggle succeed (membarrier is registered);
 * then a seccomp filter makes every membarrier() fail, with EPERM in one
 * child and ENOSYS in another.  Asserts: with those threads running, each
 * of 20 updates and 20 toggles returns a negative errno (docs/api.md: no
 * way to synchronise the cores and several threads: -ENOSYS), and a
 * failed one changed nothing (the old target is reached, the key keeps
 * its state); once the other threads are gone (one thread left), an
 * update and a toggle work.  Unless the library finds another way to make
 * every core serialise (then this test must learn about it), an update
 * that could not synchronise must not return 0.
 *
 * On the code of issue 13: trap-free updates (trampolines) store the new
 * instruction, the sync fails with a warning and the update returns 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "regress.h"

/* the filter lets through the calls of any other ABI */
#if defined(__x86_64__)
#define SC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static int op_a(int x) { return x * 4 + 1; }
static int op_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_mb_op, op_a);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

/* membarrier() fails with @err from now on, in every thread. */
static int refuse_membarrier(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SC_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO |
				 ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])),
				  f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
		return -errno;
	return 0;
}

static _Atomic int stop;

static void *caller(void *arg)
{
	int x = 1;
	(void)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = static_call(rg_mb_op)(x);
		RG_CHECK(r == op_a(x) || r == op_b(x), "wrong result %d", r);
		exe_probe();
		x = x % 100000 + 1;
	}
	return NULL;
}

static int scenario(void *arg)
{
	int err_code = (int)(intptr_t)arg, fails = 0, first = 0;
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		RG_CHECK(pthread_create(&t[i], NULL, caller, NULL) == 0,
			 "thread");
	RG_CHECK(sc_test_wait_unblocked() == 0, "threads did not start");
	RG_CHECK(static_call_update(rg_mb_op, op_b) == 0, "first update");
	RG_CHECK(static_call_update(rg_mb_op, op_a) == 0, "second update");
	RG_CHECK(static_branch_enable(&rg_exe_key) == 0, "first toggle");
	RG_CHECK(static_branch_disable(&rg_exe_key) == 0, "second toggle");
	RG_CHECK(refuse_membarrier(err_code) == 0, "seccomp: %s",
		 strerror(errno));

	for (int i = 0; i < 20; i++) {
		int err = static_call_update(rg_mb_op, op_b);
		RG_CHECK(err < 0,
			 "update %d returned %d with membarrier refused (%s) "
			 "and 3 threads",
			 i, err, strerror(err_code));
		RG_CHECK(static_call(rg_mb_op)(5) == op_a(5) &&
				 static_call_query(rg_mb_op) == op_a,
			 "a failed update changed the target");
		err = static_branch_enable(&rg_exe_key);
		RG_CHECK(err < 0,
			 "toggle %d returned %d with membarrier refused (%s) "
			 "and 3 threads",
			 i, err, strerror(err_code));
		RG_CHECK(exe_probe() == 0 && !static_key_enabled(&rg_exe_key),
			 "a failed toggle changed the key");
		fails += 2;
		if (!first)
			first = err;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* one thread: nothing else to synchronise */
	RG_CHECK(static_call_update(rg_mb_op, op_b) == 0, "update alone");
	RG_CHECK(static_call(rg_mb_op)(5) == op_b(5), "target alone");
	RG_CHECK(static_branch_enable(&rg_exe_key) == 0, "toggle alone");
	RG_CHECK(exe_probe() == 1, "site alone");
	printf("membarrier refused (%s): %d updates and toggles failed "
	       "(%s); alone: done\n",
	       strerror(err_code), fails, strerror(-first));
	return 0;
}

static void test_membarrier_eperm(void **state)
{
	(void)state;
	assert_true(rg_exited(rg_child("membarrier EPERM", scenario,
				       (void *)(intptr_t)EPERM, 20),
			      0));
}

static void test_membarrier_enosys(void **state)
{
	(void)state;
	assert_true(rg_exited(rg_child("membarrier ENOSYS", scenario,
				       (void *)(intptr_t)ENOSYS, 20),
			      0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_membarrier_eperm),
		cmocka_unit_test(test_membarrier_enosys),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
