/* SPDX-License-Identifier: MIT */
/*
 * The AArch64 port of the architecture contract (src/arch/arch.h).  The
 * rules it follows are in docs/aarch64.md: every instruction the library
 * changes while other threads may run it is a B, BL, NOP or BRK, before
 * and after the change (the Arm ARM's list of instructions that may be
 * modified concurrently with their execution).
 */
#ifndef SC_ARCH_AARCH64_H
#define SC_ARCH_AARCH64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <signal.h>

/*
 * The int3 protocol's breakpoint: brk #0x5350, one instruction.  The
 * kernel reports a BRK executed at EL0 as SIGTRAP with si_code TRAP_BRKPT
 * (1), and so does qemu-user; the context's pc is the BRK itself (x86
 * reports the address after its int3).  The site must still be one of
 * ours (in a batch or the site set) to be taken.
 */
#define SC_ARCH_TRAP_LEN 4
#define SC_ARCH_TRAP_INSN                                                      \
	{                                                                      \
		0x00, 0x6a, 0x2a, 0xd4                                         \
	}
#define SC_ARCH_TRAP_SICODE 1 /* TRAP_BRKPT */
#define sc_arch_is_trap(si) ((si)->si_code == SC_ARCH_TRAP_SICODE)

SC_HIDDEN uintptr_t sc_arch_trap_site(const void *ucontext);
SC_HIDDEN uintptr_t sc_arch_pc(const void *ucontext);
SC_HIDDEN void sc_arch_trap_rewind(void *ucontext, uintptr_t site);
SC_HIDDEN void sc_arch_emulate(void *ucontext, const struct sc_emu *e);

SC_HIDDEN int sc_arch_tramp_decode(const uint8_t *bytes, uintptr_t tramp,
				   void **target);
SC_HIDDEN void sc_arch_tramp_encode(uintptr_t tramp, const uint8_t *old,
				    void *func, uint8_t *new, struct sc_emu *e);
SC_HIDDEN bool sc_arch_tramp_signature(const uint8_t *bytes);

/* Static key sites: `nop` or `b label`. */
#define SC_ARCH_JUMP_LEN 4
SC_HIDDEN void sc_arch_jump_encode(uintptr_t site, uintptr_t target, bool jump,
				   uint8_t *out, struct sc_emu *e);

/* Inline call sites: `bl` (call) or `b` (tail call), 4 bytes. */
#define SC_ARCH_SITE_LEN 4
SC_HIDDEN int sc_arch_site_decode(const uint8_t *bytes, uintptr_t addr,
				  bool *tail, uintptr_t *dest);
/* The bytes (and trap emulation) of @site once its static call reaches
 * @func: `bl/b func` when @func is within +-128 MiB, the compiled
 * instruction (through the trampoline) when it is not, `nop` for NULL at a
 * call site, `b` to the trampoline's own `ret` for NULL at a tail site.
 * RET0 is a call of __static_call_return0 like any target: the one
 * instruction that would return 0 without a call (`mov x0, #0`) is not one
 * the architecture lets us change under a running thread. */
SC_HIDDEN void sc_arch_site_encode(const struct sc_site *site, void *func,
				   uint8_t *new, struct sc_emu *e);
SC_HIDDEN int sc_arch_site_state(const struct sc_site *site, const uint8_t *b,
				 void **target);
/* A PLT entry at @stub (GNU ld, lld; an optional `bti c`): 0 and the
 * address of the slot it branches through. */
SC_HIDDEN int sc_arch_plt_slot(const uint8_t *stub, uintptr_t *slot);

/*
 * The store protocol: one aligned 32-bit store per instruction that
 * changes (a single-copy atomic write of the whole instruction, which the
 * Arm ARM's concurrent modification rule needs, between B, BL, NOP and
 * BRK); aligned 64-bit stores for a word whose both halves change, which
 * only a trampoline's far slot (data, read by `ldr x16`) does.  Then the
 * cache maintenance the architecture requires before modified code may
 * run: clean the data cache to the point of unification, invalidate the
 * instruction cache, by address, each followed by a DSB ISH, and an ISB
 * here (libgcc's __clear_cache, which reads CTR_EL0 and skips the steps
 * the CPU does not need: IDC, DIC).  Other cores get their context
 * synchronisation from the engine's membarrier(SYNC_CORE).
 */
