/* SPDX-License-Identifier: MIT */
/*
 * The site table of each file, read twice: by the library's parser
 * (sc_elf_sites(), src/elfsites.c) and, independently, by elfutils' libelf:
 * every R_X86_64_PLT32 / R_X86_64_PC32 relocation with addend -4 against a
 * symbol named __SCT__* in a relocation section for an allocated,
 * executable section.  Both lists must be equal (address, symbol, defined
 * or not, the file's byte at the site), and both must agree on whether the
 * file kept relocations for its code at all.  As the library, the oracle
 * leaves out relocations whose field follows a rip-relative ModRM byte
 * (an address taken with lea/mov) or a `0f 8x` opcode (a conditional tail
 * call): no call or jmp to rewrite there.  libelf is the oracle here
 * only; the library itself stays libc-only.
 *
 * Usage: xcheck_libelf FILE...   (exit 0 when every file agrees)
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsites.h"

struct site {
	uint64_t addr;
	const char *name; /* owned by libelf or the image */
	int opcode;
	int defined;
};

struct list {
	struct site *v;
	size_t n, cap;
};

static void push(struct list *l, struct site s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v) {
			perror("realloc");
			exit(2);
		}
	}
	l->v[l->n++] = s;
}

static int cmp(const void *x, const void *y)
{
	const struct site *a = x, *b = y;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return strcmp(a->name, b->name);
}

static int from_parser(void *arg, const struct sc_elf_site *s)
{
	struct site v = {s->addr, s->name, s->opcode, s->defined};

	push(arg, v);
	return 0;
}

/* The oracle: -1 if libelf cannot read the file, else the number of
 * relocation sections for code (0: no kept relocations). */
static int from_libelf(int fd, struct list *out, Elf **ep)
{
	Elf *e = *ep = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int relsecs = 0;

	if (!e || elf_kind(e) != ELF_K_ELF || gelf_getclass(e) != ELFCLASS64 ||
	    elf_getshdrstrndx(e, &shstrndx) != 0)
		return -1;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr rel, code, symsh;
		Elf_Scn *code_scn, *sym_scn;
		Elf_Data *data, *syms;
		Elf_Data *bytes;

		if (!gelf_getshdr(scn, &rel) || rel.sh_type != SHT_RELA)
			continue;
		code_scn = elf_getscn(e, rel.sh_info);
		if (!code_scn || !gelf_getshdr(code_scn, &code) ||
		    !(code.sh_flags & SHF_ALLOC) ||
		    !(code.sh_flags & SHF_EXECINSTR))
			continue;
		relsecs++;
		sym_scn = elf_getscn(e, rel.sh_link);
		data = elf_getdata(scn, NULL);
		syms = sym_scn ? elf_getdata(sym_scn, NULL) : NULL;
		bytes = elf_getdata(code_scn, NULL);
		if (!data || !syms || !gelf_getshdr(sym_scn, &symsh)) {
			fprintf(stderr, "libelf: %s\n", elf_errmsg(-1));
			return -1;
		}
		for (size_t k = 0; k < rel.sh_size / sizeof(GElf_Rela); k++) {
			GElf_Rela ra;
			GElf_Sym sym;
			const char *name;
			struct site s;
			uint64_t type;

			if (!gelf_getrela(data, (int)k, &ra))
				break;
			type = GELF_R_TYPE(ra.r_info);
			if ((type != R_X86_64_PLT32 && type != R_X86_64_PC32) ||
			    ra.r_addend != -4 ||
			    !gelf_getsym(syms, (int)GELF_R_SYM(ra.r_info),
					 &sym))
				continue;
			name = elf_strptr(e, symsh.sh_link, sym.st_name);
			if (!name || strncmp(name, "__SCT__", 7) != 0)
				continue;
			s.addr = ra.r_offset - 1;
			s.name = name;
			s.defined = sym.st_shndx != SHN_UNDEF;
			s.opcode = -1;
			if (bytes && bytes->d_buf &&
			    s.addr - code.sh_addr < bytes->d_size) {
				const unsigned char *b = bytes->d_buf;
				uint64_t off = s.addr - code.sh_addr;
				if ((b[off] & 0xc7) == 0x05 ||
				    (off >= 1 && b[off - 1] == 0x0f &&
				     (b[off] & 0xf0) == 0x80))
					continue; /* lea/mov, or jcc */
				s.opcode = b[off];
			}
			push(out, s);
		}
	}
	return relsecs; /* *ep stays open: the names point into it */
}

static size_t total;

static int compare(const char *path, int n, int relsecs, struct list *mine,
		   struct list *oracle)
{
	int bad = 0;

	if (relsecs < 0) {
		printf("%s: libelf cannot read it\n", path);
		return 1;
	}
	if (n == -ENODATA) {
		if (relsecs != 0) {
			printf("%s: MISMATCH: the parser found no relocations "
			       "for code, libelf %d section(s)\n",
			       path, relsecs);
			return 1;
		}
		printf("%s: no relocations kept for code (both agree)\n", path);
		return 0;
	}
	if (n < 0 || (size_t)n != mine->n) {
		printf("%s: MISMATCH: the parser returned %d (%zu sites)\n",
		       path, n, mine->n);
		return 1;
	}
	if (mine->n)
		qsort(mine->v, mine->n, sizeof(*mine->v), cmp);
	if (oracle->n)
		qsort(oracle->v, oracle->n, sizeof(*oracle->v), cmp);
	for (size_t i = 0; i < mine->n || i < oracle->n; i++) {
		const struct site *a = i < mine->n ? &mine->v[i] : NULL;
		const struct site *b = i < oracle->n ? &oracle->v[i] : NULL;
		if (a && b && a->addr == b->addr && !strcmp(a->name, b->name) &&
		    a->opcode == b->opcode && a->defined == b->defined)
			continue;
		printf("%s: MISMATCH at entry %zu: parser %#llx %s, libelf "
		       "%#llx %s\n",
		       path, i, a ? (unsigned long long)a->addr : 0ULL,
		       a ? a->name : "-",
		       b ? (unsigned long long)b->addr : 0ULL,
		       b ? b->name : "-");
		if (++bad == 10)
			break;
	}
	if (!bad)
		printf("%s: %zu sites in %d relocation section(s) for code "
		       "(both agree)\n",
		       path, mine->n, relsecs);
	total += mine->n;
	return bad != 0;
}

static int check(const char *path)
{
	struct list mine = {0}, oracle = {0};
	struct stat st;
	Elf *e = NULL;
	void *img;
	int fd, n, relsecs, bad;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		fprintf(stderr, "%s: cannot read\n", path);
		return 1;
	}
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (img == MAP_FAILED) {
		perror(path);
		return 1;
	}
	n = sc_elf_sites(img, (size_t)st.st_size, from_parser, &mine);
	relsecs = from_libelf(fd, &oracle, &e);
	bad = compare(path, n, relsecs, &mine, &oracle);
	if (e)
		elf_end(e);
	free(mine.v);
	free(oracle.v);
	munmap(img, (size_t)st.st_size);
	close(fd);
	return bad;
}

int main(int argc, char **argv)
{
	int bad = 0;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		fprintf(stderr, "libelf: %s\n", elf_errmsg(-1));
		return 2;
	}
	for (int i = 1; i < argc; i++)
		bad += check(argv[i]);
	printf("%d file(s), %zu sites: %d mismatch(es)\n", argc - 1, total,
	       bad);
	if (total == 0)
		printf("no site compared: give it files linked with "
		       "--emit-relocs\n");
	return bad || total == 0 ? 1 : 0;
}
