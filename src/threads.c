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

/*
 * Field @field (numbered as in proc(5)) of a /proc stat file, a decimal
 * number; -1 if unreadable.  The command name (field 2) may hold spaces and
 * parentheses, so counting starts after its last ')'.
 */
long sc_proc_stat_field(const char *path, int field)
{
	char buf[1024], *p;
	const char *q;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (int f = 2; *p && f < field; p++)
		if (*p == ' ')
			f++;
	q = p;
	return sc_parse_dec(&q);
}

/* Read /proc/self/task/<tid>/<file> into @buf; its length, or -1. */
static ssize_t task_file(const char *tid, const char *file, char *buf,
			 size_t size)
{
	char path[64] = "/proc/self/task/";
	ssize_t n;
	int fd;

	if (strlen(tid) > 20)
		return -1;
	strcat(strcat(strcat(path, tid), "/"), file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* 1 if thread @tid has SIGTRAP blocked, 0 if not, -1 if it is gone; its
 * state in *@state ('R': running or waiting for a CPU).  Field 32 of
 * /proc/self/task/<tid>/stat is the blocked mask, in decimal (stat is
 * cheaper for the kernel to produce than status), field 3 the state. */
static int blocks_sigtrap(const char *tid, char *state)
{
	char buf[1024], *p;
	const char *q;
	long mask;

	if (task_file(tid, "stat", buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')'); /* the name (field 2) may hold anything */
	if (!p || !p[1] || !p[2])
		return -1;
	*state = p[2];
	for (int f = 2; *p && f < 32; p++)
		if (*p == ' ')
			f++;
	q = p;
	mask = sc_parse_dec(&q);
	if (mask < 0)
		return -1;
	return (int)(((unsigned long)mask >> (SIGTRAP - 1)) & 1);
}

/* Nanoseconds thread @tid has run (schedstat); -1 if unknown. */
static long ran_ns(const char *tid)
{
	char buf[128];
	const char *q = buf;

	if (task_file(tid, "schedstat", buf, sizeof(buf)) < 0)
		return -1;
	return sc_parse_dec(&q);
}

static long parse_tid(const char *s) { return sc_parse_dec(&s); }

/*
 * A thread seen with SIGTRAP blocked may just be passing through one of our
 * handlers (its mask is then the handler's, and it runs no site): the
 * SIGTRAP handler, or the SIGSEGV handler waiting out an mprotect window
 * (textwrite.c).  It may even have been preempted there, between the kernel
 * setting the handler's mask and the handler registering itself.  So look
 * again, 200 times 100 us apart, before believing it; a thread that really
 * blocks SIGTRAP stays blocked (and then costs that wait, about 20 ms,
 * before the update is refused).  A look counts only if the thread has run
 * since the previous one, or is not waiting for a CPU: on a loaded machine
 * a thread preempted inside our handler shows nothing until it runs again
 * (then the looks may take up to about 2 s in all).
 */
static bool still_blocked(const char *name)
{
	const struct timespec pause = {0, 100000L};
	long tid = parse_tid(name), ran = -2;
	int looks = 0;

	for (int i = 0; looks < 200 && i < 20000; i++) {
		char state = '?';
		long now;
		if (blocks_sigtrap(name, &state) != 1)
			return false;
		if (sc_trap_in_handler(tid) || sc_text_in_handler(tid))
			return false;
		now = ran_ns(name);
		if (state != 'R' || now < 0 || now != ran)
			looks++;
		ran = now;
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