#define SC_ARCH_STORE_WORD 8
#define SC_ARCH_INSN_STORE 4
static inline void sc_arch_flush_icache(const void *addr, size_t len)
{
	__builtin___clear_cache((char *)(uintptr_t)addr,
				(char *)(uintptr_t)addr + len);
}

/* A system call without libc (and without any call instruction). */
static inline __attribute__((always_inline)) long
sc_arch_syscall3(long nr, long a, long b, long c)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;

	__asm__ __volatile__("svc #0"
			     : "+r"(x0)
			     : "r"(x8), "r"(x1), "r"(x2)
			     : "memory");
	return x0;
}

/*
 * A signal handler entry another copy of the library can recognise: the
 * magic in x16 (movz + 3 movk; x16 is free at a function's entry: the
 * AAPCS64 lets any veneer clobber it), then a branch to the handler.  With
 * BTI, `bti c` first: the kernel enters a handler as an indirect call.
 */
#ifdef __ARM_FEATURE_BTI_DEFAULT
#define SC_ARCH_SIG_BTI "bti c\n"
#else
#define SC_ARCH_SIG_BTI ""
#endif
#define SC_ARCH_SIG_STR_(x) #x
#define SC_ARCH_SIG_STR(x) SC_ARCH_SIG_STR_(x)
#define SC_ARCH_SIG_PART(shift)                                                \
	"#((" SC_ARCH_SIG_STR(SC_SIG_MAGIC) " >> " #shift ") & 0xffff)"
/* clang-format off */
#define SC_ARCH_SIG_ENTRY(entry, handler)                                      \
	__asm__(".pushsection .text." #entry ",\"ax\",@progbits\n"             \
		".globl " #entry "\n"                                          \
		".hidden " #entry "\n"                                         \
		".type " #entry ", @function\n"                                \
		".balign 16\n" #entry ":\n" SC_ARCH_SIG_BTI                    \
		"movz x16, " SC_ARCH_SIG_PART(0) "\n"                          \
		"movk x16, " SC_ARCH_SIG_PART(16) ", lsl #16\n"                \
		"movk x16, " SC_ARCH_SIG_PART(32) ", lsl #32\n"                \
		"movk x16, " SC_ARCH_SIG_PART(48) ", lsl #48\n"                \
		"b " #handler "\n"                                             \
		".size " #entry ", . - " #entry "\n"                           \
		".popsection\n")
/* clang-format on */
#define SC_ARCH_SIG_ENTRY_LEN 20

static inline uint32_t sc_arch_insn_at(const uint8_t *b)
{
	uint32_t w;

	__builtin_memcpy(&w, b, sizeof(w));
	return w; /* A64 instructions are little-endian */
}

static inline bool sc_arch_sig_entry_is(const uint8_t *b)
{
	uint64_t magic = SC_SIG_MAGIC;

	if (sc_arch_insn_at(b) == 0xd503245f) /* bti c */
		b += 4;
	for (unsigned i = 0; i < 4; i++) {
		/* movz (i = 0) / movk x16, #imm16, lsl #(16 i) */
		uint32_t want = (i ? 0xf2800010u : 0xd2800010u) | (i << 21) |
				(uint32_t)((magic >> (16 * i)) & 0xffff) << 5;
		if (sc_arch_insn_at(b + 4 * i) != want)
			return false;
	}
	return true;
}

/*
 * May a TLB invalidation reach another core without interrupting it?
 * Always on arm64: Linux invalidates user translations with broadcast TLBI
 * ...IS instructions, which no core takes as an interrupt.  (A64
 * instructions are 4 bytes, 4-byte aligned: none straddles two pages, so
 * page flips never meet the case this guards.)
 */
static inline bool sc_arch_tlb_broadcast(void) { return true; }

/* A context synchronisation event on this thread. */
static inline void sc_arch_serialize(void)
{
	__asm__ __volatile__("isb" ::: "memory");
}

#endif
