/* SPDX-License-Identifier: MIT */
/*
 * Inline call sites: the `call`/`jmp` instructions to a trampoline that a
 * module's kept relocations (ld --emit-relocs) point at, rewritten into
 * direct calls to the static call's target.
 *
 * At module load (its constructor): the module's file is mapped, checked to
 * be the loaded module (same program headers), and its relocations walked
 * (elfsites.c).  Every site is checked in memory before the library takes
 * it: it lies in an executable segment of the module, holds the file's
 * byte, decodes as a call/jmp, and reaches the trampoline its relocation
 * names, directly or through a PLT entry of the module.  A site that fails
 * any check is reported and never written.  The module's sites are then
 * brought to their static calls' current targets in one batch.
 *
 * Sites are kept per module, sorted by trampoline, so an update finds a
 * static call's sites by binary search in each module and adds them to its
 * batch.  A site reached through a PLT slot that the dynamic linker has not
 * bound yet (lazy binding) is "pending": it keeps calling through the PLT
 * and joins its static call at the first update after the slot is bound.
 * Each site's last written bytes are kept; every patch checks them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsites.h"
#include "internal.h"

bool sc_inline = true; /* option "inline"; under the patch lock */

struct smod {
	const void *anchor;
	struct sc_site *v; /* sorted by (tramp, addr); mmap-grown */
	size_t n, cap;
	size_t pending; /* sites with tramp == 0 */
};

/* Under the patch lock. */
static struct smod *smods;
static size_t nsmods, capsmods;

static bool site_less(const void *x, const void *y)
{
	const struct sc_site *a = x, *b = y;

	if (a->tramp != b->tramp)
		return a->tramp < b->tramp;
	return a->addr < b->addr;
}

static void sort_sites(struct smod *m)
{
	static const struct sc_sort_ops ops = {sizeof(struct sc_site),
					       site_less, NULL};

	sc_sort(m->v, m->n, &ops);
}

/* The first site of @tramp in @m. */
static size_t first_of(const struct smod *m, uintptr_t tramp)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].tramp < tramp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Pending sites whose PLT slot now holds @tramp join it. */
static void resolve_pending(struct smod *m, uintptr_t tramp)
{
	bool moved = false;

	for (size_t i = 0; m->pending && i < m->n && m->v[i].tramp == 0; i++) {
		struct sc_site *s = &m->v[i];
		if (__atomic_load_n(s->got, __ATOMIC_RELAXED) != tramp)
			continue;
		s->tramp = tramp;
		m->pending--;
		moved = true;
	}
	if (moved)
		sort_sites(m);
}

static struct sc_poke *site_poke(struct sc_site *s, void *func,
				 struct sc_pokes *out)
{
	struct sc_poke *p = sc_pokes_add(out);

	if (!p)
		return NULL;
	sc_arch_site_encode(s, func, p);
	p->kind = SC_REQ_SITE;
	p->owner = s;
	if (memcmp(p->old, p->new, p->len) == 0)
		out->n--; /* nothing to change */
	return p;
}

/* Before any site poke of a batch exists: joining re-sorts a module's
 * sites, and the pokes point at them (->owner). */
void sc_sites_resolve(struct static_call_key *key)
{
	uintptr_t tramp = (uintptr_t)key->tramp;

	for (size_t k = 0; tramp && k < nsmods; k++)
		resolve_pending(&smods[k], tramp);
}

int sc_sites_prepare(struct static_call_key *key, void *func,
		     struct sc_pokes *out)
{
	uintptr_t tramp = (uintptr_t)key->tramp;

	for (size_t k = 0; tramp && k < nsmods; k++) {
		struct smod *m = &smods[k];
		for (size_t i = first_of(m, tramp);
		     i < m->n && m->v[i].tramp == tramp; i++)
			if (!site_poke(&m->v[i], func, out))
				return -ENOMEM;
	}
	return 0;
}

void sc_site_done(const struct sc_poke *p)
{
	struct sc_site *s = p->owner;

	memcpy(s->cur, p->new, sizeof(s->cur));
}

