/* SPDX-License-Identifier: MIT */
/*
 * AArch64 trampolines and static branch sites.  Included by <staticcall.h>;
 * not a public header of its own.  docs/aarch64.md says why each form is
 * what it is (the Arm ARM's rules on concurrently modified code).
 *
 * Each trampoline is 32 bytes, 32-byte aligned (eight instruction words,
 * never straddling a cache line or a page):
 *
 *   0x00  the live instruction, ONE instruction, always a `b`:
 *           b target          a target within +-128 MiB
 *           b 0x08            far: the stub below loads the slot
 *           b 0x10            NULL: the `ret` below
 *         RET0 is a `b` to __static_call_return0 (or the far form).
 *         B is one of the instructions the architecture lets another
 *         core modify while this one executes it (with BRK, the int3
 *         protocol's breakpoint), so every change of the live word is B to
 *         B, or B to BRK and back.
 *   0x04  brk #0x5343   signature (never executed)
 *   0x08  ldr x16, 0x18 the far stub: x16 is the intra-procedure-call
 *   0x0c  br x16        scratch register a veneer may clobber (AAPCS64)
 *   0x10  ret           NULL
 *   0x14  brk #0x5354   signature
 *   0x18  the slot: the absolute target of the far form, else what the
 *         library last put there (0 as emitted)
 *
 * The compiler-emitted forms are `b target` and `b 0x10`; the library
 * writes the far form when a target is out of B's reach (a function in a
 * shared object called through a trampoline in the executable).
 *
 * The trampolines go to their own section, and each translation unit's
 * trampolines fill whole pages of their own, as on x86-64 (subsection 0
 * aligns the section, 1 holds the trampolines, 2 pads the end): 64 KiB,
 * the largest page size of Linux on arm64, so that the pages hold no other
 * code whatever the kernel's page size.  The padding is zero: `udf #0`.
 */
#ifndef STATICCALL_ARCH_AARCH64_H
#define STATICCALL_ARCH_AARCH64_H

#define STATIC_CALL_TRAMP_SIZE 32

/* The constant words of a trampoline (src/arch/aarch64/insn.c checks
 * them): brk #0x5343, ldr x16, .+16, br x16, ret, brk #0x5354. */
#define __SC_TRAMP_TAIL                                                        \
	".inst 0xd42a6860\n\t"                                                 \
	".inst 0x58000090\n\t"                                                 \
	".inst 0xd61f0200\n\t"                                                 \
	".inst 0xd65f03c0\n\t"                                                 \
	".inst 0xd42a6a80\n\t"                                                 \
	".quad 0\n\t"

#define __SC_TRAMP_TEXT(sym, insn)                                             \
	".pushsection .text.staticcall_tramp, \"ax\", @progbits\n\t"           \
	".subsection 0\n\t"                                                    \
	".balign 65536, 0\n\t"                                                 \
	".subsection 1\n\t"                                                    \
	".balign 32, 0\n\t"                                                    \
	".globl " sym "\n\t"                                                   \
	".protected " sym "\n\t"                                               \
	".type " sym ", @function\n" sym ":\n\t" insn "\n\t" __SC_TRAMP_TAIL   \
	".size " sym ", 32\n\t"                                                \
	".subsection 2\n\t"                                                    \
	".balign 65536, 0\n\t"                                                 \
	".popsection\n"
#define __SC_TRAMP(sym, insn) __asm__(__SC_TRAMP_TEXT(sym, insn))

#define __SC_TRAMP_JMP(sym, func) __SC_TRAMP(sym, "b " func)
#define __SC_TRAMP_RET(sym) __SC_TRAMP(sym, "b . + 16")
#define __SC_TRAMP_RET0(sym) __SC_TRAMP_JMP(sym, "__static_call_return0")

/*
 * The stub of DEFINE_STATIC_CALL_UNSET (a global, weak symbol @sym, and a
 * local label @local for the trampoline's branch): it calls
 * __static_call_unset(name, return address), which prints the static
 * call's name and the caller and aborts.  Reached like a function, so x30
 * holds the caller's return address.
 */
#define __SC_UNSET_STUB(sym, local, str, name)                                 \
	__asm__(".pushsection .text.staticcall_unset, \"ax\", @progbits\n\t"   \
		".balign 16, 0\n\t"                                            \
		".weak " sym "\n\t"                                            \
		".type " sym ", @function\n" sym ":\n" local ":\n\t"           \
		"adrp x0, " str "\n\t"                                         \
		"add x0, x0, :lo12:" str "\n\t"                                \
		"mov x1, x30\n\t"                                              \
		"b __static_call_unset\n\t"                                    \
		".size " sym ", . - " sym "\n\t"                               \
		".pushsection .rodata, \"a\", @progbits\n" str ":\n\t"         \
		".asciz \"" name "\"\n\t"                                      \
		".popsection\n\t"                                              \
		".popsection\n")

/*
 * A symbol (plus an offset) as an asm operand, printed with %c: "Si", a
 * symbolic address ("S", which gcc needs in PIC code, where it refuses
 * "i") or an immediate ("i", which clang needs for an address with an
 * offset, an element of an array), as the kernel's arm64 jump labels do.
 */
#define __SC_SYMCON "Si"
#define __SC_SYMREF(op) "%c[" #op "]"

#ifdef __cplusplus
/* A trampoline branching to @func, emitted from a function that is never
 * called (extended asm, to get @func's mangled symbol). */
