/* SPDX-License-Identifier: MIT */
/*
 * Writable views of the trampoline pages, for the trap-free protocol.
 *
 * A trampoline page of the program is file-backed and private: no second
 * mapping of it can be made.  So, the first time a page is needed, it is
 * copied into a memfd and the memfd is mapped twice: MAP_FIXED over the
 * original page, with the original (read+execute) protection, and at a new
 * address, read+write.  No mapping is ever writable and executable.
 *
 * Swapping the page under running threads is safe because the bytes do not
 * change: mmap(MAP_FIXED) replaces the mapping under the mm's write lock, and
 * a thread that touches the page meanwhile takes a page fault that waits for
 * the lock and then finds the new mapping with the same contents.  We hold
 * the patch lock, so none of our own writes can land in between.
 *
 * fork: MAP_SHARED pages stay shared with the child, so after fork() parent
 * and child would patch each other's code.  Both therefore move their pages
 * to a memfd of their own before either can write again: the child in its
 * atfork handler (before fork() returns there), the parent before it
 * releases the patch lock.  Nobody writes to the old memfd after the fork.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define PAGE 4096UL

struct alias {
	uintptr_t page; /* the code page */
	uint8_t *rw;	/* its writable view */
	int prot;	/* the code page's protection */
};

/* All under the patch lock.  The table grows by mmap (no malloc: updates
 * may come from signal handlers). */
static struct alias *table;
static size_t nr, cap;
static int memfd = -1;
static off_t memfd_size;
static bool broken; /* a fork could not unshare: no more alias writes */