int __static_call_sites(struct static_call_key *key,
			struct static_call_site *buf, size_t max)
{
	uintptr_t tramp;
	size_t n = 0;
	int err;

	if (!key || (!buf && max))
		return -EINVAL;
	err = sc_lock();
	if (err)
		return err;
	tramp = (uintptr_t)key->tramp;
	for (size_t k = 0; tramp && k < nsmods; k++) {
		struct smod *m = &smods[k];
		resolve_pending(m, tramp);
		for (size_t i = first_of(m, tramp);
		     i < m->n && m->v[i].tramp == tramp; i++, n++) {
			struct sc_site *s = &m->v[i];
			struct static_call_site *o;
			if (n >= max)
				continue; /* counted only; buf may be NULL */
			o = &buf[n];
			memset(o, 0, sizeof(*o));
			o->addr = s->addr;
			o->tail = s->tail;
			o->state = (unsigned char)sc_arch_site_state(
				s, s->addr, &o->target);
			if (memcmp(s->addr, s->cur, sizeof(s->cur)) != 0)
				o->state = STATIC_CALL_SITE_CHANGED;
		}
	}
	sc_unlock();
	return n > __INT_MAX__ ? __INT_MAX__ : (int)n;
}

/* ------------------------------------------------------------------------
 * Finding a module's sites
 * ------------------------------------------------------------------------ */

struct modinfo {
	uintptr_t anchor;
	uintptr_t bias;
	const char *name;
	const ElfW(Phdr) * phdr;
	int phnum;
};

static int find_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct modinfo *mi = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && mi->anchor >= lo &&
		    mi->anchor - lo < ph->p_memsz) {
			mi->bias = info->dlpi_addr;
			mi->name = info->dlpi_name;
			mi->phdr = info->dlpi_phdr;
			mi->phnum = info->dlpi_phnum;
			return 1;
		}
	}
	return 0;
}

/* Is [a, a + len) inside one program header of type @type whose flags
 * include @flags (a loaded segment, an executable one, RELRO)? */
static bool in_phdr(const struct modinfo *mi, uintptr_t a, size_t len,
		    uint32_t type, uint32_t flags)
{
	for (int i = 0; i < mi->phnum; i++) {
		const ElfW(Phdr) *ph = &mi->phdr[i];
		uintptr_t lo = mi->bias + ph->p_vaddr;
		if (ph->p_type != type || (ph->p_flags & flags) != flags)
			continue;
		if (a >= lo && len <= ph->p_memsz &&
		    a - lo <= ph->p_memsz - len)
			return true;
	}
	return false;
}

static bool in_segment(const struct modinfo *mi, uintptr_t a, size_t len,
		       bool exec)
{
	return in_phdr(mi, a, len, PT_LOAD, exec ? PF_X : 0);
}

/* @stub is a PLT entry in the module's code: 0 and the slot it jumps
 * through (not checked: callers want it in different places). */
static int plt_slot(const struct modinfo *mi, uintptr_t stub, uintptr_t *slot)
{
	if (!in_segment(mi, stub, 16, true))
		return -ENOEXEC;
	return sc_arch_plt_slot((const uint8_t *)stub, slot);
}

struct scan {
	const struct modinfo *mi;
	const char *path;
	struct smod *m;
	uintptr_t last; /* the last trampoline checked, and the result */
	bool last_ok;
	size_t rejected;
};

static int reject(struct scan *sc, uintptr_t a, const char *name,
		  const char *why)
{
	sc_warn("inline site %p (%s in %s): %s; not patched", (void *)a, name,
		sc->path, why);
	sc->rejected++;
	return 0;
}

/* Does @t hold a trampoline (in this module or readable elsewhere)? */
static bool tramp_ok(struct scan *sc, uintptr_t t)
{
	int prot = 0;
	void *target;

	if (t & (STATIC_CALL_TRAMP_SIZE - 1))
		return false;
	if (t == sc->last)
		return sc->last_ok;
	sc->last = t;
	sc->last_ok =
		(in_segment(sc->mi, t, STATIC_CALL_TRAMP_SIZE, true) ||
		 (sc_mem_prot((void *)t, STATIC_CALL_TRAMP_SIZE, &prot) == 0 &&
		  (prot & PROT_EXEC) && (prot & PROT_READ))) &&
		sc_arch_tramp_decode((const uint8_t *)t, t, &target) == 0;
	return sc->last_ok;
}

