/* SPDX-License-Identifier: MIT */
/*
 * Issue 14: key sites and inline call sites in many pages, dense, sparse
 * and scattered, changed while callers run every one of them.
 *
 * Three blocks of code written in assembly (the executable is linked for
 * inline call sites), each a key site function and an inline call site
 * function (a call of mp_op) per slot:
 *   dense      1000 slots of 32 bytes (8 pages), key mp_kd;
 *   sparse     1000 slots, one per page (1000 consecutive pages: one
 *              region), key mp_ks, and a site of mp_ks that straddles the
 *              boundary of the block's last page and the page after it
 *              (the region's edge);
 *   scattered  150 slots, one every 10 pages (farther apart than the
 *              flip's gap: a region each), key mp_kc, and a straddling
 *              site of mp_kc at the end of the last slot's page.
 * Two threads call every site, again and again, and check every result
 * against the generations of the changes (itgen.h).  The main thread, for
 * 3 s, toggles one of the keys, retargets mp_op (A, B, RET0), or commits
 * one batch that does all four at once (a trampoline, key sites and
 * inline sites of every block in one batch).
 *
 * Asserts: every change returns 0; 0 wrong results; under the default
 * protocol no trap and no int3 fallback; from the end of the first second
 * on, the process's mappings, memfd memory and descriptors do not grow
 * (the regions are made once); with STATICCALL_PERF_MAP=on (as ctest runs
 * it), /tmp/perf-<pid>.map names every slot's functions at their
 * addresses (perf cannot read symbols from pages mapped from a memfd).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../inline/itgen.h"
#include "regress.h"
#include "rg_pages.h"

__attribute__((noinline, used)) int mp_a(int x) { return x * 4 + 1; }
__attribute__((noinline, used)) int mp_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(mp_op, mp_a);
DEFINE_STATIC_KEY_FALSE(mp_kd);
DEFINE_STATIC_KEY_FALSE(mp_ks);
DEFINE_STATIC_KEY_FALSE(mp_kc);
__attribute__((used, visibility("hidden"))) struct static_key *const mp_kd_ref =
	&mp_kd.key;
__attribute__((used, visibility("hidden"))) struct static_key *const mp_ks_ref =
	&mp_ks.key;
__attribute__((used, visibility("hidden"))) struct static_key *const mp_kc_ref =
	&mp_kc.key;

#define NDENSE 1000
#define NSPARSE 1000
#define NSCAT 150
#define SCAT_STRIDE 10
#define PAGE 4096

/* The blocks' first bytes; slot i of a block is at base + i * stride. */
extern const unsigned char mp_dense[], mp_sparse[], mp_scat[];
int mp_sparse_straddle(void), mp_scat_straddle(void);

/* A key site function's body: the site and the two ways out.  A slot of
 * the dense block has 16 bytes for it. */
#if defined(__x86_64__)
#define MP_KEY_BODY RG_KEY_BODY
#define MP_KEY_FLAGS "0"
/* The straddling site starts this many bytes before its page's end (its
 * 5 bytes cross into the next page). */
#define MP_EDGE "2"
#elif defined(__aarch64__)
/* rg_pages.h's body takes 20 bytes; this one 16: x0 is set to 1 before the
 * site, which branches to the ret or falls through to clear it. */
#define MP_KEY_BODY                                                            \
	"	mov w0, #1\n"                                                        \
	"771:	nop\n"                                                           \
	"	mov w0, #0\n"                                                        \
	"772:	ret\n"
#define MP_KEY_FLAGS RG_KEY_FLAGS
/* No A64 instruction crosses a page: the "straddling" function starts on
 * the last word of the page, and its site is the first word of the next
 * one (the region's edge all the same). */
#define MP_EDGE "4"
#endif

/* mp_key <prefix>, <index>, <key ref>: a key site function <prefix><index>
 * (returns 1 when the key is enabled); mp_call <prefix>, <index>: an inline
 * call site function <prefix><index>(x) of mp_op. */
