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

double sc_test_seconds(double dflt)
{
	const char *e = getenv("STATICCALL_TEST_SECONDS");
	double v = e ? atof(e) : 0;
	return v > 0 ? v : dflt;
}

/* 1 if thread @tid blocks SIGTRAP (SigBlk in its status), else 0. */
static int blocks_sigtrap(const char *tid)
{
	char path[300], buf[2048], *p;
	ssize_t n;
	int fd;

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
 * the test (exit status 97, the offending line on stderr) the moment a
 * mapping is writable and executable at once.  Plain system calls and a
 * stack buffer only.
 * ------------------------------------------------------------------------ */
static _Atomic unsigned long wx_scans;
static _Atomic int wx_pid; /* the process whose checker runs */
static _Atomic int wx_started;

/* A line of /proc/self/maps ("lo-hi perms ..."): writable and executable? */
static bool wx_line(const char *l, const char *end)
{
	while (l < end && *l != ' ')
		l++;
	return end - l >= 4 && l[2] == 'w' && l[3] == 'x';
}

static void wx_fail(const char *l, const char *end)
{
	static const char msg[] = "W^X checker: a mapping is writable and "
				  "executable: ";
	if (write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, l, (size_t)(end - l)) < 0 || write(2, "\n", 1) < 0)
		_exit(97);
	_exit(97);
}

/* One pass over /proc/self/maps; exits the process on a W+X mapping. */
static void wx_scan(void)
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
			if (!skip && wx_line(line, nl))
				wx_fail(line, nl);
			skip = false;
			line = nl + 1;
		}
		if (line == buf && have == sizeof(buf)) {
			/* over-long line: its head holds the permissions */
			if (!skip && wx_line(line, buf + have))
				wx_fail(line, buf + 80);
			skip = true;
			have = 0;
			continue;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
	}
	close(fd);
	atomic_fetch_add(&wx_scans, 1);
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
	       "writable and executable\n",
	       atomic_load(&wx_scans));
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