static int collect(void *arg, const struct sc_elf_site *e)
{
	struct scan *sc = arg;
	const struct modinfo *mi = sc->mi;
	uintptr_t a = mi->bias + (uintptr_t)e->addr, dest, slot = 0, tramp;
	const uintptr_t *got = NULL;
	struct sc_site *s;
	bool tail;

	if (!in_segment(mi, a, SC_ARCH_SITE_LEN, true))
		return reject(sc, a, e->name,
			      "not in an executable segment of the module");
	if (e->opcode < 0 || *(const uint8_t *)a != e->opcode)
		return reject(sc, a, e->name, "memory differs from the file");
	if (sc_arch_site_decode((const uint8_t *)a, a, &tail, &dest) != 0)
		return reject(sc, a, e->name, "not a call or jmp");
	if (e->defined && dest == mi->bias + (uintptr_t)e->sym_value) {
		if (!tramp_ok(sc, dest))
			return reject(sc, a, e->name,
				      "its target is not a trampoline");
		tramp = dest;
	} else if (plt_slot(mi, dest, &slot) == 0 &&
		   in_segment(mi, slot, sizeof(uintptr_t), false)) {
		got = (const uintptr_t *)slot;
		tramp = __atomic_load_n(got, __ATOMIC_RELAXED);
		if (!tramp_ok(sc, tramp))
			tramp = 0; /* not bound yet */
	} else {
		return reject(sc, a, e->name,
			      "it does not reach the trampoline its "
			      "relocation names");
	}
	if (sc_array_grow((void **)&sc->m->v, &sc->m->cap, sc->m->n, sizeof(*s),
			  64))
		return -ENOMEM;
	s = &sc->m->v[sc->m->n++];
	memset(s, 0, sizeof(*s));
	s->addr = (uint8_t *)a;
	s->orig = dest;
	s->tramp = tramp;
	s->got = got;
	s->tail = tail;
	memcpy(s->cur, s->addr, sizeof(s->cur));
	sc->m->pending += tramp == 0;
	return 0;
}

static bool addr_less(const void *x, const void *y)
{
	return ((const struct sc_site *)x)->addr <
	       ((const struct sc_site *)y)->addr;
}

/* A relocation listed twice would make two pokes of one site. */
static void dedupe(struct smod *m)
{
	static const struct sc_sort_ops ops = {sizeof(struct sc_site),
					       addr_less, NULL};
	size_t k = 0;

	sc_sort(m->v, m->n, &ops);
	for (size_t i = 0; i < m->n; i++) {
		if (k && m->v[k - 1].addr == m->v[i].addr) {
			m->pending -= m->v[i].tramp == 0;
			continue;
		}
		m->v[k++] = m->v[i];
	}
	m->n = k;
}

/* Map the module's file, check it is the loaded module, walk its sites. */
static int scan_file(struct scan *sc)
{
	const struct modinfo *mi = sc->mi;
	const void *ph;
	size_t nph, entsize;
	struct stat st;
	void *img;
	int fd, n;

	fd = open(sc->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* every module that includes the header gets here, opted in
		 * or not: not worth a warning */
		sc_debug("%s: cannot open: %s", sc->path, strerror(errno));
		return -ENODATA;
	}
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return -ENOEXEC;
	}
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED)
		return -errno;
	n = sc_elf_phdrs(img, (size_t)st.st_size, &ph, &nph, &entsize);
	if (n == 0 &&
	    (nph != (size_t)mi->phnum || entsize != sizeof(ElfW(Phdr)) ||
	     memcmp(ph, mi->phdr, nph * entsize) != 0)) {
		sc_warn("%s is not the file the module was loaded from; its "
			"call sites are left alone",
			sc->path);
		n = -ESTALE;
	}
	if (n == 0)
		n = sc_elf_sites(img, (size_t)st.st_size, collect, sc);
	munmap(img, (size_t)st.st_size);
	return n;
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
static int tramp_target(uintptr_t tramp, void **target)
{
	struct modinfo pm;
	uintptr_t slot;
	void *func;

	if (sc_arch_tramp_decode((const uint8_t *)tramp, tramp, &func) != 0)
		return -ENOEXEC; /* checked at registration: cannot happen */
	pm.anchor = (uintptr_t)func;
	/* RELRO: read-only once relocated, so the slot no longer changes */
	if (func && dl_iterate_phdr(find_module, &pm) &&
	    plt_slot(&pm, (uintptr_t)func, &slot) == 0 &&
	    in_phdr(&pm, slot, sizeof(void *), PT_GNU_RELRO, 0) &&
	    __atomic_load_n((void **)slot, __ATOMIC_RELAXED) ==
		    (void *)&__static_call_return0)
		func = (void *)&__static_call_return0;
	*target = func;
	return 0;
}

