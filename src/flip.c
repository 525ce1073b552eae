/* SPDX-License-Identifier: MIT */
/*
 * Copies of code pages in a memfd: page flips (the default protocol) and
 * the writable views of the store protocol.  This file owns every code
 * page the library has moved to a memfd, whatever the protocol.
 *
 * The page flip.  Never modify a byte that any thread can execute:
 *
 *   1. Write the new bytes into a spare copy of the page(s) in the memfd,
 *      with pwrite() on the memfd's descriptor: no thread can execute the
 *      spare copy, and no mapping of code is ever writable.
 *   2. Replace the live pages with the spare copy: ONE mmap(MAP_FIXED,
 *      PROT_READ | PROT_EXEC, MAP_PRIVATE) of the memfd range per region.
 *      Linux replaces the mapping under the mm's write lock and shoots
 *      down every core's translation before mmap returns; a thread that
 *      touches the pages meanwhile faults, waits for the lock and finds the
 *      new mapping.  A thread therefore runs the old copy or the new copy,
 *      whole; an instruction that straddles two pages of a region sees both
 *      old or both new (the pages of a site always flip in one call).
 *   3. One sync (membarrier SYNC_CORE) for the batch, the engine's: every
 *      core serialises, so none still runs instructions it fetched from
 *      the old copy when the update returns.
 *
 * Caches (architectures whose instruction fetch is not coherent with
 * data writes, aarch64): the copy must be cleaned to the point of
 * unification and the instruction cache invalidated for it BEFORE any
 * thread can fetch from it, since a spare copy was mapped executable
 * before (the copies alternate) and its old lines may still be in the
 * instruction cache.  The library cannot do it: the copy has no mapping
 * until the mmap that makes it live.  The kernel does: a write() into a
 * page-cache page marks it not clean for the instruction side, and the
 * mmap (MAP_POPULATE) that installs a user-executable entry for such a
 * page does the maintenance first (docs/aarch64.md, "Page flip").
 *
 * No store-ordering question arises (each thread sees a whole page, old
 * or new), no thread traps, and what the CPU vendors require of
 * cross-modifying code holds: the modified bytes are never executed
 * before the executing core serialised (it never executed them at all;
 * the new physical page is reached only through a new translation).
 *
 * Regions.  Pages flip in regions: contiguous ranges of pages of one
 * executable segment, each with two copies in the memfd (copy 0 and copy 1,
 * each contiguous, so that one mmap maps a whole region).  Pokes that are
 * close (within SC_FLIP_GAP pages) or share a page fall into one region;
 * a batch that touches pages next to an existing region, or two regions,
 * makes a new region that covers them all (the old ones are absorbed:
 * their memory is released after the batch's sync).
 *
 * The spare copy is kept up to date lazily: after a flip it lacks exactly
 * the changes of that flip (the "stale" pages of the region), which the
 * next flip of the region writes into it, from the live copy, together
 * with its own changes.  The old copy is written only by a later batch,
 * after this batch's sync (F3 below).
 *
 * Invariants (beside I1-I7 of docs/design.md):
 *   F1  A copy is written only while no thread can execute it: it is not
 *       mapped by this process, and no other process maps it (after a
 *       fork both sides move to a new memfd, a "generation": copies of an
 *       older generation are never written again).
 *   F2  All pages a poke touches flip in one mmap call.
 *   F3  A copy mapped out by a flip is written again only after a sync
 *       that followed that flip.
 *   F4  A page is copied only while it holds nothing but what it was
 *       mapped from (the file, or our copy): a breakpoint or uprobe that
 *       wrote into it (a private, COWed page in /proc/self/pagemap) makes
 *       its pokes take the int3 protocol, which leaves other bytes alone.
 *   F5  A failed batch leaves every region mapped on a complete copy (the
 *       old one), so no thread ever runs a half-written page.
 *
 * Store views.  The store protocol (an opt-in) needs a second, writable
 * mapping of a page: its single copy is mapped MAP_SHARED r-x over the code
 * and rw elsewhere (the view); the store protocol writes through the view
 * (store.c).  Such regions never flip.
 *
 * Under the patch lock, all of it; allocation by mmap only (an update may
 * come from a signal handler).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#ifdef SC_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define VALGRIND_DISCARD_TRANSLATIONS(a, n) ((void)(a), (void)(n))
#endif

/* Pokes this many pages apart or closer share a region. */
#define SC_FLIP_GAP 8
/* Pages written with one pwrite() from the scratch buffer. */
#define SC_FLIP_CHUNK 64

enum { R_FLIP, R_STORE };

struct region {
	uintptr_t lo; /* first page */
	size_t n;     /* pages */
	off_t off;    /* R_FLIP: copy 0 at off, copy 1 after it;
			 * R_STORE: the copy */
	unsigned gen; /* the memfd generation holding the copies */
	int prot;     /* of the code mapping */
	uint8_t mode; /* R_FLIP or R_STORE */
	uint8_t side; /* R_FLIP: the copy mapped now */
	uint8_t *rw;  /* R_STORE: the writable view */
	/* R_FLIP: the pages the spare copy lacks, a bit map of stale_words
	 * words: in stale1 for regions of up to 64 pages, else in stale_big */
	size_t stale_words;
	uint64_t stale1;
	uint64_t *stale_big;
};

/* A generation: the memfd our copies live in, until the next fork. */
struct gen {
	int fd;
	off_t end; /* file size */
	struct extent {
		off_t off;
		size_t pages;
	} * free; /* released ranges, reusable */
	size_t nfree, capfree;
};

static struct region *regions; /* sorted by lo, disjoint */
static size_t nregions, capregions;
static struct gen cur = {.fd = -1};
static unsigned cur_gen = 1;
static int exec_ok;	  /* 0 unknown, 1 an executable memfd mapping works,
		     * -errno refused (then no copy is ever made) */
static bool views_broken; /* a fork could not unshare the store views */
static volatile uint8_t *canary; /* sc_flip_check_fork() */

/* Freed copies wait for a sync (F3) before they are reused; ranges of
 * unloaded modules wait until their module's code is gone. */
struct pending {
	unsigned gen;
	off_t off;
	size_t pages;
	uintptr_t lo, hi; /* the code range that may still map it (or 0) */
	uint8_t *rw;	  /* a store view to unmap with it */
};
static struct pending *pend;
static size_t npend, cappend;

static size_t ps(void) { return sc_page_size(); }

/* ------------------------------------------------------------------------
 * The memfd and its space
 * ------------------------------------------------------------------------ */
