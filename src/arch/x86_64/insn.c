/* SPDX-License-Identifier: MIT */
/*
 * x86-64 byte-level work: trampoline encodings (layout documented in
 * include/staticcall/arch-x86_64.h), static key and inline call sites, and
 * the emulation of a patched instruction for a thread that hit the int3 in
 * the patch window.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <ucontext.h>

#include "../../internal.h"

#define CALL32 0xe8
#define JMP32 0xe9
#define RET 0xc3
#define INT3 0xcc

/* The live instruction occupies bytes 0..5; 6..7 are the ud2 signature. */
static const uint8_t sig[2] = {0x0f, 0x0b};
static const uint8_t ret_form[6] = {RET, INT3, INT3, INT3, INT3, INT3};
/* jmp *2(%rip): the slot at +8 is 2 bytes past the end of this 6-byte insn */
static const uint8_t far_form[6] = {0xff, 0x25, 0x02, 0x00, 0x00, 0x00};

bool sc_arch_tramp_signature(const uint8_t *b)
{
	return memcmp(b + 6, sig, sizeof(sig)) == 0;
}

int sc_arch_tramp_decode(const uint8_t *b, uintptr_t tramp, void **target)
{
	if (!sc_arch_tramp_signature(b))
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

/*
 * RET0 is a jump to __static_call_return0: every form must be ONE
 * instruction, because a thread can stop at any instruction boundary inside
 * the trampoline and resume there after it was rewritten (an inline
 * "xor %eax,%eax; ret" has a boundary at byte 2).
 *
 * The slot (bytes 8..15) is written only by the far form, with its new
 * target.  Every other form keeps the slot as it is: a caller that fetched
 * the old `jmp *slot` may load the slot at any later time, even after the
 * instruction was replaced, so the slot must always hold a target that was
 * installed during that call.  Clearing it for the NULL form sent such a
 * caller to address 0 (issue #13, item 1; the store model in
 * tools/model shows it).
 */
void sc_arch_tramp_encode(uintptr_t tramp, const uint8_t *old, void *func,
			  uint8_t *n, struct sc_emu *e)
{
	uintptr_t f = (uintptr_t)func;

	memcpy(n, old, STATIC_CALL_TRAMP_SIZE);
	memcpy(n + 6, sig, sizeof(sig));
	e->site = tramp;
	e->len = STATIC_CALL_TRAMP_SIZE;
	e->target = f;
	if (!func) {
		memcpy(n, ret_form, 6);
		e->kind = SC_EMU_RET;
		return;
	}
	intptr_t rel = (intptr_t)(f - (tramp + 5));
	e->kind = SC_EMU_JMP;
	if (rel == (int32_t)rel) {
		int32_t r32 = (int32_t)rel;
		n[0] = JMP32;
		memcpy(n + 1, &r32, sizeof(r32));
		n[5] = INT3;
	} else {
		uint64_t slot = f;
		memcpy(n, far_form, 6);
		memcpy(n + 8, &slot, sizeof(slot));
	}
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
SC_SIGNAL_CODE void sc_arch_emulate(void *ucontext, const struct sc_emu *e)
{
	ucontext_t *uc = ucontext;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t *sp;

	switch (e->kind) {
	case SC_EMU_CALL:
		g[REG_RSP] -= 8;
		sp = (uint64_t *)g[REG_RSP];
		*sp = (uint64_t)(e->site + e->len);
		g[REG_RIP] = (greg_t)e->target;
		break;
	case SC_EMU_JMP:
		g[REG_RIP] = (greg_t)e->target;
		break;
	case SC_EMU_NOP:
		g[REG_RIP] = (greg_t)(e->site + e->len);
		break;
	case SC_EMU_ZERO:
		/* xor %eax,%eax: rax = 0, ZF and PF set, CF OF SF cleared */
		g[REG_RAX] = 0;
		g[REG_EFL] = (g[REG_EFL] & ~(greg_t)0x8d5) | 0x44;
		g[REG_RIP] = (greg_t)(e->site + e->len);
		break;
	case SC_EMU_RET0:
		g[REG_RAX] = 0;
		/* fall through */
	case SC_EMU_RET:
		sp = (uint64_t *)g[REG_RSP];
		g[REG_RIP] = (greg_t)*sp;
		g[REG_RSP] += 8;
		break;
	default:
		/* no emulation: run the site again */
		g[REG_RIP] = (greg_t)e->site;
		break;
	}
}

/* ------------------------------------------------------------------------
 * Static key sites and inline call sites
 * ------------------------------------------------------------------------ */

static const uint8_t nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
/* `xor %eax,%eax` with three cs prefixes: ONE 5-byte instruction, so that
 * no thread can stop inside it (the reason the kernel uses the same). */
static const uint8_t xor5[5] = {0x2e, 0x2e, 0x2e, 0x31, 0xc0};
static const uint8_t ret5[5] = {RET, INT3, INT3, INT3, INT3};

static uintptr_t rel32_dest(const uint8_t *b, uintptr_t addr)
{
	int32_t rel;

	memcpy(&rel, b + 1, sizeof(rel));
	return addr + 5 + (uintptr_t)(intptr_t)rel;
}

static bool rel32_put(uint8_t *out, uint8_t op, uintptr_t addr, uintptr_t to)
{
	intptr_t rel = (intptr_t)(to - (addr + 5));
	int32_t r32 = (int32_t)rel;

	if (rel != r32)
		return false;
	out[0] = op;
	memcpy(out + 1, &r32, sizeof(r32));
	return true;
}

void sc_arch_jump_encode(uintptr_t site, uintptr_t target, bool jump,
			 uint8_t *out, struct sc_emu *e)
{
	e->site = site;
	e->len = 5;
	e->target = target;
	if (jump && rel32_put(out, JMP32, site, target)) {
		e->kind = SC_EMU_JMP;
		return;
	}
	/* a branch site's target is always in reach (same function); a
	 * corrupt entry that says otherwise gets bytes its site never holds,
	 * which the check against memory refuses */
	memcpy(out, nop5, 5);
	e->kind = jump ? SC_EMU_NONE : SC_EMU_NOP;
}

int sc_arch_site_decode(const uint8_t *b, uintptr_t addr, bool *tail,
			uintptr_t *dest)
{
	if (b[0] != CALL32 && b[0] != JMP32)
		return -ENOEXEC;
	*tail = b[0] == JMP32;
	*dest = rel32_dest(b, addr);
	return 0;
}

void sc_arch_site_encode(const struct sc_site *s, void *func, uint8_t *n,
			 struct sc_emu *e)
{
	uintptr_t addr = (uintptr_t)s->addr, f = (uintptr_t)func;
	uint8_t op = s->tail ? JMP32 : CALL32;

	e->site = addr;
	e->len = 5;
	e->target = 0;
	if (!func) {
		memcpy(n, s->tail ? ret5 : nop5, 5);
		e->kind = s->tail ? SC_EMU_RET : SC_EMU_NOP;
		return;
	}
	if (!s->tail && f == (uintptr_t)&__static_call_return0) {
		memcpy(n, xor5, 5);
		e->kind = SC_EMU_ZERO;
		return;
	}
	/* out of reach: back to the compiled instruction, whose trampoline
	 * reaches anything */
	if (!rel32_put(n, op, addr, f)) {
		f = s->orig;
		rel32_put(n, op, addr, f);
	}
	e->kind = s->tail ? SC_EMU_JMP : SC_EMU_CALL;
	e->target = f;
}

int sc_arch_site_state(const struct sc_site *s, const uint8_t *b, void **target)
{
	bool tail;
	uintptr_t dest;

	*target = NULL;
	if (sc_arch_site_decode(b, (uintptr_t)s->addr, &tail, &dest) == 0 &&
	    tail == s->tail) {
		*target = (void *)dest;
		return dest == s->orig ? STATIC_CALL_SITE_TRAMPOLINE
				       : STATIC_CALL_SITE_INLINE;
	}
	if (!s->tail && memcmp(b, nop5, 5) == 0)
		return STATIC_CALL_SITE_NOP;
	if (!s->tail && memcmp(b, xor5, 5) == 0)
		return STATIC_CALL_SITE_RET0;
	if (s->tail && memcmp(b, ret5, 5) == 0)
		return STATIC_CALL_SITE_RET;
	return STATIC_CALL_SITE_CHANGED;
}

/*
 * The PLT entries GNU ld and lld emit jump through their slot with
 * `jmp *disp32(%rip)`, possibly after an endbr64 (IBT) and with a bnd
 * prefix (MPX-era .plt.sec).
 */
int sc_arch_plt_slot(const uint8_t *b, uintptr_t *slot)
{
	static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
	const uint8_t *q = b;
	int32_t disp;

	if (memcmp(q, endbr64, 4) == 0)
		q += 4;
	if (q[0] == 0xf2)
		q++;
	if (q[0] != 0xff || q[1] != 0x25)
		return -ENOEXEC;
	memcpy(&disp, q + 2, sizeof(disp));
	*slot = (uintptr_t)(q + 6) + (uintptr_t)(intptr_t)disp;
	return 0;
}
