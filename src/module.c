/* SPDX-License-Identifier: MIT */
/*
 * Modules: every loaded object (the executable, each shared object) that
 * includes the header.  This file owns their lifecycle and their sites:
 * the jump table of static key sites, the inline call sites, and what is
 * forgotten when a module goes.
 *
 * Load (from each module's constructor; repeated calls are ignored):
 *   1. the object's segments are recorded (no /proc: the dynamic linker's
 *      program headers), so that every later check of an address in it is
 *      a lookup;
 *   2. every jump table entry is checked (the site lies in an executable
 *      segment of the module and holds the nop or jump the compiler emits
 *      for its form); an entry that fails is reported and marked dead, and
 *      its key refuses every later change (-ENOEXEC): the library never
 *      reports a key state that one of its sites does not have;
 *   3. the table is sorted by key (in place: it is writable data);
 *   4. the inline call sites are found (sites.c), if the module was linked
 *      for them;
 *   5. ONE batch brings every site to its current state: key sites to
 *      their keys' states, inline sites to their static calls' targets.
 * Failure policy: each site records the state it really has (key sites in
 * a bit of their entry, inline sites their bytes), so a failed load batch
 * leaves the module consistent, only behind: the failure is reported, and
 * every later change of a key brings that key's sites along (while any
 * module is behind, even a request that changes no key state does).
 *
 * Unload (from each module's destructor, the last one run before dlclose()
 * unmaps the module): the module's sites, its copies of code pages and its
 * addresses in the trap handler's site set are forgotten.  Not at exit():
 * the code stays until the process ends, and other threads may still be
 * updating.  An unload that interrupts an update on its own thread (from
 * the trace hook or a signal handler) cannot take the patch lock: the
 * module is retired (its code ranges marked), the update in progress
 * leaves its sites alone, and it is forgotten at the next chance.
 */
#define _GNU_SOURCE
#include <link.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define KEY_DEFAULT_TRUE 0x1u
/* Bits of static_key_entry.key below the key pointer's offset (a multiple
 * of 8): likely (the header), trap-free placement (the header), and the
 * state the site has now (the library's). */
#define E_LIKELY 1L
#define E_TRAPFREE 2L
#define E_JUMPS 4L
#define E_BITS 7L

struct module {
	const void *anchor;
	struct sc_object obj;
	struct static_key_entry *start, *stop; /* sorted by key */
	struct sc_site_list sites;	       /* sorted by (tramp, addr) */
	bool behind;  /* key sites not in their keys' states */
	bool retired; /* unloaded inside an update: code gone */
};

/* Under the patch lock; mmap-grown. */
static struct module *mods;
static size_t nmods, capmods;
static bool any_behind;

/* ------------------------------------------------------------------------
 * Jump table entries
 * ------------------------------------------------------------------------ */
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
		(void *)((uintptr_t)&e->key + (e->key & ~E_BITS));
	return *ref;
}

static bool entry_dead(const struct static_key_entry *e) { return !e->code; }

static bool entry_jumps(const struct static_key_entry *e)
{
	return e->key & E_JUMPS;
}

/* Placed for trap-free stores (STATICCALL_KEYS_TRAPFREE), and really
 * inside one aligned store word. */
static bool entry_stores(const struct static_key_entry *e)
{
	uintptr_t code = (uintptr_t)entry_code(e);

	return (e->key & E_TRAPFREE) &&
	       code / SC_ARCH_STORE_WORD ==
		       (code + SC_ARCH_JUMP_LEN - 1) / SC_ARCH_STORE_WORD;
}

/* The site holds a jump iff (enabled) XOR (likely form). */
static bool jumps_at(const struct static_key_entry *e, int count)
{
	return (count > 0) ^ (bool)(e->key & E_LIKELY);
}

static bool key_default(const struct static_key *key)
{
	return key->__flags & KEY_DEFAULT_TRUE;
}

static void set_jumps(struct static_key_entry *e, bool jumps)
{
	e->key = (e->key & ~E_JUMPS) | (jumps ? E_JUMPS : 0);
}

static bool entry_less(const void *a, const void *b)
{
	return (uintptr_t)entry_key(a) < (uintptr_t)entry_key(b);
}

