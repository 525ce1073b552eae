/* SPDX-License-Identifier: MIT */
/*
 * The operating system, behind one small layer: /proc readers, pagemap,
 * memfd, raw mmap, membarrier, and the geometry of loaded objects.
 *
 * Every question fails closed: when /proc cannot be read (no /proc mounted,
 * a seccomp filter, file descriptors exhausted), the answer is an errno,
 * never "nothing found".  Callers that can do without the answer say so
 * themselves.
 *
 * Everything here uses plain system calls and stack buffers, so that an
 * update made from a signal handler stays async-signal-safe; the exception
 * is sc_os_object() for an object that did not register (dl_iterate_phdr).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <linux/membarrier.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "elfsites.h"
#include "internal.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/* ------------------------------------------------------------------------
 * Threads and memory
 * ------------------------------------------------------------------------ */

/*
 * The thread id, cached per thread: the SIGTRAP handler needs it before it
 * can mark itself as inside the handler, and a system call there is a
 * preemption point in the window where the thread has SIGTRAP blocked but
 * no mark yet (the SIGTRAP check would take it for a thread that blocks
 * SIGTRAP).  initial-exec TLS is a plain load, safe in a signal handler.
 * The pid it was read in is cached with it: a child forked without atfork
 * handlers (a raw fork system call) inherits the parent thread's TLS.
 */
static __thread long cached_tid __attribute__((tls_model("initial-exec")));

SC_SIGNAL_CODE long sc_gettid(void)
{
	long tid = cached_tid;

	if (!tid) {
		tid = syscall(SYS_gettid);
		cached_tid = tid;
	}
	return tid;
}

void sc_os_forget_tid(void) { cached_tid = 0; }

size_t sc_pagesz;

size_t sc_page_size_slow(void)
{
	sc_pagesz = (size_t)sysconf(_SC_PAGESIZE);
	return sc_pagesz;
}

int sc_array_grow(void **v, size_t *cap, size_t n, size_t size, size_t min)
{
	size_t ncap = *cap ? *cap : min;
	void *nv;

	while (ncap <= n)
		ncap *= 2;
	if (ncap == *cap)
		return 0;
	nv = mmap(NULL, ncap * size, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nv == MAP_FAILED)
		return -ENOMEM;
	if (*v) {
		memcpy(nv, *v, n * size);
		munmap(*v, *cap * size);
	}
	*v = nv;
	*cap = ncap;
	return 0;
}

void sc_array_free(void *v, size_t cap, size_t size)
{
	if (v)
		munmap(v, cap * size);
}

/* ------------------------------------------------------------------------
 * /proc
 * ------------------------------------------------------------------------ */

/* Read the file at @path into @buf (NUL-terminated): its length or -errno. */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n == 0)
		return -ENODATA;
	if (n > 0)
		buf[n] = 0;
	return n;
}

static const char *parse_hex(const char *s, uintptr_t *v)
{
	uintptr_t x = 0;

	for (;; s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			break;
		x = (x << 4) | (uintptr_t)d;
	}
	*v = x;
	return s;
}

/* One line of /proc/self/maps: "lo-hi rwxp offset dev inode path"; 1
 * when it holds @a. */
static int maps_line(const char *l, uintptr_t a, uintptr_t *lo, uintptr_t *hi,
		     int *prot, unsigned long *ino)
{
	const char *f;

	l = parse_hex(l, lo);
	if (*l++ != '-')
		return 0;
	l = parse_hex(l, hi);
	if (*l++ != ' ' || a < *lo || a >= *hi)
		return 0;
	*prot = (l[0] == 'r' ? PROT_READ : 0) | (l[1] == 'w' ? PROT_WRITE : 0) |
		(l[2] == 'x' ? PROT_EXEC : 0);
	/* the fifth field: the inode */
	f = l;
	for (int sp = 0; *f && sp < 3; f++)
		if (*f == ' ')
			sp++;
	*ino = (unsigned long)sc_parse_dec(&f);
	return 1;
}

int sc_os_mapping(const void *addr, uintptr_t *lo, uintptr_t *hi, int *prot)
{
	unsigned long ino;

	return sc_os_mapping_ino(addr, lo, hi, prot, &ino);
}

