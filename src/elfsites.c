/* SPDX-License-Identifier: MIT */
/*
 * The site table of a linked file, read from the relocations that
 * `ld --emit-relocs` keeps (docs/inline.md explains the choice).  The
 * structures are copied out with memcpy: a file need not keep them aligned.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/elf.h"
#include "elfsites.h"

struct image {
	const uint8_t *p;
	size_t size;
};

/* Is [off, off + len) inside the image (without overflow)? */
static bool in_image(const struct image *im, uint64_t off, uint64_t len)
{
	return off <= im->size && len <= im->size - off;
}

static int header(const struct image *im, Elf64_Ehdr *eh)
{
	if (!in_image(im, 0, sizeof(*eh)))
		return -ENOEXEC;
	memcpy(eh, im->p, sizeof(*eh));
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != SC_ARCH_ELF_MACHINE ||
	    (eh->e_type != ET_EXEC && eh->e_type != ET_DYN))
		return -ENOEXEC;
	return 0;
}

int sc_elf_phdrs(const void *img, size_t size, const void **phdrs,
		 size_t *count, size_t *entsize)
{
	struct image im = {img, size};
	Elf64_Ehdr eh;
	int err = header(&im, &eh);

	if (err)
		return err;
	if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_image(&im, eh.e_phoff, (uint64_t)eh.e_phnum * eh.e_phentsize))
		return -ENOEXEC;
	*phdrs = im.p + eh.e_phoff;
	*count = eh.e_phnum;
	*entsize = eh.e_phentsize;
	return 0;
}

struct sections {
	uint64_t off; /* of the section header table */
	uint64_t n;
};

static bool shdr(const struct image *im, const struct sections *sh, uint64_t i,
		 Elf64_Shdr *out)
{
	if (i >= sh->n)
		return false;
	memcpy(out, im->p + sh->off + i * sizeof(*out), sizeof(*out));
	return true;
}

/* A section's contents, if they are in the file. */
static bool contents(const struct image *im, const Elf64_Shdr *s)
{
	return s->sh_type != SHT_NOBITS &&
	       in_image(im, s->sh_offset, s->sh_size);
}

/* The NUL-terminated string at @off of string table @st, or NULL. */
static const char *string(const struct image *im, const Elf64_Shdr *st,
			  uint64_t off)
{
	const char *s;

	if (off >= st->sh_size)
		return NULL;
	s = (const char *)im->p + st->sh_offset + off;
	return memchr(s, 0, st->sh_size - off) ? s : NULL;
}

struct relsec {
	Elf64_Shdr rel, code, sym, str;
};

/* The sections a relocation section needs, checked; false to skip it. */
static bool relsec(const struct image *im, const struct sections *sh,
		   const Elf64_Shdr *rel, struct relsec *r, int *err)
{
	r->rel = *rel;
	if (rel->sh_type != SHT_RELA || !shdr(im, sh, rel->sh_info, &r->code) ||
	    (r->code.sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) !=
		    (SHF_ALLOC | SHF_EXECINSTR))
		return false;
	/* from here on, a relocation section for code: --emit-relocs */
	if (*err == -ENODATA)
		*err = 0;
	if ((rel->sh_entsize && rel->sh_entsize != sizeof(Elf64_Rela)) ||
	    !contents(im, rel) || !shdr(im, sh, rel->sh_link, &r->sym) ||
	    r->sym.sh_type != SHT_SYMTAB || !contents(im, &r->sym) ||
	    r->sym.sh_entsize != sizeof(Elf64_Sym) ||
	    !shdr(im, sh, r->sym.sh_link, &r->str) ||
	    r->str.sh_type != SHT_STRTAB || !contents(im, &r->str)) {
		*err = -ENOEXEC;
		return false;
	}
	return true;
}

