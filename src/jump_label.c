/* SPDX-License-Identifier: MIT */
/*
 * Static keys: modules' jump tables, and the pokes that change a key.
 *
 * Each module (the executable, each shared object) registers its
 * sc_jump_table from a constructor and unregisters it from a destructor (see
 * the header).  At registration every entry is checked (the site lies in
 * executable memory and holds the nop or jump the compiler emitted for its
 * form); an entry that fails is reported and never touched.  The table is
 * then sorted by key in place (it is writable data), so that the sites of a
 * key are a binary search away in each module.  Sites of keys whose state
 * differs from their compile-time default (a module loaded after the key was
 * changed) are patched before the constructor returns.
 *
 * The state of a site follows from its key: it holds a jump iff
 * (key enabled) XOR (likely form).  So the bytes the library last wrote are
 * always known, and every patch is checked against them.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define KEY_DEFAULT_TRUE 0x1u
enum { SC_KEY_SET = 0, SC_KEY_ADD = 1 }; /* request mode, in ->target */
#define NOP5 "\x0f\x1f\x44\x00\x00"

struct jmod {
	struct static_key_entry *start, *stop;
};

/* Under the patch lock; mmap-grown. */
static struct jmod *mods;
static size_t nmods, capmods;

static uint8_t *entry_code(const struct static_key_entry *e)
{
	return (uint8_t *)((uintptr_t)&e->code + (intptr_t)e->code);
}

static uintptr_t entry_target(const struct static_key_entry *e)
{
	return (uintptr_t)&e->target + (intptr_t)e->target;
}

static struct static_key *entry_key(const struct static_key_entry *e)
{
	struct static_key *const *ref =
		(void *)((uintptr_t)&e->key + (e->key & ~7L));
	return *ref;
}

static bool entry_likely(const struct static_key_entry *e)
{
	return e->key & 1;
}

/* Placed for trap-free patching (STATICCALL_KEYS_TRAPFREE), and really
 * inside one aligned 8-byte word. */
static bool entry_trapfree(const struct static_key_entry *e)
{
	uintptr_t code = (uintptr_t)entry_code(e);

	return (e->key & 2) && (code & 7) + 5 <= 8;
}

/* An entry found invalid at registration: never patched. */
static bool entry_dead(const struct static_key_entry *e)
{
	return e->code == 0;
}

/* The 5 bytes a site holds when it jumps (or not). */
static void site_bytes(const struct static_key_entry *e, bool jump,
		       uint8_t out[5])
{
	uint8_t *code = entry_code(e);

	if (jump) {
		int32_t rel =
			(int32_t)(entry_target(e) - ((uintptr_t)code + 5));
		out[0] = 0xe9;
		memcpy(out + 1, &rel, 4);
	} else {
		memcpy(out, NOP5, 5);
	}
}

static bool site_jumps(const struct static_key_entry *e, int enabled)
{
	return (enabled > 0) ^ entry_likely(e);
}

static bool key_default(const struct static_key *key)
{
	return key->__flags & KEY_DEFAULT_TRUE;
}

/* A module's table is sorted by key, in place. */
static bool entry_less(const void *a, const void *b)
{
	return (uintptr_t)entry_key(a) < (uintptr_t)entry_key(b);
}

/* Entries hold self-relative offsets: moving one means re-basing them. */
static void entry_move(struct static_key_entry *to,
		       const struct static_key_entry *from)
{
	intptr_t d = (intptr_t)((uintptr_t)from - (uintptr_t)to);
	struct static_key_entry t = *from;

	to->code = t.code ? (int)(t.code + d) : 0;
	to->target = (int)(t.target + d);
	to->key = t.key + d;
}

static void entry_swap(void *a, void *b, size_t size)
{
	struct static_key_entry t;

	(void)size;
	entry_move(&t, a);
	entry_move(a, b);
	entry_move(b, &t);
}

static void sort_entries(struct static_key_entry *v, size_t n)
{
	static const struct sc_sort_ops ops = {sizeof(*v), entry_less,
					       entry_swap};

	sc_sort(v, n, &ops);
}