static int gen_open(void)
{
	if (cur.fd >= 0)
		return 0;
	cur.fd = sc_os_memfd("staticcall-text");
	if (cur.fd < 0) {
		int err = cur.fd;
		cur.fd = -1;
		return err;
	}
	cur.end = 0;
	cur.nfree = 0;
	return 0;
}

/* @pages contiguous pages of the memfd: their offset, or -errno. */
static off_t space_alloc(size_t pages)
{
	off_t off;
	int err = gen_open();

	if (err)
		return err;
	for (size_t i = 0; i < cur.nfree; i++) {
		struct extent *e = &cur.free[i];
		if (e->pages < pages)
			continue;
		off = e->off;
		e->off += (off_t)(pages * ps());
		e->pages -= pages;
		if (!e->pages)
			*e = cur.free[--cur.nfree];
		return off;
	}
	off = cur.end;
	if (ftruncate(cur.fd, off + (off_t)(pages * ps())) != 0)
		return -errno;
	cur.end = off + (off_t)(pages * ps());
	return off;
}

/* Give back @pages at @off of generation @g: the memory goes (a hole is
 * punched); the range is reused for later copies of this generation. */
static void space_free(unsigned g, off_t off, size_t pages)
{
	if (g != cur_gen || cur.fd < 0 || !pages)
		return; /* an older generation: not ours to touch (F1) */
	fallocate(cur.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		  (off_t)(pages * ps()));
	if (sc_array_grow((void **)&cur.free, &cur.capfree, cur.nfree,
			  sizeof(*cur.free), 16) == 0)
		cur.free[cur.nfree++] = (struct extent){off, pages};
}

static void defer_free(const struct region *r, uintptr_t lo, uintptr_t hi)
{
	size_t pages = r->mode == R_FLIP ? 2 * r->n : r->n;

	if (sc_array_grow((void **)&pend, &cappend, npend, sizeof(*pend), 16))
		return; /* leak rather than free too early */
	pend[npend++] = (struct pending){
		r->gen, r->off, pages,
		lo,	hi,	r->mode == R_STORE ? r->rw : NULL};
}

/*
 * Release what may be released: copies freed by a batch (after its sync),
 * and copies of unloaded modules once nothing maps their range any more
 * (dlclose unmaps a module's code after its destructors have run).
 */
static void release_pending(bool synced)
{
	for (size_t i = 0; i < npend;) {
		struct pending *p = &pend[i];
		bool go = false;
		if (!p->hi) {
			go = synced;
		} else {
			unsigned char v;
			uintptr_t lo, hi;
			unsigned long ino;
			struct stat st;
			int prot;
			/* unmapped: gone.  Mapped by something else (a new
			 * module at the same place) shows in /proc/self/maps
			 * as another file than our memfd; without /proc,
			 * wait. */
			if (mincore((void *)p->lo, ps(), &v) != 0 &&
			    errno == ENOMEM)
				go = true;
			else if (p->gen == cur_gen && cur.fd >= 0 &&
				 fstat(cur.fd, &st) == 0 &&
				 sc_os_mapping_ino((void *)p->lo, &lo, &hi,
						   &prot, &ino) == 0 &&
				 ino != (unsigned long)st.st_ino)
				go = true;
		}
		if (!go) {
			i++;
			continue;
		}
		if (p->rw)
			munmap(p->rw, p->pages * ps());
		space_free(p->gen, p->off, p->pages);
		*p = pend[--npend];
	}
}

/* ------------------------------------------------------------------------
 * Regions
 * ------------------------------------------------------------------------ */

