/* SPDX-License-Identifier: MIT */
/*
 * x86-64 facts for reading a linked file's relocations (src/elfsites.c):
 * which relocations can mark a call or jmp to a trampoline.
 */
#ifndef SC_ARCH_X86_64_ELF_H
#define SC_ARCH_X86_64_ELF_H

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SC_ARCH_ELF_MACHINE EM_X86_64
#define SC_ARCH_ELF_NAME "x86-64"

/*
 * `call sym` and `jmp sym` carry R_X86_64_PLT32 (or PC32) with addend -4 on
 * their rel32 field, one byte after the opcode.  Whether the byte before
 * really is e8/e9 is checked by the caller (a rip-relative operand of any
 * other instruction has a ModRM byte there, never e8/e9); a linker that
 * relaxed `call *sym@GOTPCREL(%rip)` into `addr32 call sym` reports PC32 on
 * the same field.  Returns how far before r_offset the opcode is (1), or
 * -1 for any other relocation.
 */
static inline int sc_arch_site_reloc(uint32_t type, int64_t addend)
{
	if ((type == R_X86_64_PLT32 || type == R_X86_64_PC32) && addend == -4)
		return 1;
	return -1;
}

/* A site's bytes (opcode and rel32), and which of them is the opcode
 * (sc_elf_site.opcode). */
#define SC_ARCH_ELF_SITE_LEN 5
#define SC_ARCH_SITE_OPCODE_AT 0

enum sc_arch_site_kind {
	SC_ARCH_SITE_OTHER = 0, /* not a call/jmp: the library rejects it */
	SC_ARCH_SITE_CALL = 1,	/* e8 rel32 */
	SC_ARCH_SITE_TAIL = 2,	/* e9 rel32: a tail call */
};

/* What a site's opcode byte (sc_elf_site.opcode) makes it, for tools; the
 * library decodes the bytes in memory (sc_arch_site_decode()). */
static inline enum sc_arch_site_kind sc_arch_site_kind(int opcode)
{
	return opcode == 0xe8	? SC_ARCH_SITE_CALL
	       : opcode == 0xe9 ? SC_ARCH_SITE_TAIL
				: SC_ARCH_SITE_OTHER;
}

/* Where the 5-byte call/jmp @b at link-time address @addr goes. */
static inline uint64_t sc_arch_site_dest(const uint8_t *b, uint64_t addr)
{
	int32_t rel;

	memcpy(&rel, b + 1, sizeof(rel));
	return addr + 5 + (uint64_t)(int64_t)rel;
}

/*
 * Relocations that look like a site's (PC32 or PLT32, addend -4) but mark
 * no call or jmp the library rewrites, and are no error either; told apart
 * by the bytes before the field (@field points at it, @before bytes of the
 * section precede it):
 *   - a rip-relative operand, ModRM mod 00 r/m 101 (never e8/e9): the
 *     trampoline's address taken (`lea __SCT__x(%rip), %rsi` in PIC code:
 *     static_call(x) passed as a function pointer, or a GOT load the linker
 *     relaxed into a lea);
 *   - `0f 80..8f`: a conditional tail call (`jne __SCT__x`, emitted by
 *     clang -Os), which keeps going through the trampoline.
 */
static inline bool sc_arch_site_not_call(const uint8_t *field, uint64_t before)
{
	if (before >= 1 && (field[-1] & 0xc7) == 0x05)
		return true;
	return before >= 2 && field[-2] == 0x0f && (field[-1] & 0xf0) == 0x80;
}

#endif
