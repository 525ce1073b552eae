/* SPDX-License-Identifier: MIT */
/*
 * Batches of requests (static calls to retarget, static keys to set) and
 * the one commit path that every update goes through:
 *
 *   1. take the patch lock, prepare the runtime;
 *   2. keep the last request per static call / key;
 *   3. turn requests into pokes: a trampoline per static call, every site
 *      whose state changes per key (in all loaded modules);
 *   4. sort the pokes by address and compare every site's live bytes with
 *      what the library last wrote there: any mismatch fails the commit
 *      before a byte is written;
 *   5. run the protocol (poke.c) over all of them: one patch, a constant
 *      number of syncs;
 *   6. record the new states.
 *
 * The pokes live in an mmap-backed array reused under the lock, so updates
 * do not call malloc.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

_Static_assert(sizeof(struct sc_poke) == sizeof(struct static_call_batch_entry),
	       "batch entries hold one request");
_Static_assert(_Alignof(struct sc_poke) <=
		       _Alignof(struct static_call_batch_entry),
	       "batch entries hold one request");

int sc_array_grow(void **v, size_t *cap, size_t n, size_t size, size_t min)
{
	size_t ncap = *cap ? *cap : min;
	void *nv;

	while (ncap <= n)
		ncap *= 2;
	if (ncap == *cap)
		return 0;
	nv = mmap(NULL, ncap * size, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nv == MAP_FAILED)
		return -ENOMEM;
	if (*v) {
		memcpy(nv, *v, n * size);
		munmap(*v, *cap * size);
	}
	*v = nv;
	*cap = ncap;
	return 0;
}

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

/* Order requests by owner, then by seq; pokes by address. */
static bool req_less(const void *x, const void *y)
{
	const struct sc_poke *a = x, *b = y;

	if (a->owner != b->owner)
		return (uintptr_t)a->owner < (uintptr_t)b->owner;
	return a->seq < b->seq;
}

/* Keep the last request per owner (sorted by owner, seq). */
static size_t dedupe(struct sc_poke *r, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && r[i + 1].owner == r[i].owner)
			continue;
		if (m != i)
			r[m] = r[i];
		m++;
	}
	return m;
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

static int expand(struct sc_poke *reqs, size_t n)
{
	int err = 0;

	work.n = 0;
	/* pending inline sites join first: that re-sorts the site arrays the
	 * site pokes below point into */
	for (size_t i = 0; i < n; i++)
		if (reqs[i].kind == SC_REQ_CALL && reqs[i].owner)
			sc_sites_resolve(reqs[i].owner);
	for (size_t i = 0; !err && i < n; i++) {
		struct sc_poke *r = &reqs[i], *p;
		if (r->kind == SC_REQ_CALL) {
			err = sc_call_prepare(r);
			/* no change: checked only once a batch was pinned */
			if (!err && (!r->skip || sc_poke_pinned_any())) {
				p = sc_pokes_add(&work);
				if (!p)
					return -ENOMEM;
				*p = *r;
			}
			if (!err)
				err = sc_sites_prepare(r->owner, r->value,
						       &work);
		} else if (r->kind == SC_REQ_KEY) {
			err = sc_key_prepare(r, &work);
		} else {
			err = -EINVAL;
		}
	}
	return err;
}

int sc_commit_one(enum sc_req kind, void *owner, void *value, uintptr_t mode)
{
	struct sc_poke r;

	if (!owner)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.kind = (uint8_t)kind;
	r.owner = owner;
	r.value = value;
	r.target = mode;
	return sc_commit(&r, 1);
}

int sc_commit(struct sc_poke *reqs, size_t n)
{
	static const struct sc_sort_ops by_owner = {sizeof(*reqs), req_less,
						    NULL};
	int err = sc_lock();

	if (err) {
		sc_warn("update from inside an update on the same thread: %s",
			strerror(-err));
		goto out;
	}
	err = sc_runtime_prepare();
	if (err)
		goto unlock;
	sc_commit_seq++;
	sc_sort(reqs, n, &by_owner);
	n = dedupe(reqs, n);
	err = expand(reqs, n);
	if (!err)
		err = sc_work_patch();
	if (err)
		goto unlock;
	for (size_t i = 0; i < n; i++) {
		if (reqs[i].kind == SC_REQ_CALL)
			sc_call_done(&reqs[i]);
		else
			sc_key_done(&reqs[i]);
	}
	sc_stat_add(updates, n);
unlock:
	sc_unlock();
out:
	if (err)
		sc_stat_add(errors, 1);
	return err;
}

struct sc_pokes *sc_work(void) { return &work; }

/*
 * Lock held: patch every poke of the work array as one batch.  All or
 * nothing: each site's live bytes are compared with what the library last
 * wrote there before the first write.  Inline call sites record their new
 * state afterwards (static calls and keys do it from their requests).
 */
int sc_work_patch(void)
{
	int err = 0;

	sc_poke_sort(work.v, work.n);
	for (size_t i = 0; !err && i < work.n; i++) {
		if (i > 0 && work.v[i].addr == work.v[i - 1].addr)
			err = -EINVAL; /* two requests for one site: a bug */
		else
			err = verify(&work.v[i]);
	}
	if (!err)
		err = sc_poke_batch(work.v, work.n);
	for (size_t i = 0; !err && i < work.n; i++)
		if (work.v[i].kind == SC_REQ_SITE && !work.v[i].skip)
			sc_site_done(&work.v[i]);
	return err;
}

int static_call_synchronize(void)
{
	int err = sc_lock(); /* waits for updates in progress */

	if (err)
		return err;
	err = sc_runtime_prepare();
	if (!err)
		err = sc_sync_cores();
	sc_trap_quiesce();
	sc_unlock();
	return err;
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

static int batch_add(struct static_call_batch *b, enum sc_req kind, void *owner,
		     void *value)
{
	struct sc_poke *p;
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
	p = (struct sc_poke *)&b->entries[b->count++];
	memset(p, 0, sizeof(*p));
	p->kind = (uint8_t)kind;
	p->owner = owner;
	p->value = value;
	p->seq = b->__seq++;
	return 0;
}

int __static_call_batch_add(struct static_call_batch *b,
			    struct static_call_key *key, void *func)
{
	return batch_add(b, SC_REQ_CALL, key, func);
}

int __static_key_batch_set(struct static_call_batch *b, struct static_key *key,
			   int enabled)
{
	/* mode "set" (->target 0): see sc_key_prepare() */
	return batch_add(b, SC_REQ_KEY, key, (void *)(intptr_t) !!enabled);
}

int static_call_batch_commit(struct static_call_batch *b)
{
	int err;

	if (!b)
		return -EINVAL;
	if (b->error)
		return b->error;
	err = sc_commit((struct sc_poke *)b->entries, b->count);
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
