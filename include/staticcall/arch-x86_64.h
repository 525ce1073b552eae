/* SPDX-License-Identifier: MIT */
/*
 * x86-64 trampolines.  Included by <staticcall.h>; not a public header of its
 * own.
 *
 * Each trampoline is 16 bytes, 16-byte aligned, so that it never straddles a
 * cache line or a 16-byte instruction-fetch block:
 *
 *   bytes 0..5   the live instruction, ONE instruction (a thread may stop at
 *                any instruction boundary and resume there after an update,
 *                so no form may have a boundary inside it):
 *                  e9 <rel32> cc          jmp target (within +-2 GiB)
 *                  ff 25 02 00 00 00      jmp *8(%rip): target in the slot
 *                  c3 cc cc cc cc cc      ret            (NULL target)
 *                RET0 is a jmp to __static_call_return0.
 *   bytes 6..7   0f 0b (ud2): stops straight-line speculation and marks the
 *                trampoline as one of ours
 *   bytes 8..15  the slot: the absolute target for the far form, else what
 *                the library last put there (0 as emitted)
 *
 * The compiler-emitted forms are the near jmp and ret; the library
 * writes the far form when a target is out of rel32 reach (e.g. a function
 * in a shared object called through a trampoline in the executable).
 *
 * The trampolines go to their own section, and each translation unit's
 * trampolines fill whole pages of their own (subsection 0 aligns the section
 * to a page, subsection 1 holds the trampolines, subsection 2 pads the end
 * to a page): the library gives those pages a second, writable view and
 * updates trampolines with single atomic stores, without traps (see
 * docs/design.md), and no other code shares the pages.  The cost is up to a
 * page of text per translation unit that defines static calls.  They are
 * `.protected` so that calls from the defining module bind directly instead
 * of through the PLT.
 */
#ifndef STATICCALL_ARCH_X86_64_H
#define STATICCALL_ARCH_X86_64_H

#define STATIC_CALL_TRAMP_SIZE 16

#define __SC_TRAMP_TEXT(sym, insn)                                             \
	".pushsection .text.staticcall_tramp, \"ax\", @progbits\n\t"           \
	".subsection 0\n\t"                                                    \
	".balign 4096, 0xcc\n\t"                                               \
	".subsection 1\n\t"                                                    \
	".balign 16, 0xcc\n\t"                                                 \
	".globl " sym "\n\t"                                                   \
	".protected " sym "\n\t"                                               \
	".type " sym ", @function\n" sym ":\n\t" insn "\n\t"                   \
	".byte 0x0f, 0x0b\n\t"                                                 \
	".quad 0\n\t"                                                          \
	".size " sym ", 16\n\t"                                                \
	".subsection 2\n\t"                                                    \
	".balign 4096, 0xcc\n\t"                                               \
	".popsection\n"
#define __SC_TRAMP(sym, insn) __asm__(__SC_TRAMP_TEXT(sym, insn))

/* {disp32}: always the 5-byte form, even for a target the assembler could
 * reach with a short jump. */
#define __SC_TRAMP_JMP(sym, func)                                              \
	__SC_TRAMP(sym, "{disp32} jmp " func "\n\t.byte 0xcc")
#define __SC_TRAMP_RET(sym)                                                    \
	__SC_TRAMP(sym, ".byte 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc")
#define __SC_TRAMP_RET0(sym) __SC_TRAMP_JMP(sym, "__static_call_return0")

/*
 * The stub of DEFINE_STATIC_CALL_UNSET (a global, weak symbol @sym, and a
 * local label @local for the trampoline's jump, which then needs no PLT
 * entry): it calls __static_call_unset(name, return address), which prints
 * the static call's name and the caller and aborts.  Reached like a
 * function (a call or a tail call), so the stack is aligned as at any
 * function entry.
 */
#define __SC_UNSET_STUB(sym, local, str, name)                                 \
	__asm__(".pushsection .text.staticcall_unset, \"ax\", @progbits\n\t"   \
		".balign 16, 0xcc\n\t"                                         \
		".weak " sym "\n\t"                                            \
		".type " sym ", @function\n" sym ":\n" local ":\n\t"           \
		"lea " str "(%rip), %rdi\n\t"                                  \
		"mov (%rsp), %rsi\n\t"                                         \
		"jmp __static_call_unset@PLT\n\t"                              \
		".size " sym ", . - " sym "\n\t"                               \
		".pushsection .rodata, \"a\", @progbits\n" str ":\n\t"         \
		".asciz \"" name "\"\n\t"                                      \
		".popsection\n\t"                                              \
		".popsection\n")

#ifdef __cplusplus
/*
 * C++.  Symbols of C++ functions and objects are mangled, so the assembler
 * text cannot name them by their source name: the compiler prints the
 * symbol of an operand instead ("X" with %p for gcc, "s" with %c for clang:
 * the only ways both accept for a preemptible symbol in PIC code).
 */
