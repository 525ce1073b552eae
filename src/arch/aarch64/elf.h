/* SPDX-License-Identifier: MIT */
/*
 * AArch64 facts for reading a linked file's relocations (src/elfsites.c):
 * which relocations can mark a call or a tail call to a trampoline.
 */
#ifndef SC_ARCH_AARCH64_ELF_H
#define SC_ARCH_AARCH64_ELF_H

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SC_ARCH_ELF_MACHINE EM_AARCH64
#define SC_ARCH_ELF_NAME "aarch64"

/*
 * `bl sym` carries R_AARCH64_CALL26 and `b sym` R_AARCH64_JUMP26, on the
 * instruction itself, addend 0 (the linker routes either through a PLT
 * entry or a range-extension veneer when it must: the library follows a
 * PLT entry, and rejects a site that reaches anything else).  Returns how
 * far before r_offset the instruction starts (0), or -1 for any other
 * relocation.
 */
static inline int sc_arch_site_reloc(uint32_t type, int64_t addend)
{
	if ((type == R_AARCH64_CALL26 || type == R_AARCH64_JUMP26) &&
	    addend == 0)
		return 0;
	return -1;
}

/* A site is one instruction; its top byte holds the opcode bits that tell
 * BL (0x94..0x97) from B (0x14..0x17). */
#define SC_ARCH_ELF_SITE_LEN 4
#define SC_ARCH_SITE_OPCODE_AT 3

enum sc_arch_site_kind {
	SC_ARCH_SITE_OTHER = 0, /* not a bl/b: the library rejects it */
	SC_ARCH_SITE_CALL = 1,	/* bl */
	SC_ARCH_SITE_TAIL = 2,	/* b: a tail call */
};

/* What a site's opcode byte (sc_elf_site.opcode) makes it, for tools; the
 * library decodes the bytes in memory (sc_arch_site_decode()). */
static inline enum sc_arch_site_kind sc_arch_site_kind(int opcode)
{
	if (opcode < 0)
		return SC_ARCH_SITE_OTHER;
	return (opcode & 0xfc) == 0x94	 ? SC_ARCH_SITE_CALL
	       : (opcode & 0xfc) == 0x14 ? SC_ARCH_SITE_TAIL
					 : SC_ARCH_SITE_OTHER;
}

/* Where the bl/b @b at link-time address @addr goes. */
static inline uint64_t sc_arch_site_dest(const uint8_t *b, uint64_t addr)
{
	uint32_t w;
	int32_t imm;

	memcpy(&w, b, sizeof(w));
	imm = (int32_t)(w << 6) >> 6;
	return addr + (uint64_t)((int64_t)imm * 4);
}

/* CALL26 and JUMP26 mark nothing but bl and b. */
static inline bool sc_arch_site_not_call(const uint8_t *field, uint64_t before)
{
	(void)field;
	(void)before;
	return false;
}

#endif
