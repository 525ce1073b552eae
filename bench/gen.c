/* SPDX-License-Identifier: MIT */
/*
 * Generates the large benchmark sources at build time:
 *
 *   gen calls N FILE     N static calls (bsc_m<i>, all on bench_t0) and a
 *                        table of their keys and trampolines
 *   gen keys TF FILE     keys with 1, 10, 100 and 1000 branch sites each
 *                        (TF=1: built with STATICCALL_KEYS_TRAPFREE)
 *   gen sites P FILE     part P (0..9) of 100k branch sites over 100 keys,
 *                        100 per function, for a shared object (BENCH_PLAIN:
 *                        plain flags instead)
 *   gen isites 0 FILE    static calls with 0, 1, 10, 100 and 1000 call sites
 *                        each (for update_inline, linked for inline sites);
 *                        the one with 0 sites is called through its
 *                        trampoline (bench_tramp)
 *   gen imod N FILE      N call sites over 100 static calls, 100 per
 *                        function, for a shared object (startup)
 *   gen layout L FILE    layout L (bench_layout.h; update_sites): a static
 *                        call and a static key with 1 or 1000 sites each,
 *                        dense (many sites per page), sparse (one site per
 *                        page, consecutive pages) or scattered (one site
 *                        every 8 pages); the _tf layouts: key sites built
 *                        with STATICCALL_KEYS_TRAPFREE, no static call
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int key_sizes[] = {1, 10, 100, 1000};
#define NKEYS (sizeof(key_sizes) / sizeof(key_sizes[0]))
#define REG_KEYS 100
#define REG_PER_FN 100
#define REG_PER_PART 10000
#define REG_PARTS 10 /* 100k sites */

static void gen_calls(FILE *f, long n)
{
	fprintf(f, "#include <staticcall.h>\n#include \"bench.h\"\n\n");
	for (long i = 0; i < n; i++)
		fprintf(f, "DEFINE_STATIC_CALL(bsc_m%05ld, bench_t0);\n", i);
	fprintf(f, "\nconst unsigned int bench_many_n = %ld;\n", n);
	fprintf(f, "struct static_call_key *const bench_many_keys[%ld] = {\n",
		n);
	for (long i = 0; i < n; i++)
		fprintf(f, "\t&STATIC_CALL_KEY(bsc_m%05ld),\n", i);
	fprintf(f, "};\nlong (*const bench_many_tramps[%ld])(long) = {\n", n);
	for (long i = 0; i < n; i++)
		fprintf(f, "\t&STATIC_CALL_TRAMP(bsc_m%05ld),\n", i);
	fprintf(f, "};\n");
}

static void gen_keys(FILE *f, int tf)
{
	const char *p = tf ? "bkt" : "bk";

	if (tf)
		fprintf(f, "#define STATICCALL_KEYS_TRAPFREE\n");
	fprintf(f, "#include <staticcall.h>\n\n");
	for (size_t k = 0; k < NKEYS; k++) {
		int n = key_sizes[k];
		fprintf(f, "DEFINE_STATIC_KEY_FALSE(%s_%d);\n", p, n);
		fprintf(f, "long %s_run_%d(long x);\n", p, n);
		fprintf(f, "long %s_run_%d(long x)\n{\n", p, n);
		for (int i = 0; i < n; i++)
			fprintf(f,
				"\tif (static_branch_unlikely(&%s_%d))\n"
				"\t\tx++;\n",
				p, n);
		fprintf(f, "\treturn x;\n}\n\n");
	}
	fprintf(f, "struct static_key_false *const %s_keys[%zu] = {", p, NKEYS);
	for (size_t k = 0; k < NKEYS; k++)
		fprintf(f, "&%s_%d, ", p, key_sizes[k]);
	fprintf(f, "};\nlong (*const %s_runs[%zu])(long) = {", p, NKEYS);
	for (size_t k = 0; k < NKEYS; k++)
		fprintf(f, "%s_run_%d, ", p, key_sizes[k]);
	fprintf(f, "};\n");
}

