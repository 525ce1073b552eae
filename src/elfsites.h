/* SPDX-License-Identifier: MIT */
/*
 * Reading the call sites of static calls out of a linked ELF file whose
 * relocations were kept (ld --emit-relocs).  Used by the library at module
 * load (sites.c), by tools/staticcall-sites and by the fuzz target, so that
 * all three read a file the same way.  Pure: no allocation, no I/O, every
 * offset and index of the file bounds-checked (the file is untrusted).
 */
#ifndef SC_ELFSITES_H
#define SC_ELFSITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef SC_HIDDEN
#define SC_HIDDEN __attribute__((visibility("hidden")))
#endif

#define SC_TRAMP_PREFIX "__SCT__"

struct sc_elf_site {
	uint64_t addr;	    /* link-time address of the call/jmp opcode */
	uint64_t sym_value; /* the trampoline symbol's value (if defined) */
	const char *name;   /* the symbol, NUL-terminated, inside the image */
	int opcode;	    /* the file's byte that tells the instruction
			     * (at addr + SC_ARCH_SITE_OPCODE_AT: arch/elf.h);
			     * -1 if not in the file */
	bool defined;	    /* the trampoline is defined in this file */
	unsigned len;	    /* bytes from addr to the end of the relocated
			     * field (the instruction, for call/jmp) */
	uint64_t offset;    /* file offset of addr, if opcode >= 0: the
			     * image holds [offset, offset + len) */
	uint32_t section;   /* index of the code section holding
			     * [addr, addr + len) */
};

/* Called once per site; a non-zero return stops the walk with that value. */
typedef int (*sc_elf_site_fn)(void *arg, const struct sc_elf_site *site);

/*
 * Walk the sites of the ELF image [img, img + size): every relocation of
 * an allocated, executable section that marks a call or jmp (as the
 * architecture defines it) to a symbol named __SCT__*.  Returns the number
 * of sites, the callback's non-zero value, -ENOEXEC (not a linked ELF file of
 * this architecture, or malformed), or -ENODATA (no relocations kept for
 * code: not linked with --emit-relocs, or stripped).
 */
SC_HIDDEN int sc_elf_sites(const void *img, size_t size, sc_elf_site_fn fn,
			   void *arg);

/*
 * The function symbol (STT_FUNC of .symtab) whose range contains @addr, for
 * tools: 0 with its name (NUL-terminated, inside the image) and value,
 * -ENOENT if none, -ENOEXEC if the image is malformed.  Not used at run time.
 */
SC_HIDDEN int sc_elf_func(const void *img, size_t size, uint64_t addr,
			  const char **name, uint64_t *value);

/*
 * Call @fn for every function symbol (STT_FUNC, defined, of non-zero size,
 * from .symtab, else .dynsym) that overlaps [lo, hi) (link-time
 * addresses), until it returns non-zero (that value is returned).  0,
 * -ENOENT (no symbol table), or -ENOEXEC.
 */
typedef int (*sc_elf_func_fn)(void *arg, const char *name, uint64_t value,
			      uint64_t size);
SC_HIDDEN int sc_elf_funcs(const void *img, size_t size, uint64_t lo,
			   uint64_t hi, sc_elf_func_fn fn, void *arg);

/* The program header table of the image: 0, or -ENOEXEC. */
SC_HIDDEN int sc_elf_phdrs(const void *img, size_t size, const void **phdrs,
			   size_t *count, size_t *entsize);

#endif