static int memfd_open(void)
{
	int fd = (int)syscall(SYS_memfd_create, "staticcall-text",
			      MFD_CLOEXEC | MFD_EXEC);

	if (fd < 0 && errno == EINVAL) /* before Linux 6.3: no MFD_EXEC */
		fd = (int)syscall(SYS_memfd_create, "staticcall-text",
				  MFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * mmap(MAP_FIXED) of the memfd over a code page, as a raw system call.  The
 * swap changes no byte the program can see, so it is no news to a
 * sanitizer either; and ThreadSanitizer's mmap interceptor, which resets
 * the shadow of every new mapping, would fault on it: TSan maps the shadow
 * of the program's code (r-x file mappings) read-only at start-up.
 */
static void *map_code_page(uintptr_t page, int prot, int fd, off_t off)
{
	long r = syscall(SYS_mmap, page, PAGE, prot, MAP_SHARED | MAP_FIXED, fd,
			 off);

	return r == -1 ? MAP_FAILED : (void *)r;
}

/*
 * Give @page a writable view backed by offset @off of @fd (a fresh page of
 * that memfd): copy, map RW, check that an executable mapping of the memfd
 * is allowed at all, then swap the code page.  If *@rw is set, the view
 * replaces the one at that address (MAP_FIXED), so that pointers into it
 * stay valid (an update in progress holds some: fork() from the trace hook).
 * On failure the code page is left as it was.
 */
static int alias_map(int fd, off_t off, uintptr_t page, int prot, uint8_t **rw)
{
	void *v, *x;
	int vflags = MAP_SHARED | (*rw ? MAP_FIXED : 0);

	if (pwrite(fd, (void *)page, PAGE, off) != (ssize_t)PAGE)
		return errno ? -errno : -EIO;
	/* MAP_FIXED may drop the old mapping when it fails: try an executable
	 * mapping of the memfd elsewhere first, so that a refusal (noexec
	 * memfds, an LSM) is found while everything is still in place. */
	x = mmap(NULL, PAGE, prot, MAP_SHARED, fd, off);
	if (x == MAP_FAILED)
		return -errno;
	munmap(x, PAGE);
	v = mmap(*rw, PAGE, PROT_READ | PROT_WRITE, vflags, fd, off);
	if (v == MAP_FAILED)
		return -errno;
	x = map_code_page(page, prot, fd, off);
	if (x != (void *)page) {
		int e = errno;
		if (!*rw)
			munmap(v, PAGE);
		sc_warn("cannot map the trampoline page %p: %s", (void *)page,
			strerror(e));
		return -e;
	}
	*rw = v;
	return 0;
}

/*
 * A page with a writable view is a memfd mapping, which perf cannot
 * symbolise through the program's files.  With the perf_map option, the
 * trampolines of such a page (16-byte slots with the ud2 signature) are
 * listed in /tmp/perf-<pid>.map, the file perf reads for code it cannot
 * otherwise name.  dladdr() is not async-signal-safe, hence opt-in.
 */
static void perf_map_page(uintptr_t page)
{
	char path[64], line[256];
	int fd;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	for (uintptr_t a = page; a < page + PAGE; a += STATIC_CALL_TRAMP_SIZE) {
		const uint8_t *b = (const uint8_t *)a;
		Dl_info info;
		int n;
		if (b[6] != 0x0f || b[7] != 0x0b || !dladdr((void *)a, &info) ||
		    !info.dli_sname || (uintptr_t)info.dli_saddr != a)
			continue;
		n = snprintf(line, sizeof(line), "%lx %x %s\n",
			     (unsigned long)a, STATIC_CALL_TRAMP_SIZE,
			     info.dli_sname);
		if (n > 0 && write(fd, line, (size_t)n) < 0)
			break;
	}
	close(fd);
}

uint8_t *sc_alias_lookup(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, page = a & ~(PAGE - 1);

	if (((a + len - 1) & ~(PAGE - 1)) != page)
		return NULL;
	for (size_t i = 0; i < nr; i++)
		if (table[i].page == page)
			return table[i].rw + (a - page);
	return NULL;
}

int sc_alias_get(void *addr, size_t len, uint8_t **rw)
{
	uintptr_t a = (uintptr_t)addr, page = a & ~(PAGE - 1);
	struct alias *al;
	int prot = 0, err;

	if (broken)
		return -EIO;
	if (((a + len - 1) & ~(PAGE - 1)) != page)
		return -EINVAL;
	*rw = sc_alias_lookup(addr, len);
	if (*rw)
		return 0;
	err = sc_mem_prot((void *)page, PAGE, &prot);
	if (err)
		return err;
	if (!(prot & PROT_EXEC) || (prot & PROT_WRITE) || !(prot & PROT_READ))
		return -EPERM;
	err = sc_array_grow((void **)&table, &cap, nr, sizeof(*table), 64);
	if (err)
		return err;
	if (memfd < 0) {
		memfd = memfd_open();
		if (memfd < 0) {
			err = memfd;
			memfd = -1;
			return err;
		}
	}
	if (ftruncate(memfd, memfd_size + (off_t)PAGE) != 0)
		return -errno;
	al = &table[nr];
	al->rw = NULL;
	err = alias_map(memfd, memfd_size, page, prot, &al->rw);
	if (err)
		return err; /* the memfd keeps an unused page: harmless */
	memfd_size += (off_t)PAGE;
	al->page = page;
	al->prot = prot;
	nr++;
	sc_debug("trampoline page %p now has a writable view at %p",
		 (void *)page, (void *)al->rw);
	if (sc_perf_map)
		perf_map_page(page);
	*rw = al->rw + (a - page);
	return 0;
}

/* After fork(), in the parent (lock held) and in the child. */
void sc_alias_after_fork(void)
{
	int fd;

	if (nr == 0)
		return;
	fd = memfd_open();
	if (fd < 0 || ftruncate(fd, (off_t)(nr * PAGE)) != 0)
		goto fail;
	/* Each view is replaced in place (same address), then the code page:
	 * an update in progress (fork() from the trace hook) keeps valid
	 * pointers into the views. */
	for (size_t i = 0; i < nr; i++)
		if (alias_map(fd, (off_t)(i * PAGE), table[i].page,
			      table[i].prot, &table[i].rw) != 0)
			goto fail;
	close(memfd);
	memfd = fd;
	memfd_size = (off_t)(nr * PAGE);
	return;
fail:
	/* Still sharing pages with the other process: never write them. */
	sc_warn("cannot unshare trampoline pages after fork; updates of "
		"those static calls will fail");
	broken = true;
	if (fd >= 0)
		close(fd);
}

bool sc_alias_active(void) { return nr > 0; }

static int find_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct sc_module_ranges *r = arg;
	int n = 0;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum && n < SC_MODULE_RANGES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		r->lo[n] = info->dlpi_addr + ph->p_vaddr;
		r->hi[n] = r->lo[n] + ph->p_memsz;
		n++;
	}
	for (int i = 0; i < n; i++) {
		if (r->anchor >= r->lo[i] && r->anchor < r->hi[i]) {
			r->n = n;
			return 1; /* this module: stop */
		}
	}
	return 0;
}

int sc_module_ranges(const void *anchor, struct sc_module_ranges *r)
{
	r->anchor = (uintptr_t)anchor;
	r->n = 0;
	return dl_iterate_phdr(find_module, r) ? 0 : -ENOENT;
}

/* Lock held, from a module's destructor (dlclose or exit). */
void sc_alias_forget(const struct sc_module_ranges *r)
{
	for (size_t i = 0; i < nr;) {
		bool mine = false;
		for (int k = 0; k < r->n; k++)
			mine |= table[i].page >= (r->lo[k] & ~(PAGE - 1)) &&
				table[i].page < r->hi[k];
		if (!mine) {
			i++;
			continue;
		}
		munmap(table[i].rw, PAGE);
		table[i] = table[--nr];
	}
}