int sc_os_mapping_ino(const void *addr, uintptr_t *lo, uintptr_t *hi, int *prot,
		      unsigned long *ino)
{
	char buf[4096];
	size_t have = 0;
	uintptr_t a = (uintptr_t)addr;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	int found = 0, err = 0;
	bool skip = false; /* inside the tail of an over-long line */

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *line = buf, *nl;

		if (n < 0)
			err = -errno;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		while (!found && (nl = strchr(line, '\n'))) {
			*nl = 0;
			if (!skip)
				found = maps_line(line, a, lo, hi, prot, ino);
			skip = false;
			line = nl + 1;
		}
		if (found)
			break;
		if (line == buf && have == sizeof(buf) - 1) {
			/* a path longer than the buffer: the head holds all we
			 * need; drop the rest of the line */
			if (!skip)
				found = maps_line(line, a, lo, hi, prot, ino);
			skip = true;
			have = 0;
			if (found)
				break;
			continue;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
	}
	close(fd);
	if (found)
		return 0;
	return err ? err : -EFAULT;
}

long sc_parse_dec(const char **s)
{
	long v = -1;

	for (; **s >= '0' && **s <= '9'; (*s)++)
		v = (v < 0 ? 0 : v * 10) + (**s - '0');
	return v;
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

int sc_os_stat_field(const char *path, int field, long *v)
{
	char buf[1024];
	const char *q;
	ssize_t n = read_file(path, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	q = stat_field(buf, field);
	*v = q ? sc_parse_dec(&q) : -1;
	return *v < 0 ? -EPROTO : 0;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

long sc_os_threads(long (*fn)(long tid, void *arg), void *arg)
{
	char buf[4096];
	long r = 0;
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (!r) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (n < 0)
			r = -errno;
		if (n <= 0)
			break;
		for (long off = 0; off < n && !r;) {
			struct linux_dirent64 *d = (void *)(buf + off);
			const char *s = d->d_name;
			long tid;
			off += d->d_reclen;
			tid = sc_parse_dec(&s);
			if (tid > 0 && !*s)
				r = fn(tid, arg);
		}
	}
	close(fd);
	return r;
}

static void task_path(char *path, long tid, const char *file)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = (char)('0' + tid % 10);
	while ((tid /= 10) > 0);
	strcpy(path, "/proc/self/task/");
	path += strlen(path);
	while (n)
		*path++ = digits[--n];
	*path++ = '/';
	strcpy(path, file);
}

/* Field 32 of stat is the blocked mask in decimal (stat is cheaper for the
 * kernel to produce than status). */
int sc_os_thread_blocks_sigtrap(long tid, bool *blocked, char *state)
{
	char path[64], buf[1024];
	const char *st, *q;
	long mask;
	ssize_t n;

	task_path(path, tid, "stat");
	n = read_file(path, buf, sizeof(buf));
	if (n == -ENOENT || n == -ESRCH)
		return -ESRCH; /* exited meanwhile */
	if (n < 0)
		return (int)n;
	st = stat_field(buf, 3);
	q = stat_field(buf, 32);
	if (!st || !q)
		return -EPROTO;
	*state = *st;
	mask = sc_parse_dec(&q);
	if (mask < 0)
		return -EPROTO;
	*blocked = ((unsigned long)mask >> (SIGTRAP - 1)) & 1;
	return 0;
}

/*
 * The kernel's per-thread CPU clock (the clockid glibc's
 * pthread_getcpuclockid() builds: ~tid << 3 | CPUCLOCK_SCHED |
 * CPUCLOCK_PERTHREAD) counts the running slice up to now; schedstat would
 * lag by up to a tick and jump.
 */
long long sc_os_thread_cpu_ns(long tid)
{
	clockid_t clk = (clockid_t)((~(unsigned long)tid << 3) | 6);
	struct timespec ts;

	if (clock_gettime(clk, &ts) != 0)
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------------------
 * pagemap: which pages still hold what they were mapped from
 * ------------------------------------------------------------------------ */
static int pagemap_fd = -1; /* under the patch lock */
static pid_t pagemap_pid;

int sc_os_pagemap(uintptr_t page, size_t n, uint64_t *out)
{
	size_t ps = sc_page_size(), want = n * sizeof(uint64_t);
	off_t off = (off_t)(page / ps * sizeof(uint64_t));
	pid_t pid = sc_getpid();
	ssize_t got;

	if (pagemap_fd >= 0 && pagemap_pid != pid) {
		/* the descriptor is bound to the mm it was opened in */
		close(pagemap_fd);
		pagemap_fd = -1;
	}
	if (pagemap_fd < 0) {
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (pagemap_fd < 0)
			return errno == EMFILE || errno == ENFILE ? -errno
								  : -ENOENT;
		pagemap_pid = pid;
	}
	got = pread(pagemap_fd, out, want, off);
	if (got < 0)
		return -errno;
	return got == (ssize_t)want ? 0 : -EIO;
}

/* ------------------------------------------------------------------------
 * memfd and mmap
 * ------------------------------------------------------------------------ */
int sc_os_memfd(const char *name)
{
	int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_EXEC);

	if (fd < 0 && errno == EINVAL) /* before Linux 6.3: no MFD_EXEC */
		fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * A raw system call: these mappings replace code whose bytes the program
 * already sees, which is no news to a sanitizer, and ThreadSanitizer's
 * mmap interceptor, which resets the shadow of every new mapping, would
 * fault on it (TSan maps the shadow of the program's code read-only).
 */
long sc_os_mmap(uintptr_t addr, size_t len, int prot, int flags, int fd,
		off_t off)
{
	long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);

	return r == -1 ? -errno : r;
}

/* ------------------------------------------------------------------------
 * Cross-core synchronisation
 *
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) IPIs the CPUs
 * running our threads and serialises the others on their way back to user
 * mode.  It needs a one-time registration per mm (so again in a fork
 * child).  Before Linux 5.11 it did not serialise the calling thread;
 * there the patcher serialises itself with the arch's instruction.
 *
 * Without SYNC_CORE (old kernel, seccomp) there is no cheap way to reach the
 * other cores that the CPU vendors bless: the mprotect TLB-shootdown trick
 * is no longer an IPI on CPUs that broadcast TLB invalidations (AMD INVLPGB,
 * used by Linux since 6.15).  So: a single-threaded process needs no other
 * core and only serialises itself; a multi-threaded one gets -ENOSYS and
 * nothing is patched.  A filter installed after registration is found by
 * the cheap MEMBARRIER_CMD_QUERY before the first write of every patch.
 * ------------------------------------------------------------------------ */
enum { SYNC_UNKNOWN, SYNC_MEMBARRIER, SYNC_NONE };
static int sync_mode = SYNC_UNKNOWN; /* under the patch lock */
static bool self_serialize;	     /* kernel < 5.11 */
static int sync_errno;

#define REG_SYNC_CORE MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE

static long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

bool sc_os_kernel_before(long major, long minor)
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
	self_serialize = sc_os_kernel_before(5, 11);
	q = membarrier(MEMBARRIER_CMD_QUERY);
	if (q >= 0 && !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE))
		sync_errno = EOPNOTSUPP;
	else if (q < 0 || membarrier(REG_SYNC_CORE) < 0)
		sync_errno = errno;
	else
		sync_mode = SYNC_MEMBARRIER;
	if (sync_mode == SYNC_MEMBARRIER) {
		sc_debug("sync: membarrier SYNC_CORE%s",
			 self_serialize ? " + self-serialisation (kernel < "
					  "5.11)"
					: "");
		return 0;
	}
	sync_mode = SYNC_NONE;
	sc_info("sync: membarrier SYNC_CORE unavailable (%s); only "
		"single-threaded processes can be patched",
		sc_strerror(sync_errno));
	return 0;
}