__asm__(".macro mp_key name, idx, ref\n"
	"	.globl \\name\\idx\n"
	"	.type \\name\\idx, @function\n"
	"\\name\\idx:\n" MP_KEY_BODY "	.size \\name\\idx, . - \\name\\idx\n"
	"	.pushsection sc_jump_table, \"aw\"\n"
	"	.balign 8\n"
	"	.long 771b - ., 772b - .\n"
	"	.quad \\ref - . + " MP_KEY_FLAGS "\n"
	"	.popsection\n"
	".endm\n"
	".macro mp_call name, idx\n"
	"	.globl \\name\\idx\n"
	"	.type \\name\\idx, @function\n"
	"\\name\\idx:\n" RG_CALL_BODY(
		"__SCT__mp_op") "	.size \\name\\idx, . - \\name\\idx\n"
				".endm\n");

__asm__(".pushsection .text.rg_many_dense, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	".globl mp_dense\n"
	"mp_dense:\n"
	".altmacro\n"
	".set mp_i, 0\n"
	".rept 1000\n"
	"	.org mp_i * 32, 0xcc\n"
	"	mp_key mp_d, %mp_i, mp_kd_ref\n"
	"	.org mp_i * 32 + 16, 0xcc\n"
	"	mp_call mp_dc, %mp_i\n"
	"	.set mp_i, mp_i + 1\n"
	".endr\n"
	".noaltmacro\n"
	".balign 4096, 0xcc\n"
	".popsection\n");

__asm__(".pushsection .text.rg_many_sparse, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	".globl mp_sparse\n"
	"mp_sparse:\n"
	".altmacro\n"
	".set mp_i, 0\n"
	".rept 1000\n"
	"	.org mp_i * 4096, 0xcc\n"
	"	mp_key mp_s, %mp_i, mp_ks_ref\n"
	"	.org mp_i * 4096 + 64, 0xcc\n"
	"	mp_call mp_sc, %mp_i\n"
	"	.set mp_i, mp_i + 1\n"
	".endr\n"
	".noaltmacro\n"
	".org 1000 * 4096 - " MP_EDGE ", 0xcc\n"
	"mp_key mp_sparse_, straddle, mp_ks_ref\n"
	".balign 4096, 0xcc\n"
	".popsection\n");

__asm__(".pushsection .text.rg_many_scat, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	".globl mp_scat\n"
	"mp_scat:\n"
	".altmacro\n"
	".set mp_i, 0\n"
	".rept 150\n"
	"	.org mp_i * 10 * 4096, 0xcc\n"
	"	mp_key mp_c, %mp_i, mp_kc_ref\n"
	"	.org mp_i * 10 * 4096 + 64, 0xcc\n"
	"	mp_call mp_cc, %mp_i\n"
	"	.set mp_i, mp_i + 1\n"
	".endr\n"
	".noaltmacro\n"
	".org 149 * 10 * 4096 + 4096 - " MP_EDGE ", 0xcc\n"
	"mp_key mp_scat_, straddle, mp_kc_ref\n"
	".balign 4096, 0xcc\n"
	".popsection\n");

typedef int key_fn(void);
typedef int call_fn(int);

struct block {
	const char *name, *kprefix, *cprefix;
	const unsigned char *base;
	size_t n, stride, coff;
	struct static_key_false *key;
	key_fn *straddle;
};
static const struct block blocks[3] = {
	{"dense", "mp_d", "mp_dc", mp_dense, NDENSE, 32, 16, &mp_kd, NULL},
	{"sparse", "mp_s", "mp_sc", mp_sparse, NSPARSE, PAGE, 64, &mp_ks,
	 mp_sparse_straddle},
	{"scattered", "mp_c", "mp_cc", mp_scat, NSCAT, SCAT_STRIDE *PAGE, 64,
	 &mp_kc, mp_scat_straddle},
};

static key_fn *key_site(const struct block *b, size_t i)
{
	return (key_fn *)(uintptr_t)(b->base + i * b->stride);
}

static call_fn *call_site(const struct block *b, size_t i)
{
	return (call_fn *)(uintptr_t)(b->base + i * b->stride + b->coff);
}

enum { G_OP, G_K0, G_N = G_K0 + 3 };
static struct itg gen[G_N];
static struct itg_counts counts;
static _Atomic int stop;

static int decode(int x, int r)
{
	return r == 0 ? 2 : r == mp_a(x) ? 0 : r == mp_b(x) ? 1 : -1;
}

