/* SPDX-License-Identifier: MIT */
/*
 * perf's map of code it cannot name (option perf_map): a page moved to a
 * memfd copy (a flip region, a store view) is no longer a mapping of the
 * program's file, so perf cannot symbolise it through /proc/<pid>/maps.
 * /tmp/perf-<pid>.map, the file perf reads for such code, gets a line per
 * function of those pages, named from the object's own symbol table (read
 * from its file, not with dladdr(): that takes the dynamic linker's lock,
 * which a module's constructor waiting for our lock may hold).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsites.h"
#include "internal.h"

struct out {
	int fd;
	uintptr_t bias;
};

static int line(void *arg, const char *name, uint64_t value, uint64_t size)
{
	struct out *o = arg;
	char buf[320];
	int n = sc_format(buf, sizeof(buf), "%lx %lx %s\n",
			  (unsigned long)(o->bias + value), (unsigned long)size,
			  name);

	if (n > (int)sizeof(buf) - 1) {
		n = (int)sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	return n > 0 && write(o->fd, buf, (size_t)n) < 0 ? -errno : 0;
}

/*
 * The ranges listed so far by this process (the map is per pid: a fork
 * child starts a file of its own).  A region made again over the same
 * code (after a fork, the parent's regions are remade in a new memfd) is
 * not listed twice; a module unloaded takes its ranges with it (another
 * one may come at the same addresses).  Under the patch lock.
 */
struct listed {
	uintptr_t lo, hi;
};
static struct listed *listed;
static size_t nlisted, caplisted;
static pid_t listed_pid;

static bool already_listed(uintptr_t lo, uintptr_t hi)
{
	for (size_t i = 0; i < nlisted; i++)
		if (listed[i].lo <= lo && hi <= listed[i].hi)
			return true;
	return false;
}

static void note_listed(uintptr_t lo, uintptr_t hi)
{
	size_t j = 0;

	for (size_t i = 0; i < nlisted; i++) /* ranges inside it go */
		if (!(lo <= listed[i].lo && listed[i].hi <= hi))
			listed[j++] = listed[i];
	nlisted = j;
	if (sc_array_grow((void **)&listed, &caplisted, nlisted,
			  sizeof(*listed), 16) == 0)
		listed[nlisted++] = (struct listed){lo, hi};
}

void sc_perfmap_forget(uintptr_t lo, uintptr_t hi)
{
	size_t j = 0;

	for (size_t i = 0; i < nlisted; i++)
		if (listed[i].hi <= lo || listed[i].lo >= hi)
			listed[j++] = listed[i];
	nlisted = j;
}

void sc_perfmap_add(uintptr_t lo, uintptr_t hi)
{
	struct sc_object obj;
	struct out o;
	struct stat st;
	const char *path;
	char name[64];
	void *img;
	int fd;

	if (listed_pid != getpid()) {
		listed_pid = getpid();
		nlisted = 0;
	}
	if (already_listed(lo, hi))
		return;
	if (sc_os_object((void *)lo, &obj) != 0)
		return;
	fd = sc_os_object_file(&obj, &path);
	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || st.st_size <= 0 ||
	    (img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
			0)) == MAP_FAILED) {
		close(fd);
		return;
	}
	close(fd);
	sc_format(name, sizeof(name), "/tmp/perf-%d.map", (int)getpid());
	o.fd = open(name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	o.bias = obj.bias;
	if (o.fd >= 0) {
		if (sc_elf_funcs(img, (size_t)st.st_size, lo - obj.bias,
				 hi - obj.bias, line, &o) == 0)
			note_listed(lo, hi);
		close(o.fd);
	}
	munmap(img, (size_t)st.st_size);
}
