/* SPDX-License-Identifier: MIT */
/*
 * Finding a module's inline call sites: the `call`/`jmp` instructions to a
 * trampoline that the module's kept relocations (ld --emit-relocs) point
 * at (docs/inline.md).
 *
 * The module's file is mapped and checked to be the loaded object (same
 * program headers), and its relocations walked (elfsites.c).  Every site
 * is checked in memory before the library takes it: it lies in an
 * executable segment of the module, holds the file's byte, decodes as a
 * call/jmp, and reaches the trampoline its relocation names, directly or
 * through a PLT entry of the module.  A site that fails any check is
 * reported and never written: it keeps calling through the trampoline,
 * which is always correct.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/elf.h"
#include "elfsites.h"
#include "internal.h"

/* Is [a, a + len) inside one program header of @obj of type @type whose
 * flags include @flags (a loaded segment, an executable one, RELRO)? */
static bool in_phdr(const struct sc_object *obj, uintptr_t a, size_t len,
		    uint32_t type, uint32_t flags)
{
	const ElfW(Phdr) *phdr = obj->phdr;

	for (int i = 0; i < obj->phnum; i++) {
		const ElfW(Phdr) *ph = &phdr[i];
		uintptr_t lo = obj->bias + ph->p_vaddr;
		if (ph->p_type != type || (ph->p_flags & flags) != flags)
			continue;
		if (a >= lo && len <= ph->p_memsz &&
		    a - lo <= ph->p_memsz - len)
			return true;
	}
	return false;
}

static bool in_segment(const struct sc_object *obj, uintptr_t a, size_t len,
		       bool exec)
{
	return in_phdr(obj, a, len, PT_LOAD, exec ? PF_X : 0);
}

/* @stub is a PLT entry in the object's code: 0 and the slot it jumps
 * through (not checked: callers want it in different places). */
static int plt_slot(const struct sc_object *obj, uintptr_t stub,
		    uintptr_t *slot)
{
	if (!in_segment(obj, stub, 16, true))
		return -ENOEXEC;
	return sc_arch_plt_slot((const uint8_t *)stub, slot);
}

struct scan {
	const struct sc_object *obj;
	const char *path;
	struct sc_site_list *out;
	uintptr_t last; /* the last trampoline checked, and the result */
	bool last_ok;
};

static int reject(struct scan *sc, uintptr_t a, const char *name,
		  const char *why)
{
	sc_warn("inline site %p (%s in %s): %s; not patched", (void *)a, name,
		sc->path, why);
	sc->out->rejected++;
	return 0;
}

/* Does @t hold a trampoline (in this module or another loaded one)? */
static bool tramp_ok(struct scan *sc, uintptr_t t)
{
	uintptr_t lo, hi;
	void *target;
	int prot;

	if (t & (STATIC_CALL_TRAMP_SIZE - 1))
		return false;
	if (t == sc->last)
		return sc->last_ok;
	sc->last = t;
	sc->last_ok = (in_segment(sc->obj, t, STATIC_CALL_TRAMP_SIZE, true) ||
		       sc_code_range((void *)t, STATIC_CALL_TRAMP_SIZE, &lo,
				     &hi, &prot) == 0) &&
		      sc_arch_tramp_decode((const uint8_t *)t, t, &target) == 0;
	return sc->last_ok;
}