/* Part @part of REG_PARTS: REG_PER_PART sites (the compiler's time grows
 * faster than linearly with the size of one file, so the sites are spread
 * over several).  Part 0 defines the keys and bench_reg_run(), which runs
 * every site once. */
static void gen_sites(FILE *f, int part)
{
	long nfn = REG_PER_PART / REG_PER_FN;

	fprintf(f,
		"#include <staticcall.h>\n\n"
		"#ifdef BENCH_PLAIN\n"
		"extern int bench_reg_flags[%d];\n"
		"#define SITE(k) __builtin_expect(bench_reg_flags[k], 0)\n"
		"#else\n"
		"extern struct static_key_false bench_reg_keys[%d];\n"
		"#define SITE(k) site_##k()\n"
		"#endif\n\n",
		REG_KEYS, REG_KEYS);
	/* One always-inline function per key, each inlined copy being a site of
	 * its own (as the kernel's arch_static_branch()): the header's macro
	 * is expanded 100 times instead of 10k; the sites and table entries
	 * are the same. */
	fprintf(f, "#ifndef BENCH_PLAIN\n");
	for (int k = 0; k < REG_KEYS; k++)
		fprintf(f,
			"static inline __attribute__((always_inline)) int "
			"site_%d(void)\n{\n\treturn "
			"static_branch_unlikely(&bench_reg_keys[%d]);\n}\n",
			k, k);
	fprintf(f, "#endif\n\n");
	for (long fn = 0; fn < nfn; fn++) {
		fprintf(f, "static long f%ld(long x)\n{\n", fn);
		for (long i = 0; i < REG_PER_FN; i++)
			fprintf(f, "\tif (SITE(%ld))\n\t\tx++;\n",
				(fn * REG_PER_FN + i) % REG_KEYS);
		fprintf(f, "\treturn x;\n}\n");
	}
	fprintf(f, "long bench_reg_part%d(long x);\n", part);
	fprintf(f, "long bench_reg_part%d(long x)\n{\n", part);
	for (long fn = 0; fn < nfn; fn++)
		fprintf(f, "\tx = f%ld(x);\n", fn);
	fprintf(f, "\treturn x;\n}\n");
	if (part != 0)
		return;
	fprintf(f,
		"\n#define EXPORT __attribute__((visibility(\"default\")))\n"
		"#ifdef BENCH_PLAIN\n"
		"EXPORT int bench_reg_flags[%d];\n"
		"#else\n"
		"DEFINE_STATIC_KEY_ARRAY_FALSE(bench_reg_keys, %d);\n"
		"#endif\n"
		"EXPORT const long bench_reg_sites = %d;\n",
		REG_KEYS, REG_KEYS, REG_PARTS * REG_PER_PART);
	for (int p = 1; p < REG_PARTS; p++)
		fprintf(f, "long bench_reg_part%d(long x);\n", p);
	fprintf(f, "EXPORT long bench_reg_run(long x);\n"
		   "long bench_reg_run(long x)\n{\n");
	for (int p = 0; p < REG_PARTS; p++)
		fprintf(f, "\tx = bench_reg_part%d(x);\n", p);
	fprintf(f, "\treturn x;\n}\n");
}

static const int isite_sizes[] = {0, 1, 10, 100, 1000};
#define NISITES (sizeof(isite_sizes) / sizeof(isite_sizes[0]))

/* bsi_<n>: a static call with n sites, all in bsi_run_<n>(x), which returns
 * x + n * (the target's increment); bsi_0's run calls the trampoline. */
