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

_Static_assert(sizeof(struct sc_poke) == sizeof(struct static_call_batch_entry),
	       "batch entries hold one sc_poke");
_Static_assert(_Alignof(struct sc_poke) <=
		       _Alignof(struct static_call_batch_entry),
	       "batch entries hold one sc_poke");

static void hexdump(char *out, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[3 * i] = hex[b[i] >> 4];
		out[3 * i + 1] = hex[b[i] & 15];
		out[3 * i + 2] = i + 1 < n ? ' ' : 0;
	}
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
	err = sc_mem_prot(tramp, STATIC_CALL_TRAMP_SIZE, &prot);
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
	if (!err && key->func == static_call_return0 &&
	    target != static_call_return0)
		err = -ENOEXEC;
	if (err) {
		char hex[3 * STATIC_CALL_TRAMP_SIZE];
		hexdump(hex, tramp, STATIC_CALL_TRAMP_SIZE);
		sc_warn("key %p: unexpected trampoline bytes at %p: %s",
			(void *)key, (void *)tramp, hex);
		return err;
	}
	memcpy(key->__shadow, tramp, STATIC_CALL_TRAMP_SIZE);
	key->__flags |= SC_KEY_READY;
	return 0;
}

/* Fill in a poke for key -> func and check the live bytes.  Lock held. */
static int key_poke(struct sc_poke *p)
{
	struct static_call_key *key = p->key;
	int err = key_prepare(key);

	if (err)
		return err;
	p->addr = key->tramp;
	memcpy(p->old, key->__shadow, sizeof(p->old));
	sc_arch_tramp_encode((uintptr_t)key->tramp, p->func, p);
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
	if (memcmp(p->addr, p->old, p->len) != 0) {
		char want[3 * SC_POKE_MAX], have[3 * SC_POKE_MAX];
		hexdump(want, p->old, p->len);
		hexdump(have, p->addr, p->len);
		sc_warn("trampoline %p changed behind our back: expected %s, "
			"found %s; not patching",
			(void *)p->addr, want, have);
		return -EILSEQ;
	}
	return 0;
}

/* Sorted by (address, seq): keep the last request for each address.
 * Returns the number kept. */
static size_t dedupe(struct sc_poke *p, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && p[i + 1].addr == p[i].addr)
			continue; /* a later request for the same site wins */
		if (m != i)
			p[m] = p[i];
		m++;
	}
	return m;
}

/* Record the new state of every key in @p[0, n) (before compaction). */
static void publish_keys(struct sc_poke *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct static_call_key *key = p[i].key;
		memcpy(key->__shadow, p[i].new, sizeof(key->__shadow));
		__atomic_store_n(&key->func, p[i].func, __ATOMIC_RELEASE);
	}
}

static int commit(struct sc_poke *p, size_t n)
{
	size_t m;
	int err = sc_lock();

	if (err) {
		sc_warn("update from inside an update on the same thread: %s",
			strerror(-err));
		goto out;
	}
	err = sc_runtime_prepare();
	for (size_t i = 0; !err && i < n; i++)
		err = key_poke(&p[i]);
	if (err)
		goto unlock;
	sc_poke_sort(p, n);
	m = dedupe(p, n);
	err = sc_poke_batch(p, m);
	if (!err) {
		publish_keys(p, m);
		sc_stat_add(updates, m);
	}
unlock:
	sc_unlock();
out:
	if (err)
		sc_stat_add(errors, 1);
	return err;
}

int __static_call_update(struct static_call_key *key, void *func)
{
	struct sc_poke p;

	if (!key)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	p.key = key;
	p.func = func;
	return commit(&p, 1);
}

/* ------------------------------------------------------------------------ */

int static_call_batch_init(struct static_call_batch *b,
			   struct static_call_batch_entry *storage,
			   size_t capacity)
{
	if (!b || (!storage && capacity) || capacity > 0xffffffffu)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->entries = storage;
	b->capacity = (unsigned int)capacity;
	return 0;
}

int __static_call_batch_add(struct static_call_batch *b,
			    struct static_call_key *key, void *func)
{
	struct sc_poke *p;
	int err = 0;

	if (!b)
		return -EINVAL;
	if (!key)
		err = -EINVAL;
	else if (b->count >= b->capacity)
		err = -ENOSPC;
	if (err) {
		if (!b->error)
			b->error = err;
		return err;
	}
	p = (struct sc_poke *)&b->entries[b->count++];
	memset(p, 0, sizeof(*p));
	p->key = key;
	p->func = func;
	p->seq = b->__seq++;
	return 0;
}

int static_call_batch_commit(struct static_call_batch *b)
{
	int err;

	if (!b)
		return -EINVAL;
	if (b->error)
		return b->error;
	err = commit((struct sc_poke *)b->entries, b->count);
	if (!err)
		static_call_batch_reset(b);
	return err;
}

void static_call_batch_reset(struct static_call_batch *b)
{
	if (!b)
		return;
	b->count = 0;
	b->error = 0;
	b->__seq = 0;
}

/* ------------------------------------------------------------------------ */

struct sc_stats sc_stats;

int static_call_get_stats(struct static_call_stats *st, size_t size)
{
	struct static_call_stats tmp;

	if (!st)
		return -EINVAL;
#define SC_STAT_COPY(n)                                                        \
	tmp.n = atomic_load_explicit(&sc_stats.n, memory_order_relaxed);
	STATIC_CALL_STATS(SC_STAT_COPY)
#undef SC_STAT_COPY
	memcpy(st, &tmp, size < sizeof(tmp) ? size : sizeof(tmp));
	return 0;
}
