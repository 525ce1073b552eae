/* SPDX-License-Identifier: MIT */
/*
 * Batches of requests (static calls to retarget, static keys to set) and
 * the one commit path that every update goes through:
 *
 *   1. take the patch lock, prepare the runtime;
 *   2. keep the last request per static call / key;
 *   3. let each request's kind turn it into pokes: a trampoline and its
 *      inline sites per static call, every site whose state changes per key
 *      (in all loaded modules);
 *   4. sort the pokes by address and compare every site's live bytes with
 *      what the library last wrote there (I1): any mismatch fails the
 *      commit before a byte is written;
 *   5. patch them all as one batch (engine.c): a constant number of syncs;
 *   6. record the new state: each poke's bytes in its shadow, and each
 *      request's through its kind.
 *
 * The pipeline never names a kind: a request carries its kind's operations.
 * The pokes live in an mmap-backed array reused under the lock, so updates
 * do not call malloc.
 */
#define _GNU_SOURCE
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(union sc_slot) == sizeof(struct static_call_batch_entry),
	       "batch entries hold one request");
_Static_assert(_Alignof(union sc_slot) ==
		       _Alignof(struct static_call_batch_entry),
	       "batch entries hold one request");

struct sc_poke *sc_pokes_add(struct sc_pokes *ps)
{
	if (sc_array_grow((void **)&ps->v, &ps->cap, ps->n, sizeof(*ps->v),
			  256))
		return NULL;
	memset(&ps->v[ps->n], 0, sizeof(ps->v[0]));
	return &ps->v[ps->n++];
}

static struct sc_pokes work; /* under the patch lock */
unsigned long sc_commit_seq; /* under the patch lock: commits so far */

struct sc_pokes *sc_work(void) { return &work; }

/* Order requests by owner, then by arrival. */
static bool req_less(const void *x, const void *y)
{
	const struct sc_req *a = &((const union sc_slot *)x)->r;
	const struct sc_req *b = &((const union sc_slot *)y)->r;

	if (a->owner != b->owner)
		return (uintptr_t)a->owner < (uintptr_t)b->owner;
	return a->seq < b->seq;
}

static uintptr_t req_key(const void *x, int k)
{
	const struct sc_req *r = &((const union sc_slot *)x)->r;

	return k ? r->seq : (uintptr_t)r->owner;
}

/* Keep the last request per owner (sorted by owner, seq). */
static size_t dedupe(union sc_slot *r, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && r[i + 1].r.owner == r[i].r.owner)
			continue;
		if (m != i)
			r[m] = r[i];
		m++;
	}
	return m;
}

static bool poke_less(const void *x, const void *y)
{
	return ((const struct sc_poke *)x)->addr <
	       ((const struct sc_poke *)y)->addr;
}

static uintptr_t poke_key(const void *x, int k)
{
	(void)k;
	return (uintptr_t)((const struct sc_poke *)x)->addr;
}

static int verify(const struct sc_poke *p)
{
	char want[3 * SC_POKE_MAX], have[3 * SC_POKE_MAX];

	if (memcmp(p->addr, p->old, p->len) == 0)
		return 0;
	sc_hexdump(want, p->old, p->len);
	sc_hexdump(have, p->addr, p->len);
	sc_warn("code at %p changed behind our back: expected %s, found %s; "
		"not patching",
		(void *)p->addr, want, have);
	return -EILSEQ;
}

/*
 * Lock held: patch every poke of the work array as one batch.  All or
 * nothing: each site's live bytes are compared with what the library last
 * wrote there before the first write (I1); on success each poke's new
 * bytes go to its shadow.
 */
