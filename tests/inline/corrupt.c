/* SPDX-License-Identifier: MIT */
/*
 * Damaged site tables.  The module corrupt_mod.c (a shared library linked
 * for inline sites) is copied to a temporary file, damaged with <elf.h>,
 * and dlopen()ed.  Proves that:
 *
 *   - two relocations of .rela.text naming __SCT__cm_op, one moved a few
 *     bytes into the middle of an instruction and one pointed at a direct
 *     call to an ordinary function, are reported (through the print
 *     callback, and as sites_rejected += 2) and never written: the loaded
 *     code equals the file's byte for byte outside the listed sites; the
 *     module's other sites are INLINE; the two real sites whose entries were
 *     damaged keep calling the trampoline; every call is right, before and
 *     after updates;
 *   - a file whose section headers are garbage (e_shoff past the end,
 *     the file truncated after its last loaded byte, e_shoff into the code,
 *     the header table overwritten with random bytes, e_shnum huge) loads
 *     with no site listed, its code untouched, calls right through the
 *     trampoline;
 *   - a seeded run of single-field damages to section headers and
 *     relocations never crashes, lists only real call sites, and never
 *     writes anywhere else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corrupt_mod.h"
#include "itest.h"

#ifndef CM_PATH
#error "CM_PATH: the module to damage"
#endif

#define MAX_SITES 64
#define MAX_RELS 64
#define FUZZ_RUNS 64

static struct {
	struct it_file f;
	Elf64_Shdr text;
	int nsites;
	uint64_t site[MAX_RELS];   /* link-time address of each real site */
	size_t site_rel[MAX_RELS]; /* file offset of its Elf64_Rela */
	int nhelper;
	uint64_t helper_field[MAX_RELS]; /* r_offset of calls to cm_helper */
} orig;

static void collect(void *arg, const struct it_rel *r)
{
	(void)arg;
	if (!r->call_or_jmp)
		return;
	if (strcmp(r->name, "__SCT__cm_op") == 0 && orig.nsites < MAX_RELS) {
		orig.text = r->code;
		orig.site_rel[orig.nsites] = r->rela_off;
		orig.site[orig.nsites++] = r->rela.r_offset - IT_SITE_BACK;
	} else if (strcmp(r->name, "cm_helper") == 0 && r->kind == IT_CALL &&
		   orig.nhelper < MAX_RELS) {
		orig.helper_field[orig.nhelper++] = r->rela.r_offset;
	}
}

static int group_setup(void **state)
{
	(void)state;
	if (it_file_read(CM_PATH, &orig.f) != 0)
		return -1;
	if (it_walk_relocs(&orig.f, collect, NULL) <= 0)
		return -1;
	printf("%s: %d sites of cm_op, %d direct calls of cm_helper in "
	       "%s (%lu bytes)\n",
	       CM_PATH, orig.nsites, orig.nhelper, ".text",
	       (unsigned long)orig.text.sh_size);
	return orig.nsites >= CM_CALLERS && orig.nhelper >= 1 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	it_file_free(&orig.f);
	return 0;
}

/* Messages of the library, kept while a damaged module loads. */
static char logs[8][256];
static int nlogs;

static void keep_log(enum static_call_print_level level, const char *msg)
{
	if (level != STATIC_CALL_WARN)
		return;
	if (nlogs < 8)
		snprintf(logs[nlogs], sizeof(logs[0]), "%s", msg);
	nlogs++;
}

struct loaded {
	void *handle;
	const struct cm_api *api;
	uintptr_t bias;
	char path[64];
};