/* Check one entry as compiled; mark it dead if it is not sound. */
static void check_entry(struct static_key_entry *e, uintptr_t *lo,
			uintptr_t *hi, int *prot)
{
	uint8_t *code = entry_code(e), want[5];
	struct static_key *key = entry_key(e);
	char hex[16];

	if ((uintptr_t)code < *lo || (uintptr_t)code + 5 > *hi) {
		if (sc_mem_range(code, lo, hi, prot) != 0 ||
		    (uintptr_t)code + 5 > *hi)
			*lo = *hi = 0;
	}
	if (!*hi || !(*prot & PROT_EXEC)) {
		sc_warn("jump entry %p: site %p is not in executable memory; "
			"ignored",
			(void *)e, (void *)code);
		e->code = 0;
		return;
	}
	if (!key) {
		sc_warn("jump entry %p: no key; ignored", (void *)e);
		e->code = 0;
		return;
	}
	site_bytes(e, site_jumps(e, key_default(key)), want);
	if (memcmp(code, want, 5) != 0) {
		sc_hexdump(hex, code, 5);
		sc_warn("jump entry %p: site %p holds %s, not the branch the "
			"compiler emits; ignored",
			(void *)e, (void *)code, hex);
		e->code = 0;
	}
}

/* The first entry of @key in a sorted module, or stop. */
static struct static_key_entry *first_of(struct jmod *m,
					 const struct static_key *key)
{
	size_t lo = 0, hi = (size_t)(m->stop - m->start);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uintptr_t)entry_key(&m->start[mid]) < (uintptr_t)key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return m->start + lo;
}

/*
 * A site placed inside one aligned word, whose page can get a writable view:
 * the poke is the whole word, stored atomically without a trap (only the
 * site's bytes differ between old and new; the store keeps the other three
 * bytes as they are in memory at that moment).  False: use int3 (also when
 * the site does not hold what we expect, so that the commit's check reports
 * it).
 */
static bool add_word_poke(const struct static_key_entry *e, bool was, bool will,
			  struct sc_poke *p)
{
	uint8_t *code = entry_code(e), *word, *rw;
	uint8_t site_old[5];
	size_t off;

	if (!entry_trapfree(e) || sc_protocol != SC_PROTO_AUTO)
		return false;
	site_bytes(e, was, site_old);
	if (memcmp(code, site_old, 5) != 0)
		return false;
	word = (uint8_t *)((uintptr_t)code & ~(uintptr_t)7);
	off = (size_t)(code - word);
	if (sc_alias_get(word, 8, &rw) != 0)
		return false;
	p->addr = word;
	p->len = 8;
	p->rw = rw;
	memcpy(p->old, word, 8);
	memcpy(p->new, word, 8);
	site_bytes(e, will, p->new + off);
	return true;
}

/* Append pokes moving @key's live sites in @m from @from to @to count. */
static int add_site_pokes(struct jmod *m, struct static_key *key, int from,
			  int to, struct sc_pokes *out)
{
	for (struct static_key_entry *e = first_of(m, key);
	     e < m->stop && entry_key(e) == key; e++) {
		bool was = site_jumps(e, from), will = site_jumps(e, to);
		struct sc_poke *p;
		if (entry_dead(e) || was == will)
			continue;
		p = sc_pokes_add(out);
		if (!p)
			return -ENOMEM;
		if (!add_word_poke(e, was, will, p)) {
			p->addr = entry_code(e);
			p->len = 5;
			site_bytes(e, was, p->old);
			site_bytes(e, will, p->new);
			p->emu = will ? SC_EMU_JMP : SC_EMU_NOP;
			p->target = entry_target(e);
		}
		p->owner = key;
	}
	return 0;
}

/* A request that changes no site of @key in @m, once a batch was pinned:
 * pokes that change nothing, so that the commit checks the sites. */
static int add_check_pokes(struct jmod *m, struct static_key *key, int cur,
			   struct sc_pokes *out)
{
	for (struct static_key_entry *e = first_of(m, key);
	     e < m->stop && entry_key(e) == key; e++) {
		struct sc_poke *p;
		if (entry_dead(e))
			continue;
		p = sc_pokes_add(out);
		if (!p)
			return -ENOMEM;
		p->addr = entry_code(e);
		p->len = 5;
		site_bytes(e, site_jumps(e, cur), p->old);
		memcpy(p->new, p->old, 5);
		p->emu = site_jumps(e, cur) ? SC_EMU_JMP : SC_EMU_NOP;
		p->target = entry_target(e);
		p->skip = 1;
		p->owner = key;
	}
	return 0;
}

/*
 * Lock held.  A key request either sets (value 0/1, as the kernel's
 * disable/enable: enabling a key already counted leaves its count) or adds
 * (value = delta, mode SC_KEY_ADD in ->target).  The count it leaves is
 * stored back into ->value for sc_key_done(); the pokes for the sites that
 * change are appended to @out.
 */