/* One relocation: 1 if it marks a site (filled in), 0 if not, -ENOEXEC. */
static int site_of(const struct image *im, const struct relsec *r,
		   const Elf64_Rela *ra, struct sc_elf_site *site)
{
	uint64_t symi = ELF64_R_SYM(ra->r_info), nsyms, back, field;
	Elf64_Sym sym;
	const char *name;
	int at = sc_arch_site_reloc((uint32_t)ELF64_R_TYPE(ra->r_info),
				    ra->r_addend);

	if (at < 0)
		return 0;
	back = (uint64_t)at;
	nsyms = r->sym.sh_size / sizeof(Elf64_Sym);
	if (symi == 0 || symi >= nsyms)
		return symi ? -ENOEXEC : 0;
	memcpy(&sym, im->p + r->sym.sh_offset + symi * sizeof(sym),
	       sizeof(sym));
	name = string(im, &r->str, sym.st_name);
	if (!name)
		return -ENOEXEC;
	if (strncmp(name, SC_TRAMP_PREFIX, sizeof(SC_TRAMP_PREFIX) - 1) != 0)
		return 0;
	/* the opcode and the 4-byte field must lie inside the section */
	field = ra->r_offset - r->code.sh_addr;
	if (ra->r_offset < r->code.sh_addr || field < back ||
	    field > r->code.sh_size || r->code.sh_size - field < 4)
		return -ENOEXEC;
	site->addr = ra->r_offset - back;
	site->sym_value = sym.st_value;
	site->name = name;
	site->defined = sym.st_shndx != SHN_UNDEF;
	site->len = back + 4;
	site->section = r->rel.sh_info;
	site->opcode = -1;
	site->offset = 0;
	if (contents(im, &r->code)) {
		const uint8_t *f = im->p + r->code.sh_offset + field;
		if (sc_arch_site_not_call(f, field))
			return 0; /* an address taken, a jcc: not a site */
		site->offset = r->code.sh_offset + field - back;
		site->opcode = im->p[site->offset + SC_ARCH_SITE_OPCODE_AT];
	}
	return 1;
}

/* The header and the section header table: 0, -ENODATA (none), -ENOEXEC. */
static int section_table(const struct image *im, struct sections *sh)
{
	Elf64_Shdr s0;
	Elf64_Ehdr eh;
	int err = header(im, &eh);

	if (err)
		return err;
	if (eh.e_shoff == 0)
		return -ENODATA; /* no section headers at all */
	if (eh.e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_image(im, eh.e_shoff, sizeof(Elf64_Shdr)))
		return -ENOEXEC;
	memcpy(&s0, im->p + eh.e_shoff, sizeof(s0));
	sh->off = eh.e_shoff;
	sh->n = eh.e_shnum ? eh.e_shnum : s0.sh_size; /* extended numbering */
	if (sh->n > (im->size - sh->off) / sizeof(Elf64_Shdr))
		return -ENOEXEC;
	return 0;
}

int sc_elf_sites(const void *img, size_t size, sc_elf_site_fn fn, void *arg)
{
	struct image im = {img, size};
	struct sections sh;
	int err = section_table(&im, &sh), count = 0;

	if (err)
		return err;
	err = -ENODATA;
	for (uint64_t i = 1; i < sh.n; i++) {
		struct relsec r;
		Elf64_Shdr s;
		shdr(&im, &sh, i, &s);
		if (!relsec(&im, &sh, &s, &r, &err)) {
			if (err == -ENOEXEC)
				return err;
			continue;
		}
		for (uint64_t k = 0; k < r.rel.sh_size / sizeof(Elf64_Rela);
		     k++) {
			struct sc_elf_site site;
			Elf64_Rela ra;
			int found, stop;
			memcpy(&ra, im.p + r.rel.sh_offset + k * sizeof(ra),
			       sizeof(ra));
			found = site_of(&im, &r, &ra, &site);
			if (found < 0)
				return found;
			if (!found)
				continue;
			if (count == __INT_MAX__)
				return -ENOEXEC;
			count++;
			stop = fn ? fn(arg, &site) : 0;
			if (stop)
				return stop;
		}
	}
	return err ? err : count;
}