static void load(struct loaded *m, const struct it_file *f)
{
	const struct cm_api *(*get)(void);
	struct link_map *lm = NULL;
	static_call_print_fn_t prev;
	int fd;

	snprintf(m->path, sizeof(m->path), "/tmp/sc-inline-cm-XXXXXX");
	fd = mkstemp(m->path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(it_file_write(m->path, f), 0);
	nlogs = 0;
	prev = static_call_set_print(keep_log);
	m->handle = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
	static_call_set_print(prev);
	unlink(m->path); /* mapped now; nothing left behind if a check fails */
	if (!m->handle)
		fail_msg("dlopen(%s): %s", m->path, dlerror());
	assert_int_equal(dlinfo(m->handle, RTLD_DI_LINKMAP, &lm), 0);
	assert_string_equal(lm->l_name, m->path); /* not an older copy */
	m->bias = lm->l_addr;
	*(void **)&get = dlsym(m->handle, "cm_api");
	assert_non_null(get);
	m->api = get();
}

static void unload(struct loaded *m)
{
	assert_int_equal(dlclose(m->handle), 0);
}

static bool is_real_site(const struct loaded *m, const void *a)
{
	for (int i = 0; i < orig.nsites; i++)
		if ((uintptr_t)a == m->bias + orig.site[i])
			return true;
	return false;
}

static unsigned long n_checks, n_calls, n_bytes;

/*
 * The loaded module against its file: calls right for target k; every
 * listed site a real one, INLINE at fn[k]; every other real site as
 * compiled (e8 to the trampoline); every other byte of .text unchanged
 * but the trampoline's.
 * @want: the number of listed sites, or -1 for any.
 */
static void check(const struct loaded *m, int k, int want, const char *when)
{
	struct static_call_site s[MAX_SITES];
	const struct cm_api *api = m->api;
	const uint8_t *mem = (const uint8_t *)(m->bias + orig.text.sh_addr);
	const uint8_t *file = orig.f.p + orig.text.sh_offset;
	size_t size = orig.text.sh_size;
	uint8_t *listed = calloc(size, 1);
	int n;

	assert_non_null(listed);
	/* the trampoline (linked into .text) changes with every update */
	if ((uintptr_t)api->tramp >= (uintptr_t)mem &&
	    (uintptr_t)api->tramp + STATIC_CALL_TRAMP_SIZE <=
		    (uintptr_t)mem + size)
		memset(listed + ((uintptr_t)api->tramp - (uintptr_t)mem), 1,
		       STATIC_CALL_TRAMP_SIZE);
	for (int i = 0; i < CM_CALLERS; i++)
		for (int x = 1; x < 4; x++) {
			int v = api->helper(x) + i;
			int want_r = (k ? v * 9 : v + 1) - i;
			assert_int_equal(api->call[i](x), want_r);
			n_calls++;
		}
	n = api->sites(s, MAX_SITES);
	assert_true(n >= 0 && n <= MAX_SITES);
	if (want >= 0 && n != want)
		fail_msg("%s: %d sites listed, expected %d", when, n, want);
	for (int i = 0; i < n; i++) {
		uintptr_t dest;
		size_t off = (uintptr_t)s[i].addr - (uintptr_t)mem;
		if (!is_real_site(m, s[i].addr))
			fail_msg("%s: %p is listed but is no call site", when,
				 s[i].addr);
		assert_int_equal(s[i].state, STATIC_CALL_SITE_INLINE);
		assert_ptr_equal(s[i].target, api->fn[k]);
		assert_int_equal(it_rel32(s[i].addr, &dest), IT_CALL);
		assert_int_equal(dest, (uintptr_t)api->fn[k]);
		memset(listed + off, 1, IT_SITE_LEN);
		n_checks++;
	}
	for (int i = 0; i < orig.nsites; i++) {
		const uint8_t *a = (const uint8_t *)(m->bias + orig.site[i]);
		uintptr_t dest;
		if (listed[a - mem])
			continue;
		assert_int_equal(it_rel32(a, &dest), IT_CALL);
		assert_int_equal(dest, (uintptr_t)api->tramp);
		n_checks++;
	}
	for (size_t i = 0; i < size; i++)
		if (!listed[i] && mem[i] != file[i])
			fail_msg("%s: .text byte %p changed: %02x, file %02x",
				 when, (const void *)(mem + i), mem[i],
				 file[i]);
	n_bytes += size;
	free(listed);
}

static void check_updates(const struct loaded *m, int want, const char *when)
{
	check(m, 0, want, when);
	assert_int_equal(m->api->update(1), 0);
	check(m, 1, want, when);
	assert_int_equal(m->api->update(0), 0);
	check(m, 0, want, when);
}

static Elf64_Rela rela_at(const struct it_file *f, size_t off)
{
	Elf64_Rela r;

	memcpy(&r, f->p + off, sizeof(r));
	return r;
}

static void set_rela(struct it_file *f, size_t off, const Elf64_Rela *r)
{
	memcpy(f->p + off, r, sizeof(*r));
}

static struct it_file copy_orig(void)
{
	struct it_file c = {malloc(orig.f.size), orig.f.size};

	assert_non_null(c.p);
	memcpy(c.p, orig.f.p, orig.f.size);
	return c;
}

static void test_damaged_entries(void **state)
{
	struct it_file c = copy_orig();
	struct static_call_stats st0, st1;
	uint64_t bogus[2], text_end = orig.text.sh_addr + orig.text.sh_size;
	const uint8_t *file = orig.f.p + orig.text.sh_offset;
	Elf64_Rela ra;
	struct loaded m;
	int d;

	(void)state;
	/* entry 0: a few bytes further, where the byte before the field is
	 * neither a call/jmp opcode nor what the library takes for an address
	 * reference (a rip-relative ModRM) or a jcc (0f 8x): those are skipped
	 * silently, as no sites */
	ra = rela_at(&c, orig.site_rel[0]);
#if defined(__x86_64__)
	for (d = 1; d < 16; d++) {
		uint64_t op = ra.r_offset + (uint64_t)d - 1;
		uint8_t b = file[op - orig.text.sh_addr];
		uint8_t b0 = file[op - 1 - orig.text.sh_addr];
		if (op + 5 <= text_end && b != 0xe8 && b != 0xe9 &&
		    (b & 0xc7) != 0x05 && !(b0 == 0x0f && (b & 0xf0) == 0x80))
			break;
	}
	assert_true(d < 16);
#else
	/* (aarch64: an instruction that is no b or bl) */
	for (d = 4; d < 64; d += 4) {
		uint64_t op = ra.r_offset + (uint64_t)d;
		uint32_t w = sc_test_insn(file + (op - orig.text.sh_addr));
		if (op + 4 <= text_end && (w & 0x7c000000u) != 0x14000000u)
			break;
	}
	assert_true(d < 64);
#endif
	ra.r_offset += (uint64_t)d;
	bogus[0] = ra.r_offset - IT_SITE_BACK;
	set_rela(&c, orig.site_rel[0], &ra);
	/* entry 1: at a direct call of cm_helper */
	ra = rela_at(&c, orig.site_rel[1]);
	ra.r_offset = orig.helper_field[0];
	bogus[1] = ra.r_offset - IT_SITE_BACK;
	set_rela(&c, orig.site_rel[1], &ra);

	st0 = sc_test_stats();
	load(&m, &c);
	st1 = sc_test_stats();
	for (int i = 0; i < nlogs && i < 8; i++)
		printf("  reported: %s\n", logs[i]);
	assert_int_equal(st1.sites_rejected - st0.sites_rejected, 2);
	assert_int_equal(st1.sites_found - st0.sites_found, orig.nsites - 2);
	assert_true(nlogs >= 2);
	for (int i = 0; i < 2; i++) {
		char addr[32];
		bool seen = false;
		snprintf(addr, sizeof(addr), "%p", (void *)(m.bias + bogus[i]));
		for (int j = 0; j < nlogs && j < 8; j++)
			seen |= strstr(logs[j], addr) != NULL &&
				strstr(logs[j], "not patched") != NULL;
		if (!seen)
			fail_msg("the damaged entry at %s was not reported",
				 addr);
	}
	/* nothing written at the bogus places, the rest inline */
	check_updates(&m, orig.nsites - 2, "damaged entries");
	for (int i = 0; i < 2; i++)
		assert_memory_equal((void *)(m.bias + bogus[i]),
				    file + (bogus[i] - orig.text.sh_addr),
				    IT_SITE_LEN);
	unload(&m);
	free(c.p);
	printf("damaged entries: 2 rejected, %d sites inline, %lu site checks, "
	       "%lu calls, %lu code bytes compared\n",
	       orig.nsites - 2, n_checks, n_calls, n_bytes);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The last byte any PT_LOAD segment takes from the file. */
static size_t loaded_end(const struct it_file *f)
{
	Elf64_Ehdr eh;
	size_t end = 0;

	memcpy(&eh, f->p, sizeof(eh));
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, f->p + eh.e_phoff + (size_t)i * sizeof(ph),
		       sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz > end)
			end = ph.p_offset + ph.p_filesz;
	}
	return end;
}