/* Threads in this process: field 20 of /proc/self/stat. */
static int thread_count(long *n)
{
	return sc_os_stat_field("/proc/self/stat", 20, n);
}

/* For the patch under way (under the lock): membarrier, or this thread
 * alone serialising itself. */
static bool use_membarrier;

int sc_sync_usable(void)
{
	long threads = -1;
	int err, why = sync_errno;

	if (sync_mode == SYNC_UNKNOWN)
		sc_sync_init();
	/* still allowed?  (a seccomp filter may have come since) */
	use_membarrier = sync_mode == SYNC_MEMBARRIER &&
			 membarrier(MEMBARRIER_CMD_QUERY) >= 0;
	if (use_membarrier)
		return 0;
	if (sync_mode == SYNC_MEMBARRIER)
		why = errno;
	err = thread_count(&threads);
	if (err || threads != 1) {
		sc_warn("cannot synchronise %ld threads: membarrier SYNC_CORE "
			"unavailable (%s); refusing to patch",
			threads, sc_strerror(why));
		return -ENOSYS;
	}
	return 0;
}

int sc_sync_cores(void)
{
	if (use_membarrier) {
		if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) <
		    0) {
			int e = errno;
			sc_warn("membarrier SYNC_CORE failed: %s",
				sc_strerror(e));
			return e == EPERM || e == ENOSYS ? -ENOSYS : -e;
		}
		if (self_serialize)
			sc_arch_serialize();
		sc_stat_add(syncs, 1);
		return 0;
	}
	/* one thread (sc_sync_usable() checked it before the first write, and
	 * no thread can appear while it patches): serialising ourselves is
	 * all there is to do */
	sc_arch_serialize();
	sc_stat_add(syncs, 1);
	return 0;
}

