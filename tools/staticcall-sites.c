/* SPDX-License-Identifier: MIT */
/*
 * staticcall-sites: print the inline call sites of static calls that
 * libstaticcall finds in a linked file (docs/tools.md).  The sites come from
 * the library's own parser (src/elfsites.c), compiled in, so the tool lists
 * exactly what the library reads when the module is loaded.
 *
 *   staticcall-sites [-h] FILE...
 *
 * Exit status: 0, 1 (a file cannot be read), 2 (usage), ENOEXEC (8: not an
 * ELF file, another architecture, or malformed), ENODATA (61: no kept
 * relocations for code: not linked with --emit-relocs).  With several files
 * the first failure's status is returned; the others are still listed.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/elf.h"
#include "elfsites.h"

#define EXIT_IO 1
#define EXIT_USAGE 2

static const char *prog = "staticcall-sites";

struct totals {
	unsigned long sites, kind[3], modules;
	unsigned long sections; /* code sections holding sites */
};

struct listing {
	const uint8_t *img;
	size_t size;
	int pass; /* 0: measure the columns, 1: print */
	int wname, wfunc, waddr;
	unsigned long sites, kind[3];
	unsigned long sections; /* code sections holding sites */
	uint32_t last_section;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-h] FILE...\n"
		"List the static call sites libstaticcall finds in linked "
		"files (executables,\nshared objects) built with "
		"-Wl,--emit-relocs (CMake: staticcall_inline()).\n"
		"Per site: address, call or tail (jmp), static call, the "
		"function holding it,\nwhether the trampoline is defined in "
		"the file or reached through the PLT,\nand the instruction's "
		"bytes in the file.\n"
		"Exit status: 0; 1 a file cannot be read; 2 usage; %d not "
		"ELF, another\narchitecture or malformed (ENOEXEC); %d no "
		"relocations kept (ENODATA).\n",
		prog, ENOEXEC, ENODATA);
}

static const char *kind_name(const struct sc_elf_site *s)
{
	enum sc_arch_site_kind k = sc_arch_site_kind(s->opcode);

	if (s->opcode < 0)
		return "?";
	return k == SC_ARCH_SITE_CALL	? "call"
	       : k == SC_ARCH_SITE_TAIL ? "tail"
					: "other";
}

/* "func+0x1c", or "?" outside any function symbol. */
static void func_of(const struct listing *l, uint64_t addr, char *buf,
		    size_t len)
{
	const char *name;
	uint64_t value;

	if (sc_elf_func(l->img, l->size, addr, &name, &value) != 0)
		snprintf(buf, len, "?");
	else if (addr == value)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s+%#" PRIx64, name, addr - value);
}

/* Why the library would not take the site, or "" (from the file only: at
 * load it also checks the loaded bytes and where they lead). */
static const char *note_of(const struct listing *l, const struct sc_elf_site *s)
{
	if (s->opcode < 0)
		return "  (not in the file: rejected)";
	if (sc_arch_site_kind(s->opcode) == SC_ARCH_SITE_OTHER)
		return "  (not a call or jmp: rejected)";
	if (s->defined && s->len == SC_ARCH_ELF_SITE_LEN &&
	    sc_arch_site_dest(l->img + s->offset, s->addr) != s->sym_value)
		return "  (does not reach its trampoline: rejected)";
	return "";
}

static int site(void *arg, const struct sc_elf_site *s)
{
	struct listing *l = arg;
	const char *name = s->name + sizeof(SC_TRAMP_PREFIX) - 1;
	enum sc_arch_site_kind k = sc_arch_site_kind(s->opcode);
	char func[256], addr[32], bytes[3 * 16 + 1] = "";
	int n;

	func_of(l, s->addr, func, sizeof(func));
	n = snprintf(addr, sizeof(addr), "%#" PRIx64, s->addr);
	if (l->pass == 0) {
		int wn = (int)strlen(name), wf = (int)strlen(func);
		l->wname = wn > l->wname ? wn : l->wname;
		l->wfunc = wf > l->wfunc ? wf : l->wfunc;
		l->waddr = n > l->waddr ? n : l->waddr;
		return 0;
	}
	for (unsigned i = 0, at = 0; s->opcode >= 0 && i < s->len && i < 16;
	     i++)
		at += (unsigned)snprintf(bytes + at, sizeof(bytes) - at,
					 "%s%02x", i ? " " : "",
					 l->img[s->offset + i]);
	printf("%-*s  %-5s  %-*s  %-*s  %-10s  %s%s\n", l->waddr, addr,
	       kind_name(s), l->wname, name, l->wfunc, func,
	       s->defined ? "defined" : "plt", bytes[0] ? bytes : "-",
	       note_of(l, s));
	/* the parser walks one code section's relocations at a time */
	l->sections += !l->sites || s->section != l->last_section;
	l->last_section = s->section;
	l->sites++;
	l->kind[k]++;
	return 0;
}