static void test_garbage_section_headers(void **state)
{
	static const char *const names[] = {
		"e_shoff past the end",	 "truncated after the loaded bytes",
		"e_shoff into the code", "header table of random bytes",
		"e_shnum 0xffff",	 "e_shentsize 0x30",
	};
	const int variants = (int)(sizeof(names) / sizeof(names[0]));
	unsigned long found = 0;

	(void)state;
	for (int v = 0; v < variants + 7; v++) {
		struct it_file c = copy_orig();
		struct static_call_stats st0;
		Elf64_Ehdr eh;
		struct loaded m;
		uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(v + 1);
		memcpy(&eh, c.p, sizeof(eh));
		switch (v < variants ? v : 3) {
		case 0:
			eh.e_shoff = c.size + 4096;
			break;
		case 1:
			c.size = loaded_end(&c);
			assert_true(c.size < orig.f.size);
			break;
		case 2:
			eh.e_shoff = orig.text.sh_offset + 8;
			break;
		case 3: /* several seeds */
			for (size_t i = eh.e_shoff; i < c.size; i++)
				c.p[i] = (uint8_t)rnd(&seed);
			break;
		case 4:
			eh.e_shnum = 0xffff;
			for (size_t i = eh.e_shoff + 64 * 4; i < c.size; i++)
				c.p[i] = (uint8_t)rnd(&seed);
			break;
		default:
			eh.e_shentsize = 0x30;
		}
		memcpy(c.p, &eh, sizeof(eh));
		st0 = sc_test_stats();
		load(&m, &c);
		found += sc_test_stats().sites_found - st0.sites_found;
		printf("  %s%s: %d message(s)%s%s\n",
		       names[v < variants ? v : 3],
		       v < variants ? "" : " (seed)", nlogs, nlogs ? ": " : "",
		       nlogs ? logs[0] : "");
		check_updates(&m, 0, names[v < variants ? v : 3]);
		unload(&m);
		free(c.p);
	}
	assert_int_equal(found, 0);
	printf("garbage section headers: %d files loaded, 0 sites, %lu site "
	       "checks, %lu calls\n",
	       variants + 7, n_checks, n_calls);
}

