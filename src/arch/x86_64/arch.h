/* SPDX-License-Identifier: MIT */
#ifndef SC_ARCH_X86_64_H
#define SC_ARCH_X86_64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <signal.h>

#define SC_ARCH_TRAP_LEN 1
#define SC_ARCH_TRAP_INSN                                                      \
	{                                                                      \
		0xcc                                                           \
	}
/* The kernel reports a user-mode int3 with si_code SI_KERNEL (0x80);
 * valgrind reports a guest int3 with TRAP_BRKPT (1).  Either way the site
 * must still be one of ours (in a batch or the site set) to be taken. */
#define SC_ARCH_TRAP_SICODE_KERNEL 0x80
#define SC_ARCH_TRAP_SICODE_VALGRIND 1
#define sc_arch_is_trap(si)                                                    \
	((si)->si_code == SC_ARCH_TRAP_SICODE_KERNEL ||                        \
	 (si)->si_code == SC_ARCH_TRAP_SICODE_VALGRIND)

SC_HIDDEN uintptr_t sc_arch_trap_site(const void *ucontext);
SC_HIDDEN uintptr_t sc_arch_pc(const void *ucontext);
SC_HIDDEN void sc_arch_trap_rewind(void *ucontext, uintptr_t site);
SC_HIDDEN void sc_arch_emulate(void *ucontext, const struct sc_emu *e);

SC_HIDDEN int sc_arch_tramp_decode(const uint8_t *bytes, uintptr_t tramp,
				   void **target);
SC_HIDDEN void sc_arch_tramp_encode(uintptr_t tramp, const uint8_t *old,
				    void *func, uint8_t *new, struct sc_emu *e);
SC_HIDDEN bool sc_arch_tramp_signature(const uint8_t *bytes);

/* Static key sites: a 5-byte nop or `jmp rel32`. */
#define SC_ARCH_JUMP_LEN 5
SC_HIDDEN void sc_arch_jump_encode(uintptr_t site, uintptr_t target, bool jump,
				   uint8_t *out, struct sc_emu *e);

/* Inline call sites: 5 bytes, `call rel32` (e8) or `jmp rel32` (e9). */
#define SC_ARCH_SITE_LEN 5
/* Decode a compiled site: 0, whether it is a tail call, and its target. */
SC_HIDDEN int sc_arch_site_decode(const uint8_t *bytes, uintptr_t addr,
				  bool *tail, uintptr_t *dest);
/* The bytes (and trap emulation) of @site once its static call reaches
 * @func: a direct call/jmp when @func is within reach, the compiled
 * instruction (through the trampoline) when it is not, a nop / ret for NULL,
 * a 5-byte `xor %eax,%eax` for RET0 at a call site. */
SC_HIDDEN void sc_arch_site_encode(const struct sc_site *site, void *func,
				   uint8_t *new, struct sc_emu *e);
/* What the site's bytes @b do (enum static_call_site_state) and where. */
SC_HIDDEN int sc_arch_site_state(const struct sc_site *site, const uint8_t *b,
				 void **target);
/* A PLT entry at @stub: 0 and the address of the slot it jumps through. */
SC_HIDDEN int sc_arch_plt_slot(const uint8_t *stub, uintptr_t *slot);

/* The store protocol: aligned 8-byte stores; x86 keeps instruction fetch
 * coherent with stores by itself (what a core still holds is dropped by
 * the serialising sync). */
#define SC_ARCH_STORE_WORD 8
/* Instructions have no smaller unit of atomic change here: a word's
 * changed bytes go out as the whole word. */
#define SC_ARCH_INSN_STORE 8
static inline void sc_arch_flush_icache(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

/* A system call without libc (and without any call instruction): used
 * where the code around it must not run anything else, e.g. while the page
 * it may share with libc is not executable. */
static inline __attribute__((always_inline)) long
sc_arch_syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "0"(nr), "D"(a), "S"(b), "d"(c)
			     : "rcx", "r11", "memory");
	return ret;
}

/*
 * A signal handler entry another copy of the library can recognise:
 * "movabs $SC_SIG_MAGIC, %r11" (r11 is free at a function's entry), then a
 * jump to the handler.  Under CET, endbr64 first.
 */
#ifdef __CET__
#define SC_ARCH_SIG_ENDBR "endbr64\n"
#else
#define SC_ARCH_SIG_ENDBR ""
#endif
#define SC_ARCH_SIG_STR_(x) #x
#define SC_ARCH_SIG_STR(x) SC_ARCH_SIG_STR_(x)
#define SC_ARCH_SIG_ENTRY(entry, handler)                                      \
	__asm__(".pushsection .text." #entry ",\"ax\",@progbits\n"             \
		".globl " #entry "\n"                                          \
		".hidden " #entry "\n"                                         \
		".type " #entry ", @function\n"                                \
		".balign 16\n" #entry ":\n" SC_ARCH_SIG_ENDBR                  \
		"movabs $" SC_ARCH_SIG_STR(SC_SIG_MAGIC) ", %r11\n"            \
							 "jmp " #handler "\n"  \
							 ".size " #entry       \
							 ", . - " #entry "\n"  \
							 ".popsection\n")
#define SC_ARCH_SIG_ENTRY_LEN 14

static inline bool sc_arch_sig_entry_is(const uint8_t *b)
{
	uint64_t magic = SC_SIG_MAGIC, imm;

	if (b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa)
		b += 4; /* endbr64 */
	if (b[0] != 0x49 || b[1] != 0xbb)
		return false;
	__builtin_memcpy(&imm, b + 2, 8);
	return imm == magic;
}

/*
 * May a TLB invalidation reach another core without interrupting it?  AMD
 * CPUs with INVLPGB (CPUID 0x80000008 EBX bit 3) broadcast invalidations
 * in hardware, and Linux uses that since 6.15: a core that fetched the
 * first bytes of an instruction from one page may then translate the next
 * page afresh, with no interrupt between, so an instruction straddling two
 * pages could be torn by a flip (tools/model/flip.pml, variant
 * SPLIT_FETCH).  Elsewhere every shootdown is an IPI, which a core takes
 * only between instructions.
 */
static inline bool sc_arch_tlb_broadcast(void)
{
	unsigned int a = 0x80000000, b, c = 0, d;

	__asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	if (a < 0x80000008)
		return false;
	a = 0x80000008;
	c = 0;
	__asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return (b >> 3) & 1;
}

static inline void sc_arch_serialize(void)
{
	/* cpuid is serialising on every x86-64 CPU (and costs a VM exit
	 * under virtualisation, so it is used only where needed). */
	unsigned int a = 0, b, c = 0, d;
	__asm__ __volatile__("cpuid"
			     : "+a"(a), "=b"(b), "+c"(c), "=d"(d)
			     :
			     : "memory");
}

#endif