static void *runner(void *arg)
{
	int x = (int)(intptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int k = 0; k < 3; k++) {
			const struct block *b = &blocks[k];
			struct itg *kg = &gen[G_K0 + k], *og = &gen[G_OP];
			for (size_t i = 0; i < b->n; i++) {
				unsigned long c = itg_before(kg);
				int r = key_site(b, i)();
				unsigned long p = itg_after(kg);
				itg_count(&counts, itg_check(kg, c, p, r));
				c = itg_before(og);
				r = call_site(b, i)(x);
				p = itg_after(og);
				itg_count(&counts,
					  itg_check(og, c, p, decode(x, r)));
			}
			if (b->straddle) {
				unsigned long c = itg_before(kg);
				int r = b->straddle();
				unsigned long p = itg_after(kg);
				itg_count(&counts, itg_check(kg, c, p, r));
			}
		}
		x = x % 100000 + 1;
	}
	return NULL;
}

static void *const targets[3] = {(void *)mp_a, (void *)mp_b,
				 static_call_return0};

static int errors, first;

static void note(int err)
{
	errors += err != 0;
	first = first ? first : err;
}

static int set_key(int k, int on)
{
	struct static_key_false *key = blocks[k].key;

	return on ? static_branch_enable(key) : static_branch_disable(key);
}

/* Mappings, memfd memory and descriptors of the process. */
struct res {
	int maps, fds;
	long long memfd;
};

static struct res resources(void)
{
	struct res r = {0, 0, 0};
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	DIR *d;
	int n;

	if (f) {
		while (fgets(line, sizeof(line), f))
			r.maps++;
		fclose(f);
	}
	d = opendir("/proc/self/fd");
	if (d) {
		while (readdir(d))
			r.fds++;
		closedir(d);
	}
	r.memfd = rg_memfd_bytes(&n);
	return r;
}

/* Every slot's functions named at their addresses in the perf map. */
static void check_perf_map(void)
{
	char path[64], line[256];
	static unsigned char seen[3][NSPARSE][2];
	FILE *f;
	int missing = 0;

	f = fopen(sc_test_perf_map_path(path, sizeof(path)), "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, sz;
		char name[128];
		if (sscanf(line, "%lx %lx %127s", &a, &sz, name) != 3)
			continue;
		for (int k = 0; k < 3; k++) {
			const struct block *b = &blocks[k];
			size_t i;
			uintptr_t off;
			if (a < (uintptr_t)b->base ||
			    a >= (uintptr_t)b->base + b->n * b->stride)
				continue;
			off = a - (uintptr_t)b->base;
			i = off / b->stride;
			if (off % b->stride == 0 &&
			    !strncmp(name, b->kprefix, strlen(b->kprefix)) &&
			    strtoul(name + strlen(b->kprefix), NULL, 10) == i)
				seen[k][i][0] = 1;
			if (off % b->stride == b->coff &&
			    !strncmp(name, b->cprefix, strlen(b->cprefix)) &&
			    strtoul(name + strlen(b->cprefix), NULL, 10) == i)
				seen[k][i][1] = 1;
		}
	}
	fclose(f);
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < blocks[k].n; i++)
			for (int j = 0; j < 2; j++)
				if (!seen[k][i][j] && missing++ < 5)
					printf("perf map: no %s%zu at %p\n",
					       j ? blocks[k].cprefix
						 : blocks[k].kprefix,
					       i,
					       j ? (void *)call_site(&blocks[k],
								     i)
						 : (void *)key_site(&blocks[k],
								    i));
	printf("perf map: %d of the slots' functions missing\n", missing);
	assert_int_equal(missing, 0);
}

