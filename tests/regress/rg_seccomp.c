/* SPDX-License-Identifier: MIT */
/* Seccomp fault injection for the regression tests (rg_seccomp.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "proc.h"
#include "rg_seccomp.h"

struct rg_inject rg_inj;

#if defined(__x86_64__)
#define RG_AUDIT_ARCH AUDIT_ARCH_X86_64
/* A system call's arguments and result in a signal context. */
#define RG_ARG(uc, i)                                                          \
	((uc)->uc_mcontext.gregs[(int[]){REG_RDI, REG_RSI, REG_RDX, REG_R10,   \
					 REG_R8, REG_R9}[i]])
#define RG_RESULT(uc) ((uc)->uc_mcontext.gregs[REG_RAX])
#elif defined(__aarch64__)
#define RG_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define RG_ARG(uc, i) ((uc)->uc_mcontext.regs[i])
#define RG_RESULT(uc) ((uc)->uc_mcontext.regs[0])
#else
#error "rg_seccomp.c: no port for this architecture"
#endif

static struct sock_filter stmt(uint16_t code, uint32_t k)
{
	return (struct sock_filter){code, 0, 0, k};
}

static struct sock_filter jeq(uint32_t k)
{
	return (struct sock_filter){BPF_JMP | BPF_JEQ | BPF_K, 0, 0, k};
}

#define LD(off) stmt(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(off))
#define RET(v) stmt(BPF_RET | BPF_K, (v))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define IP_LO offsetof(struct seccomp_data, instruction_pointer)

/* The filter of @rules into @f; its length.  @trap_action: what a trap
 * rule returns. */
static int build(const struct rg_rule *rules, int n, struct sock_filter *f,
		 uint32_t trap_action)
{
	uint64_t ip = (uint64_t)(uintptr_t)sc_test_raw_syscall_ip;
	int len = 0;

	f[len++] = LD(offsetof(struct seccomp_data, arch));
	f[len] = jeq(RG_AUDIT_ARCH);
	f[len++].jt = 1;
	f[len++] = RET(SECCOMP_RET_ALLOW);
	for (int r = 0; r < n && len < 200; r++) {
		const struct rg_rule *ru = &rules[r];
		int skips[4], ns = 0;
		f[len++] = LD(offsetof(struct seccomp_data, nr));
		skips[ns++] = len;
		f[len++] = jeq((uint32_t)ru->nr);
		if (ru->arg >= 0) {
			for (int half = 0; half < 2; half++) {
				f[len++] = LD(ARG_LO(ru->arg) + 4 * half);
				f[len++] = stmt(
					BPF_ALU | BPF_AND | BPF_K,
					(uint32_t)(ru->mask >> (32 * half)));
				skips[ns++] = len;
				f[len++] = jeq(
					(uint32_t)(ru->value >> (32 * half)));
			}
		}
		if (ru->trap) {
			/* from sc_test_raw_syscall_ip: allowed */
			f[len++] = LD(IP_LO);
			f[len] = jeq((uint32_t)ip);
			f[len++].jf = 3;
			f[len++] = LD(IP_LO + 4);
			f[len] = jeq((uint32_t)(ip >> 32));
			f[len++].jf = 1;
			f[len++] = RET(SECCOMP_RET_ALLOW);
			f[len++] = RET(trap_action);
		} else {
			f[len++] = RET(SECCOMP_RET_ERRNO |
				       ((uint32_t)ru->err & SECCOMP_RET_DATA));
		}
		for (int s = 0; s < ns; s++)
			f[skips[s]].jf = (uint8_t)(len - skips[s] - 1);
	}
	f[len++] = RET(SECCOMP_RET_ALLOW);
	return len;
}

int rg_seccomp_refused_by_emulator(const char *what)
{
	struct sock_filter allow = RET(SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {1, &allow};
	int status = 0;
	pid_t pid;

	if (!getenv("SC_TEST_EMULATOR"))
		return 0;
	/* try in a child: a filter cannot be removed */
	pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) !=
			    0)
			_exit(1);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return 0;
	printf("%s: skipped: the emulator refuses seccomp filters\n", what);
	return 1;
}

int rg_seccomp(const struct rg_rule *rules, int n)
{
	struct sock_filter f[256];
	struct sock_fprog prog;

	prog.len = (unsigned short)build(rules, n, f, SECCOMP_RET_TRAP);
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
		return errno ? -errno : -ESRCH;
	return 0;
}

static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	long a[6];
	long k;

	(void)sig;
	for (int i = 0; i < 6; i++)
		a[i] = (long)RG_ARG(uc, i);
	k = atomic_fetch_add(&rg_inj.seen, 1) + 1;
	if (atomic_load(&rg_inj.armed) && k >= rg_inj.first) {
		atomic_fetch_add(&rg_inj.failed, 1);
		RG_RESULT(uc) = -rg_inj.err;
		return;
	}
	RG_RESULT(uc) = sc_test_raw_syscall6(si->si_syscall, a[0], a[1], a[2],
					     a[3], a[4], a[5]);
}

int rg_inject_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) == 0 ? 0 : -errno;
}

static void *supervise(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;

	for (;;) {
		long k;
		memset(&req, 0, sizeof(req));
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			return NULL;
		}
		memset(&resp, 0, sizeof(resp));
		resp.id = req.id;
		k = atomic_fetch_add(&rg_inj.seen, 1) + 1;
		if (atomic_load(&rg_inj.armed) && k >= rg_inj.first) {
			atomic_fetch_add(&rg_inj.failed, 1);
			resp.error = -rg_inj.err;
		} else {
			resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		}
		ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
}

int rg_seccomp_notify(const struct rg_rule *rules, int n)
{
	struct sock_filter f[256];
	struct sock_fprog prog;
	pthread_t t;
	long fd;

	prog.len = (unsigned short)build(rules, n, f, SECCOMP_RET_USER_NOTIF);
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		     SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (fd < 0)
		return -errno;
	if (pthread_create(&t, NULL, supervise, (void *)(intptr_t)fd) != 0)
		return -EAGAIN;
	pthread_detach(t);
	return 0;
}
