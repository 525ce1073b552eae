/* SPDX-License-Identifier: MIT */
/*
 * The instruction-level facts the tests need, per architecture, written
 * independently of src/arch (a test must not check the library against
 * itself): registers of a signal context, the library's breakpoint, the
 * trampoline's signature, a few instructions to build code with.
 */
#ifndef SC_TEST_ARCH_H
#define SC_TEST_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#if defined(__x86_64__)

#define SC_TEST_PC(uc) ((uc)->uc_mcontext.gregs[REG_RIP])
#define SC_TEST_SP(uc) ((uc)->uc_mcontext.gregs[REG_RSP])
/* the return value register */
#define SC_TEST_RETREG(uc) ((uc)->uc_mcontext.gregs[REG_RAX])

/* A static branch site and an inline call site: 5 bytes. */
#define SC_TEST_SITE_LEN 5
/* How far a direct jump reaches (rel32): a trampoline takes its far form
 * for a target further away. */
#define SC_TEST_REACH ((uintptr_t)1 << 31)
/* Writes and syncs of an int3 batch whose sites change only their first
 * instruction word (breakpoint, word, and a tail step between when more
 * changes): every x86 site's change reaches past its first byte, 3. */
#define SC_TEST_INT3_STEPS 3
/* Are key sites stored in place under protocol=store without
 * STATICCALL_KEYS_TRAPFREE? */
#define SC_TEST_KEYS_STORED 0
/* The store protocol's store when one instruction changes: its whole
 * aligned 8-byte word. */
#define SC_TEST_INSN_STORE 8
/* What fills code nobody should run: int3. */
#define SC_TEST_FILL 0xcc
/* si_code of a breakpoint instruction executed in user mode (int3). */
#define SC_TEST_BRK_SICODE 0x80

/* Does the library's breakpoint (int3) start @addr? */
static inline bool sc_test_trapped(const void *addr)
{
	return *(const volatile uint8_t *)addr == 0xcc;
}

/* The library's breakpoint at @out; its length. */
static inline size_t sc_test_put_trap(uint8_t *out)
{
	out[0] = 0xcc;
	return 1;
}

/* `ret` at @out; its length. */
static inline size_t sc_test_put_ret(uint8_t *out)
{
	out[0] = 0xc3;
	return 1;
}

/* A direct jump from @from to @to at @out (5 bytes), 0 if out of reach. */
static inline size_t sc_test_put_jump(uint8_t *out, uintptr_t from,
				      uintptr_t to)
{
	intptr_t rel = (intptr_t)(to - (from + 5));
	int32_t r32 = (int32_t)rel;

	if (rel != r32)
		return 0;
	out[0] = 0xe9;
	memcpy(out + 1, &r32, 4);
	return 5;
}

/* A direct call from @from to @to at @out (5 bytes), 0 if out of reach. */
static inline size_t sc_test_put_call(uint8_t *out, uintptr_t from,
				      uintptr_t to)
{
	size_t n = sc_test_put_jump(out, from, to);

	out[0] = 0xe8;
	return n;
}

/* SC_TEST_SITE_LEN bytes that no site of the library ever holds. */
static inline void sc_test_put_foreign(uint8_t *out)
{
	memset(out, 0x90, SC_TEST_SITE_LEN); /* five one-byte nops */
}

/* A jump to the absolute address @to at @out, any distance away (14
 * bytes: jmp *0(%rip) and the address). */
static inline size_t sc_test_put_abs_jump(uint8_t *out, uintptr_t to)
{
	static const uint8_t jmp[6] = {0xff, 0x25, 0, 0, 0, 0};
	uint64_t a = to;

	memcpy(out, jmp, 6);
	memcpy(out + 6, &a, 8);
	return 14;
}

/* A handler that let a breakpoint of its own run goes on after it: x86
 * reports the address past the int3 already. */
static inline void sc_test_skip_brk(ucontext_t *uc) { (void)uc; }

/* The application's own breakpoint, with @v in the return register (the
 * handler may change it). */
