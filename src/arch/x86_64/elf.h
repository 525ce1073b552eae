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

#define SC_ARCH_ELF_MACHINE EM_X86_64

/*
 * `call sym` and `jmp sym` carry R_X86_64_PLT32 (or PC32) with addend -4 on
 * their rel32 field, one byte after the opcode.  Whether the byte before
 * really is e8/e9 is checked by the caller (a rip-relative operand of any
 * other instruction has a ModRM byte there, never e8/e9); a linker that
 * relaxed `call *sym@GOTPCREL(%rip)` into `addr32 call sym` reports PC32 on
 * the same field.  Returns how far before r_offset the opcode is, or 0.
 */
static inline unsigned sc_arch_site_reloc(uint32_t type, int64_t addend)
{
	if ((type == R_X86_64_PLT32 || type == R_X86_64_PC32) && addend == -4)
		return 1;
	return 0;
}

/*
 * A PC32 field with addend -4 is also the operand of an instruction that
 * takes a trampoline's address rip-relatively (`lea __SCT__x(%rip), %rsi`
 * in PIC code: static_call(x) passed as a function pointer, or a GOT load
 * the linker relaxed into a lea).  The byte before the field is then a
 * ModRM byte with mod 00, r/m 101 (rip-relative), never e8/e9: such a
 * relocation is a reference, not a call site, and is no error.
 */
static inline bool sc_arch_site_is_ref(int byte_before_field)
{
	return byte_before_field >= 0 && (byte_before_field & 0xc7) == 0x05;
}

#endif
