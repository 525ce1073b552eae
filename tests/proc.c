/* SPDX-License-Identifier: MIT */
/* Test helpers that do not use the library (see proc.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

double sc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double sc_test_slowdown(void) { return getenv("SC_TEST_EMULATOR") ? 20 : 1; }

double sc_test_seconds(double dflt)
{
	const char *e = getenv("STATICCALL_TEST_SECONDS");
	double v = e ? atof(e) : 0;
	return v > 0 ? v : dflt;
}

/*
 * Under an emulator (SC_TEST_EMULATOR in the environment: qemu-user runs
 * the aarch64 tests, docs/aarch64.md) the process also holds threads of
 * the emulator's own, made before main(): qemu's RCU thread blocks every
 * signal.  They run no code of the program; the helpers that look at the
 * threads' signal masks leave them out.
 */
#define SC_EMU_MAX 16
static long emu_tid[SC_EMU_MAX];
static int emu_n;

/* Every thread but this one: at start-up (before main) and in a fork
 * child (qemu starts its thread again there), the emulator's. */
static void find_emulator_threads(void)
{
	long self = syscall(SYS_gettid);
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	emu_n = 0;
	while (d && (e = readdir(d)) && emu_n < SC_EMU_MAX) {
		long tid = atol(e->d_name);
		if (tid > 0 && tid != self)
			emu_tid[emu_n++] = tid;
	}
	if (d)
		closedir(d);
}

__attribute__((constructor)) static void emulator_threads_at_start(void)
{
	if (!getenv("SC_TEST_EMULATOR"))
		return;
	find_emulator_threads();
	pthread_atfork(NULL, NULL, find_emulator_threads);
}

int sc_test_emulator_thread(long tid)
{
	for (int i = 0; i < emu_n; i++)
		if (emu_tid[i] == tid)
			return 1;
	return 0;
}

int sc_test_execv(const char *path, char *const argv[])
{
	const char *emu = getenv("SC_TEST_EMULATOR");
	char *words[64], buf[1024], self[4096];
	int n = 0;

	if (!emu || !*emu)
		return execv(path, argv);
	/* "qemu-aarch64 -L /usr/aarch64-linux-gnu": the emulator, its
	 * options, then the program (an aarch64 program cannot be exec'ed
	 * from inside qemu-user without binfmt_misc) */
	snprintf(buf, sizeof(buf), "%s", emu);
	for (char *w = strtok(buf, " "); w && n < 40; w = strtok(NULL, " "))
		words[n++] = w;
	/* /proc/self/exe names the emulator once it runs: the program's
	 * own path (qemu answers the readlink with it) */
	if (strcmp(path, "/proc/self/exe") == 0) {
		ssize_t k = readlink(path, self, sizeof(self) - 1);
		if (k > 0) {
			self[k] = 0;
			path = self;
		}
	}
	words[n++] = (char *)path;
	for (int i = 1; argv[0] && argv[i] && n < 63; i++)
		words[n++] = argv[i];
	words[n] = NULL;
	return execv(words[0], words);
}

/* 1 if thread @tid blocks SIGTRAP (SigBlk in its status), else 0. */
static int blocks_sigtrap(const char *tid)
{
	char path[300], buf[2048], *p;
	ssize_t n;
	int fd;

	if (sc_test_emulator_thread(atol(tid)))
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strstr(buf, "SigBlk:");
	return p && (strtoull(p + 7, NULL, 16) >> (SIGTRAP - 1) & 1);
}

int sc_test_wait_unblocked(void)
{
	double end = sc_now() + 10;

	while (sc_now() < end) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		int blocked = 0;

		if (!d)
			return -1;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				blocked += blocks_sigtrap(e->d_name);
		closedir(d);
		if (!blocked)
			return 0;
		usleep(1000);
	}
	return -1;
}

static double watchdog_limit;

static void dump_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], buf[512];
		ssize_t n;
		int fd;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			fprintf(stderr, "  thread %s: %s", e->d_name, buf);
		}
		snprintf(path, sizeof(path), "/proc/self/task/%s/syscall",
			 e->d_name);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0) {
				buf[n] = 0;
				fprintf(stderr, "    syscall: %s", buf);
			}
		}
	}
	closedir(d);
}

/* ------------------------------------------------------------------------
 * W^X checker: a thread that reads /proc/self/maps over and over and fails
 * the test (exit status 97, the offending lines on stderr) the moment a
 * mapping is writable and executable at once, or (issue 18) a SHARED
 * WRITABLE mapping of a file whose inode also has an executable mapping in
 * the process (device and inode columns of /proc/self/maps): a write
 * through it changes code, so W^X kept per mapping is defeated per page.
 * Private writable mappings of a file (an ELF's data segment next to its
 * text) write a copy of their own and are fine.  SC_TEST_WX_ALIAS=allow in
 * the environment turns the second check off (for runs that choose the
 * in-place store protocol, which needs a writable view of code pages).
 * Plain system calls and stack buffers only.
 * ------------------------------------------------------------------------ */