static uintptr_t entry_sort_key(const void *e, int k)
{
	(void)k;
	return (uintptr_t)entry_key(e);
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

/* The first entry of @key in a sorted table, or stop. */
static struct static_key_entry *first_of(const struct module *m,
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

/* Is @code..+len inside an executable segment of @m? */
static bool in_exec(const struct module *m, const uint8_t *code, size_t len)
{
	uintptr_t a = (uintptr_t)code;

	for (int s = 0; s < m->obj.nseg; s++)
		if ((m->obj.prot[s] & PROT_EXEC) && a >= m->obj.lo[s] &&
		    a + len <= m->obj.hi[s])
			return true;
	return false;
}

/* Check one entry as compiled and set its state bit; mark it dead if it is
 * not sound. */
static void check_entry(const struct module *m, struct static_key_entry *e)
{
	uint8_t *code = entry_code(e), want[SC_ARCH_JUMP_LEN];
	struct static_key *key = entry_key(e);
	char hex[3 * SC_ARCH_JUMP_LEN];
	struct sc_emu emu;
	bool jumps;

	if (!in_exec(m, code, SC_ARCH_JUMP_LEN)) {
		sc_warn("jump entry %p: site %p is not in an executable "
			"segment of its module; its key will refuse changes",
			(void *)e, (void *)code);
		e->code = 0;
		return;
	}
	if (!key) {
		sc_warn("jump entry %p: no key; ignored", (void *)e);
		e->code = 0;
		return;
	}
	jumps = jumps_at(e, key_default(key));
	sc_arch_jump_encode((uintptr_t)code, entry_target(e), jumps, want,
			    &emu);
	if (memcmp(code, want, SC_ARCH_JUMP_LEN) != 0) {
		sc_hexdump(hex, code, SC_ARCH_JUMP_LEN);
		sc_warn("jump entry %p: site %p holds %s, not the branch the "
			"compiler emits; its key will refuse changes",
			(void *)e, (void *)code, hex);
		e->code = 0;
		return;
	}
	set_jumps(e, jumps);
}

/* A poke moving @e's site to @jumps (from the state it has). */
static int key_site_poke(struct static_key_entry *e, bool jumps,
			 struct sc_pokes *out)
{
	uint8_t *code = entry_code(e);
	struct sc_poke *p = sc_pokes_add(out);

	if (!p)
		return -ENOMEM;
	p->addr = code;
	p->len = SC_ARCH_JUMP_LEN;
	p->stores = entry_stores(e);
	sc_arch_jump_encode((uintptr_t)code, entry_target(e), entry_jumps(e),
			    p->old, &p->emu_old);
	sc_arch_jump_encode((uintptr_t)code, entry_target(e), jumps, p->new,
			    &p->emu);
	p->state = &e->key;
	p->state_mask = E_JUMPS;
	p->state_new = jumps ? E_JUMPS : 0;
	return 0;
}

/* Pokes for every live site of @key in @m whose state is not @to's (all of
 * them, changed or not, when @check: then the commit verifies them). */
static int key_pokes_in(struct module *m, struct static_key *key, int to,
			bool check, struct sc_pokes *out)
{
	for (struct static_key_entry *e = first_of(m, key);
	     e < m->stop && entry_key(e) == key; e++) {
		int err;
		if (entry_dead(e)) {
			sc_warn("static key %p: a site of it could not be "
				"checked at load; not changing it",
				(void *)key);
			return -ENOEXEC;
		}
		if (entry_jumps(e) == jumps_at(e, to) && !check)
			continue;
		err = key_site_poke(e, jumps_at(e, to), out);
		if (err)
			return err;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Inline call sites
 * ------------------------------------------------------------------------ */
static bool site_less(const void *x, const void *y)
{
	const struct sc_site *a = x, *b = y;

	if (a->tramp != b->tramp)
		return a->tramp < b->tramp;
	return a->addr < b->addr;
}

static uintptr_t site_key(const void *x, int k)
{
	const struct sc_site *s = x;

	return k ? (uintptr_t)s->addr : s->tramp;
}

static void sort_sites(struct module *m)
{
	static const struct sc_sort_ops ops = {sizeof(struct sc_site),
					       site_less, NULL, site_key, 2};

	sc_sort(m->sites.v, m->sites.n, &ops);
}

/* The first site of @tramp in @m. */
static size_t site_first(const struct module *m, uintptr_t tramp)
{
	size_t lo = 0, hi = m->sites.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->sites.v[mid].tramp < tramp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Pending sites (their PLT slot was not bound at load) whose slot now
 * holds @tramp join it.  Before any poke of a batch exists: joining
 * re-sorts the sites the pokes point into. */
static void resolve_pending(struct module *m, uintptr_t tramp)
{
	bool moved = false;

	for (size_t i = 0;
	     m->sites.pending && i < m->sites.n && m->sites.v[i].tramp == 0;
	     i++) {
		struct sc_site *s = &m->sites.v[i];
		if (__atomic_load_n(s->got, __ATOMIC_RELAXED) != tramp)
			continue;
		s->tramp = tramp;
		m->sites.pending--;
		moved = true;
	}
	if (moved)
		sort_sites(m);
}

/* What the site's bytes now do, as a poke's emulation (to take it back). */
static void site_emu_now(const struct sc_site *s, struct sc_emu *e)
{
	uint8_t bytes[SC_POKE_MAX];
	void *now = NULL;

	switch (sc_arch_site_state(s, s->cur, &now)) {
	case STATIC_CALL_SITE_NOP:
	case STATIC_CALL_SITE_RET:
		now = NULL;
		break;
	case STATIC_CALL_SITE_RET0:
		now = (void *)&__static_call_return0;
		break;
	default:
		break;
	}
	sc_arch_site_encode(s, now, bytes, e);
}

static int site_poke(struct sc_site *s, void *func, struct sc_pokes *out)
{
	struct sc_poke *p = sc_pokes_add(out);

	if (!p)
		return -ENOMEM;
	p->addr = s->addr;
	p->len = SC_ARCH_SITE_LEN;
	memcpy(p->old, s->cur, SC_ARCH_SITE_LEN);
	sc_arch_site_encode(s, func, p->new, &p->emu);
	site_emu_now(s, &p->emu_old);
	p->shadow = s->cur;
	if (memcmp(p->old, p->new, p->len) == 0 && !sc_int3_pinned_any())
		out->n--; /* nothing to change */
	return 0;
}

/* ------------------------------------------------------------------------
 * What the kinds ask
 * ------------------------------------------------------------------------ */
static bool live(const struct module *m) { return !m->retired; }

static void forget(size_t i);

/* Modules retired inside an update are forgotten as soon as the lock is
 * ours again (their tables went with their code). */
static void reap(void)
{
	for (size_t i = 0; i < nmods;)
		if (mods[i].retired)
			forget(i);
		else
			i++;
}

void sc_module_resolve(struct static_call_key *key)
{
	uintptr_t tramp = (uintptr_t)key->tramp;

	reap();
	for (size_t k = 0; tramp && k < nmods; k++)
		resolve_pending(&mods[k], tramp);
}

int sc_module_call_pokes(struct static_call_key *key, void *func,
			 struct sc_pokes *out)
{
	uintptr_t tramp = (uintptr_t)key->tramp;
	int err = 0;

	for (size_t k = 0; !err && tramp && k < nmods; k++) {
		struct module *m = &mods[k];
		for (size_t i = site_first(m, tramp);
		     !err && i < m->sites.n && m->sites.v[i].tramp == tramp;
		     i++)
			err = site_poke(&m->sites.v[i], func, out);
	}
	return err;
}

int sc_module_key_pokes(struct static_key *key, int to, struct sc_pokes *out)
{
	int err = 0;

	reap();
	for (size_t i = 0; !err && i < nmods; i++)
		err = key_pokes_in(&mods[i], key, to, sc_int3_pinned_any(),
				   out);
	return err;
}

/* Is every live entry of @m in its key's state? */
static bool caught_up(const struct module *m)
{
	for (const struct static_key_entry *e = m->start; e < m->stop; e++)
		if (!entry_dead(e) &&
		    entry_jumps(e) != jumps_at(e, entry_key(e)->enabled))
			return false;
	return true;
}

/* Called once key->enabled is @to. */
void sc_module_key_done(struct static_key *key, int to)
{
	for (size_t i = 0; i < nmods; i++) {
		struct module *m = &mods[i];
		if (!live(m))
			continue;
		for (struct static_key_entry *e = first_of(m, key);
		     e < m->stop && entry_key(e) == key; e++)
			if (!entry_dead(e))
				set_jumps(e, jumps_at(e, to));
	}
	if (!any_behind)
		return;
	any_behind = false;
	for (size_t i = 0; i < nmods; i++) {
		struct module *m = &mods[i];
		if (m->behind && live(m))
			m->behind = !caught_up(m);
		any_behind |= m->behind;
	}
}

bool sc_module_keys_behind(void)
{
	return __atomic_load_n(&any_behind, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------
 * Load
 * ------------------------------------------------------------------------ */

/* Pokes bringing @m's key sites to their keys' states and its inline sites
 * to their trampolines' targets. */
static int module_pokes(struct module *m, struct sc_pokes *out)
{
	uintptr_t last = 0;
	void *func = NULL;
	int bad = 0, err = 0;

	for (struct static_key_entry *e = m->start; !err && e < m->stop;) {
		struct static_key *key = entry_key(e);
		int to = key->enabled;
		for (; !err && e < m->stop && entry_key(e) == key; e++)
			if (!entry_dead(e) && entry_jumps(e) != jumps_at(e, to))
				err = key_site_poke(e, jumps_at(e, to), out);
	}
	for (size_t i = m->sites.pending; !err && i < m->sites.n; i++) {
		struct sc_site *s = &m->sites.v[i];
		if (s->tramp != last) /* sorted by trampoline */
			bad = sc_sites_tramp_target(last = s->tramp, &func);
		if (!bad)
			err = site_poke(s, func, out);
	}
	return err;
}

static void module_done(struct module *m)
{
	for (struct static_key_entry *e = m->start; e < m->stop; e++)
		if (!entry_dead(e))
			set_jumps(e, jumps_at(e, entry_key(e)->enabled));
	m->behind = false;
}

/* One batch: @m's sites, and those of modules left behind before. */
static int module_sync(struct module *m)
{
	struct sc_pokes *out = sc_work();
	int err = 0;

	out->n = 0;
	for (size_t i = 0; !err && i < nmods; i++)
		if (&mods[i] == m || mods[i].behind)
			err = module_pokes(&mods[i], out);
	if (!err && out->n)
		err = sc_work_patch();
	if (err)
		return err;
	for (size_t i = 0; i < nmods; i++)
		if (&mods[i] == m || mods[i].behind)
			module_done(&mods[i]);
	any_behind = false;
	return 0;
}

static int module_load(struct static_key_entry *start,
		       struct static_key_entry *stop, const void *anchor)
{
	static const struct sc_sort_ops ops = {sizeof(struct static_key_entry),
					       entry_less, entry_swap,
					       entry_sort_key, 1};
	struct module *m;
	const char *name;
	int err;

	for (size_t i = 0; i < nmods; i++)
		if (mods[i].anchor == anchor ||
		    (start && mods[i].start == start))
			return 0; /* another TU's constructor got here first */
	err = sc_runtime_prepare();
	if (!err)
		err = sc_array_grow((void **)&mods, &capmods, nmods,
				    sizeof(*mods), 16);
	if (!err)
		err = sc_code_register(anchor);
	if (err)
		return err;
	m = &mods[nmods];
	memset(m, 0, sizeof(*m));
	m->anchor = anchor;
	m->start = start;
	m->stop = start ? stop : start;
	sc_os_object(anchor, &m->obj);
	name = m->obj.name[0] ? m->obj.name : "the program";
	if (!m->obj.name[0])
		sc_runtime_main_loaded();
	for (struct static_key_entry *e = m->start; e < m->stop; e++)
		check_entry(m, e);
	sc_sort(m->start, (size_t)(m->stop - m->start), &ops);
	if (sc_opt.inline_sites) {
		err = sc_sites_scan(&m->obj, &m->sites);
		if (err && err != -ENODATA && err != -ESTALE)
			sc_warn("%s: cannot read its call sites: %s", name,
				sc_strerror(-err));
		if (err == -ENOMEM)
			return err;
		if (m->sites.n == 0)
			sc_array_free(m->sites.v, m->sites.cap,
				      sizeof(*m->sites.v));
		if (m->sites.n == 0)
			memset(&m->sites, 0, sizeof(m->sites));
		sort_sites(m);
		sc_stat_add(sites_found, m->sites.n);
		sc_stat_add(sites_rejected, m->sites.rejected);
		if (m->sites.n)
			sc_debug("%s: %zu inline call sites (%zu pending, "
				 "%zu rejected)",
				 name, m->sites.n, m->sites.pending,
				 m->sites.rejected);
	}
	nmods++;
	err = module_sync(m);
	if (err) {
		m->behind = any_behind = true;
		sc_warn("%s: cannot bring its sites to their current state "
			"(%s); they stay as compiled until their static keys "
			"and calls change",
			name, sc_strerror(-err));
	}
	sc_debug("%s: %zu branch sites", name, (size_t)(m->stop - m->start));
	return 0;
}

int __static_call_module_init(struct static_key_entry *start,
			      struct static_key_entry *stop, void *anchor)
{
	int err;

	if ((start && stop < start) || !anchor)
		return -EINVAL;
	err = sc_lock();
	if (err)
		return err;
	sc_options_from_env();
	reap();
	err = module_load(start != stop ? start : NULL, stop, anchor);
	sc_unlock();
	return err;
}

/* The interface of modules built with an earlier header. */
int __static_call_module_load(struct static_key_entry *start,
			      struct static_key_entry *stop)
{
	if (!start || stop < start)
		return -EINVAL;
	return __static_call_module_init(start, stop, start);
}

/* ------------------------------------------------------------------------
 * Unload
 * ------------------------------------------------------------------------ */
static void forget(size_t i)
{
	struct module *m = &mods[i];

	for (int s = 0; s < m->obj.nseg; s++) {
		if (!(m->obj.prot[s] & PROT_EXEC))
			continue;
		sc_flip_forget(m->obj.lo[s], m->obj.hi[s]);
		sc_siteset_forget(m->obj.lo[s], m->obj.hi[s]);
	}
	sc_code_forget(m->anchor);
	sc_array_free(m->sites.v, m->sites.cap, sizeof(*m->sites.v));
	mods[i] = mods[--nmods];
}

void __static_call_module_unload(struct static_key_entry *start, void *anchor)
{
	int err;

	(void)start;
	/* at exit() nothing is unmapped, and other threads may still run
	 * and update: keep everything */
	if (sc_exiting())
		return;
	err = sc_lock();
	for (size_t i = 0; i < nmods; i++) {
		if (mods[i].anchor != anchor)
			continue;
		/* the program itself is never unmapped: its destructor runs
		 * only at exit (before our atexit handler when the library
		 * was loaded first) */
		if (!mods[i].obj.name[0])
			break;
		if (err == -EDEADLK) {
			/* inside an update on this very thread (the trace
			 * hook, a signal handler): it must leave this code
			 * alone from now on */
			mods[i].retired = true;
			for (int s = 0; s < mods[i].obj.nseg; s++)
				sc_code_retire(mods[i].obj.lo[s],
					       mods[i].obj.hi[s]);
		} else if (!err) {
			forget(i);
		}
		break;
	}
	if (!err)
		sc_unlock();
}

/* ------------------------------------------------------------------------
 * static_call_sites()
 * ------------------------------------------------------------------------ */
int __static_call_sites(struct static_call_key *key,
			struct static_call_site *buf, size_t max)
{
	uintptr_t tramp;
	size_t n = 0;
	int err;

	if (!key || (!buf && max))
		return -EINVAL;
	err = sc_lock();
	if (err)
		return err;
	reap();
	tramp = (uintptr_t)key->tramp;
	for (size_t k = 0; tramp && k < nmods; k++) {
		struct module *m = &mods[k];
		resolve_pending(m, tramp);
		for (size_t i = site_first(m, tramp);
		     i < m->sites.n && m->sites.v[i].tramp == tramp; i++, n++) {
			struct sc_site *s = &m->sites.v[i];
			struct static_call_site *o;
			if (n >= max)
				continue; /* counted only; buf may be NULL */
			o = &buf[n];
			memset(o, 0, sizeof(*o));
			o->addr = s->addr;
			o->tail = s->tail;
			o->state = (unsigned char)sc_arch_site_state(
				s, s->addr, &o->target);
			if (memcmp(s->addr, s->cur, SC_ARCH_SITE_LEN) != 0)
				o->state = STATIC_CALL_SITE_CHANGED;
		}
	}
	sc_unlock();
	return n > __INT_MAX__ ? __INT_MAX__ : (int)n;
}