void sc_sync_after_fork(void) { sync_mode = SYNC_UNKNOWN; }

/* ------------------------------------------------------------------------
 * Loaded objects and the code registry
 *
 * The library needs to know, for an address, the loaded object and the
 * executable segment that hold it: every site and trampoline must lie in
 * one, and a page flip replaces pages of one segment.  The dynamic linker
 * knows (dl_iterate_phdr), but asking it is neither async-signal-safe nor
 * free, so objects that registered (every module that includes the header
 * does, from its constructor) are kept here.  No /proc is involved.
 * ------------------------------------------------------------------------ */
struct find_arg {
	uintptr_t addr;
	struct sc_object *obj;
};

static void object_fill(struct dl_phdr_info *info, struct sc_object *o)
{
	size_t ps = sc_page_size();

	memset(o, 0, sizeof(*o));
	o->bias = info->dlpi_addr;
	o->name = info->dlpi_name ? info->dlpi_name : "";
	o->phdr = info->dlpi_phdr;
	o->phnum = info->dlpi_phnum;
	for (int i = 0; i < info->dlpi_phnum && o->nseg < SC_MAX_SEGS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo;
		if (ph->p_type != PT_LOAD)
			continue;
		lo = info->dlpi_addr + ph->p_vaddr;
		o->lo[o->nseg] = lo & ~(uintptr_t)(ps - 1);
		o->hi[o->nseg] =
			(lo + ph->p_memsz + ps - 1) & ~(uintptr_t)(ps - 1);
		o->prot[o->nseg] = (ph->p_flags & PF_R ? PROT_READ : 0) |
				   (ph->p_flags & PF_W ? PROT_WRITE : 0) |
				   (ph->p_flags & PF_X ? PROT_EXEC : 0);
		o->nseg++;
	}
}

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find_arg *fa = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && fa->addr >= lo &&
		    fa->addr - lo < ph->p_memsz) {
			object_fill(info, fa->obj);
			return 1;
		}
	}
	return 0;
}

/* Registered objects: under the patch lock, mmap-grown. */
struct reg {
	const void *anchor;
	struct sc_object obj;
};
static struct reg *regs;
static size_t nregs, capregs;

static const struct sc_object *registered(uintptr_t a)
{
	for (size_t i = 0; i < nregs; i++) {
		const struct sc_object *o = &regs[i].obj;
		for (int s = 0; s < o->nseg; s++)
			if (a >= o->lo[s] && a < o->hi[s])
				return o;
	}
	return NULL;
}

int sc_os_object(const void *addr, struct sc_object *obj)
{
	struct find_arg fa = {(uintptr_t)addr, obj};
	const struct sc_object *o = registered((uintptr_t)addr);

	if (o) {
		*obj = *o;
		return 0;
	}
	return dl_iterate_phdr(find_object, &fa) ? 0 : -ENOENT;
}