#define __SC_TRAMP_FN_SYM __SC_SYMREF(f)
#define __SC_TRAMP_JMP_FN(fn, sym, func)                                       \
	static __attribute__((used)) void fn(void)                             \
	{                                                                      \
		__asm__(__SC_TRAMP_TEXT(sym, "b " __SC_TRAMP_FN_SYM)           \
			:                                                      \
			: [f] __SC_SYMCON(&(func)));                           \
	}

/* An array of @count true keys (C++ has no range initialisers): defined in
 * assembler, each element {.enabled = 1, .__flags = 1}, the rest zero. */
#define __SC_KEY_ARRAY_SYM __SC_SYMREF(a)
#define __SC_KEY_ARRAY_TRUE_FN(fn, name, count)                                \
	static __attribute__((used)) void fn(void)                             \
	{                                                                      \
		__asm__(".pushsection .data, \"aw\", @progbits\n\t"            \
			".balign 8\n\t"                                        \
			".globl " __SC_KEY_ARRAY_SYM "\n\t"                    \
			".type " __SC_KEY_ARRAY_SYM ", @object\n\t"            \
			".size " __SC_KEY_ARRAY_SYM                            \
			", %c[n] * %c[sz]\n" __SC_KEY_ARRAY_SYM ":\n\t"        \
			".rept %c[n]\n\t"                                      \
			".long 1, 1\n\t"                                       \
			".zero %c[sz] - 8\n\t"                                 \
			".endr\n\t"                                            \
			".popsection"                                          \
			:                                                      \
			: [a] __SC_SYMCON(name), [n] "i"(count),               \
			  [sz] "i"(sizeof(struct static_key_true)));           \
	}
#endif

/*
 * Every branch site is one aligned 4-byte instruction, inside one aligned
 * 8-byte word: STATICCALL_KEYS_TRAPFREE costs nothing here, and every
 * entry says so (bit 1), with or without it.
 */
#define __SC_KEY_TRAPFREE 2

/*
 * A static branch site: `nop` or `b` to the taken path, and a jump table
 * entry in the format of every architecture (staticcall.h).  The entry
 * refers to the key through a constant pointer local to the function
 * (`__sc_ref`): a local symbol is a link-time constant even in PIC code,
 * where the key itself, if it lives in another shared object, is not.
 * Returns 1 when the site branches.
 */
#ifndef __cplusplus
#define __sc_static_branch(k, likely, jump)                                    \
	__extension__({                                                        \
		__label__ __sc_yes, __sc_done;                                 \
		int __sc_r = 0;                                                \
		static struct static_key *const __sc_ref                       \
			__attribute__((used, aligned(8))) = (k);               \
		__asm__ goto("1:\n\t"                                          \
			     ".if %c[jmp]\n\t"                                 \
			     "b %l[__sc_yes]\n\t"                              \
			     ".else\n\t"                                       \
			     "nop\n\t"                                         \
			     ".endif\n\t"                                      \
			     ".pushsection sc_jump_table, \"aw\"\n\t"          \
			     ".balign 8\n\t"                                   \
			     ".long 1b - ., %l[__sc_yes] - .\n\t"              \
			     ".quad %c[ref] - . + %c[lk] + %c[tf]\n\t"         \
			     ".popsection"                                     \
			     :                                                 \
			     : [ref] "Si"(&__sc_ref), [lk] "i"(likely),        \
			       [jmp] "i"(jump), [tf] "i"(__SC_KEY_TRAPFREE)    \
			     :                                                 \
			     : __sc_yes);                                      \
		goto __sc_done;                                                \
	__sc_yes:                                                              \
		__sc_r = 1;                                                    \
	__sc_done:                                                             \
		__sc_r;                                                        \
	})
#else
/*
 * In C++ a static local of an inline function or a template has vague
 * linkage (a weak, preemptible symbol), no link-time constant in PIC
 * code.  So the assembler text emits the constant pointer itself (label 2,
 * in .data.rel.ro: a dynamic relocation against the key, resolved at load
 * like the C one's) and the entry refers to it.
 */
#define __sc_static_branch(k, likely, jump)                                    \
	__extension__({                                                        \
		__label__ __sc_yes, __sc_done;                                 \
		int __sc_r;                                                    \
		__asm__ goto("1:\n\t"                                          \
			     ".if %c[jmp]\n\t"                                 \
			     "b %l[__sc_yes]\n\t"                              \
			     ".else\n\t"                                       \
			     "nop\n\t"                                         \
			     ".endif\n\t"                                      \
			     ".pushsection .data.rel.ro, \"aw\"\n\t"           \
			     ".balign 8\n\t"                                   \
			     "2: .quad %c[key]\n\t"                            \
			     ".popsection\n\t"                                 \
			     ".pushsection sc_jump_table, \"aw\"\n\t"          \
			     ".balign 8\n\t"                                   \
			     ".long 1b - ., %l[__sc_yes] - .\n\t"              \
			     ".quad 2b - . + %c[lk] + %c[tf]\n\t"              \
			     ".popsection"                                     \
			     :                                                 \
			     : [key] __SC_SYMCON(k), [lk] "i"(likely),         \
			       [jmp] "i"(jump), [tf] "i"(__SC_KEY_TRAPFREE)    \
			     :                                                 \
			     : __sc_yes);                                      \
		__sc_r = 0;                                                    \
		goto __sc_done;                                                \
	__sc_yes:                                                              \
		__sc_r = 1;                                                    \
	__sc_done:                                                             \
		__sc_r;                                                        \
	})
#endif

#endif /* STATICCALL_ARCH_AARCH64_H */