static inline long sc_test_app_brk(long v)
{
	__asm__ __volatile__("int3" : "+a"(v) : : "memory");
	return v;
}

/* Is this 16-byte slot a trampoline (its ud2 signature)? */
static inline bool sc_test_tramp_signature(const uint8_t *t)
{
	return t[6] == 0x0f && t[7] == 0x0b;
}

#elif defined(__aarch64__)

#define SC_TEST_PC(uc) ((uc)->uc_mcontext.pc)
#define SC_TEST_SP(uc) ((uc)->uc_mcontext.sp)
#define SC_TEST_RETREG(uc) ((uc)->uc_mcontext.regs[0])

#define SC_TEST_SITE_LEN 4
/* B and BL: +-128 MiB */
#define SC_TEST_REACH ((uintptr_t)1 << 27)
/* a near target changes one word: breakpoint and word, no tail step (a far
 * trampoline's slot is one: 3) */
#define SC_TEST_INT3_STEPS 2
/* every branch site is one aligned word (arch-aarch64.h) */
#define SC_TEST_KEYS_STORED 1
/* one aligned 32-bit store per instruction (docs/aarch64.md) */
#define SC_TEST_INSN_STORE 4
/* udf #0 */
#define SC_TEST_FILL 0x00
/* TRAP_BRKPT */
#define SC_TEST_BRK_SICODE 1

static inline uint32_t sc_test_insn(const void *addr)
{
	uint32_t w;

	memcpy(&w, (const void *)addr, 4);
	return w;
}

static inline void sc_test_put_insn(uint8_t *out, uint32_t w)
{
	memcpy(out, &w, 4);
}

/* brk #0x5350 */
static inline bool sc_test_trapped(const void *addr)
{
	return *(const volatile uint32_t *)addr == 0xd42a6a00u;
}

static inline size_t sc_test_put_trap(uint8_t *out)
{
	sc_test_put_insn(out, 0xd42a6a00u);
	return 4;
}

static inline size_t sc_test_put_ret(uint8_t *out)
{
	sc_test_put_insn(out, 0xd65f03c0u);
	return 4;
}

static inline size_t sc_test_put_jump(uint8_t *out, uintptr_t from,
				      uintptr_t to)
{
	intptr_t d = (intptr_t)(to - from);

	if ((d & 3) || d < -(1l << 27) || d >= (1l << 27))
		return 0;
	sc_test_put_insn(out, 0x14000000u | ((uint32_t)(d >> 2) & 0x03ffffffu));
	return 4;
}

static inline size_t sc_test_put_call(uint8_t *out, uintptr_t from,
				      uintptr_t to)
{
	size_t n = sc_test_put_jump(out, from, to);

	if (n)
		sc_test_put_insn(out, sc_test_insn(out) | 0x80000000u); /* bl */
	return n;
}

static inline void sc_test_put_foreign(uint8_t *out)
{
	sc_test_put_insn(out, 0xaa1003f0u); /* mov x16, x16 */
}

/* ldr x16, .+8; br x16; the address (16 bytes) */
static inline size_t sc_test_put_abs_jump(uint8_t *out, uintptr_t to)
{
	uint64_t a = to;

	sc_test_put_insn(out, 0x58000050u);
	sc_test_put_insn(out + 4, 0xd61f0200u);
	memcpy(out + 8, &a, 8);
	return 16;
}

/* The kernel reports the address of the BRK itself. */
static inline void sc_test_skip_brk(ucontext_t *uc) { uc->uc_mcontext.pc += 4; }

static inline long sc_test_app_brk(long v)
{
	register long x0 __asm__("x0") = v;

	__asm__ __volatile__("brk #0x1234" : "+r"(x0) : : "memory");
	return x0;
}

/* brk #0x5343 at 4 and brk #0x5354 at 20 (arch-aarch64.h). */
static inline bool sc_test_tramp_signature(const uint8_t *t)
{
	return sc_test_insn(t + 4) == 0xd42a6860u &&
	       sc_test_insn(t + 20) == 0xd42a6a80u;
}

#else
#error "tests/arch.h: no port for this architecture"
#endif

#endif