int sc_code_register(const void *anchor)
{
	struct sc_object obj;
	int err;

	for (size_t i = 0; i < nregs; i++)
		if (regs[i].anchor == anchor)
			return 0;
	err = sc_os_object(anchor, &obj);
	if (err)
		return err;
	err = sc_array_grow((void **)&regs, &capregs, nregs, sizeof(*regs), 16);
	if (err)
		return err;
	regs[nregs].anchor = anchor;
	regs[nregs].obj = obj;
	nregs++;
	return 0;
}

void sc_code_forget(const void *anchor)
{
	for (size_t i = 0; i < nregs; i++) {
		if (regs[i].anchor == anchor) {
			regs[i] = regs[--nregs];
			return;
		}
	}
}

int sc_code_range(const void *addr, size_t len, uintptr_t *lo, uintptr_t *hi,
		  int *prot)
{
	uintptr_t a = (uintptr_t)addr;
	struct sc_object obj;

	if (sc_os_object(addr, &obj) != 0)
		return -ENOEXEC;
	for (int s = 0; s < obj.nseg; s++) {
		if (a < obj.lo[s] || a >= obj.hi[s])
			continue;
		if (!(obj.prot[s] & PROT_EXEC) || (obj.prot[s] & PROT_WRITE) ||
		    len > obj.hi[s] - a)
			return -ENOEXEC;
		*lo = obj.lo[s];
		*hi = obj.hi[s];
		*prot = obj.prot[s];
		return 0;
	}
	return -ENOEXEC;
}

int sc_os_object_file(const struct sc_object *obj, const char **path)
{
	const void *ph;
	size_t nph, entsize;
	struct stat st;
	void *img;
	int fd = -1, err;

	*path = obj->name;
	if (obj->name[0]) {
		fd = open(obj->name, O_RDONLY | O_CLOEXEC);
	} else {
		/* the main program: /proc/self/exe, else the name it was
		 * started with (checked below like any other) */
		*path = "/proc/self/exe";
		fd = open(*path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && getauxval(AT_EXECFN)) {
			*path = (const char *)getauxval(AT_EXECFN);
			fd = open(*path, O_RDONLY | O_CLOEXEC);
		}
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return -ENOEXEC;
	}
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (img == MAP_FAILED) {
		err = -errno;
		close(fd);
		return err;
	}
	err = sc_elf_phdrs(img, (size_t)st.st_size, &ph, &nph, &entsize);
	if (!err &&
	    (nph != (size_t)obj->phnum || entsize != sizeof(ElfW(Phdr)) ||
	     memcmp(ph, obj->phdr, nph * entsize) != 0))
		err = -ESTALE;
	munmap(img, (size_t)st.st_size);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/*
 * Retired code: a module unloaded from inside an update on the same thread
 * (the trace hook, a signal handler) goes away while that update holds the
 * lock.  Its ranges are noted here, without the lock (the update is
 * suspended on this very thread), and the update leaves them alone from
 * then on.  Append-only while the lock is held; the count tells an update
 * whether to look.
 */
#define SC_RETIRED 64
static _Atomic uintptr_t retired_lo[SC_RETIRED], retired_hi[SC_RETIRED];
static _Atomic unsigned int nretired;

void sc_code_retire(uintptr_t lo, uintptr_t hi)
{
	unsigned int n = atomic_load(&nretired);

	if (n < SC_RETIRED) {
		atomic_store(&retired_lo[n], lo);
		atomic_store(&retired_hi[n], hi);
	}
	atomic_store(&nretired, n + 1);
}

unsigned int sc_code_retirements(void) { return atomic_load(&nretired); }

/* The lock was just taken: no update is under way on any thread, so no
 * range retired before concerns anyone (the modules themselves are
 * forgotten by module.c's reap()). */
void sc_code_retire_reset(void) { atomic_store(&nretired, 0); }

bool sc_code_retired(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;
	unsigned int n = atomic_load(&nretired);

	if (n > SC_RETIRED)
		return true; /* too many to tell: assume the worst */
	for (unsigned int i = 0; i < n; i++)
		if (a >= atomic_load(&retired_lo[i]) &&
		    a < atomic_load(&retired_hi[i]))
			return true;
	return false;
}
