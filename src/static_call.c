/* SPDX-License-Identifier: MIT */
/*
 * Static calls in trampoline mode: keys, updates and batches.
 *
 * A key's trampoline bytes are checked once, on first use, against the forms
 * the library emits (src/arch/<arch>/insn.c); they are then kept in the key
 * (__shadow).  Every later update compares the live bytes with that copy
 * before writing anything, and refreshes it after the patch.  No allocation
 * happens on this path, so updates are async-signal-safe.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define SC_KEY_READY 0x1u

DEFINE_STATIC_CALL_NULL(static_call_trace_hook, static_call_trace_fn_t);

long __static_call_return0(void) { return 0; }

void sc_hexdump(char *out, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[3 * i] = hex[b[i] >> 4];
		out[3 * i + 1] = hex[b[i] & 15];
		out[3 * i + 2] = i + 1 < n ? ' ' : 0;
	}
}

/*
 * The protection of the mapping that holds a trampoline.  Reading
 * /proc/self/maps costs ~100 us; a batch of thousands of static calls used
 * for the first time would read it once per call, although their
 * trampolines sit in a few mappings.  So the last mapping found is kept for
 * the rest of the commit (sc_commit_seq), when no mapping of code can go
 * away: module unloads take the patch lock, and the only mappings replaced
 * meanwhile are trampoline pages getting their writable view, with the
 * same protection.
 */
static int tramp_prot(const uint8_t *tramp, int *prot)
{
	static struct {
		uintptr_t lo, hi;
		int prot;
		unsigned long seq;
	} last;
	uintptr_t t = (uintptr_t)tramp;
	int err;

	if (last.seq == sc_commit_seq && last.hi && t >= last.lo &&
	    t + STATIC_CALL_TRAMP_SIZE <= last.hi) {
		*prot = last.prot;
		return 0;
	}
	err = sc_mem_range(tramp, &last.lo, &last.hi, &last.prot);
	if (!err && t + STATIC_CALL_TRAMP_SIZE > last.hi)
		err = -EFAULT; /* spans mappings */
	last.seq = err ? 0 : sc_commit_seq;
	*prot = last.prot;
	return err;
}

/* First use of a key: is its trampoline really one of ours?  Lock held. */
static int key_prepare(struct static_call_key *key)
{
	uint8_t *tramp;
	void *target;
	int prot = 0, err;

	if (key->__flags & SC_KEY_READY)
		return 0;
	tramp = key->tramp;
	if (!tramp || ((uintptr_t)tramp & (STATIC_CALL_TRAMP_SIZE - 1))) {
		sc_warn("key %p: trampoline %p is not a trampoline",
			(void *)key, (void *)tramp);
		return -ENOEXEC;
	}
	err = tramp_prot(tramp, &prot);
	if (!err && !(prot & PROT_EXEC))
		err = -ENOEXEC;
	if (err) {
		sc_warn("key %p: trampoline %p is not in executable memory",
			(void *)key, (void *)tramp);
		return err;
	}
	err = sc_arch_tramp_decode(tramp, (uintptr_t)tramp, &target);
	if (!err && (!key->func) != (!target))
		err = -ENOEXEC;
	if (err) {
		char hex[3 * STATIC_CALL_TRAMP_SIZE];
		sc_hexdump(hex, tramp, STATIC_CALL_TRAMP_SIZE);
		sc_warn("key %p: unexpected trampoline bytes at %p: %s",
			(void *)key, (void *)tramp, hex);
		return err;
	}
	memcpy(key->__shadow, tramp, STATIC_CALL_TRAMP_SIZE);
	key->__flags |= SC_KEY_READY;
	return 0;
}

/* Lock held: the trampoline poke for a static call request, in place. */
int sc_call_prepare(struct sc_poke *p)
{
	struct static_call_key *key = p->owner;
	int err = key_prepare(key);

	if (err)
		return err;
	p->addr = key->tramp;
	memcpy(p->old, key->__shadow, sizeof(p->old));
	sc_arch_tramp_encode((uintptr_t)key->tramp, p->value, p);
	p->skip = memcmp(p->old, p->new, p->len) == 0;
	p->rw = NULL;
	if (!p->skip && sc_protocol == SC_PROTO_AUTO) {
		/* trap-free if the page can get a writable view; -EIO means
		 * the page must not be written at all */
		err = sc_alias_get(p->addr, p->len, &p->rw);
		if (err == -EIO)
			return err;
		if (err)
			sc_debug("trampoline %p: no writable view (%s), using "
				 "int3",
				 (void *)p->addr, strerror(-err));
	}
	return 0;
}

/* After a successful patch: the key's new state. */
void sc_call_done(const struct sc_poke *p)
{
	struct static_call_key *key = p->owner;

	memcpy(key->__shadow, p->new, sizeof(key->__shadow));
	__atomic_store_n(&key->func, p->value, __ATOMIC_RELEASE);
}

int __static_call_update(struct static_call_key *key, void *func)
{
	return sc_commit_one(SC_REQ_CALL, key, func, 0);
}