static void gen_isites(FILE *f)
{
	fprintf(f, "#include <staticcall.h>\n#include \"bench.h\"\n\n");
	fprintf(f,
		"DEFINE_STATIC_CALL(bsi_0, bench_t0);\n"
		"BENCH_TRAMP_ALIAS(bsi_0);\nBENCH_DECLARE_TRAMP_ALIAS(bsi_0);"
		"\n");
	for (size_t k = 0; k < NISITES; k++) {
		int n = isite_sizes[k];
		if (n)
			fprintf(f, "DEFINE_STATIC_CALL(bsi_%d, bench_t0);\n",
				n);
		fprintf(f, "long bsi_run_%d(long x);\n", n);
		fprintf(f, "long bsi_run_%d(long x)\n{\n", n);
		if (n == 0)
			fprintf(f, "\tx = bench_tramp(bsi_0)(x);\n");
		for (int i = 0; i < n; i++)
			fprintf(f, "\tx = static_call(bsi_%d)(x);\n", n);
		fprintf(f, "\treturn x;\n}\n\n");
	}
	fprintf(f, "const int bench_isite_sizes[%zu] = {", NISITES);
	for (size_t k = 0; k < NISITES; k++)
		fprintf(f, "%d, ", isite_sizes[k]);
	fprintf(f,
		"};\nstruct static_call_key *const bench_isite_keys[%zu] = {",
		NISITES);
	for (size_t k = 0; k < NISITES; k++)
		fprintf(f, "&STATIC_CALL_KEY(bsi_%d), ", isite_sizes[k]);
	fprintf(f, "};\nlong (*const bench_isite_runs[%zu])(long) = {",
		NISITES);
	for (size_t k = 0; k < NISITES; k++)
		fprintf(f, "bsi_run_%d, ", isite_sizes[k]);
	fprintf(f, "};\n");
}

/* @n call sites over 100 static calls (bim_<k>, on bench_t0), 100 sites per
 * function, each function calling them in another order (identical
 * functions would be folded into one by the compiler); bench_imod_run(x)
 * runs every site once and returns x + n. */
static void gen_imod(FILE *f, long n)
{
	long nfn = (n + 99) / 100;

	fprintf(f, "#include <staticcall.h>\n#include \"bench.h\"\n\n"
		   "#define EXPORT __attribute__((visibility(\"default\")))\n");
	for (int k = 0; k < 100; k++)
		fprintf(f, "DEFINE_STATIC_CALL(bim_%d, bench_t0);\n", k);
	for (long fn = 0; fn < nfn; fn++) {
		fprintf(f, "static long f%ld(long x)\n{\n", fn);
		for (long i = fn * 100; i < n && i < (fn + 1) * 100; i++)
			fprintf(f, "\tx = static_call(bim_%ld)(x);\n",
				(i + fn) % 100);
		fprintf(f, "\treturn x;\n}\n");
	}
	fprintf(f, "EXPORT const long bench_imod_sites = %ld;\n", n);
	fprintf(f, "EXPORT long bench_imod_run(long x);\n"
		   "long bench_imod_run(long x)\n{\n");
	for (long fn = 0; fn < nfn; fn++)
		fprintf(f, "\tx = f%ld(x);\n", fn);
	fprintf(f, "\treturn x;\n}\n");
}

/* The layouts of update_sites (bench_layout.h).  stride: 0, the sites of
 * each kind follow one another in one function; N, each site is in a
 * function of its own aligned to N pages (the rest of the N pages is the
 * assembler's padding: nops that are not sites). */
static const struct layout {
	const char *name;
	int sites, stride, tf;
} layouts[] = {
	{"one", 1, 0, 0},	   {"one_tf", 1, 0, 1},
	{"dense", 1000, 0, 0},	   {"dense_tf", 1000, 0, 1},
	{"sparse", 1000, 1, 0},	   {"sparse_tf", 1000, 1, 1},
	{"scattered", 1000, 8, 0}, {"scattered_tf", 1000, 8, 1},
};

/*
 * bl_<L> (a static call on bench_t0) and blk_<L> (a key, false), each with
 * `sites` sites; for the _tf layouts only the key, with trap-free sites.
 * bench_layout_<L>.run(x) runs every site once and returns
 *   x + sites * (the target's increment) + sites * BENCH_LAYOUT_KEY_INC * on.
 * With a stride, each slot function holds one call site then one key site.
 * The slot functions are kept apart: noinline, and for gcc noclone and
 * no_icf (identical bodies would be folded into one).
 */