#if defined(__clang__)
#define __SC_SYMCON "s"
#define __SC_SYMREF(op) "%c[" #op "]"
#else
#define __SC_SYMCON "X"
#define __SC_SYMREF(op) "%p[" #op "]"
#endif

/* A trampoline jumping to @func, emitted from a function that is never
 * called (extended asm, to get @func's symbol); {disp32} is escaped there. */
#define __SC_TRAMP_FN_SYM __SC_SYMREF(f)
#define __SC_TRAMP_JMP_FN(fn, sym, func)                                       \
	static __attribute__((used)) void fn(void)                             \
	{                                                                      \
		__asm__(__SC_TRAMP_TEXT(sym,                                   \
					"%{disp32%} jmp " __SC_TRAMP_FN_SYM    \
					"\n\t.byte 0xcc")                      \
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
 * With STATICCALL_KEYS_TRAPFREE defined before this header is included, each
 * site is placed so that it never crosses an aligned 8-byte word (".balign
 * 8,,4" pads with one or two NOP instructions only when the site would cross
 * one: about half the sites, 1 to 4 bytes), and its entry says so (bit 1):
 * the library can then patch it with one atomic store, without a trap, like
 * a trampoline (docs/signals.md).
 */
#ifdef STATICCALL_KEYS_TRAPFREE
#define __SC_KEY_ALIGN ".balign 8,,4\n\t"
#define __SC_KEY_TRAPFREE 2
#else
#define __SC_KEY_ALIGN
#define __SC_KEY_TRAPFREE 0
#endif

/*
 * A static branch site: a 5-byte nop (`0f 1f 44 00 00`) or a `jmp rel32` to
 * the taken path, and a jump table entry.  The entry refers to the key
 * through a constant pointer local to the function (`__sc_ref`): a local
 * symbol is a link-time constant even in PIC code, where the key itself, if
 * it lives in another shared object, is not.  Returns 1 when the site jumps.
 */
#ifndef __cplusplus
#define __sc_static_branch(k, likely, jump)                                    \
	__extension__({                                                        \
		__label__ __sc_yes, __sc_done;                                 \
		int __sc_r = 0;                                                \
		static struct static_key *const __sc_ref                       \
			__attribute__((used, aligned(8))) = (k);               \
		__asm__ goto(__SC_KEY_ALIGN                                    \
			     "1:\n\t"                                          \
			     ".if %c[jmp]\n\t"                                 \
			     ".byte 0xe9\n\t.long %l[__sc_yes] - (. + 4)\n\t"  \
			     ".else\n\t"                                       \
			     ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"          \
			     ".endif\n\t"                                      \
			     ".pushsection sc_jump_table, \"aw\"\n\t"          \
			     ".balign 8\n\t"                                   \
			     ".long 1b - ., %l[__sc_yes] - .\n\t"              \
			     ".quad %c[ref] - . + %c[lk] + %c[tf]\n\t"         \
			     ".popsection"                                     \
			     :                                                 \
			     : [ref] "i"(&__sc_ref), [lk] "i"(likely),         \
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
 * linkage (a weak, preemptible symbol): in PIC code it is no link-time
 * constant, and "i" refuses it.  So the assembler text emits the constant
 * pointer itself (label 2, in .data.rel.ro: a dynamic relocation against
 * the key, resolved at load like the C one's) and the entry refers to it.
 */
#define __sc_static_branch(k, likely, jump)                                    \
	__extension__({                                                        \
		__label__ __sc_yes, __sc_done;                                 \
		int __sc_r;                                                    \
		__asm__ goto(                                                  \
			__SC_KEY_ALIGN                                         \
			"1:\n\t"                                               \
			".if %c[jmp]\n\t"                                      \
			".byte 0xe9\n\t.long %l[__sc_yes] - (. + 4)\n\t"       \
			".else\n\t"                                            \
			".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"               \
			".endif\n\t"                                           \
			".pushsection .data.rel.ro, \"aw\"\n\t"                \
			".balign 8\n\t"                                        \
			"2: .quad " __SC_SYMREF(                               \
				key) "\n\t"                                    \
				     ".popsection\n\t"                         \
				     ".pushsection sc_jump_table, \"aw\"\n\t"  \
				     ".balign 8\n\t"                           \
				     ".long 1b - ., %l[__sc_yes] - .\n\t"      \
				     ".quad 2b - . + %c[lk] + %c[tf]\n\t"      \
				     ".popsection"                             \
			:                                                      \
			: [key] __SC_SYMCON(k), [lk] "i"(likely),              \
			  [jmp] "i"(jump), [tf] "i"(__SC_KEY_TRAPFREE)         \
			:                                                      \
			: __sc_yes);                                           \
		__sc_r = 0;                                                    \
		goto __sc_done;                                                \
	__sc_yes:                                                              \
		__sc_r = 1;                                                    \
	__sc_done:                                                             \
		__sc_r;                                                        \
	})
#endif

#endif /* STATICCALL_ARCH_X86_64_H */
