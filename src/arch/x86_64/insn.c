/* SPDX-License-Identifier: MIT */
/*
 * x86-64 byte-level work: trampoline encodings (layout documented in
 * include/staticcall/arch-x86_64.h) and the emulation of a patched
 * instruction for a thread that hit the int3 in the patch window.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <ucontext.h>

#include "../../internal.h"

#define JMP32 0xe9
#define RET 0xc3
#define INT3 0xcc

/* The live instruction occupies bytes 0..5; 6..7 are the ud2 signature. */
static const uint8_t sig[2] = {0x0f, 0x0b};
static const uint8_t ret_form[6] = {RET, INT3, INT3, INT3, INT3, INT3};
/* jmp *2(%rip): the slot at +8 is 2 bytes past the end of this 6-byte insn */
static const uint8_t far_form[6] = {0xff, 0x25, 0x02, 0x00, 0x00, 0x00};

int sc_arch_tramp_decode(const uint8_t *b, uintptr_t tramp, void **target)
{
	if (memcmp(b + 6, sig, sizeof(sig)) != 0)
		return -ENOEXEC;
	if (b[0] == JMP32 && b[5] == INT3) {
		int32_t rel;
		memcpy(&rel, b + 1, sizeof(rel));
		*target = (void *)(tramp + 5 + (intptr_t)rel);
		return 0;
	}
	if (memcmp(b, ret_form, 6) == 0) {
		*target = NULL;
		return 0;
	}
	if (memcmp(b, far_form, 6) == 0) {
		uint64_t slot;
		memcpy(&slot, b + 8, sizeof(slot));
		*target = (void *)(uintptr_t)slot;
		return 0;
	}
	return -ENOEXEC;
}

void sc_arch_tramp_encode(uintptr_t tramp, void *func, struct sc_poke *p)
{
	uint8_t *n = p->new;
	uintptr_t f = (uintptr_t)func;
	uint64_t slot = f;

	memcpy(n + 6, sig, sizeof(sig));
	p->len = STATIC_CALL_TRAMP_SIZE;
	p->target = f;
	/* RET0 is a jump to __static_call_return0: every form must be ONE
	 * instruction, because a thread can stop at any instruction boundary
	 * inside the trampoline and resume there after it was rewritten (an
	 * inline "xor %eax,%eax; ret" has a boundary at byte 2). */
	if (!func) {
		memcpy(n, ret_form, 6);
		p->emu = SC_EMU_RET;
	} else {
		intptr_t rel = (intptr_t)(f - (tramp + 5));
		p->emu = SC_EMU_JMP;
		if (rel == (int32_t)rel) {
			int32_t r32 = (int32_t)rel;
			n[0] = JMP32;
			memcpy(n + 1, &r32, sizeof(r32));
			n[5] = INT3;
		} else {
			memcpy(n, far_form, 6);
		}
	}
	if (!func)
		slot = 0;
	memcpy(n + 8, &slot, sizeof(slot));
}

/* The kernel reports RIP just past the int3. */
SC_SIGNAL_CODE uintptr_t sc_arch_trap_site(const void *ucontext)
{
	const ucontext_t *uc = ucontext;
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP] - 1;
}

SC_SIGNAL_CODE uintptr_t sc_arch_pc(const void *ucontext)
{
	const ucontext_t *uc = ucontext;
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
}

SC_SIGNAL_CODE void sc_arch_trap_rewind(void *ucontext, uintptr_t site)
{
	ucontext_t *uc = ucontext;
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)site;
}

/*
 * Do what the new instruction would have done.  Writing the return address
 * at RSP-8 is exactly the store the CPU would make for the call, so it never
 * touches anything live: the red zone belongs to the callee-to-be, and the
 * kernel built our signal frame below the red zone.
 */
SC_SIGNAL_CODE void sc_arch_emulate(void *ucontext, const struct sc_poke *p)
{
	ucontext_t *uc = ucontext;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t *sp;

	switch (p->emu) {
	case SC_EMU_CALL:
		g[REG_RSP] -= 8;
		sp = (uint64_t *)g[REG_RSP];
		*sp = (uint64_t)(uintptr_t)(p->addr + p->len);
		g[REG_RIP] = (greg_t)p->target;
		break;
	case SC_EMU_JMP:
		g[REG_RIP] = (greg_t)p->target;
		break;
	case SC_EMU_NOP:
		g[REG_RIP] = (greg_t)(uintptr_t)(p->addr + p->len);
		break;
	case SC_EMU_RET0:
		g[REG_RAX] = 0;
		/* fall through */
	case SC_EMU_RET:
		sp = (uint64_t *)g[REG_RSP];
		g[REG_RIP] = (greg_t)*sp;
		g[REG_RSP] += 8;
		break;
	}
}