static _Atomic unsigned long wx_scans;
static _Atomic int wx_pid; /* the process whose checker runs */
static _Atomic int wx_started;
static _Atomic int wx_alias_allowed;

#define WX_MAX_INODES 512

struct wx_inode {
	unsigned long dev, ino;
};

struct wx_pass {
	struct wx_inode x[WX_MAX_INODES]; /* inodes mapped executable */
	struct wx_inode w[WX_MAX_INODES]; /* inodes mapped shared + writable */
	int nx, nw;
	const struct wx_inode *only; /* print mode: the lines of this inode */
	bool printed;
};

/* The fields of a line of /proc/self/maps ("lo-hi perms off dev ino ...");
 * false if it cannot be parsed. */
static bool wx_fields(const char *l, const char *end, char perms[4],
		      struct wx_inode *in)
{
	unsigned long maj = 0, min = 0;

	in->dev = in->ino = 0;
	while (l < end && *l != ' ') /* lo-hi */
		l++;
	if (end - l < 5)
		return false;
	memcpy(perms, l + 1, 4);
	l += 5;
	while (l < end && *l == ' ')
		l++;
	while (l < end && *l != ' ') /* offset */
		l++;
	while (l < end && *l == ' ')
		l++;
	for (; l < end && *l != ':'; l++) /* dev: hex major:minor */
		maj = maj * 16 +
		      (unsigned long)(*l <= '9' ? *l - '0'
						: (*l | 32) - 'a' + 10);
	for (l++; l < end && *l != ' '; l++)
		min = min * 16 +
		      (unsigned long)(*l <= '9' ? *l - '0'
						: (*l | 32) - 'a' + 10);
	while (l < end && *l == ' ')
		l++;
	for (; l < end && *l >= '0' && *l <= '9'; l++)
		in->ino = in->ino * 10 + (unsigned long)(*l - '0');
	in->dev = maj << 20 | min;
	return true;
}

static bool wx_has(const struct wx_inode *v, int n, const struct wx_inode *in)
{
	for (int i = 0; i < n; i++)
		if (v[i].dev == in->dev && v[i].ino == in->ino)
			return true;
	return false;
}

static void wx_say(const char *msg, const char *l, const char *end)
{
	if (write(2, msg, strlen(msg)) < 0 ||
	    write(2, l, (size_t)(end - l)) < 0 || write(2, "\n", 1) < 0)
		_exit(97);
}

static void wx_fail(const char *l, const char *end)
{
	wx_say("W^X checker: a mapping is writable and executable: ", l, end);
	_exit(97);
}

/* One line: exits on a W+X mapping; collects inodes (or, in print mode,
 * prints the lines of pass->only). */
static void wx_line(struct wx_pass *pass, const char *l, const char *end)
{
	struct wx_inode in;
	char perms[4];

	if (!wx_fields(l, end, perms, &in))
		return;
	if (perms[1] == 'w' && perms[2] == 'x')
		wx_fail(l, end);
	if (in.ino == 0)
		return;
	if (pass->only) {
		if (in.dev == pass->only->dev && in.ino == pass->only->ino) {
			wx_say("W^X checker: code has a writable alias: ", l,
			       end);
			pass->printed = true;
		}
		return;
	}
	if (perms[2] == 'x' && !wx_has(pass->x, pass->nx, &in) &&
	    pass->nx < WX_MAX_INODES)
		pass->x[pass->nx++] = in;
	if (perms[1] == 'w' && perms[3] == 's' &&
	    !wx_has(pass->w, pass->nw, &in) && pass->nw < WX_MAX_INODES)
		pass->w[pass->nw++] = in;
}

/* One pass over /proc/self/maps. */
static void wx_pass_run(struct wx_pass *pass)
{
	char buf[8192];
	size_t have = 0;
	bool skip = false; /* in the tail of a line longer than buf */
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		char *line = buf, *nl;

		if (n <= 0)
			break;
		have += (size_t)n;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			if (!skip)
				wx_line(pass, line, nl);
			skip = false;
			line = nl + 1;
		}
		if (line == buf && have == sizeof(buf)) {
			/* over-long line: its head holds the fields */
			if (!skip)
				wx_line(pass, line, buf + 160);
			skip = true;
			have = 0;
			continue;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
	}
	close(fd);
}

/* One check; exits the process on a W+X mapping or a writable alias. */
static void wx_scan(void)
{
	struct wx_pass pass;

	pass.nx = pass.nw = 0;
	pass.only = NULL;
	pass.printed = false;
	wx_pass_run(&pass);
	for (int i = 0; !atomic_load(&wx_alias_allowed) && i < pass.nw; i++) {
		if (!wx_has(pass.x, pass.nx, &pass.w[i]))
			continue;
		pass.only = &pass.w[i];
		wx_pass_run(&pass); /* print the lines of that inode */
		if (!pass.printed)
			wx_say("W^X checker: code had a writable alias (its "
			       "mappings were gone when printed)",
			       "", "");
		wx_say("W^X checker: a shared writable mapping of an inode "
		       "that is also mapped executable (SC_TEST_WX_ALIAS=allow "
		       "accepts it)",
		       "", "");
		_exit(97);
	}
	atomic_fetch_add(&wx_scans, 1);
}

