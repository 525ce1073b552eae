/* SPDX-License-Identifier: MIT */
/*
 * Static keys: the API, and the kind of request that sets a key.
 *
 * A key's count follows the kernel's rules (enable/disable set it to 1/0,
 * enable of a counted key leaves the count, inc/dec count references and a
 * dec below zero is refused).  Its sites live in the modules' jump tables
 * (module.c), each holding a jump iff (key enabled) XOR (likely form).
 */
#define _GNU_SOURCE
#include <string.h>

#include "internal.h"

/* The count a request leaves: 0 and *@to, or -errno. */
static int next_count(struct static_key *key, unsigned int mode, int arg,
		      int *to)
{
	int cur = __atomic_load_n(&key->enabled, __ATOMIC_ACQUIRE);

	if (mode == SC_KEY_ADD) {
		if (arg < 0 && cur <= 0) {
			sc_warn("static key %p: dec below zero", (void *)key);
			return -EINVAL;
		}
		if (arg > 0 && cur > __INT_MAX__ - arg)
			return -EOVERFLOW;
		*to = cur + arg;
	} else {
		*to = arg ? (cur > 0 ? cur : 1) : 0;
	}
	return 0;
}

/* Lock held: the pokes of the sites whose state changes (module.c checks
 * them all: a site left behind by a failed module load is brought along). */
static int key_prepare(struct sc_req *r, struct sc_pokes *out)
{
	int err = next_count(r->owner, r->mode, r->arg, &r->count);

	return err ? err : sc_module_key_pokes(r->owner, r->count, out);
}

static void key_done(struct sc_req *r)
{
	struct static_key *key = r->owner;

	__atomic_store_n(&key->enabled, r->count, __ATOMIC_RELEASE);
	sc_module_key_done(key, r->count);
}

static const struct sc_kind key_kind = {NULL, key_prepare, key_done};

static int key_commit(struct static_key *key, unsigned int mode, int arg)
{
	union sc_slot r;
	int to;

	if (!key)
		return -EINVAL;
	/* Enabling an enabled key, disabling a disabled one: no site changes
	 * (unless a module's sites are behind their keys: then the commit
	 * brings them along), nothing to write or sync. */
	if (mode == SC_KEY_SET && sc_runtime_fast_ok() &&
	    !atomic_load(&sc_partial) && !sc_module_keys_behind() &&
	    !sc_int3_pinned_any() && next_count(key, mode, arg, &to) == 0 &&
	    to == __atomic_load_n(&key->enabled, __ATOMIC_ACQUIRE)) {
		sc_stat_add(unchanged, 1);
		sc_stat_add(updates, 1);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.r.kind = &key_kind;
	r.r.owner = key;
	r.r.mode = mode;
	r.r.arg = arg;
	return sc_commit(&r, 1);
}

int __static_key_set(struct static_key *key, int enabled)
{
	return key_commit(key, SC_KEY_SET, !!enabled);
}

int __static_key_add(struct static_key *key, int delta)
{
	return key_commit(key, SC_KEY_ADD, delta);
}

int __static_key_batch_set(struct static_call_batch *b, struct static_key *key,
			   int enabled)
{
	struct sc_req *r;
	int err = sc_batch_add(b, key, &r);

	if (err)
		return err;
	r->kind = &key_kind;
	r->mode = SC_KEY_SET;
	r->arg = !!enabled;
	return 0;
}
