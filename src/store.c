/* SPDX-License-Identifier: MIT */
/*
 * The store protocol (opt-in, protocol=store): a site that lies inside
 * aligned SC_ARCH_STORE_WORD words (a trampoline, or a key site built with
 * STATICCALL_KEYS_TRAPFREE) is rewritten in place, one atomic store per
 * changed word, through a second, writable view of its page (flip.c), then
 * the engine's one sync.  No trap, no mapping change per update: the
 * fastest protocol.
 *
 * What it relies on: an aligned 8-byte store is single-copy atomic for
 * data on x86-64, and instruction fetch on another core sees it whole or
 * not at all when the instruction lies inside the stored word (within one
 * 16-byte fetch block and one cache line).  The x86 vendors do not promise
 * the latter (they ask the executing core to serialise before it runs
 * cross-modified code); HotSpot has relied on it for two decades.  On
 * aarch64 it is architectural for B, BL, NOP and BRK written by one
 * aligned 32-bit store (SC_ARCH_INSN_STORE), followed by the cache
 * maintenance (sc_arch_flush_icache()).  The cost: the writable
 * view is a second address of code for as long as the process lives
 * (docs/signals.md, "Security").
 *
 * Store order: the word holding the instruction (the first word of the
 * site) is stored last, after any data word it reads (a trampoline's far
 * slot); encodings never clear a data word that the old instruction may
 * still read (sc_arch_tramp_encode()).  tools/model/store.pml checks both.
 */
#include <string.h>

#include "internal.h"

#ifdef SC_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define VALGRIND_DISCARD_TRANSLATIONS(a, n) ((void)(a), (void)(n))
#endif

#define W SC_ARCH_STORE_WORD

/* Lock held: pokes marked SC_VIA_STORE keep it if their page has or can get
 * a view; the others take the int3 protocol (which refuses, -EIO, a page
 * that must not be written at all). */
void sc_store_plan(struct sc_poke *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)p[i].addr;
		if (p[i].via != SC_VIA_STORE)
			continue;
		/* the store word holding the first byte holds the whole
		 * instruction, or a trampoline's first word does */
		if (!p[i].stores ||
		    sc_flip_make_view(p[i].addr, p[i].len, &p[i].rw) != 0 ||
		    (a / W != (a + p[i].len - 1) / W && a % W != 0)) {
			p[i].via = SC_VIA_INT3;
			p[i].rw = NULL;
		}
	}
}

typedef uint64_t word_t;
_Static_assert(sizeof(word_t) == W, "the store word");

#define I SC_ARCH_INSN_STORE
#if SC_ARCH_INSN_STORE == 4
typedef uint32_t narrow_t;
#else
typedef uint64_t narrow_t;
#endif
_Static_assert(sizeof(narrow_t) == I && W % I == 0, "the instruction store");

/* Do the bytes that change in the word at @w (of a poke at @a, @len bytes
 * long) all lie in one aligned unit of I bytes, smaller than the word?
 * Then *@unit is its offset in the word. */
static bool narrow(uintptr_t w, uintptr_t a, size_t len, const uint8_t *old,
		   const uint8_t *new, size_t *unit)
{
	size_t lo = W, hi = 0;

	if (I == W)
		return false;
	for (size_t i = 0; i < W; i++) {
		uintptr_t b = w + i;
		if (b < a || b >= a + len || old[b - a] == new[b - a])
			continue;
		if (i < lo)
			lo = i;
		hi = i;
	}
	if (lo == W || lo / I != hi / I)
		return false;
	*unit = lo / I * I;
	return true;
}

/*
 * Each changed word goes out as one aligned atomic store, from the last
 * word of the site to the first: the store of the whole word, or of the one
 * instruction unit (SC_ARCH_INSN_STORE) in it where only that changes.  Only the bytes a poke changes are its
 * own: the others are taken from memory as they are now (another site of
 * the same batch may share the word).
 */
static void store_words(const struct sc_poke *q, const uint8_t *old,
			const uint8_t *new)
{
	uintptr_t a = (uintptr_t)q->addr, first = a & ~(uintptr_t)(W - 1);
	uintptr_t last = (a + q->len - 1) & ~(uintptr_t)(W - 1);
	uint8_t *view = q->rw - (a - first); /* the view of @first */
	size_t bytes = 0;

	for (uintptr_t w = last;; w -= W) {
		uint8_t cur[W];
		word_t v;
		narrow_t n;
		size_t u;
		bool change = false;
		memcpy(cur, view + (w - first), W);
		for (size_t i = 0; i < W; i++) {
			uintptr_t b = w + i;
			if (b < a || b >= a + q->len ||
			    old[b - a] == new[b - a])
				continue;
			cur[i] = new[b - a];
			change = true;
		}
		if (change && narrow(w, a, q->len, old, new, &u)) {
			/* one instruction changed alone: stored alone
			 * (aarch64's 32-bit store of an instruction) */
			uint8_t *at = view + (w - first) + u;
			memcpy(&n, cur + u, I);
			__atomic_store_n((narrow_t *)(void *)at, n,
					 __ATOMIC_SEQ_CST);
			bytes += I;
		} else if (change) {
			memcpy(&v, cur, W);
			__atomic_store_n((word_t *)(void *)(view + (w - first)),
					 v, __ATOMIC_SEQ_CST);
			bytes += W;
		}
		if (w == first)
			break;
	}
	sc_arch_flush_icache(q->addr, q->len);
	VALGRIND_DISCARD_TRANSLATIONS(q->addr, q->len);
	sc_stat_add(writes_view, 1);
	sc_stat_add(bytes_written, bytes);
}

void sc_store_apply(struct sc_poke *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].via == SC_VIA_STORE)
			store_words(&p[i], p[i].old, p[i].new);
}

/*
 * The batch failed after its stores (its sync was refused): the old bytes
 * go back, in the same order; data words only where the instruction word
 * did not change (the old instruction reads them, so what they held was
 * the committed target).  Where it changed, a data word keeps its new
 * value: the old instruction does not read it, a caller of the new one
 * may still, and its old value may be stale (the encodings' rule: a data
 * word only ever holds a target installed during the calls that read it).
 * What the site holds then is recorded as its shadow.
 */
void sc_store_undo(struct sc_poke *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sc_poke *q = &p[i];
		uint8_t back[SC_POKE_MAX];
		size_t first = W - (uintptr_t)q->addr % W;
		if (q->via != SC_VIA_STORE)
			continue;
		if (first > q->len)
			first = q->len;
		memcpy(back, q->new, q->len);
		memcpy(back, q->old, first);
		if (!memcmp(q->old, q->new, first))
			memcpy(back, q->old, q->len);
		store_words(q, q->new, back);
		if (q->shadow)
			memcpy(q->shadow, q->addr, q->len);
	}
}