/* Bring a new module's sites to their trampolines' targets: one batch. */
static int sites_sync(struct smod *m)
{
	struct sc_pokes *out = sc_work();
	uintptr_t last = 0;
	void *func = NULL;
	int err, bad = 0;

	out->n = 0;
	for (size_t i = m->pending; i < m->n; i++) {
		struct sc_site *s = &m->v[i];
		if (s->tramp != last) /* sorted by trampoline */
			bad = tramp_target(last = s->tramp, &func);
		if (bad)
			continue;
		if (!site_poke(s, func, out))
			return -ENOMEM;
	}
	if (out->n == 0)
		return 0;
	err = sc_runtime_prepare();
	return err ? err : sc_work_patch();
}

int sc_sites_module_load(const void *anchor)
{
	struct modinfo mi = {.anchor = (uintptr_t)anchor};
	struct scan sc = {.mi = &mi};
	struct smod *m;
	int n, err;

	for (size_t k = 0; k < nsmods; k++)
		if (smods[k].anchor == anchor)
			return 0;
	sc_options_from_env();
	if (!sc_inline || !anchor || !dl_iterate_phdr(find_module, &mi))
		return 0;
	err = sc_array_grow((void **)&smods, &capsmods, nsmods, sizeof(*smods),
			    8);
	if (err)
		return err;
	m = &smods[nsmods];
	memset(m, 0, sizeof(*m));
	m->anchor = anchor;
	sc.m = m;
	sc.path = mi.name && mi.name[0] ? mi.name : "/proc/self/exe";
	n = scan_file(&sc);
	sc_stat_add(sites_rejected, sc.rejected);
	if (n < 0 && n != -ENODATA && n != -ESTALE)
		sc_warn("%s: cannot read its call sites: %s", sc.path,
			strerror(-n));
	if (n < 0 || m->n == 0) {
		if (m->v)
			munmap(m->v, m->cap * sizeof(*m->v));
		return n == -ENOMEM ? n : 0;
	}
	dedupe(m);
	sort_sites(m);
	nsmods++;
	sc_stat_add(sites_found, m->n);
	sc_debug("%s: %zu inline call sites (%zu pending, %zu rejected)",
		 sc.path, m->n, m->pending, sc.rejected);
	err = sites_sync(m);
	if (err)
		sc_warn("%s: call sites left calling through their "
			"trampolines: %s",
			sc.path, strerror(-err));
	return 0;
}

void sc_sites_module_unload(const void *anchor)
{
	for (size_t k = 0; k < nsmods; k++) {
		if (smods[k].anchor != anchor)
			continue;
		if (smods[k].v)
			munmap(smods[k].v, smods[k].cap * sizeof(*smods[k].v));
		smods[k] = smods[--nsmods];
		return;
	}
}

int __static_call_module_init(struct static_key_entry *start,
			      struct static_key_entry *stop, void *anchor)
{
	int err = 0, e2;

	if (start != stop)
		err = __static_call_module_load(start, stop);
	e2 = sc_lock();
	if (e2)
		return err ? err : e2;
	e2 = sc_sites_module_load(anchor);
	sc_unlock();
	return err ? err : e2;
}