static int gen_layout(FILE *f, const char *name)
{
	const struct layout *l = NULL;

	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (strcmp(layouts[i].name, name) == 0)
			l = &layouts[i];
	if (!l) {
		fprintf(stderr, "gen: unknown layout %s\n", name);
		return 2;
	}
	if (l->tf)
		fprintf(f, "#define STATICCALL_KEYS_TRAPFREE\n");
	fprintf(f, "#include <staticcall.h>\n#include \"bench.h\"\n"
		   "#include \"bench_layout.h\"\n\n"
		   "#ifdef __clang__\n#define SLOT_ATTR noinline\n#else\n"
		   "#define SLOT_ATTR noinline, noclone, no_icf\n#endif\n");
	if (!l->tf)
		fprintf(f, "DEFINE_STATIC_CALL(bl_%s, bench_t0);\n", name);
	fprintf(f, "DEFINE_STATIC_KEY_FALSE(blk_%s);\n\n", name);
	const char *call = "\tx = static_call(bl_%s)(x);\n";
	const char *key = "\tif (static_branch_unlikely(&blk_%s))\n"
			  "\t\tx += BENCH_LAYOUT_KEY_INC;\n";
	if (l->stride == 0) {
		if (!l->tf) {
			fprintf(f, "__attribute__((SLOT_ATTR)) static long "
				   "calls(long x)\n{\n");
			for (int i = 0; i < l->sites; i++)
				fprintf(f, call, name);
			/* no tail call: every site a `call` */
			fprintf(f, "\tBENCH_BARRIER();\n\treturn x;\n}\n\n");
		}
		fprintf(f, "__attribute__((SLOT_ATTR)) static long "
			   "keys(long x)\n{\n");
		for (int i = 0; i < l->sites; i++)
			fprintf(f, key, name);
		fprintf(f,
			"\treturn x;\n}\n\nstatic long run(long x)\n{\n"
			"%s\treturn keys(x);\n}\n",
			l->tf ? "" : "\tx = calls(x);\n");
	} else {
		for (int i = 0; i < l->sites; i++) {
			fprintf(f,
				"__attribute__((SLOT_ATTR, aligned(%d))) "
				"static long s%d(long x)\n{\n",
				l->stride * 4096, i);
			if (!l->tf)
				fprintf(f, call, name);
			fprintf(f, key, name);
			fprintf(f, "\treturn x;\n}\n");
		}
		fprintf(f, "\nstatic long run(long x)\n{\n");
		for (int i = 0; i < l->sites; i++)
			fprintf(f, "\tx = s%d(x);\n", i);
		fprintf(f, "\treturn x;\n}\n");
	}
	fprintf(f, "\nconst struct bench_layout bench_layout_%s = {\n", name);
	fprintf(f, "\t.name = \"%s\",\n\t.sites = %d,\n", name, l->sites);
	fprintf(f, "\t.stride_pages = %d,\n", l->stride);
	if (l->tf)
		fprintf(f, "\t.call = NULL,\n");
	else
		fprintf(f, "\t.call = &STATIC_CALL_KEY(bl_%s),\n", name);
	fprintf(f, "\t.key = &blk_%s,\n\t.key_trapfree = %d,\n", name, l->tf);
	fprintf(f, "\t.run = run,\n};\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr,
			"usage: gen calls|keys|sites|isites|imod|layout ARG "
			"FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[3], "w");
	if (!f) {
		perror(argv[3]);
		return 1;
	}
	fprintf(f, "/* Generated by bench/gen.c (%s %s); do not edit. */\n",
		argv[1], argv[2]);
	if (strcmp(argv[1], "calls") == 0)
		gen_calls(f, atol(argv[2]));
	else if (strcmp(argv[1], "keys") == 0)
		gen_keys(f, atoi(argv[2]));
	else if (strcmp(argv[1], "sites") == 0)
		gen_sites(f, atoi(argv[2]));
	else if (strcmp(argv[1], "isites") == 0)
		gen_isites(f);
	else if (strcmp(argv[1], "imod") == 0)
		gen_imod(f, atol(argv[2]));
	else if (strcmp(argv[1], "layout") == 0) {
		int err = gen_layout(f, argv[2]);
		if (err) {
			fclose(f);
			remove(argv[3]);
			return err;
		}
	} else {
		fprintf(stderr, "gen: unknown mode %s\n", argv[1]);
		return 2;
	}
	return fclose(f) == 0 ? 0 : 1;
}