/* The first region whose end is above @a. */
static size_t region_at(uintptr_t a)
{
	size_t lo = 0, hi = nregions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (regions[mid].lo + regions[mid].n * ps() <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct region *region_of(uintptr_t a)
{
	size_t i = region_at(a);

	return i < nregions && regions[i].lo <= a ? &regions[i] : NULL;
}

static uint64_t *stale_of(struct region *r)
{
	return r->stale_words > 1 ? r->stale_big : &r->stale1;
}

static bool stale_get(struct region *r, size_t i)
{
	return r && (stale_of(r)[i / 64] >> (i % 64)) & 1;
}

static void region_drop(struct region *r)
{
	if (r->stale_big)
		munmap(r->stale_big, r->stale_words * 8);
	r->stale_big = NULL;
}

/* ------------------------------------------------------------------------
 * F4: does a range of pages hold only what it was mapped from?
 * ------------------------------------------------------------------------ */

/*
 * Pages of the program's files that the int3 protocol wrote in place (a
 * fallback: the page could not flip then).  Such a page is a private copy
 * of its own; what it should hold is recorded here, the page as it was
 * mapped (the file's bytes) with our writes applied, so that once nothing
 * but our bytes differ from the file it can flip again (F4).  Dropped when
 * a region takes the page over, or its module goes.
 */
struct inplace {
	uintptr_t page;
	uint8_t *buf; /* a page, mmap'd */
};
static struct inplace *inplace;
static size_t ninplace, capinplace;

static struct inplace *inplace_of(uintptr_t page)
{
	for (size_t i = 0; i < ninplace; i++)
		if (inplace[i].page == page)
			return &inplace[i];
	return NULL;
}

static void inplace_drop(uintptr_t lo, uintptr_t hi)
{
	for (size_t i = 0; i < ninplace;) {
		if (inplace[i].page < lo || inplace[i].page >= hi) {
			i++;
			continue;
		}
		munmap(inplace[i].buf, ps());
		inplace[i] = inplace[--ninplace];
	}
}

static int file_page(uintptr_t page, uint8_t *buf);

/* The bytes page @page should hold: our copy, what we wrote in place over
 * the file's bytes, or the file's bytes.  0, or -errno when there is
 * nothing to compare with. */
static int expected_page(uintptr_t page, uint8_t *buf)
{
	struct region *r = region_of(page);
	struct inplace *ip = r ? NULL : inplace_of(page);

	if (ip) {
		memcpy(buf, ip->buf, ps());
		return 0;
	}
	if (r) {
		if (r->gen != cur_gen || cur.fd < 0)
			return -ENOENT; /* an older generation's descriptor
					 * is gone */
		off_t off = r->off +
			    (off_t)(((r->mode == R_FLIP ? r->side : 0) * r->n +
				     (page - r->lo) / ps()) *
				    ps());
		return pread(cur.fd, buf, ps(), off) == (ssize_t)ps() ? 0
								      : -EIO;
	}
	return file_page(page, buf);
}

/* The file's bytes of @page: 0, or -errno. */
static int file_page(uintptr_t page, uint8_t *buf)
{
	struct sc_object obj;
	const char *path;
	int fd, err = -ENOENT;

	if (sc_os_object((void *)page, &obj) != 0)
		return -ENOENT;
	fd = sc_os_object_file(&obj, &path);
	if (fd < 0)
		return fd;
	for (int i = 0; i < obj.phnum; i++) {
		const ElfW(Phdr) *ph = (const ElfW(Phdr) *)obj.phdr + i;
		uintptr_t vlo, vhi, foff;
		if (ph->p_type != PT_LOAD)
			continue;
		vlo = (obj.bias + ph->p_vaddr) & ~(uintptr_t)(ps() - 1);
		vhi = obj.bias + ph->p_vaddr + ph->p_filesz;
		if (page < vlo || page >= vhi)
			continue;
		foff = (ph->p_offset & ~(uint64_t)(ps() - 1)) + (page - vlo);
		memset(buf, 0, ps());
		err = pread(fd, buf, ps(), (off_t)foff) > 0 ? 0 : -EIO;
		break;
	}
	close(fd);
	return err;
}

static uint8_t *scratch;
static size_t scratch_pages;

static int scratch_get(size_t pages)
{
	void *m;

	if (scratch_pages >= pages)
		return 0;
	if (scratch)
		munmap(scratch, scratch_pages * ps());
	scratch = NULL;
	scratch_pages = 0;
	m = mmap(NULL, pages * ps(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	scratch = m;
	scratch_pages = pages;
	return 0;
}

/*
 * 0 if pages [lo, lo + n) hold exactly what they should (F4): their file's
 * bytes, or our copy's; -EBUSY if some page holds bytes of someone else's
 * (a breakpoint, a probe), or -errno if it cannot be told.  The pagemap
 * answers at once for a page that is still the one it was mapped from (not
 * COWed); a page that was written (COWed, or swapped out, which only
 * private pages are) is compared byte by byte with what it should hold:
 * the same bytes written back by someone are no harm.  Without /proc
 * every page is compared.
 */
static int pristine(uintptr_t lo, size_t n)
{
	uint64_t pm[SC_FLIP_CHUNK];
	int err = 0;

	for (size_t i = 0; !err && i < n; i += SC_FLIP_CHUNK) {
		size_t k = n - i < SC_FLIP_CHUNK ? n - i : SC_FLIP_CHUNK;
		bool all = sc_os_pagemap(lo + i * ps(), k, pm) != 0;
		for (size_t j = 0; !err && j < k; j++) {
			uintptr_t page = lo + (i + j) * ps();
			if (!all && !(pm[j] & SC_PM_SWAPPED) &&
			    (!(pm[j] & SC_PM_PRESENT) || (pm[j] & SC_PM_FILE)))
				continue;
			err = scratch_get(1);
			if (!err)
				err = expected_page(page, scratch);
			if (!err && memcmp(scratch, (void *)page, ps()) != 0)
				err = -EBUSY;
			if (err == -ENOENT)
				err = -EBUSY; /* nothing to compare with */
		}
	}
	return err;
}

/* ------------------------------------------------------------------------
 * The batch plan: which regions flip, with which pokes
 * ------------------------------------------------------------------------ */
struct step {
	uintptr_t lo;
	size_t n; /* pages */
	int prot;
	bool create;	 /* a new region (absorbing regions [ra, rb)) */
	size_t ra, rb;	 /* regions covered, indices at plan time */
	off_t off;	 /* create: copies at off (0) and after it (1) */
	uint8_t to;	 /* the copy this step maps */
	bool flipped;	 /* the copy @to is mapped now */
	bool covered;	 /* create: the range maps the new copies */
	bool dropped;	 /* over retired code: left alone from then on */
	size_t pa, pb;	 /* its pokes: plan.pokes[pa..pb) */
	size_t touched;	 /* pages with pokes: bit map at plan.bits[touched] */
	uint64_t *stale; /* create: the new region's bit map, if it needs
			    * more than one word */
};

static struct {
	struct step *v;
	size_t n, cap;
	struct sc_poke *pokes;
	uint64_t *bits;
	size_t nbits, capbits; /* words */
	bool active;
	/* the generation the plan was made in: a fork from the trace hook in
	 * the middle of it leaves both processes finishing it with these */
	int fd;
	unsigned gen;
} plan = {.fd = -1};

/* The plan is over: a descriptor a fork left behind goes. */
static void plan_end(void)
{
	plan.active = false;
	if (plan.fd >= 0 && plan.fd != cur.fd)
		close(plan.fd);
	plan.fd = -1;
}

static struct step *step_add(void)
{
	if (sc_array_grow((void **)&plan.v, &plan.cap, plan.n, sizeof(*plan.v),
			  16))
		return NULL;
	memset(&plan.v[plan.n], 0, sizeof(plan.v[0]));
	return &plan.v[plan.n++];
}

static void demote(struct sc_poke *p, size_t a, size_t b, int why)
{
	for (size_t i = a; i < b; i++) {
		if (p[i].via != SC_VIA_FLIP)
			continue;
		sc_debug("site %p: no page flip (%s); int3 protocol",
			 (void *)p[i].addr, sc_strerror(-why));
		p[i].via = SC_VIA_INT3;
	}
}

static uintptr_t page_of(uintptr_t a) { return a & ~(uintptr_t)(ps() - 1); }

static uintptr_t poke_end_page(const struct sc_poke *p)
{
	return page_of((uintptr_t)p->addr + p->len - 1) + ps();
}

/* Can a region flip at all?  The first copy tells: an executable mapping
 * of a memfd may be refused (vm.memfd_noexec, an LSM). */
static int exec_allowed(void)
{
	long m;
	int err;

	if (exec_ok)
		return exec_ok < 0 ? exec_ok : 0;
	err = gen_open();
	if (!err && ftruncate(cur.fd, cur.end + (off_t)ps()) != 0)
		err = -errno;
	m = err ? err
		: sc_os_mmap(0, ps(), PROT_READ | PROT_EXEC, MAP_PRIVATE,
			     cur.fd, cur.end);
	if (m == -ENOMEM || m == -EMFILE || m == -ENFILE || m == -ENOSPC ||
	    m == -EAGAIN || m == -EINTR) {
		/* out of something for now (mappings, descriptors, memfd
		 * space), not a refusal: int3 for this batch only */
		sc_debug("no executable copy of code for now: %s",
			 sc_strerror((int)-m));
		return (int)m;
	}
	if (m < 0) {
		exec_ok = (int)m;
		sc_info("no executable copies of code (%s): sites are patched "
			"with the int3 protocol",
			sc_strerror((int)-m));
		return exec_ok;
	}
	munmap((void *)m, ps());
	cur.end += (off_t)ps(); /* that page stays unused */
	exec_ok = 1;
	return 0;
}

/*
 * Pages [lo, hi) of one segment [slo, shi) with pokes p[a..b): widen them
 * to the whole regions they overlap, check them (F4), make them a step.
 * If the check fails and @split, each group of pokes that share pages is
 * tried on its own (a breakpoint in a page between them does not stop
 * them); pokes that cannot flip go to the int3 protocol.
 */
static void plan_pages(struct sc_poke *p, size_t a, size_t b, size_t gap);

/* Exactly one region of this generation: flip it; anything else becomes a
 * new region (an older generation's too: F1). */
static void step_kind(struct step *s)
{
	const struct region *r = s->ra < nregions ? &regions[s->ra] : NULL;

	s->create = !(s->rb == s->ra + 1 && r->mode == R_FLIP &&
		      r->lo == s->lo && r->n == s->n && r->gen == cur_gen);
	s->to = s->create ? 1 : r->side ^ 1;
}

static void plan_interval(struct sc_poke *p, size_t a, size_t b, uintptr_t lo,
			  uintptr_t hi, uintptr_t slo, uintptr_t shi, int prot,
			  bool split)
{
	size_t ra = region_at(lo), rb = ra;
	struct step *s;
	int err = 0;

	while (rb < nregions && regions[rb].lo < hi)
		rb++;
	if (ra < rb && regions[ra].lo < lo)
		lo = regions[ra].lo;
	if (ra < rb && regions[rb - 1].lo + regions[rb - 1].n * ps() > hi)
		hi = regions[rb - 1].lo + regions[rb - 1].n * ps();
	/* a store view's page flips too (the engine sends its pokes here
	 * only under the default protocol): the new region absorbs it, and
	 * the view goes with the old copy, after the sync */
	if (lo < slo || hi > shi)
		err = -ENOEXEC;
	if (!err)
		err = pristine(lo, (hi - lo) / ps());
	if (err == -EBUSY && split && b - a > 1) {
		plan_pages(p, a, b, 0);
		return;
	}
	s = err ? NULL : step_add();
	if (!s) {
		demote(p, a, b, err ? err : -ENOMEM);
		return;
	}
	s->lo = lo;
	s->n = (hi - lo) / ps();
	s->prot = prot;
	s->ra = ra;
	s->rb = rb;
	s->pa = a;
	s->pb = b;
	step_kind(s);
	s->off = -1;
}

/* Group flip pokes p[a..b) into intervals of pages at most @gap pages
 * apart, within one segment. */
static void plan_pages(struct sc_poke *p, size_t a, size_t b, size_t gap)
{
	uintptr_t slo = 0, shi = 0;
	int prot = 0;

	while (a < b) {
		uintptr_t lo, hi, pa = (uintptr_t)p[a].addr;
		size_t e;
		if (p[a].via != SC_VIA_FLIP) {
			a++;
			continue;
		}
		/* sorted pokes: the segment of the last one, most often */
		if ((pa < slo || pa + p[a].len > shi) &&
		    sc_code_range(p[a].addr, p[a].len, &slo, &shi, &prot)) {
			slo = shi = 0;
			demote(p, a, a + 1, -ENOEXEC);
			a++;
			continue;
		}
		lo = page_of((uintptr_t)p[a].addr);
		hi = poke_end_page(&p[a]);
		for (e = a + 1; e < b; e++) {
			if (p[e].via != SC_VIA_FLIP)
				continue;
			if (page_of((uintptr_t)p[e].addr) > hi + gap * ps() ||
			    poke_end_page(&p[e]) > shi)
				break;
			if (poke_end_page(&p[e]) > hi)
				hi = poke_end_page(&p[e]);
		}
		plan_interval(p, a, e, lo, hi, slo, shi, prot, gap > 0);
		a = e;
	}
}

/* Can an instruction that straddles two pages flip?  Not where TLB
 * invalidations may reach a core without interrupting it (arch.h). */
static bool straddle_ok(void)
{
	static int ok = -1;

	if (ok < 0)
		ok = !(sc_arch_tlb_broadcast() && !sc_os_kernel_before(6, 15));
	return ok;
}

void sc_flip_plan(struct sc_poke *p, size_t n)
{
	int ex = 1;

	plan.n = 0;
	plan.pokes = p;
	plan.active = false;
	release_pending(false);
	for (size_t i = 0; i < n; i++) {
		if (p[i].via != SC_VIA_FLIP)
			continue;
		if (ex == 1)
			ex = exec_allowed(); /* once per batch */
		if (ex != 0)
			p[i].via = SC_VIA_INT3;
		else if (poke_end_page(&p[i]) - page_of((uintptr_t)p[i].addr) >
				 ps() &&
			 !straddle_ok())
			demote(p, i, i + 1, -EXDEV);
	}
	plan_pages(p, 0, n, SC_FLIP_GAP);
	if (plan.n && gen_open() != 0) {
		for (size_t k = 0; k < plan.n; k++)
			demote(p, plan.v[k].pa, plan.v[k].pb, -ENOSYS);
		plan.n = 0;
	}
	plan.fd = cur.fd;
	plan.gen = cur_gen;
	/* Two steps that grew into each other through regions wider than the
	 * gap between their pokes become one (both ranges were checked, and
	 * they lie in one segment: they share pages).  Not int3 for the later
	 * one: its writes would go into the copy the earlier one maps out. */
	for (size_t i = 1; i < plan.n; i++) {
		struct step *s = &plan.v[i - 1], *t = &plan.v[i];
		uintptr_t hi = s->lo + s->n * ps();
		if (t->lo >= hi)
			continue;
		if (t->lo + t->n * ps() > hi)
			hi = t->lo + t->n * ps();
		s->n = (hi - s->lo) / ps();
		s->rb = t->rb > s->rb ? t->rb : s->rb;
		s->pb = t->pb;
		step_kind(s);
		memmove(t, t + 1, (plan.n - i - 1) * sizeof(*t));
		plan.n--;
		i--;
	}
	/* No int3 poke may write a page that flips in the same batch: its
	 * bytes would go into the copy mapped out (or, after the flip, into
	 * the copy no longer mapped).  Pokes demoted above (a straddling site
	 * that cannot flip, a failed step) take the pages' other pokes with
	 * them. */
	for (size_t i = 0, k = 0; i < n && k < plan.n; i++) {
		uintptr_t a = page_of((uintptr_t)p[i].addr);
		if (p[i].via != SC_VIA_INT3)
			continue;
		while (k < plan.n && plan.v[k].lo + plan.v[k].n * ps() <= a)
			k++;
		if (k < plan.n && plan.v[k].lo < poke_end_page(&p[i])) {
			demote(p, plan.v[k].pa, plan.v[k].pb, -EBUSY);
			memmove(&plan.v[k], &plan.v[k + 1],
				(plan.n - k - 1) * sizeof(plan.v[0]));
			plan.n--;
			i--; /* the same poke against the next step */
		}
	}
	plan.active = plan.n > 0;
}

/* ------------------------------------------------------------------------
 * Writing the spare copies (nothing visible yet)
 * ------------------------------------------------------------------------ */
static bool bit(const uint64_t *m, size_t i)
{
	return (m[i / 64] >> (i % 64)) & 1;
}

static int mark_touched(struct step *s)
{
	size_t words = (s->n + 63) / 64;
	int err = sc_array_grow((void **)&plan.bits, &plan.capbits,
				plan.nbits + words, sizeof(uint64_t), 256);

	if (err)
		return err;
	s->touched = plan.nbits;
	memset(plan.bits + s->touched, 0, words * 8);
	for (size_t i = s->pa; i < s->pb; i++) {
		const struct sc_poke *q = &plan.pokes[i];
		if (q->via != SC_VIA_FLIP)
			continue;
		for (uintptr_t pg = page_of((uintptr_t)q->addr);
		     pg < poke_end_page(q); pg += ps()) {
			size_t k = (pg - s->lo) / ps();
			plan.bits[s->touched + k / 64] |= 1ull << (k % 64);
		}
	}
	plan.nbits += words;
	return 0;
}

/* Apply the flip pokes of @s that touch page @page to @img, its copy.
 * Pages come in increasing order: *@q walks the sorted pokes once. */
static void apply_pokes(const struct step *s, size_t *q, uintptr_t page,
			uint8_t *img)
{
	while (*q < s->pb &&
	       (uintptr_t)plan.pokes[*q].addr + plan.pokes[*q].len <= page)
		(*q)++;
	for (size_t i = *q; i < s->pb; i++) {
		const struct sc_poke *o = &plan.pokes[i];
		uintptr_t a = (uintptr_t)o->addr;
		if (a >= page + ps())
			break;
		if (o->via != SC_VIA_FLIP)
			continue;
		for (size_t k = 0; k < o->len; k++)
			if (a + k >= page && a + k < page + ps())
				img[a + k - page] = o->new[k];
	}
}

/*
 * Write pages of @s into the copy at @base: all of them (@all), or those
 * with pokes or stale in the region; each as the live page with the step's
 * pokes applied.  Runs of pages go out with one pwrite() each.
 */
static int write_pages(const struct step *s, off_t base, bool all)
{
	struct region *r = s->create ? NULL : &regions[s->ra];
	const uint64_t *touched = plan.bits + s->touched;
	size_t run = 0, first = 0, q = s->pa;
	int err = scratch_get(SC_FLIP_CHUNK);

	for (size_t i = 0; !err && i <= s->n; i++) {
		bool need =
			i < s->n && (all || bit(touched, i) || stale_get(r, i));
		if (run && (!need || run == SC_FLIP_CHUNK)) {
			size_t len = run * ps();
			off_t at = base + (off_t)(first * ps());
			if (pwrite(plan.fd, scratch, len, at) != (ssize_t)len)
				err = errno ? -errno : -EIO;
			run = 0;
		}
		if (!need || err)
			continue;
		if (!run)
			first = i;
		memcpy(scratch + run * ps(), (void *)(s->lo + i * ps()), ps());
		apply_pokes(s, &q, s->lo + i * ps(), scratch + run * ps());
		run++;
	}
	return err;
}

/*
 * Everything that can fail before the flip: the spare copies written, the
 * memory for the regions this batch makes set aside.  On error nothing is
 * visible and nothing is kept.
 */
int sc_flip_prepare(void)
{
	size_t creates = 0;
	int err = 0;

	if (!plan.active)
		return 0;
	plan.nbits = 0;
	for (size_t k = 0; !err && k < plan.n; k++) {
		creates += plan.v[k].create;
		err = mark_touched(&plan.v[k]);
	}
	if (!err)
		err = sc_array_grow((void **)&regions, &capregions,
				    nregions + creates, sizeof(*regions), 64);
	for (size_t k = 0; !err && k < plan.n; k++) {
		struct step *s = &plan.v[k];
		size_t len = s->n * ps();
		if (!s->create) {
			const struct region *r = &regions[s->ra];
			err = write_pages(s, r->off + (off_t)(s->to * len),
					  false);
			continue;
		}
		s->off = space_alloc(2 * s->n);
		if (s->off < 0) {
			err = (int)s->off;
			s->off = -1;
			break;
		}
		if (s->n > 64) {
			s->stale = mmap(NULL, (s->n + 63) / 64 * 8,
					PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (s->stale == MAP_FAILED) {
				s->stale = NULL;
				err = -ENOMEM;
				break;
			}
		}
		/* copy 0: the pages as they are; copy 1: with the pokes */
		if (pwrite(plan.fd, (void *)s->lo, len, s->off) != (ssize_t)len)
			err = errno ? -errno : -EIO;
		if (!err)
			err = write_pages(s, s->off + (off_t)len, true);
	}
	if (err) {
		sc_warn("page flip: cannot write the new copies: %s",
			sc_strerror(-err));
		for (size_t k = 0; k < plan.n; k++) {
			struct step *s = &plan.v[k];
			if (s->off >= 0 && s->create)
				space_free(plan.gen, s->off, 2 * s->n);
			if (s->stale)
				munmap(s->stale, (s->n + 63) / 64 * 8);
			/* the spare copy may hold anything now */
			if (!s->create)
				memset(stale_of(&regions[s->ra]), 0xff,
				       regions[s->ra].stale_words * 8);
		}
		plan_end();
	}
	return err;
}

/* ------------------------------------------------------------------------
 * The flip itself, its undo, and what it leaves
 * ------------------------------------------------------------------------ */
static long map_copy(const struct step *s, uint8_t side)
{
	off_t off = s->create ? s->off : regions[s->ra].off;
	long r = sc_os_mmap(s->lo, s->n * ps(), s->prot,
			    MAP_PRIVATE | MAP_FIXED | MAP_POPULATE, plan.fd,
			    off + (off_t)(side * s->n * ps()));

	if (r >= 0)
		VALGRIND_DISCARD_TRANSLATIONS((void *)s->lo, s->n * ps());
	return r < 0 ? r : 0;
}

int sc_flip_apply(void)
{
	long err = 0;
	size_t k;

	if (!plan.active)
		return 0;
	for (k = 0; k < plan.n && !err; k++) {
		struct step *s = &plan.v[k];
		if (s->dropped)
			continue;
		err = map_copy(s, s->to);
		s->flipped = s->covered = !err;
	}
	if (!err) {
		sc_stat_add(flips, plan.n);
		for (k = 0; k < plan.n; k++)
			sc_stat_add(pages_flipped, plan.v[k].n);
		return 0;
	}
	/* A refused MAP_FIXED (ENOMEM: vm.max_map_count) leaves the old
	 * mapping in place; put back the regions already flipped. */
	sc_warn("page flip: cannot map the new copy at %p: %s",
		(void *)plan.v[k - 1].lo, sc_strerror((int)-err));
	sc_flip_undo();
	return (int)err;
}

/*
 * Put the old copies back (the batch failed after the flip).  A created
 * region goes back to its copy 0, which holds the pages as they were; it
 * stays a region: the pages it covers are ours either way (F5).
 */
void sc_flip_undo(void)
{
	for (size_t k = 0; plan.active && k < plan.n; k++) {
		struct step *s = &plan.v[k];
		if (!s->flipped)
			continue;
		if (map_copy(s, s->to ^ 1) != 0) {
			/* the new copy stays, complete (F5); its pokes are
			 * taken back another way (engine.c) */
			sc_warn("page flip: cannot map the old copy back at "
				"%p",
				(void *)s->lo);
			for (size_t i = s->pa; i < s->pb; i++)
				if (plan.pokes[i].via == SC_VIA_FLIP)
					plan.pokes[i].stuck = 1;
			continue;
		}
		s->flipped = false;
	}
	sc_flip_finish();
}

void sc_flip_drop_retired(void)
{
	for (size_t k = 0; plan.active && k < plan.n; k++) {
		struct step *s = &plan.v[k];
		if (!sc_code_retired((void *)s->lo))
			continue;
		/* the module's code went: nothing of it may be mapped again,
		 * and its regions are forgotten with it (module.c); a new
		 * region's copies go at the end of the batch */
		for (size_t i = s->pa; i < s->pb; i++)
			plan.pokes[i].via = SC_VIA_NONE;
		s->flipped = s->covered = false;
		s->dropped = true;
	}
}

/* The batch ends before its spare copies were written. */
void sc_flip_abort(void)
{
	if (plan.active)
		plan_end();
}

/* After the batch's sync (or an undo, or a failure after the copies were
 * written): record what is mapped now and what the spare copies lack. */
void sc_flip_finish(void)
{
	long shift = 0; /* regions inserted minus regions removed so far */

	if (!plan.active)
		return;
	plan_end();
	for (size_t k = 0; k < plan.n; k++) {
		struct step *s = &plan.v[k];
		const uint64_t *touched = plan.bits + s->touched;
		size_t words = (s->n + 63) / 64;
		size_t ra = (size_t)((long)s->ra + shift);
		size_t rb = (size_t)((long)s->rb + shift);
		struct region nr;
		if (s->dropped) {
			/* keeps the region table as it is */
			if (s->create && s->off >= 0)
				space_free(plan.gen, s->off, 2 * s->n);
			if (s->stale)
				munmap(s->stale, words * 8);
			continue;
		}
		/* Whatever happened, the spare copy now differs from the live
		 * one in the touched pages: it holds this batch's bytes, or
		 * (after an undo) the live copy does not. */
		if (!s->create) {
			struct region *r = &regions[ra];
			if (s->flipped)
				r->side = s->to;
			memcpy(stale_of(r), touched, words * 8);
			continue;
		}
		if (!s->covered) {
			space_free(plan.gen, s->off, 2 * s->n);
			if (s->stale)
				munmap(s->stale, words * 8);
			continue;
		}
		memset(&nr, 0, sizeof(nr));
		nr.lo = s->lo;
		nr.n = s->n;
		nr.off = s->off;
		nr.gen = plan.gen;
		nr.prot = s->prot;
		nr.mode = R_FLIP;
		nr.side = s->flipped ? s->to : s->to ^ 1;
		nr.stale_big = s->stale;
		nr.stale_words = words;
		memcpy(stale_of(&nr), touched, words * 8);
		/* the regions it absorbed are mapped no more; their copies go
		 * once a sync has passed (F3) */
		for (size_t i = ra; i < rb; i++) {
			defer_free(&regions[i], 0, 0);
			region_drop(&regions[i]);
		}
		if (rb > ra) {
			memmove(&regions[ra + 1], &regions[rb],
				(nregions - rb) * sizeof(*regions));
			nregions -= rb - ra - 1;
			shift -= (long)(rb - ra - 1);
		} else {
			/* room was made in sc_flip_prepare() */
			memmove(&regions[ra + 1], &regions[ra],
				(nregions - ra) * sizeof(*regions));
			nregions++;
			shift++;
		}
		regions[ra] = nr;
		inplace_drop(nr.lo, nr.lo + nr.n * ps());
		if (sc_opt.perf_map)
			sc_perfmap_add(nr.lo, nr.lo + nr.n * ps());
	}
}

/* The batch's final sync passed: copies freed before it may go (F3). */
void sc_flip_synced(void) { release_pending(true); }

/*
 * The int3 protocol writing into a flipped page: through the live copy's
 * descriptor, not the mapping.  Writing through the mapping
 * (/proc/self/mem, an mprotect window) would make the page a private copy
 * of its own (COW), no longer what the memfd holds, and the region could
 * never flip again (F4).  The int3 protocol is made for bytes other cores
 * run; the spare copy lacks what it writes (the page turns stale).  Only
 * for a region of this generation (F1), whose pages are still the memfd's;
 * a write that straddles two pages of the region is one write (each side
 * of the memfd is contiguous).
 *
 * pristine() is not enough to know that the mapping shows the memfd's
 * page: a page that an earlier in-place write made a private copy (a
 * breakpoint's page, a write that straddled two regions), and whose bytes
 * the live copy has followed since (sc_flip_wrote()), passes it, yet no
 * longer sees the memfd.  So the bytes are read back through the mapping:
 * a private copy does not show them, and the caller then writes in place
 * (the live copy already holds them).  Trusting the pwrite() left an int3
 * in a site for good once it had reached such a page.
 *
 * 1 if written and seen, 0 if not a page for this (the caller writes in
 * place), or -errno.
 */
int sc_flip_write(void *addr, const void *src, size_t len)
{
	uintptr_t a = (uintptr_t)addr, page = page_of(a);
	uintptr_t last = page_of(a + len - 1);
	struct region *r = region_of(a);
	off_t off;
	size_t i;

	if (!r || r->mode != R_FLIP || r->gen != cur_gen || cur.fd < 0 ||
	    last >= r->lo + r->n * ps() ||
	    pristine(page, (last - page) / ps() + 1) != 0)
		return 0;
	i = (page - r->lo) / ps();
	off = r->off + (off_t)((r->side * r->n + i) * ps() + (a - page));
	if (pwrite(cur.fd, src, len, off) != (ssize_t)len)
		return errno ? -errno : -EIO;
	for (size_t j = i; j <= (last - r->lo) / ps(); j++)
		stale_of(r)[j / 64] |= 1ull << (j % 64);
	return memcmp(addr, src, len) == 0;
}

/*
 * The int3 protocol is about to write [addr, addr + len) in place, into a
 * page of the program's files: record what the page should hold from now
 * on, unless a region owns it.  What it holds now, if it is still the
 * file's page (pagemap), else the file's bytes (a breakpoint already made
 * it a private copy: its byte must not count as ours).  Without either,
 * nothing is recorded, and the page stays on int3.
 */
void sc_flip_before_inplace(const void *addr, size_t len)
{
	uintptr_t a = page_of((uintptr_t)addr);

	for (; a < (uintptr_t)addr + len; a += ps()) {
		uint64_t pm;
		void *m;
		if (region_of(a) || inplace_of(a))
			continue;
		if (sc_array_grow((void **)&inplace, &capinplace, ninplace,
				  sizeof(*inplace), 16))
			return;
		m = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return;
		if (sc_os_pagemap(a, 1, &pm) == 0 && !(pm & SC_PM_SWAPPED) &&
		    (!(pm & SC_PM_PRESENT) || (pm & SC_PM_FILE)))
			memcpy(m, (void *)a, ps());
		else if (file_page(a, m) != 0) {
			munmap(m, ps());
			continue;
		}
		inplace[ninplace++] = (struct inplace){a, m};
	}
}

/*
 * The int3 protocol wrote [addr, addr + len) in place (sc_flip_write()
 * declined: the page holds bytes of someone else's, a breakpoint, and is a
 * private copy of its own now).  The region's live copy gets the same
 * bytes, so that it stays what the page should hold: F4 then finds only
 * the foreign bytes, and once they are gone the page flips again.  No
 * thread runs that copy of the page (the mapping shows the private copy),
 * and the spare copy lacks the change (the page turns stale).
 */
void sc_flip_wrote(void *addr, const void *src, size_t len)
{
	uintptr_t a = (uintptr_t)addr, end = a + len;

	while (a < end) {
		uintptr_t page = page_of(a), n = end - a;
		struct region *r = region_of(a);
		size_t i;
		if (n > page + ps() - a)
			n = page + ps() - a;
		struct inplace *ip = r ? NULL : inplace_of(page);
		if (ip)
			memcpy(ip->buf + (a - page),
			       (const uint8_t *)src + (a - (uintptr_t)addr), n);
		if (r && r->mode == R_FLIP && r->gen == cur_gen &&
		    cur.fd >= 0) {
			i = (page - r->lo) / ps();
			if (pwrite(cur.fd,
				   (const uint8_t *)src + (a - (uintptr_t)addr),
				   n,
				   r->off +
					   (off_t)((r->side * r->n + i) * ps() +
						   (a - page))) != (ssize_t)n)
				sc_debug("page %p: its copy lacks a write",
					 (void *)page);
			stale_of(r)[i / 64] |= 1ull << (i % 64);
		}
		a += n;
	}
}

/* ------------------------------------------------------------------------
 * Store views (the store protocol's writable second mapping)
 * ------------------------------------------------------------------------ */

/* Map @r's copy over its code (shared, r-x) and at its view (rw). */
static int view_map(struct region *r, int fd, off_t off)
{
	size_t len = r->n * ps();
	long v, x;

	if (pwrite(fd, (void *)r->lo, len, off) != (ssize_t)len)
		return errno ? -errno : -EIO;
	/* MAP_FIXED may drop the old mapping when it fails: try an executable
	 * mapping of the memfd elsewhere first, so that a refusal is found
	 * while everything is still in place. */
	x = sc_os_mmap(0, len, r->prot, MAP_SHARED, fd, off);
	if (x < 0)
		return (int)x;
	munmap((void *)x, len);
	v = sc_os_mmap((uintptr_t)r->rw, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (r->rw ? MAP_FIXED : 0), fd, off);
	if (v < 0)
		return (int)v;
	x = sc_os_mmap(r->lo, len, r->prot, MAP_SHARED | MAP_FIXED, fd, off);
	if (x < 0) {
		if (!r->rw)
			munmap((void *)v, len);
		return (int)x;
	}
	r->rw = (uint8_t *)v;
	r->off = off;
	return 0;
}

uint8_t *sc_store_view(const void *addr, size_t len, int *err)
{
	uintptr_t a = (uintptr_t)addr;
	struct region *r = region_of(a);

	*err = 0;
	if (!r || r->mode != R_STORE || a + len > r->lo + r->n * ps())
		return NULL;
	if (views_broken) {
		*err = -EIO;
		return NULL;
	}
	return r->rw + (a - r->lo);
}

/*
 * The store protocol meets pages that flipped before (the default protocol
 * at load, or before a switch to protocol=store): the region turns into a
 * store view.  Its live copy's bytes go into a new copy, mapped shared over
 * the code in one MAP_FIXED: as in a flip, no byte any thread may execute
 * changes, the bytes are the same in both mappings, and the old copies are
 * released only after the next sync (F3).  A range over two regions, or a
 * region with bytes of someone else's (F4), stays on int3.
 */
static int view_over_region(struct region *r, struct region *r2, uintptr_t a,
			    uint8_t **rw)
{
	struct region nr;
	off_t off;
	int err;

	if (!r || r != r2 || r->mode != R_FLIP)
		return -EBUSY;
	err = exec_allowed();
	if (!err)
		err = pristine(r->lo, r->n);
	if (err)
		return err;
	memset(&nr, 0, sizeof(nr));
	nr.lo = r->lo;
	nr.n = r->n;
	nr.prot = r->prot;
	nr.mode = R_STORE;
	nr.gen = cur_gen;
	off = space_alloc(nr.n);
	if (off < 0)
		return (int)off;
	err = view_map(&nr, cur.fd, off);
	if (err) {
		space_free(cur_gen, off, nr.n);
		sc_debug("region %p: no writable view: %s", (void *)r->lo,
			 sc_strerror(-err));
		return err;
	}
	defer_free(r, 0, 0);
	region_drop(r);
	inplace_drop(nr.lo, nr.lo + nr.n * ps());
	*r = nr;
	sc_debug("region %p (%zu pages) now has a writable view at %p",
		 (void *)nr.lo, nr.n, (void *)nr.rw);
	*rw = nr.rw + (a - nr.lo);
	return 0;
}

/* Give the page(s) of [addr, addr + len) a writable view: 0, -EIO (a page
 * that must not be written at all), or another -errno (use int3). */
int sc_flip_make_view(const void *addr, size_t len, uint8_t **rw)
{
	uintptr_t a = (uintptr_t)addr, lo = page_of(a);
	uintptr_t hi = page_of(a + len - 1) + ps(), slo, shi;
	struct region nr;
	size_t at;
	off_t off;
	int prot, err;

	*rw = sc_store_view(addr, len, &err);
	if (*rw || err)
		return err;
	if (region_of(lo) || region_of(hi - 1))
		return view_over_region(region_of(lo), region_of(hi - 1), a,
					rw);
	err = sc_code_range(addr, len, &slo, &shi, &prot);
	if (!err)
		err = exec_allowed();
	if (!err)
		err = pristine(lo, (hi - lo) / ps());
	if (err)
		return err;
	memset(&nr, 0, sizeof(nr));
	nr.lo = lo;
	nr.n = (hi - lo) / ps();
	nr.prot = prot;
	nr.mode = R_STORE;
	nr.gen = cur_gen;
	off = space_alloc(nr.n);
	if (off < 0)
		return (int)off;
	err = sc_array_grow((void **)&regions, &capregions, nregions,
			    sizeof(*regions), 64);
	if (!err)
		err = view_map(&nr, cur.fd, off);
	if (err) {
		space_free(cur_gen, off, nr.n);
		sc_debug("page %p: no writable view: %s", (void *)lo,
			 sc_strerror(-err));
		return err;
	}
	at = region_at(lo);
	memmove(&regions[at + 1], &regions[at],
		(nregions - at) * sizeof(*regions));
	regions[at] = nr;
	nregions++;
	sc_debug("page %p now has a writable view at %p", (void *)lo,
		 (void *)nr.rw);
	if (sc_opt.perf_map)
		sc_perfmap_add(nr.lo, nr.lo + nr.n * ps());
	*rw = nr.rw + (a - lo);
	return 0;
}

/* ------------------------------------------------------------------------
 * fork and unload
 * ------------------------------------------------------------------------ */

/*
 * After fork(), in the parent (lock held) and in the child: a new
 * generation.  Flip regions move to it lazily (their next flip copies them
 * whole: F1).  Store views are shared mappings written in place, so they
 * move now, each to a copy of its own in the new memfd, the view replaced
 * at the same address (an update in progress, forked from the trace hook,
 * keeps valid pointers into it).
 *
 * The child never writes the canary it inherited (sc_flip_check_fork()):
 * that would copy the page in the child and leave the parent's canary
 * mapped by the parent alone, which hides a raw fork from the parent while
 * the child still maps the parent's copies.  It takes a canary of its own
 * and leaves the inherited page as it is, mapped, one page per fork.
 */
void sc_flip_after_fork(bool child)
{
	int old = cur.fd;

	cur.fd = -1;
	cur.nfree = 0;
	cur_gen++;
	for (size_t i = 0; i < npend; i++)
		if (pend[i].rw)
			munmap(pend[i].rw, pend[i].pages * ps());
	npend = 0; /* an older generation: nothing of it is ours to free */
	for (size_t i = 0; i < nregions; i++) {
		struct region *r = &regions[i];
		off_t off;
		if (r->mode != R_STORE)
			continue;
		off = space_alloc(r->n);
		if (off < 0 || view_map(r, cur.fd, off) != 0) {
			sc_warn("cannot unshare code pages after fork; updates "
				"of the sites on them will fail");
			views_broken = true;
			break;
		}
		r->gen = cur_gen;
	}
	/* an update under way (forked from the trace hook) finishes with the
	 * descriptor it planned with, and closes it (plan_end) */
	if (old >= 0 && !(plan.active && plan.fd == old))
		close(old);
	if (child) {
		void *m = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		canary = m == MAP_FAILED ? NULL : m;
		if (canary)
			canary[0] = 1;
	} else if (canary) {
		canary[0]++; /* ours alone again: this fork is dealt with */
	}
}

/*
 * A fork that ran no atfork handler (a raw fork or clone system call)
 * leaves the parent sharing every private page with the child, until
 * either writes it.  One private page of ours, written after every check,
 * tells: while a child shares it, it is not mapped exclusively.
 */
void sc_flip_check_fork(void)
{
	uint64_t pm;

	if (!canary) {
		void *m = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return;
		canary = m;
		canary[0] = 1;
		return;
	}
	if (sc_os_pagemap((uintptr_t)canary, 1, &pm) == 0 &&
	    (pm & SC_PM_PRESENT) && !(pm & SC_PM_EXCLUSIVE)) {
		sc_debug("forked without atfork handlers: new code copies");
		sc_flip_after_fork(false);
	}
	canary[0]++;
}

/* A module is being unloaded: forget the regions in [lo, hi).  Their
 * pages stay mapped until dlclose() unmaps the module; their copies are
 * released once that happened (release_pending). */
void sc_flip_forget(uintptr_t lo, uintptr_t hi)
{
	inplace_drop(lo, hi);
	size_t i = region_at(lo), j = i;

	while (j < nregions && regions[j].lo < hi) {
		defer_free(&regions[j], regions[j].lo,
			   regions[j].lo + regions[j].n * ps());
		region_drop(&regions[j]);
		j++;
	}
	if (j == i)
		return; /* none (the table may not even exist) */
	memmove(&regions[i], &regions[j], (nregions - j) * sizeof(*regions));
	nregions -= j - i;
	sc_perfmap_forget(lo, hi);
}
