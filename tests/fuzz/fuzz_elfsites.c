/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the site table parser (src/elfsites.c): any input
 * is an untrusted file.  Beyond crash-freedom (with ASan and UBSan), every
 * answer is checked against the file read independently here:
 *
 *   - a count is the number of callbacks, the same without a callback, and
 *     a callback's non-zero return stops the walk with that value, at once;
 *   - every site lies inside the code section it names (allocated,
 *     executable, a section of the file's table), [addr, addr + len), and
 *     its opcode is the file's byte at the offset that section gives;
 *   - every name starts with __SCT__ and is NUL-terminated inside the image,
 *     and inside a string table of the file;
 *   - sc_elf_func() names a function symbol (inside the image) covering the
 *     site, and sc_elf_phdrs() a table inside the image.
 *
 * tests/fuzz/README.md: how to run it, for how long, with which corpus.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfsites.h"

#define MAX_KEPT 64

struct walk {
	const uint8_t *img;
	size_t size;
	long calls;
	long stop_at; /* return STOP from this call on (1-based) */
	struct sc_elf_site kept[MAX_KEPT]; /* the first sites of walk 1 */
};

#define STOP (-7777)

#define check(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

static bool inside(const struct walk *w, uint64_t off, uint64_t len)
{
	return off <= w->size && len <= w->size - off;
}

/* Section @i of the table, read here with bounds checks of our own: the
 * parser said the table is sound, so it must be. */
static Elf64_Shdr section(const struct walk *w, uint64_t i)
{
	Elf64_Ehdr eh;
	Elf64_Shdr s0, s;
	uint64_t n;

	check(inside(w, 0, sizeof(eh)));
	memcpy(&eh, w->img, sizeof(eh));
	check(eh.e_shentsize == sizeof(Elf64_Shdr));
	check(inside(w, eh.e_shoff, sizeof(s0)));
	memcpy(&s0, w->img + eh.e_shoff, sizeof(s0));
	n = eh.e_shnum ? eh.e_shnum : s0.sh_size;
	check(i > 0 && i < n);
	check(inside(w, eh.e_shoff, n * sizeof(s)));
	memcpy(&s, w->img + eh.e_shoff + i * sizeof(s), sizeof(s));
	return s;
}

/* Is @name a string of a string table, NUL-terminated inside it? */
static bool in_strtab(const struct walk *w, const char *name)
{
	uint64_t at = (uint64_t)((const uint8_t *)name - w->img);
	Elf64_Ehdr eh;
	Elf64_Shdr s0;
	uint64_t n;

	memcpy(&eh, w->img, sizeof(eh));
	memcpy(&s0, w->img + eh.e_shoff, sizeof(s0));
	n = eh.e_shnum ? eh.e_shnum : s0.sh_size;
	for (uint64_t i = 1; i < n; i++) {
		Elf64_Shdr st = section(w, i);
		if (st.sh_type == SHT_STRTAB &&
		    inside(w, st.sh_offset, st.sh_size) && at >= st.sh_offset &&
		    at - st.sh_offset < st.sh_size &&
		    memchr(name, 0, st.sh_size - (at - st.sh_offset)))
			return true;
	}
	return false;
}

static void check_site(const struct walk *w, const struct sc_elf_site *s)
{
	const uint8_t *end = w->img + w->size;
	const char *name;
	uint64_t value;
	Elf64_Shdr sec;
	int r;

	/* the name: inside the image, NUL-terminated there, a trampoline */
	check((const uint8_t *)s->name >= w->img &&
	      (const uint8_t *)s->name < end);
	check(memchr(s->name, 0, (size_t)(end - (const uint8_t *)s->name)));
	check(strncmp(s->name, SC_TRAMP_PREFIX, strlen(SC_TRAMP_PREFIX)) == 0);
	check(in_strtab(w, s->name)); /* and inside a string table */

	/* the site: inside its code section */
	sec = section(w, s->section);
	check((sec.sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) ==
	      (SHF_ALLOC | SHF_EXECINSTR));
	check(s->len == 5); /* x86-64: e8/e9 + rel32 */
	check(s->addr >= sec.sh_addr && s->len <= sec.sh_size &&
	      s->addr - sec.sh_addr <= sec.sh_size - s->len);

	/* its bytes: in the file exactly when the section's are */
	if (sec.sh_type != SHT_NOBITS &&
	    inside(w, sec.sh_offset, sec.sh_size)) {
		check(s->opcode >= 0);
		check(s->offset == sec.sh_offset + (s->addr - sec.sh_addr));
		check(inside(w, s->offset, s->len));
		check(w->img[s->offset] == s->opcode);
	} else {
		check(s->opcode == -1);
	}

	/* the function holding it, as the tool prints it */
	r = sc_elf_func(w->img, w->size, s->addr, &name, &value);
	check(r == 0 || r == -ENOENT || r == -ENOEXEC);
	if (r == 0) {
		check((const uint8_t *)name >= w->img &&
		      (const uint8_t *)name < end);
		check(memchr(name, 0, (size_t)(end - (const uint8_t *)name)));
		check(in_strtab(w, name));
		check(value <= s->addr);
	}
}

static int first_walk(void *arg, const struct sc_elf_site *s)
{
	struct walk *w = arg;

	check_site(w, s);
	if (w->calls < MAX_KEPT)
		w->kept[w->calls] = *s;
	w->calls++;
	return 0;
}

/* The same walk again, stopped early: the same sites, in the same order. */
static int stopped_walk(void *arg, const struct sc_elf_site *s)
{
	struct walk *w = arg;

	if (w->calls < MAX_KEPT) {
		const struct sc_elf_site *k = &w->kept[w->calls];
		check(k->addr == s->addr && k->name == s->name &&
		      k->section == s->section && k->opcode == s->opcode &&
		      k->defined == s->defined);
	}
	w->calls++;
	check(w->calls <= w->stop_at);
	return w->calls == w->stop_at ? STOP : 0;
}

static void check_phdrs(const uint8_t *img, size_t size)
{
	const void *ph;
	size_t n, entsize;
	int r = sc_elf_phdrs(img, size, &ph, &n, &entsize);

	check(r == 0 || r == -ENOEXEC);
	if (r)
		return;
	check(entsize == sizeof(Elf64_Phdr));
	check((const uint8_t *)ph >= img && (const uint8_t *)ph <= img + size);
	check(n * entsize <= (size_t)(img + size - (const uint8_t *)ph));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct walk w; /* large: not on the stack */
	int n, again;

	memset(&w, 0, sizeof(w));
	w.img = data;
	w.size = size;
	check_phdrs(data, size);

	n = sc_elf_sites(data, size, first_walk, &w);
	check(n >= 0 || n == -ENOEXEC || n == -ENODATA);
	if (n < 0)
		return 0; /* sites before a malformed part were still valid */
	check(n == w.calls);

	again = sc_elf_sites(data, size, NULL, NULL);
	check(again == n);

	if (n > 0) {
		w.stop_at = (n + 1) / 2;
		w.calls = 0;
		again = sc_elf_sites(data, size, stopped_walk, &w);
		check(again == STOP && w.calls == w.stop_at);
	}
	return 0;
}
