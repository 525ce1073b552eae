/* SPDX-License-Identifier: MIT */
/*
 * Cross-core synchronisation: after it returns, every thread of the process
 * executes a core-serialising instruction before it runs user code again,
 * so no core can still run instruction bytes it fetched before our writes.
 *
 * The tool is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE), which
 * IPIs the CPUs running our threads and serialises the others on their way
 * back to user mode.  It needs a one-time registration per mm (so again in a
 * fork child).  Before Linux 5.11 it did not serialise the calling thread;
 * there the patcher serialises itself with cpuid.
 *
 * Without SYNC_CORE (old kernel, seccomp) there is no cheap way to reach the
 * other cores that the CPU vendors bless: the mprotect TLB-shootdown trick
 * is no longer an IPI on CPUs that broadcast TLB invalidations (AMD INVLPGB,
 * used by Linux since 6.15).  So: a single-threaded process needs no other
 * core and only serialises itself; a multi-threaded one gets -ENOSYS and
 * nothing is patched.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/membarrier.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "internal.h"

enum { SYNC_UNKNOWN, SYNC_MEMBARRIER, SYNC_NONE };
static int sync_mode = SYNC_UNKNOWN; /* under the patch lock */
static bool self_serialize;	     /* kernel < 5.11 */
static int sync_errno;

#define REG_SYNC_CORE MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE

static long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

static bool kernel_before(long major, long minor)
{
	struct utsname u;
	const char *s = u.release;
	long ma, mi = -1;

	if (uname(&u) != 0)
		return true; /* unknown: be careful */
	ma = sc_parse_dec(&s);
	if (*s == '.') {
		s++;
		mi = sc_parse_dec(&s);
	}
	if (ma < 0 || mi < 0)
		return true;
	return ma < major || (ma == major && mi < minor);
}

int sc_sync_init(void)
{
	long q;

	if (sync_mode != SYNC_UNKNOWN)
		return 0;
	self_serialize = kernel_before(5, 11);
	q = membarrier(MEMBARRIER_CMD_QUERY);
	if (q >= 0 && !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE))
		sync_errno = EOPNOTSUPP;
	else if (q < 0 || membarrier(REG_SYNC_CORE) < 0)
		sync_errno = errno;
	else
		sync_mode = SYNC_MEMBARRIER;
	if (sync_mode == SYNC_MEMBARRIER) {
		sc_debug("sync: membarrier SYNC_CORE%s",
			 self_serialize ? " + cpuid (kernel < 5.11)" : "");
		return 0;
	}
	sync_mode = SYNC_NONE;
	sc_info("sync: membarrier SYNC_CORE unavailable (%s); only "
		"single-threaded processes can be patched",
		strerror(sync_errno));
	return 0;
}

/* Threads in this process: field 20 of /proc/self/stat; -1 if unknown. */
static long thread_count(void)
{
	return sc_proc_stat_field("/proc/self/stat", 20);
}

int sc_sync_usable(void)
{
	long threads;

	if (sync_mode == SYNC_UNKNOWN)
		sc_sync_init();
	if (sync_mode == SYNC_MEMBARRIER)
		return 0;
	threads = thread_count();
	if (threads != 1) {
		sc_warn("cannot synchronise %ld threads: membarrier SYNC_CORE "
			"unavailable (%s); refusing to patch",
			threads, strerror(sync_errno));
		return -ENOSYS;
	}
	return 0;
}

int sc_sync_cores(void)
{
	int err = sc_sync_usable();

	if (err)
		return err;
	if (sync_mode == SYNC_MEMBARRIER) {
		if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) <
		    0) {
			int e = errno;
			sc_warn("membarrier SYNC_CORE failed: %s", strerror(e));
			return -e;
		}
		if (self_serialize)
			sc_arch_serialize();
		sc_stat_add(syncs, 1);
		return 0;
	}
	/* one thread (checked above, and no thread can appear while it
	 * patches): serialising ourselves is all there is to do */
	sc_arch_serialize();
	sc_stat_add(syncs, 1);
	return 0;
}

void sc_sync_after_fork(void) { sync_mode = SYNC_UNKNOWN; }