int sc_key_prepare(struct sc_poke *req, struct sc_pokes *out)
{
	struct static_key *key = req->owner;
	int cur = key->enabled, arg = (int)(intptr_t)req->value, to;
	int err = 0;

	if (req->target == SC_KEY_ADD) {
		if (arg < 0 && cur <= 0) {
			sc_warn("static key %p: dec below zero", (void *)key);
			return -EINVAL;
		}
		if (arg > 0 && cur > __INT_MAX__ - arg)
			return -EOVERFLOW;
		to = cur + arg;
	} else {
		to = arg ? (cur > 0 ? cur : 1) : 0;
	}
	req->value = (void *)(intptr_t)to;
	if ((cur > 0) == (to > 0)) {
		for (size_t i = 0; !err && sc_poke_pinned_any() && i < nmods;
		     i++)
			err = add_check_pokes(&mods[i], key, cur, out);
		return err;
	}
	for (size_t i = 0; !err && i < nmods; i++)
		err = add_site_pokes(&mods[i], key, cur, to, out);
	return err;
}

void sc_key_done(const struct sc_poke *req)
{
	struct static_key *key = req->owner;

	__atomic_store_n(&key->enabled, (int)(intptr_t)req->value,
			 __ATOMIC_RELEASE);
}

static int key_commit(struct static_key *key, uintptr_t mode, int arg)
{
	return sc_commit_one(SC_REQ_KEY, key, (void *)(intptr_t)arg, mode);
}

int __static_key_set(struct static_key *key, int enabled)
{
	return key_commit(key, SC_KEY_SET, !!enabled);
}

int __static_key_add(struct static_key *key, int delta)
{
	return key_commit(key, SC_KEY_ADD, delta);
}

/* ------------------------------------------------------------------------
 * Modules
 * ------------------------------------------------------------------------ */

/* Bring a new module's sites to their keys' current states: one batch. */
static int module_sync(struct jmod *m)
{
	struct sc_pokes *out = sc_work();
	int err = 0;

	out->n = 0;
	for (struct static_key_entry *e = m->start; !err && e < m->stop;) {
		struct static_key *key = entry_key(e);
		int def = key_default(key) ? 1 : 0;
		if ((key->enabled > 0) != (def > 0))
			err = add_site_pokes(m, key, def, key->enabled, out);
		while (e < m->stop && entry_key(e) == key)
			e++;
	}
	if (err || out->n == 0)
		return err;
	return sc_work_patch();
}

int __static_call_module_load(struct static_key_entry *start,
			      struct static_key_entry *stop)
{
	uintptr_t lo = 0, hi = 0;
	int prot = 0, err;
	struct jmod *m;

	if (!start || stop < start)
		return -EINVAL;
	err = sc_lock();
	if (err)
		return err;
	for (size_t i = 0; i < nmods; i++)
		if (mods[i].start == start)
			goto unlock; /* another TU's constructor got here first */
	err = sc_runtime_prepare();
	if (err)
		goto unlock;
	err = sc_array_grow((void **)&mods, &capmods, nmods, sizeof(*mods), 16);
	if (err)
		goto unlock;
	for (struct static_key_entry *e = start; e < stop; e++)
		check_entry(e, &lo, &hi, &prot);
	sort_entries(start, (size_t)(stop - start));
	m = &mods[nmods];
	m->start = start;
	m->stop = stop;
	err = module_sync(m);
	if (err)
		sc_warn("module with jump table %p: cannot bring its sites to "
			"their keys' state: %s",
			(void *)start, strerror(-err));
	nmods++; /* registered even so: its sites are known and consistent */
	sc_debug("jump table %p: %zu sites", (void *)start,
		 (size_t)(stop - start));
unlock:
	sc_unlock();
	return err;
}

/*
 * Before a module goes (its destructors run first in dlclose): forget its
 * jump table and the writable views of its pages; the same addresses may
 * hold another module's code later.
 */
void __static_call_module_unload(struct static_key_entry *start, void *anchor)
{
	if (sc_lock() != 0)
		return;
	for (size_t i = 0; start && i < nmods; i++) {
		if (mods[i].start == start) {
			mods[i] = mods[--nmods];
			break;
		}
	}
	sc_sites_module_unload(anchor);
	{
		struct sc_module_ranges r;
		if (sc_module_ranges(anchor, &r) == 0) {
			sc_alias_forget(&r);
			for (int k = 0; k < r.n; k++)
				sc_siteset_forget(r.lo[k], r.hi[k]);
		}
	}
	sc_unlock();
}