static int collect(void *arg, const struct sc_elf_site *e)
{
	struct scan *sc = arg;
	const struct sc_object *obj = sc->obj;
	uintptr_t a = obj->bias + (uintptr_t)e->addr, dest, slot = 0, tramp;
	const uintptr_t *got = NULL;
	struct sc_site_list *out = sc->out;
	struct sc_site *s;
	bool tail;

	if (!in_segment(obj, a, SC_ARCH_SITE_LEN, true))
		return reject(sc, a, e->name,
			      "not in an executable segment of the module");
	if (e->opcode < 0 ||
	    *(const uint8_t *)(a + SC_ARCH_SITE_OPCODE_AT) != e->opcode)
		return reject(sc, a, e->name, "memory differs from the file");
	if (sc_arch_site_decode((const uint8_t *)a, a, &tail, &dest) != 0)
		return reject(sc, a, e->name, "not a call or jmp");
	if (e->defined && dest == obj->bias + (uintptr_t)e->sym_value) {
		if (!tramp_ok(sc, dest))
			return reject(sc, a, e->name,
				      "its target is not a trampoline");
		tramp = dest;
	} else if (plt_slot(obj, dest, &slot) == 0 &&
		   in_segment(obj, slot, sizeof(uintptr_t), false)) {
		got = (const uintptr_t *)slot;
		tramp = __atomic_load_n(got, __ATOMIC_RELAXED);
		if (!tramp_ok(sc, tramp))
			tramp = 0; /* not bound yet */
	} else {
		return reject(sc, a, e->name,
			      "it does not reach the trampoline its "
			      "relocation names");
	}
	if (sc_array_grow((void **)&out->v, &out->cap, out->n, sizeof(*s), 64))
		return -ENOMEM;
	s = &out->v[out->n++];
	memset(s, 0, sizeof(*s));
	s->addr = (uint8_t *)a;
	s->orig = dest;
	s->tramp = tramp;
	s->got = got;
	s->tail = tail;
	memcpy(s->cur, s->addr, SC_ARCH_SITE_LEN);
	out->pending += tramp == 0;
	return 0;
}

static bool addr_less(const void *x, const void *y)
{
	return ((const struct sc_site *)x)->addr <
	       ((const struct sc_site *)y)->addr;
}

static uintptr_t addr_key(const void *x, int k)
{
	(void)k;
	return (uintptr_t)((const struct sc_site *)x)->addr;
}

/* A relocation listed twice would make two pokes of one site. */
static void dedupe(struct sc_site_list *l)
{
	static const struct sc_sort_ops ops = {sizeof(struct sc_site),
					       addr_less, NULL, addr_key, 1};
	size_t k = 0;

	sc_sort(l->v, l->n, &ops);
	for (size_t i = 0; i < l->n; i++) {
		if (k && l->v[k - 1].addr == l->v[i].addr) {
			l->pending -= l->v[i].tramp == 0;
			continue;
		}
		l->v[k++] = l->v[i];
	}
	l->n = k;
}

int sc_sites_scan(const struct sc_object *obj, struct sc_site_list *out)
{
	struct scan sc = {.obj = obj, .out = out};
	struct stat st;
	void *img;
	int fd, n;

	memset(out, 0, sizeof(*out));
	fd = sc_os_object_file(obj, &sc.path);
	if (fd == -ESTALE)
		sc_warn("%s is not the file the module was loaded from; its "
			"call sites are left alone",
			sc.path);
	if (fd < 0) {
		/* every module that includes the header gets here, opted in
		 * or not: not worth a warning */
		sc_debug("%s: cannot read the module's file: %s", sc.path,
			 sc_strerror(-fd));
		return fd == -ESTALE ? fd : -ENODATA;
	}
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return -ENOEXEC;
	}
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED)
		return -errno;
	n = sc_elf_sites(img, (size_t)st.st_size, collect, &sc);
	munmap(img, (size_t)st.st_size);
	if (n >= 0)
		dedupe(out);
	return n < 0 ? n : 0;
}

/*
 * The target a trampoline's bytes name, as an update would pass it.  A RET0
 * trampoline outside libstaticcall (DEFINE_STATIC_CALL_RET0 in a PIE
 * executable or another shared object) was linked as a jmp to its module's
 * PLT entry of __static_call_return0: that is RET0 too (the 5-byte xor at
 * call sites), not a call to the PLT entry.  The entry is read only once it
 * is known to lie in an executable segment, and taken for RET0 only if its
 * slot is in the module's RELRO region (bound for good: -z now), so that
 * the xor can never outlive what the slot says.
 */
int sc_sites_tramp_target(uintptr_t tramp, void **target)
{
	struct sc_object obj;
	uintptr_t slot;
	void *func;

	if (sc_arch_tramp_decode((const uint8_t *)tramp, tramp, &func) != 0)
		return -ENOEXEC; /* checked at registration: cannot happen */
	if (func && sc_os_object(func, &obj) == 0 &&
	    plt_slot(&obj, (uintptr_t)func, &slot) == 0 &&
	    in_phdr(&obj, slot, sizeof(void *), PT_GNU_RELRO, 0) &&
	    __atomic_load_n((void **)slot, __ATOMIC_RELAXED) ==
		    (void *)&__static_call_return0)
		func = (void *)&__static_call_return0;
	*target = func;
	return 0;
}
