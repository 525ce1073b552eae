/* SPDX-License-Identifier: MIT */
/*
 * Run-time options: one table, set through static_call_set_option() or,
 * once at first use, from STATICCALL_<NAME> environment variables (an
 * option set through the API wins over the environment).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Under the patch lock. */
struct sc_options sc_opt = {
	.protocol = SC_PROTO_AUTO,
	.write = SC_WRITE_AUTO,
	.sigtrap_check = true,
	.perf_map = false,
	.inline_sites = true,
};

static int set_write(const char *v)
{
	if (!strcmp(v, "auto"))
		sc_opt.write = SC_WRITE_AUTO;
	else if (!strcmp(v, "procmem"))
		sc_opt.write = SC_WRITE_PROCMEM;
	else if (!strcmp(v, "mprotect"))
		sc_opt.write = SC_WRITE_MPROTECT;
	else
		return -EINVAL;
	return 0;
}

static int set_protocol(const char *v)
{
	if (!strcmp(v, "auto"))
		sc_opt.protocol = SC_PROTO_AUTO;
	else if (!strcmp(v, "flip"))
		sc_opt.protocol = SC_PROTO_FLIP;
	else if (!strcmp(v, "store"))
		sc_opt.protocol = SC_PROTO_STORE;
	else if (!strcmp(v, "int3"))
		sc_opt.protocol = SC_PROTO_INT3;
	else
		return -EINVAL;
	return 0;
}

static int set_bool(bool *b, const char *v)
{
	if (!strcmp(v, "on") || !strcmp(v, "1"))
		*b = true;
	else if (!strcmp(v, "off") || !strcmp(v, "0"))
		*b = false;
	else
		return -EINVAL;
	return 0;
}

static int set_sigtrap_check(const char *v)
{
	return set_bool(&sc_opt.sigtrap_check, v);
}

static int set_perf_map(const char *v) { return set_bool(&sc_opt.perf_map, v); }

static int set_log(const char *v) { return sc_log_set_level(v); }

static int set_inline(const char *v)
{
	return set_bool(&sc_opt.inline_sites, v);
}

static const struct option {
	const char *name;
	const char *env;
	int (*set)(const char *value);
	const char *values;
} options[] = {
	{"write", "STATICCALL_WRITE", set_write, "auto, procmem, mprotect"},
	{"protocol", "STATICCALL_PROTOCOL", set_protocol,
	 "auto, flip, store, int3"},
	{"sigtrap_check", "STATICCALL_SIGTRAP_CHECK", set_sigtrap_check,
	 "on, off"},
	{"perf_map", "STATICCALL_PERF_MAP", set_perf_map, "on, off"},
	{"log", "STATICCALL_LOG", set_log, "warn, info, debug, off"},
	{"inline", "STATICCALL_INLINE", set_inline, "on, off"},
};

static bool env_done; /* under the patch lock */

/* Lock held. */
void sc_options_from_env(void)
{
	if (env_done)
		return;
	env_done = true;
	for (size_t i = 0; i < SC_ARRAY_SIZE(options); i++) {
		const char *v = sc_getenv(options[i].env);
		if (v && *v && options[i].set(v) != 0)
			sc_warn("%s=%s: unknown value (%s)", options[i].env, v,
				options[i].values);
	}
}

int static_call_set_option(const char *name, const char *value)
{
	int err;

	if (!name || !value)
		return -EINVAL;
	err = sc_lock();
	if (err)
		return err;
	sc_options_from_env();
	err = -ENOENT;
	for (size_t i = 0; i < SC_ARRAY_SIZE(options); i++) {
		if (strcmp(options[i].name, name) != 0)
			continue;
		err = options[i].set(value);
		if (err)
			sc_warn("option %s=%s: unknown value (%s)", name, value,
				options[i].values);
		break;
	}
	if (err == -ENOENT)
		sc_warn("unknown option %s", name);
	sc_unlock();
	return err;
}