int sc_elf_func(const void *img, size_t size, uint64_t addr, const char **name,
		uint64_t *value)
{
	struct image im = {img, size};
	struct sections sh;
	Elf64_Shdr st, str;
	Elf64_Sym best = {0};
	bool found = false;
	uint64_t i, nsyms;
	int err = section_table(&im, &sh);

	if (err)
		return err == -ENODATA ? -ENOENT : err;
	for (i = 1; i < sh.n; i++) {
		shdr(&im, &sh, i, &st);
		if (st.sh_type == SHT_SYMTAB)
			break;
	}
	if (i >= sh.n)
		return -ENOENT; /* stripped */
	if (!contents(&im, &st) || st.sh_entsize != sizeof(Elf64_Sym) ||
	    !shdr(&im, &sh, st.sh_link, &str) || str.sh_type != SHT_STRTAB ||
	    !contents(&im, &str))
		return -ENOEXEC;
	nsyms = st.sh_size / sizeof(Elf64_Sym);
	for (uint64_t k = 1; k < nsyms; k++) {
		Elf64_Sym sym;
		memcpy(&sym, im.p + st.sh_offset + k * sizeof(sym),
		       sizeof(sym));
		if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || addr < sym.st_value ||
		    addr - sym.st_value >= sym.st_size)
			continue;
		/* the innermost; among aliases, a global name */
		if (found && (sym.st_value < best.st_value ||
			      (sym.st_value == best.st_value &&
			       ELF64_ST_BIND(sym.st_info) == STB_LOCAL)))
			continue;
		if (!string(&im, &str, sym.st_name))
			return -ENOEXEC;
		best = sym;
		found = true;
	}
	if (!found)
		return -ENOENT;
	*name = string(&im, &str, best.st_name);
	*value = best.st_value;
	return 0;
}

/* The symbol table of type @type and its strings: true if present and
 * sound (*err set to -ENOEXEC when present and malformed). */
static bool symtab(const struct image *im, const struct sections *sh,
		   uint32_t type, Elf64_Shdr *st, Elf64_Shdr *str, int *err)
{
	uint64_t i;

	for (i = 1; i < sh->n; i++) {
		shdr(im, sh, i, st);
		if (st->sh_type == type)
			break;
	}
	if (i >= sh->n)
		return false;
	if (!contents(im, st) || st->sh_entsize != sizeof(Elf64_Sym) ||
	    !shdr(im, sh, st->sh_link, str) || str->sh_type != SHT_STRTAB ||
	    !contents(im, str)) {
		*err = -ENOEXEC;
		return false;
	}
	return true;
}

int sc_elf_funcs(const void *img, size_t size, uint64_t lo, uint64_t hi,
		 sc_elf_func_fn fn, void *arg)
{
	struct image im = {img, size};
	struct sections sh;
	Elf64_Shdr st, str;
	int err = section_table(&im, &sh);

	if (err)
		return err == -ENODATA ? -ENOENT : err;
	if (!symtab(&im, &sh, SHT_SYMTAB, &st, &str, &err) &&
	    (err || !symtab(&im, &sh, SHT_DYNSYM, &st, &str, &err)))
		return err ? err : -ENOENT;
	for (uint64_t k = 1; k < st.sh_size / sizeof(Elf64_Sym); k++) {
		Elf64_Sym sym;
		const char *name;
		memcpy(&sym, im.p + st.sh_offset + k * sizeof(sym),
		       sizeof(sym));
		if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || !sym.st_size ||
		    sym.st_value >= hi || sym.st_value + sym.st_size <= lo)
			continue;
		name = string(&im, &str, sym.st_name);
		if (!name)
			return -ENOEXEC;
		err = fn(arg, name, sym.st_value, sym.st_size);
		if (err)
			return err;
	}
	return 0;
}