static void test_many_pages(void **state)
{
	struct static_call_stats s0, s1;
	struct res r0 = {0, 0, 0}, r1;
	int on[3] = {0, 0, 0}, op = 0;
	double start, end;
	unsigned long changes = 0;
	bool settled = false;
	pthread_t t[2];
	(void)state;

	assert_int_equal((uintptr_t)mp_sparse % PAGE, 0);
	assert_int_equal((uintptr_t)mp_sparse_straddle % PAGE,
			 PAGE - atoi(MP_EDGE));
	assert_int_equal((uintptr_t)mp_scat_straddle % PAGE,
			 PAGE - atoi(MP_EDGE));
	for (int g = 0; g < G_N; g++)
		itg_init(&gen[g], 0);
	s0 = sc_test_stats();
	rg_thread(&t[0], runner, (void *)(intptr_t)1);
	rg_thread(&t[1], runner, (void *)(intptr_t)50001);
	rg_settle();
	start = sc_now();
	end = start + sc_test_seconds(3.0);
	for (unsigned long i = 0; sc_now() < end; i++) {
		int what = (int)(i % 5);
		if (!settled && sc_now() > start + 1.0) {
			r0 = resources();
			settled = true;
		}
		if (what < 3) {
			unsigned long n =
				itg_publish(&gen[G_K0 + what], !on[what]);
			int err = set_key(what, !on[what]);
			note(err);
			if (!err)
				on[what] = !on[what];
			itg_commit(
				&gen[G_K0 + what],
				err ? itg_publish(&gen[G_K0 + what], on[what])
				    : n);
		} else if (what == 3) {
			int k = (op + 1) % 3;
			unsigned long n = itg_publish(&gen[G_OP], k);
			int err = static_call_update(mp_op, targets[k]);
			note(err);
			if (!err)
				op = k;
			itg_commit(&gen[G_OP],
				   err ? itg_publish(&gen[G_OP], op) : n);
		} else {
			/* one batch: the trampoline, and the sites of every
			 * block (key sites and inline sites) */
			struct static_call_batch b;
			struct static_call_batch_entry e[4];
			unsigned long n[4];
			int k = (op + 1) % 3, err;
			assert_int_equal(static_call_batch_init(&b, e, 4), 0);
			n[0] = itg_publish(&gen[G_OP], k);
			static_call_batch_add(&b, mp_op, targets[k]);
			for (int j = 0; j < 3; j++) {
				n[j + 1] = itg_publish(&gen[G_K0 + j], !on[j]);
				if (on[j])
					static_branch_batch_disable(
						&b, blocks[j].key);
				else
					static_branch_batch_enable(
						&b, blocks[j].key);
			}
			err = static_call_batch_commit(&b);
			note(err);
			if (!err) {
				op = k;
				for (int j = 0; j < 3; j++)
					on[j] = !on[j];
			}
			itg_commit(&gen[G_OP],
				   err ? itg_publish(&gen[G_OP], op) : n[0]);
			for (int j = 0; j < 3; j++)
				itg_commit(
					&gen[G_K0 + j],
					err ? itg_publish(&gen[G_K0 + j], on[j])
					    : n[j + 1]);
		}
		changes++;
	}
	r1 = resources();
	atomic_store(&stop, 1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	s1 = sc_test_stats();
	printf("many pages: %lu changes, %d failed (first: %s); %lu checked "
	       "results, %lu wrong, %lu unknown; %llu flips of %llu pages, "
	       "%llu traps, %llu int3 fallbacks\n",
	       changes, errors, first ? strerror(-first) : "-",
	       atomic_load(&counts.calls), atomic_load(&counts.wrong),
	       atomic_load(&counts.unknown), s1.flips - s0.flips,
	       s1.pages_flipped - s0.pages_flipped,
	       s1.traps_emulated + s1.traps_rewound - s0.traps_emulated -
		       s0.traps_rewound,
	       s1.int3_fallbacks - s0.int3_fallbacks);
	printf("after 1 s: %d mappings, %d descriptors, %lld KiB of memfd; at "
	       "the end: %d, %d, %lld KiB\n",
	       r0.maps, r0.fds, r0.memfd / 1024, r1.maps, r1.fds,
	       r1.memfd / 1024);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_int_equal(errors, 0);
	assert_true(settled);
	/* the W^X checker's thread may hold /proc/self/maps open at either
	 * count: one descriptor of slack */
	assert_true(r1.maps <= r0.maps && r1.fds <= r0.fds + 1);
	/* Under qemu-user the memfd's allocated size moves between samples,
	 * both ways, by up to 11 pages (9288 and 9332 KiB within one run);
	 * natively it does not move.  Not explained yet (docs/aarch64.md):
	 * there the size is printed, not asserted. */
	if (getenv("SC_TEST_EMULATOR"))
		printf("memfd size not asserted under the emulator\n");
	else
		assert_true(r1.memfd <= r0.memfd);
	if (rg_default_protocol()) {
		assert_int_equal(s1.traps_emulated + s1.traps_rewound,
				 s0.traps_emulated + s0.traps_rewound);
		assert_int_equal(s1.int3_fallbacks, s0.int3_fallbacks);
		if (getenv("STATICCALL_PERF_MAP")) {
			check_perf_map();
			sc_test_perf_map_remove();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_pages),
	};

	sc_test_watchdog(60 + 2 * sc_test_seconds(3.0));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