void sc_test_wx_allow_alias(int allow)
{
	atomic_store(&wx_alias_allowed, allow);
}

static void *wx_thread(void *arg)
{
	sigset_t set;

	(void)arg;
	/* stay out of the way of the signals tests aim at their threads, but
	 * never block SIGTRAP (the int3 protocol would refuse to run) */
	sigfillset(&set);
	sigdelset(&set, SIGTRAP);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* the lowest priority: the threads under test come first */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
		perror("W^X checker: setpriority");
	atomic_store(&wx_started, 1);
	for (;;) {
		wx_scan();
		usleep(SC_TEST_WX_PAUSE_US);
	}
	return NULL;
}

static void wx_report(void)
{
	if (atomic_load(&wx_pid) != (int)getpid())
		return;
	wx_scan();
	printf("W^X checker: %lu scans of /proc/self/maps, no mapping both "
	       "writable and executable%s\n",
	       atomic_load(&wx_scans),
	       atomic_load(&wx_alias_allowed)
		       ? " (writable aliases of code allowed)"
		       : ", no writable alias of code");
	fflush(stdout);
}

void sc_test_wx_start(void)
{
	static _Atomic int registered;
	pthread_t t;

	if (atomic_exchange(&wx_pid, (int)getpid()) == (int)getpid())
		return; /* already running in this process */
	atomic_store(&wx_scans, 0);
	atomic_store(&wx_started, 0);
	{
		/* the store protocol keeps a writable view of the code pages
		 * it stores into: that is its documented trade-off */
		const char *e = getenv("SC_TEST_WX_ALIAS");
		const char *p = getenv("STATICCALL_PROTOCOL");
		atomic_store(&wx_alias_allowed,
			     (e && !strcmp(e, "allow")) ||
				     (p && !strcmp(p, "store")));
	}
	wx_scan(); /* a first pass before the test starts */
	if (!atomic_exchange(&registered, 1))
		atexit(wx_report);
	if (pthread_create(&t, NULL, wx_thread, NULL) != 0)
		return;
	pthread_detach(t);
	/* started (its signals unblocked) before the test's first update */
	while (!atomic_load(&wx_started))
		usleep(100);
}

unsigned long sc_test_wx_scans(void)
{
	return atomic_load(&wx_pid) == (int)getpid() ? atomic_load(&wx_scans)
						     : 0;
}

static _Atomic int watchdog_started;

static void *watchdog(void *arg)
{
	(void)arg;
	atomic_store(&watchdog_started, 1);
	double end = sc_now() + watchdog_limit;
	while (sc_now() < end)
		usleep(100000);
	fprintf(stderr,
		"WATCHDOG: test still running after %.1f s (deadlock?)\n",
		watchdog_limit);
	dump_threads();
	_exit(99);
	return NULL;
}

void sc_test_watchdog(double seconds)
{
	pthread_t t;
	watchdog_limit = seconds;
	if (pthread_create(&t, NULL, watchdog, NULL) == 0) {
		pthread_detach(t);
		while (!atomic_load(&watchdog_started))
			usleep(100);
	}
	sc_test_wx_start();
}

const char *sc_test_perf_map_path(char *buf, unsigned long size)
{
	snprintf(buf, size, "/tmp/perf-%d.map", (int)getpid());
	return buf;
}

void sc_test_perf_map_remove(void)
{
	char path[64];

	unlink(sc_test_perf_map_path(path, sizeof(path)));
}

#if defined(__x86_64__)
__asm__(".text\n"
	".globl sc_test_raw_syscall6\n"
	".type sc_test_raw_syscall6, @function\n"
	"sc_test_raw_syscall6:\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8, %r10\n"
	"	mov %r9, %r8\n"
	"	mov 8(%rsp), %r9\n"
	"	syscall\n"
	".globl sc_test_raw_syscall_ip\n"
	"sc_test_raw_syscall_ip:\n"
	"	ret\n"
	".size sc_test_raw_syscall6, . - sc_test_raw_syscall6\n");
#elif defined(__aarch64__)
__asm__(".text\n"
	".globl sc_test_raw_syscall6\n"
	".type sc_test_raw_syscall6, @function\n"
	"sc_test_raw_syscall6:\n"
	"	mov x8, x0\n"
	"	mov x0, x1\n"
	"	mov x1, x2\n"
	"	mov x2, x3\n"
	"	mov x3, x4\n"
	"	mov x4, x5\n"
	"	mov x5, x6\n"
	"	svc #0\n"
	".globl sc_test_raw_syscall_ip\n"
	"sc_test_raw_syscall_ip:\n"
	"	ret\n"
	".size sc_test_raw_syscall6, . - sc_test_raw_syscall6\n");
#endif
