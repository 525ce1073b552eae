/* SPDX-License-Identifier: MIT */
/*
 * Static calls: the API, and the kind of request that retargets one.
 *
 * A key's trampoline bytes are checked once, on first use, against the forms
 * the library emits (src/arch/<arch>/insn.c); they are then kept in the key
 * (__shadow).  Every later update compares the live bytes with that copy
 * before writing anything, and the copy follows every patch.  No allocation
 * happens on this path, so updates are async-signal-safe.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define SC_KEY_READY 0x1u

DEFINE_STATIC_CALL_NULL(static_call_trace_hook, static_call_trace_fn_t);

long __static_call_return0(void) { return 0; }

/* First use of a key: is its trampoline really one of ours?  Lock held.
 * The trampoline must lie in an executable segment of a loaded object
 * (without /proc: the dynamic linker says so). */
static int key_prepare(struct static_call_key *key)
{
	uint8_t *tramp;
	uintptr_t lo, hi;
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
	err = sc_code_range(tramp, STATIC_CALL_TRAMP_SIZE, &lo, &hi, &prot);
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
	__atomic_or_fetch(&key->__flags, SC_KEY_READY, __ATOMIC_RELEASE);
	return 0;
}

/* Lock held: the trampoline's poke and those of its inline sites. */
static int call_prepare(struct sc_req *r, struct sc_pokes *out)
{
	struct static_call_key *key = r->owner;
	struct sc_poke *p;
	uint8_t new[STATIC_CALL_TRAMP_SIZE];
	struct sc_emu emu;
	int err = key_prepare(key);

	if (err)
		return err;
	sc_arch_tramp_encode((uintptr_t)key->tramp, key->__shadow, r->func, new,
			     &emu);
	/* a request that changes nothing writes nothing, but once a batch
	 * was pinned its bytes are still checked: a pinned site is not what
	 * the key's state says */
	if (memcmp(new, key->__shadow, STATIC_CALL_TRAMP_SIZE) != 0 ||
	    sc_int3_pinned_any()) {
		p = sc_pokes_add(out);
		if (!p)
			return -ENOMEM;
		p->addr = key->tramp;
		p->len = STATIC_CALL_TRAMP_SIZE;
		p->stores = 1;
		p->emu = emu;
		memcpy(p->old, key->__shadow, STATIC_CALL_TRAMP_SIZE);
		memcpy(p->new, new, STATIC_CALL_TRAMP_SIZE);
		p->shadow = key->__shadow;
		/* how the old bytes behave: they reach key->func */
		sc_arch_tramp_encode((uintptr_t)key->tramp, key->__shadow,
				     key->func, new, &p->emu_old);
	}
	return sc_module_call_pokes(key, r->func, out);
}

/* After a successful patch: the key's new target (its trampoline bytes
 * went to key->__shadow with the poke). */
static void call_done(struct sc_req *r)
{
	struct static_call_key *key = r->owner;

	__atomic_store_n(&key->func, r->func, __ATOMIC_RELEASE);
}

static void call_resolve(struct sc_req *r) { sc_module_resolve(r->owner); }

static const struct sc_kind call_kind = {call_resolve, call_prepare, call_done};

/*
 * The target already installed: nothing to write and nothing to sync, so
 * nothing to wait for.  Only for a key that was prepared (its trampoline
 * checked), and not once a batch was pinned (then every request checks its
 * sites).  A concurrent update of the same key by another thread may land
 * before or after this one: this one returns as if it came first.
 */
static bool unchanged(struct static_call_key *key, void *func)
{
	return sc_runtime_fast_ok() && !atomic_load(&sc_partial) &&
	       (__atomic_load_n(&key->__flags, __ATOMIC_ACQUIRE) &
		SC_KEY_READY) &&
	       __atomic_load_n(&key->func, __ATOMIC_ACQUIRE) == func &&
	       !sc_int3_pinned_any();
}

int __static_call_update(struct static_call_key *key, void *func)
{
	union sc_slot r;

	if (!key)
		return -EINVAL;
	if (unchanged(key, func)) {
		sc_stat_add(unchanged, 1);
		sc_stat_add(updates, 1);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.r.kind = &call_kind;
	r.r.owner = key;
	r.r.func = func;
	return sc_commit(&r, 1);
}

int __static_call_batch_add(struct static_call_batch *b,
			    struct static_call_key *key, void *func)
{
	struct sc_req *r;
	int err = sc_batch_add(b, key, &r);

	if (err)
		return err;
	r->kind = &call_kind;
	r->func = func;
	return 0;
}