/* One field of one section header, or of one relocation, changed. */
static void damage(struct it_file *c, uint64_t *seed)
{
	Elf64_Ehdr eh;
	uint64_t r = rnd(seed), val;

	memcpy(&eh, c->p, sizeof(eh));
	switch (rnd(seed) % 4) {
	case 0:
		val = rnd(seed);
		break;
	case 1:
		val = rnd(seed) % 64;
		break;
	case 2:
		val = rnd(seed) % c->size;
		break;
	default:
		val = (uint64_t)-1 - rnd(seed) % 8;
	}
	if (r % 3 == 0) {
		/* a relocation of a site: any of its fields */
		size_t off = orig.site_rel[rnd(seed) % (uint64_t)orig.nsites];
		Elf64_Rela ra = rela_at(c, off);
		switch (rnd(seed) % 4) {
		case 0:
			ra.r_offset =
				rnd(seed) % 2 ? val : ra.r_offset + val % 16;
			break;
		case 1:
			ra.r_info = ELF64_R_INFO(val, ELF64_R_TYPE(ra.r_info));
			break;
		case 2:
			ra.r_info = ELF64_R_INFO(ELF64_R_SYM(ra.r_info),
						 (uint32_t)val);
			break;
		default:
			ra.r_addend = (int64_t)val;
		}
		set_rela(c, off, &ra);
	} else {
		Elf64_Shdr sh;
		size_t off = eh.e_shoff +
			     (size_t)(rnd(seed) % eh.e_shnum) * sizeof(sh);
		memcpy(&sh, c->p + off, sizeof(sh));
		switch (rnd(seed) % 7) {
		case 0:
			sh.sh_offset = val;
			break;
		case 1:
			sh.sh_size = val;
			break;
		case 2:
			sh.sh_link = (uint32_t)val;
			break;
		case 3:
			sh.sh_info = (uint32_t)val;
			break;
		case 4:
			sh.sh_entsize = val;
			break;
		case 5:
			sh.sh_addr = val;
			break;
		default:
			sh.sh_type = (uint32_t)val;
		}
		memcpy(c->p + off, &sh, sizeof(sh));
	}
}

static void test_fuzz(void **state)
{
	uint64_t seed = 0x2545f4914f6cdd1dull;
	unsigned long listed = 0, rejected = 0, warned = 0;
	struct static_call_stats st0 = sc_test_stats();

	(void)state;
	for (int run = 0; run < FUZZ_RUNS; run++) {
		struct it_file c = copy_orig();
		struct static_call_site s[MAX_SITES];
		struct loaded m;
		int nd = 1 + (int)(rnd(&seed) % 3), n;
		for (int i = 0; i < nd; i++)
			damage(&c, &seed);
		load(&m, &c);
		warned += nlogs > 0;
		n = m.api->sites(s, MAX_SITES);
		listed += n > 0 ? (unsigned long)n : 0;
		check_updates(&m, -1, "fuzz");
		unload(&m);
		free(c.p);
	}
	rejected = sc_test_stats().sites_rejected - st0.sites_rejected;
	printf("fuzz: %d damaged files loaded, %lu real sites listed in all, "
	       "%lu entries rejected, %lu files with messages; %lu site "
	       "checks, %lu calls, %lu code bytes compared\n",
	       FUZZ_RUNS, listed, rejected, warned, n_checks, n_calls, n_bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_damaged_entries),
		cmocka_unit_test(test_garbage_section_headers),
		cmocka_unit_test(test_fuzz),
	};

	it_watchdog(60);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
