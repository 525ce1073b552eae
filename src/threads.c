/* SPDX-License-Identifier: MIT */
/*
 * Which threads block SIGTRAP.  A thread that runs an int3 with SIGTRAP
 * blocked is killed by the kernel (a blocked synchronous signal falls back
 * to its default action), so the int3 protocol first looks at every
 * thread's blocked mask.  A thread inside our own SIGTRAP handler has it
 * blocked too, harmlessly (it runs no site there, and its own mask comes
 * back when the handler returns): those are skipped.  Plain system calls
 * only (getdents64, open, read): this may run in an update made from a
 * signal handler.
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

/* Read the file at @path into @buf (NUL-terminated); its length, or -1. */
static ssize_t read_file(const char *path, char *buf, size_t size)
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

/* Field @field (numbered as in proc(5), >= 3) of the stat text @buf, or
 * NULL.  The command name (field 2) may hold spaces and parentheses, so
 * counting starts after its last ')'. */
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

long sc_proc_stat_field(const char *path, int field)
{
	char buf[1024];
	const char *q;

	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	q = stat_field(buf, field);
	return q ? sc_parse_dec(&q) : -1;
}

/* Read /proc/self/task/<tid>/<file> into @buf; its length, or -1. */
static ssize_t read_task(const char *tid, const char *file, char *buf,
			 size_t size)
{
	char path[64] = "/proc/self/task/";

	if (strlen(tid) > 20 || strlen(file) > 16)
		return -1;
	strcat(strcat(strcat(path, tid), "/"), file);
	return read_file(path, buf, size);
}

/* Thread @tid: 1 if it has SIGTRAP blocked, 0 if not, -1 if it is gone;
 * and its scheduler state (R, S, D, T...).  Field 32 of stat is the blocked
 * mask in decimal (stat is cheaper for the kernel to produce than status);
 * the command name (field 2) may hold spaces and parentheses, so fields
 * are counted from its last ')'. */
static int blocks_sigtrap(const char *tid, char *state)
{
	char buf[1024];
	const char *st, *q;
	long mask;

	if (read_task(tid, "stat", buf, sizeof(buf)) < 0)
		return -1;
	st = stat_field(buf, 3);
	q = stat_field(buf, 32);
	if (!st || !q)
		return -1;
	*state = *st;
	mask = sc_parse_dec(&q);
	if (mask < 0)
		return -1;
	return (int)(((unsigned long)mask >> (SIGTRAP - 1)) & 1);
}

/*
 * Nanoseconds thread @tid has run on a CPU; -1 if unknown.  The kernel's
 * per-thread CPU clock (the clockid glibc's pthread_getcpuclockid() builds:
 * ~tid << 3 | CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD) counts the running slice
 * up to now; schedstat would lag by up to a tick and jump.
 */
static long long ran_ns(long tid)
{
	clockid_t clk = (clockid_t)((~(unsigned long)tid << 3) | 6);
	struct timespec ts;

	if (clock_gettime(clk, &ts) != 0)
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long parse_tid(const char *s) { return sc_parse_dec(&s); }

/*
 * A thread seen with SIGTRAP blocked may just be passing through one of our
 * handlers: its mask is then the handler's, and it runs no site (the
 * SIGTRAP handler, or the SIGSEGV handler waiting out an mprotect window,
 * textwrite.c).  Inside the
 * handler it is marked (sc_trap_in_handler), but between the kernel setting
 * the handler's mask and the mark (and between unmark and sigreturn) it is
 * not, and a loaded machine can leave it waiting for a CPU right there for
 * longer than any fixed time (a 20 ms limit was seen to run out at a load
 * of 8 on 2 cores: a spurious -EAGAIN).  That window costs microseconds of
 * CPU and never sleeps.  So the thread is believed to block SIGTRAP only
 * once it was seen blocked and unmarked at every look for 20 ms and, over
 * that time, it either slept (or was stopped) or ran for 1 ms of CPU; or
 * after 1 s in any case.  A thread that really blocks SIGTRAP (a helper
 * that blocks everything and waits, a handler with a full sa_mask that
 * runs long) is still refused after 20 ms, as before.
 */
static bool still_blocked(const char *name)
{
	const struct timespec pause = {0, 100000L};
	long tid = parse_tid(name);
	long long ran0 = ran_ns(tid);

	for (int i = 0; i < 10000; i++) {
		long long ran;
		char state = 0;
		if (blocks_sigtrap(name, &state) != 1 ||
		    sc_trap_in_handler(tid) || sc_text_in_handler(tid))
			return false;
		if (i >= 200) {
			ran = ran_ns(tid);
			if (state == 'S' || state == 'T' || state == 't' ||
			    ran < 0 || ran0 < 0 || ran - ran0 >= 1000000)
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