/* What kind of linked file this is, from the program headers. */
static const char *file_kind(const uint8_t *img, size_t size)
{
	const void *ph;
	size_t n, entsize;
	Elf64_Ehdr eh;

	memcpy(&eh, img, sizeof(eh)); /* checked by the parser already */
	if (eh.e_type == ET_EXEC)
		return "executable";
	if (sc_elf_phdrs(img, size, &ph, &n, &entsize) == 0) {
		for (size_t i = 0; i < n; i++) {
			Elf64_Phdr p;
			memcpy(&p, (const uint8_t *)ph + i * entsize,
			       sizeof(p));
			if (p.p_type == PT_INTERP)
				return "PIE executable";
		}
	}
	return "shared object";
}

/* Why the parser said -ENOEXEC, as precisely as the header tells. */
static const char *why_not(const uint8_t *img, size_t size)
{
	Elf64_Ehdr eh;

	if (size < SELFMAG || memcmp(img, ELFMAG, SELFMAG) != 0)
		return "not an ELF file";
	if (size < sizeof(eh))
		return "malformed ELF file (truncated header)";
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != SC_ARCH_ELF_MACHINE)
		return "not an " SC_ARCH_ELF_NAME " ELF file";
	if (eh.e_type == ET_REL)
		return "an object file, not a linked one (run it on the "
		       "executable or shared object)";
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return "not an executable or a shared object";
	return "malformed ELF file (truncated or corrupt: offsets or "
	       "indexes out of bounds)";
}

static int list(const char *path, struct totals *t)
{
	struct listing l = {.wname = 11, .wfunc = 8, .waddr = 7};
	const void *ph;
	size_t nph, entsize;
	struct stat st;
	void *img = NULL;
	int fd, n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "%s: %s: not a regular file\n", prog, path);
		close(fd);
		return EXIT_IO;
	}
	if (st.st_size > 0) {
		img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
			   0);
		if (img == MAP_FAILED) {
			fprintf(stderr, "%s: %s: %s\n", prog, path,
				strerror(errno));
			close(fd);
			return EXIT_IO;
		}
	}
	close(fd);
	l.img = img;
	l.size = (size_t)st.st_size;

	/* As the library does: the program headers, then the sites. */
	n = sc_elf_phdrs(l.img, l.size, &ph, &nph, &entsize);
	if (n == 0)
		n = sc_elf_sites(l.img, l.size, site, &l);
	if (n >= 0) {
		printf("%s: %s %s\n", path, SC_ARCH_ELF_NAME,
		       file_kind(l.img, l.size));
		printf("%-*s  %-5s  %-*s  %-*s  %-10s  %s\n", l.waddr,
		       "address", "kind", l.wname, "static call", l.wfunc,
		       "function", "trampoline", "bytes");
		l.pass = 1;
		n = sc_elf_sites(l.img, l.size, site, &l);
	}
	if (n == -ENOEXEC)
		fprintf(stderr, "%s: %s: %s\n", prog, path,
			why_not(l.img, l.size));
	else if (n == -ENODATA)
		fprintf(stderr,
			"%s: %s: no relocations kept for its code: link "
			"with -Wl,--emit-relocs or staticcall_inline()\n",
			prog, path);
	else if (n < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(-n));
	if (img)
		munmap(img, l.size);
	if (n < 0)
		return -n == ENOEXEC || -n == ENODATA ? -n : EXIT_IO;
	t->modules++;
	t->sites += l.sites;
	for (int k = 0; k < 3; k++)
		t->kind[k] += l.kind[k];
	t->sections += l.sections;
	return 0;
}

int main(int argc, char **argv)
{
	struct totals t = {0};
	int first, status = 0;

	for (first = 1; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "--")) {
			first++;
			break;
		}
		if (!strcmp(argv[first], "-h") ||
		    !strcmp(argv[first], "--help")) {
			usage(stdout);
			return 0;
		}
		fprintf(stderr, "%s: unknown option %s\n", prog, argv[first]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (first == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (int i = first; i < argc; i++) {
		int rc = list(argv[i], &t);
		if (rc && !status)
			status = rc;
	}
	if (t.modules) {
		printf("%lu site%s: %lu call, %lu tail", t.sites,
		       t.sites == 1 ? "" : "s", t.kind[SC_ARCH_SITE_CALL],
		       t.kind[SC_ARCH_SITE_TAIL]);
		if (t.kind[SC_ARCH_SITE_OTHER])
			printf(", %lu other", t.kind[SC_ARCH_SITE_OTHER]);
		printf(" in %lu code section%s; %lu module%s scanned\n",
		       t.sections, t.sections == 1 ? "" : "s", t.modules,
		       t.modules == 1 ? "" : "s");
	}
	return status;
}
