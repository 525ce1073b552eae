/* SPDX-License-Identifier: MIT */
/*
 * Which threads block SIGTRAP.  A thread that runs an int3 with SIGTRAP
 * blocked is killed by the kernel (a blocked synchronous signal falls back
 * to its default action), so the int3 protocol first looks at every
 * thread's blocked mask.  A thread inside our own SIGTRAP handler has it
 * blocked too, harmlessly (it runs no site there, and its own mask comes
 * back when the handler returns): those are skipped.  Plain system calls only (getdents64, open, read): this may run in
 * an update made from a signal handler.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

long sc_parse_dec(const char **s)
{
	long v = -1;

	for (; **s >= '0' && **s <= '9'; (*s)++)
		v = (v < 0 ? 0 : v * 10) + (**s - '0');
	return v;
}

/* Read a small /proc file into @buf, NUL-terminated; its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* Where field @field (numbered as in proc(5), from 3 on) of the stat text
 * @buf starts; NULL if it has none.  The command name (field 2) may hold
 * spaces and parentheses, so counting starts after its last ')'. */
static const char *stat_field(const char *buf, int field)
{
	const char *p = strrchr(buf, ')');

	if (!p)
		return NULL;
	for (int f = 2; *p && f < field; p++)
		if (*p == ' ')
			f++;
	return *p ? p : NULL;
}

/* Field @field of a /proc stat file, a decimal number; -1 if unreadable. */
long sc_proc_stat_field(const char *path, int field)
{
	char buf[1024];
	const char *p;

	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	p = stat_field(buf, field);
	return p ? sc_parse_dec(&p) : -1;
}

/* 1 if thread @tid has SIGTRAP blocked, 0 if not, -1 if it is gone;
 * *@runnable: its state is R (running, or waiting for a CPU).  Field 32 of
 * /proc/self/task/<tid>/stat is the blocked mask, in decimal (stat is
 * cheaper for the kernel to produce than status). */
static int blocks_sigtrap(const char *tid, bool *runnable)
{
	char path[64] = "/proc/self/task/", buf[1024];
	const char *p;
	long mask;

	if (strlen(tid) > 20)
		return -1;
	strcat(strcat(path, tid), "/stat");
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	p = stat_field(buf, 3);
	*runnable = p && *p == 'R';
	p = stat_field(buf, 32);
	mask = p ? sc_parse_dec(&p) : -1;
	if (mask < 0)
		return -1;
	return (int)(((unsigned long)mask >> (SIGTRAP - 1)) & 1);
}

/* CPU time thread @tid has had, in ns (the first field of its schedstat);
 * -1 if unknown. */
static long run_time_ns(const char *tid)
{
	char path[64] = "/proc/self/task/", buf[128];
	const char *p = buf;

	if (strlen(tid) > 20)
		return -1;
	strcat(strcat(path, tid), "/schedstat");
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	return sc_parse_dec(&p);
}

static long parse_tid(const char *s) { return sc_parse_dec(&s); }

/*
 * A thread seen with SIGTRAP blocked may just be passing through our own
 * handler (its mask is then the handler's, and it runs no site): it may even
 * have been preempted there, between the kernel setting the handler's mask
 * and the handler registering itself.  So look again before believing it.
 * How long a preempted thread waits for a CPU has no bound on a loaded
 * machine (20 ms, the first limit here, was not enough with a few busy
 * threads per core), so a thread that can run (state R) is given until it
 * has had 1 ms of CPU, far more than our handler needs to register itself
 * or return, with 2 s as the limit.  A thread that sleeps with SIGTRAP
 * blocked (sigwait(), glibc's timer thread) is not on its way through a
 * handler: after 20 ms it is believed.
 */
static bool still_blocked(const char *name)
{
	const struct timespec pause = {0, 100000L};
	long ran0 = run_time_ns(name), ran;
	bool runnable = false;

	for (int i = 0; i < 20000; i++) {
		if (blocks_sigtrap(name, &runnable) != 1)
			return false;
		if (sc_trap_in_handler(parse_tid(name)))
			return false;
		if (i >= 200) {
			ran = run_time_ns(name);
			if (!runnable || ran0 < 0 || ran < 0 ||
			    ran - ran0 >= 1000000)
				return true;
		}
		nanosleep(&pause, NULL);
	}
	return true;
}

long sc_sigtrap_blocker(void)
{
	char buf[4096];
	long found = 0;
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n && !found;) {
			struct linux_dirent64 *d = (void *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] >= '0' && d->d_name[0] <= '9' &&
			    still_blocked(d->d_name))
				found = parse_tid(d->d_name);
		}
		if (found)
			break;
	}
	close(fd);
	return found;
}
