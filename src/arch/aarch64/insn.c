/* SPDX-License-Identifier: MIT */
/*
 * AArch64 instruction-level work: trampoline encodings (layout documented
 * in include/staticcall/arch-aarch64.h), static key and inline call sites,
 * and the emulation of a patched instruction for a thread that hit the
 * breakpoint in the patch window.
 *
 * Every instruction word this file produces for a place other threads may
 * be running is a B, BL or NOP (the breakpoint is a BRK): the Arm ARM
 * (B2.2.5, "Concurrent modification and execution of instructions") lets
 * another core change exactly those under a running thread, old and new
 * forms alike, with one single-copy atomic store.  docs/aarch64.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <ucontext.h>

#include "../../internal.h"

#define NOP 0xd503201fu
#define RET 0xd65f03c0u
#define BTI_C 0xd503245fu
#define B_OP 0x14000000u
#define BL_OP 0x94000000u
#define BRANCH_MASK 0xfc000000u

/* The trampoline's constant words (arch-aarch64.h) and its offsets. */
#define T_SIG1 0xd42a6860u /* brk #0x5343 */
#define T_LDR 0x58000090u  /* ldr x16, .+16 */
#define T_BR 0xd61f0200u   /* br x16 */
#define T_SIG2 0xd42a6a80u /* brk #0x5354 */
#define T_FAR 0x08	   /* the stub */
#define T_RET 0x10	   /* the ret */
#define T_SLOT 0x18

_Static_assert(STATIC_CALL_TRAMP_SIZE == 32, "the trampoline layout");

static uint32_t get32(const uint8_t *b) { return sc_arch_insn_at(b); }

static void put32(uint8_t *b, uint32_t w) { memcpy(b, &w, sizeof(w)); }

/* B or BL from @from to @to, if within +-128 MiB. */
static bool branch(uint32_t op, uintptr_t from, uintptr_t to, uint32_t *out)
{
	intptr_t d = (intptr_t)(to - from);

	if ((d & 3) || d < -(1l << 27) || d >= (1l << 27))
		return false;
	*out = op | ((uint32_t)(d >> 2) & 0x03ffffffu);
	return true;
}

/* Where a B or BL at @addr goes. */
static uintptr_t branch_dest(uint32_t insn, uintptr_t addr)
{
	int32_t imm = (int32_t)(insn << 6) >> 6; /* sign-extend imm26 */

	return addr + (uintptr_t)((intptr_t)imm * 4);
}

static const uint32_t tail_words[5] = {T_SIG1, T_LDR, T_BR, RET, T_SIG2};

bool sc_arch_tramp_signature(const uint8_t *b)
{
	return get32(b + 4) == T_SIG1 && get32(b + 20) == T_SIG2;
}

int sc_arch_tramp_decode(const uint8_t *b, uintptr_t tramp, void **target)
{
	uint32_t w0 = get32(b);
	uintptr_t dest;

	for (unsigned i = 0; i < 5; i++)
		if (get32(b + 4 + 4 * i) != tail_words[i])
			return -ENOEXEC;
	if ((w0 & BRANCH_MASK) != B_OP)
		return -ENOEXEC;
	dest = branch_dest(w0, tramp);
	if (dest == tramp + T_FAR) {
		uint64_t slot;
		memcpy(&slot, b + T_SLOT, sizeof(slot));
		*target = (void *)(uintptr_t)slot;
		return 0;
	}
	if (dest == tramp + T_RET) {
		*target = NULL;
		return 0;
	}
	if (dest >= tramp && dest < tramp + STATIC_CALL_TRAMP_SIZE)
		return -ENOEXEC; /* into itself: none of ours */
	*target = (void *)dest;
	return 0;
}

/*
 * Every form is a B in the first word (a thread can stop at any
 * instruction boundary; the other words never change, except the slot).
 * The slot is written only by the far form, with its new target; the other
 * forms keep it: a caller that took the old `b 0x08` may load the slot at
 * any later time, so the slot must always hold a target that was installed
 * during that call (the same rule as on x86-64, issue #13 item 1).
 */
void sc_arch_tramp_encode(uintptr_t tramp, const uint8_t *old, void *func,
			  uint8_t *n, struct sc_emu *e)
{
	uintptr_t f = (uintptr_t)func;
	uint32_t w0 = 0;

	memcpy(n, old, STATIC_CALL_TRAMP_SIZE);
	for (unsigned i = 0; i < 5; i++)
		put32(n + 4 + 4 * i, tail_words[i]);
	e->site = tramp;
	e->len = STATIC_CALL_TRAMP_SIZE;
	e->target = f;
	if (!func) {
		branch(B_OP, tramp, tramp + T_RET, &w0);
		put32(n, w0);
		e->kind = SC_EMU_RET;
		return;
	}
	e->kind = SC_EMU_JMP;
	if (!branch(B_OP, tramp, f, &w0)) {
		uint64_t slot = f;
		memcpy(n + T_SLOT, &slot, sizeof(slot));
		branch(B_OP, tramp, tramp + T_FAR, &w0);
	}
	put32(n, w0);
}

/* The kernel reports the pc of the BRK itself. */
SC_SIGNAL_CODE uintptr_t sc_arch_trap_site(const void *ucontext)
{
	const ucontext_t *uc = ucontext;
	return (uintptr_t)uc->uc_mcontext.pc;
}

SC_SIGNAL_CODE uintptr_t sc_arch_pc(const void *ucontext)
{
	const ucontext_t *uc = ucontext;
	return (uintptr_t)uc->uc_mcontext.pc;
}

SC_SIGNAL_CODE void sc_arch_trap_rewind(void *ucontext, uintptr_t site)
{
	ucontext_t *uc = ucontext;
	uc->uc_mcontext.pc = site;
}