int sc_work_patch(void)
{
	static const struct sc_sort_ops ops = {sizeof(struct sc_poke),
					       poke_less, NULL, poke_key, 1};
	int err = 0;

	sc_sort(work.v, work.n, &ops);
	for (size_t i = 0; !err && i < work.n; i++) {
		const struct sc_poke *p = &work.v[i];
		if (i > 0 && p->addr < work.v[i - 1].addr + work.v[i - 1].len)
			err = -EINVAL; /* two pokes of one site: a bug */
		else
			err = verify(p);
	}
	if (!err)
		err = sc_patch(work.v, work.n);
	for (size_t i = 0; i < work.n; i++) {
		struct sc_poke *p = &work.v[i];
		/* written (or stuck), not only checked: a poke dropped with
		 * its module's code (retired) points into memory that went */
		if (p->via == SC_VIA_NONE || (err && !p->stuck))
			continue;
		if (p->stuck) {
			/* a failed batch left it new for good: the records
			 * follow memory, and no fast path may trust the state
			 * of static calls and keys any more */
			atomic_store(&sc_partial, true);
			sc_warn("code at %p keeps its new bytes after a failed "
				"update",
				(void *)p->addr);
		}
		if (p->shadow)
			memcpy(p->shadow, p->new, p->len);
		if (p->state)
			*p->state = (*p->state & ~p->state_mask) | p->state_new;
	}
	return err;
}

_Atomic bool sc_partial;

int sc_commit(union sc_slot *reqs, size_t n)
{
	static const struct sc_sort_ops by_owner = {sizeof(*reqs), req_less,
						    NULL, req_key, 2};
	int err = sc_lock();

	if (err) {
		/* -ENOTRECOVERABLE (a raw fork took a held lock) was reported
		 * once, when found */
		if (err == -EDEADLK)
			sc_warn("update from inside an update on the same "
				"thread: %s",
				sc_strerror(-err));
		else
			sc_debug("update refused: %s", sc_strerror(-err));
		goto out;
	}
	err = sc_runtime_prepare();
	if (err)
		goto unlock;
	sc_commit_seq++;
	sc_sort(reqs, n, &by_owner);
	n = dedupe(reqs, n);
	work.n = 0;
	for (size_t i = 0; !err && i < n; i++)
		if (!reqs[i].r.kind)
			err = -EINVAL;
		else if (reqs[i].r.kind->resolve)
			reqs[i].r.kind->resolve(&reqs[i].r);
	for (size_t i = 0; !err && i < n; i++)
		err = reqs[i].r.kind->prepare(&reqs[i].r, &work);
	if (!err)
		err = sc_work_patch();
	if (err)
		goto unlock;
	for (size_t i = 0; i < n; i++)
		reqs[i].r.kind->done(&reqs[i].r);
	sc_stat_add(updates, n);
unlock:
	sc_unlock();
out:
	if (err)
		sc_stat_add(errors, 1);
	return err;
}

int static_call_synchronize(void)
{
	int err = sc_lock(); /* waits for updates in progress */

	if (err)
		return err;
	err = sc_runtime_prepare();
	if (!err)
		err = sc_sync_usable();
	if (!err)
		err = sc_sync_cores();
	sc_trap_quiesce();
	sc_unlock();
	return err;
}

/* ------------------------------------------------------------------------
 * The batch API
 * ------------------------------------------------------------------------ */
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

int sc_batch_add(struct static_call_batch *b, void *owner, struct sc_req **out)
{
	struct sc_req *r;
	int err = 0;

	if (!b)
		return -EINVAL;
	if (!owner)
		err = -EINVAL;
	else if (b->count >= b->capacity)
		err = -ENOSPC;
	if (err) {
		if (!b->error)
			b->error = err;
		return err;
	}
	r = &((union sc_slot *)(void *)b->entries)[b->count++].r;
	memset(r, 0, sizeof(*r));
	r->owner = owner;
	r->seq = b->__seq++;
	*out = r;
	return 0;
}

int static_call_batch_commit(struct static_call_batch *b)
{
	int err;

	if (!b)
		return -EINVAL;
	if (b->error)
		return b->error;
	err = sc_commit((union sc_slot *)(void *)b->entries, b->count);
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