/*
 * Do what the new instruction would have done: BL writes the return
 * address to x30 (the link register) and nothing to the stack.  RET0 at a
 * site is a call of __static_call_return0 here (SC_EMU_CALL), so
 * SC_EMU_ZERO never comes from this port; it is honoured all the same.
 */
SC_SIGNAL_CODE void sc_arch_emulate(void *ucontext, const struct sc_emu *e)
{
	ucontext_t *uc = ucontext;
	mcontext_t *m = &uc->uc_mcontext;

	switch (e->kind) {
	case SC_EMU_CALL:
		m->regs[30] = e->site + e->len;
		m->pc = e->target;
		break;
	case SC_EMU_JMP:
		m->pc = e->target;
		break;
	case SC_EMU_NOP:
		m->pc = e->site + e->len;
		break;
	case SC_EMU_ZERO:
		m->regs[0] = 0;
		m->pc = e->site + e->len;
		break;
	case SC_EMU_RET0:
		m->regs[0] = 0;
		/* fall through */
	case SC_EMU_RET:
		m->pc = m->regs[30];
		break;
	default:
		/* no emulation: run the site again */
		m->pc = e->site;
		break;
	}
}

/* ------------------------------------------------------------------------
 * Static key sites and inline call sites
 * ------------------------------------------------------------------------ */

void sc_arch_jump_encode(uintptr_t site, uintptr_t target, bool jump,
			 uint8_t *out, struct sc_emu *e)
{
	uint32_t w = NOP;

	e->site = site;
	e->len = 4;
	e->target = target;
	if (jump && branch(B_OP, site, target, &w)) {
		put32(out, w);
		e->kind = SC_EMU_JMP;
		return;
	}
	/* a branch site's target is always in reach (same function); a
	 * corrupt entry that says otherwise gets bytes its site never holds,
	 * which the check against memory refuses */
	put32(out, NOP);
	e->kind = jump ? SC_EMU_NONE : SC_EMU_NOP;
}

int sc_arch_site_decode(const uint8_t *b, uintptr_t addr, bool *tail,
			uintptr_t *dest)
{
	uint32_t w = get32(b);

	if ((w & BRANCH_MASK) != B_OP && (w & BRANCH_MASK) != BL_OP)
		return -ENOEXEC;
	*tail = (w & BRANCH_MASK) == B_OP;
	*dest = branch_dest(w, addr);
	return 0;
}

void sc_arch_site_encode(const struct sc_site *s, void *func, uint8_t *n,
			 struct sc_emu *e)
{
	uintptr_t addr = (uintptr_t)s->addr, f = (uintptr_t)func;
	uint32_t op = s->tail ? B_OP : BL_OP, w = NOP;

	e->site = addr;
	e->len = 4;
	e->target = 0;
	if (!func && !s->tail) {
		put32(n, NOP);
		e->kind = SC_EMU_NOP;
		return;
	}
	if (!func) {
		/* `ret` is not an instruction we may swap in under a running
		 * thread: branch to the trampoline's own `ret` (or go through
		 * the trampoline, which is NULL too) */
		if (!s->tramp || !branch(B_OP, addr, s->tramp + T_RET, &w))
			branch(B_OP, addr, s->orig, &w);
		put32(n, w);
		e->kind = SC_EMU_RET;
		return;
	}
	/* out of reach: back to the compiled instruction, whose trampoline
	 * reaches anything */
	if (!branch(op, addr, f, &w)) {
		f = s->orig;
		branch(op, addr, f, &w);
	}
	put32(n, w);
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
		if (dest == s->orig) {
			*target = (void *)dest;
			return STATIC_CALL_SITE_TRAMPOLINE;
		}
		if (tail && s->tramp && dest == s->tramp + T_RET)
			return STATIC_CALL_SITE_RET;
		*target = (void *)dest;
		return STATIC_CALL_SITE_INLINE;
	}
	if (!s->tail && get32(b) == NOP)
		return STATIC_CALL_SITE_NOP;
	return STATIC_CALL_SITE_CHANGED;
}

/*
 * The PLT entries GNU ld and lld emit:
 *
 *   [bti c]
 *   adrp x16, Page(slot)
 *   ldr  x17, [x16, #PageOffset(slot)]
 *   add  x16, x16, #PageOffset(slot)
 *   [autia1716]
 *   br   x17
 */
int sc_arch_plt_slot(const uint8_t *b, uintptr_t *slot)
{
	const uint8_t *q = b;
	uint32_t adrp, ldr, add, br;
	int64_t page;
	uintptr_t off;

	if (get32(q) == BTI_C)
		q += 4;
	adrp = get32(q);
	ldr = get32(q + 4);
	add = get32(q + 8);
	br = get32(q + 12);
	if (br == 0xd503219fu) /* autia1716 */
		br = get32(q + 16);
	if ((adrp & 0x9f00001fu) != 0x90000010u || /* adrp x16 */
	    (ldr & 0xffc003ffu) != 0xf9400211u ||  /* ldr x17, [x16, #] */
	    (add & 0xffc003ffu) != 0x91000210u ||  /* add x16, x16, # */
	    br != 0xd61f0220u)			   /* br x17 */
		return -ENOEXEC;
	/* immhi:immlo, a signed 21-bit count of 4 KiB pages */
	page = (int64_t)((((adrp >> 5) & 0x7ffffu) << 2) | ((adrp >> 29) & 3));
	page = (page << 43) >> 43;
	off = ((ldr >> 10) & 0xfffu) * 8;
	if (((add >> 10) & 0xfffu) != off)
		return -ENOEXEC; /* x16 must hold the slot's address too */
	*slot = (((uintptr_t)q & ~(uintptr_t)0xfff) + (uintptr_t)(page << 12)) +
		off;
	return 0;
}
