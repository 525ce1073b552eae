/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

#if defined(__x86_64__)
const uint8_t it_nop[IT_SITE_LEN] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
const uint8_t it_ret5[5] = {0xc3, 0xcc, 0xcc, 0xcc, 0xcc};
const uint8_t it_xor5[5] = {0x2e, 0x2e, 0x2e, 0x31, 0xc0};
/* lea 0x3(,%rdi,4),%eax; ret  /  movl $3,(%rdi); ret */
const uint8_t it_code_4x3[] = {0x8d, 0x04, 0xbd, 0x03, 0x00, 0x00, 0x00, 0xc3};
const uint8_t it_code_store3[] = {0xc7, 0x07, 0x03, 0x00, 0x00, 0x00, 0xc3};

int it_branch(const void *site, uintptr_t *dest)
{
	const uint8_t *b = site;
	int32_t rel;

	if (b[0] != 0xe8 && b[0] != 0xe9)
		return -1;
	memcpy(&rel, b + 1, sizeof(rel));
	*dest = (uintptr_t)b + 5 + (uintptr_t)(intptr_t)rel;
	return b[0] == 0xe8 ? IT_CALL : IT_TAIL;
}

bool it_null_tail(const void *site, uintptr_t tramp)
{
	(void)tramp;
	return memcmp(site, it_ret5, 5) == 0;
}
#else
const uint8_t it_nop[IT_SITE_LEN] = {0x1f, 0x20, 0x03, 0xd5};
/* lsl w0, w0, #2; add w0, w0, #3; ret  /  mov w1, #3; str w1, [x0]; ret */
const uint8_t it_code_4x3[] = {0x00, 0x74, 0x1e, 0x53, 0x00, 0x0c,
			       0x00, 0x11, 0xc0, 0x03, 0x5f, 0xd6};
const uint8_t it_code_store3[] = {0x61, 0x00, 0x80, 0x52, 0x01, 0x00,
				  0x00, 0xb9, 0xc0, 0x03, 0x5f, 0xd6};

int it_branch(const void *site, uintptr_t *dest)
{
	uint32_t w = sc_test_insn(site), op = w & 0xfc000000u;
	int32_t imm = (int32_t)(w << 6) >> 6;

	if (op != 0x94000000u && op != 0x14000000u)
		return -1;
	*dest = (uintptr_t)site + (uintptr_t)((intptr_t)imm * 4);
	return op == 0x94000000u ? IT_CALL : IT_TAIL;
}

/* `b` to the `ret` at offset 16 of the trampoline (arch-aarch64.h) */
bool it_null_tail(const void *site, uintptr_t tramp)
{
	uintptr_t dest;

	return it_branch(site, &dest) == IT_TAIL && dest == tramp + 16 &&
	       sc_test_insn((void *)dest) == 0xd65f03c0u;
}
#endif
const size_t it_code_4x3_len = sizeof(it_code_4x3);
const size_t it_code_store3_len = sizeof(it_code_store3);

const char *it_state(int state)
{
	static const char *const names[] = {"TRAMPOLINE", "INLINE", "NOP",
					    "RET",	  "RET0",   "CHANGED"};

	return state >= 0 && state < 6 ? names[state] : "?";
}

#if defined(__x86_64__)
int it_plt_slot(const void *stub, uintptr_t *slot)
{
	static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
	const uint8_t *q = stub;
	int32_t disp;

	if (memcmp(q, endbr64, 4) == 0)
		q += 4;
	if (q[0] == 0xf2) /* bnd */
		q++;
	if (q[0] != 0xff || q[1] != 0x25)
		return -1;
	memcpy(&disp, q + 2, sizeof(disp));
	*slot = (uintptr_t)(q + 6) + (uintptr_t)(intptr_t)disp;
	return 0;
}

bool it_far(uintptr_t a, uintptr_t b)
{
	uintptr_t d = a > b ? a - b : b - a;

	return d > ((uintptr_t)1 << 31) + ((uintptr_t)1 << 20);
}
#else
/* [bti c] adrp x16, page; ldr x17, [x16, #off]; add x16, x16, #off;
 * br x17 */
int it_plt_slot(const void *stub, uintptr_t *slot)
{
	const uint8_t *q = stub;
	uint32_t adrp, ldr;
	int64_t pages;

	if (sc_test_insn(q) == 0xd503245fu)
		q += 4;
	adrp = sc_test_insn(q);
	ldr = sc_test_insn(q + 4);
	if ((adrp & 0x9f00001fu) != 0x90000010u ||
	    (ldr & 0xffc003ffu) != 0xf9400211u ||
	    sc_test_insn(q + 12) != 0xd61f0220u)
		return -1;
	/* immhi (bits 5..23) : immlo (bits 29..30), signed, in 4 KiB pages */
	pages = (int64_t)((((adrp >> 5) & 0x7ffffu) << 2) | ((adrp >> 29) & 3));
	pages = (int64_t)((uint64_t)pages << 43) >> 43;
	*slot = ((uintptr_t)q & ~(uintptr_t)4095) + (uintptr_t)(pages * 4096) +
		((ldr >> 10) & 0xfff) * 8;
	return 0;
}

bool it_far(uintptr_t a, uintptr_t b)
{
	uintptr_t d = a > b ? a - b : b - a;

	return d > ((uintptr_t)1 << 27) + ((uintptr_t)1 << 20);
}
#endif

static bool far_from_all(uintptr_t p, const uintptr_t *near, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!it_far(p, near[i]) || !it_far(p + 4096, near[i]))
			return false;
	return true;
}

void *it_far_code(const uintptr_t *near, size_t n, const void *code, size_t len)
{
	/* Hints: 4 GiB steps around the first address, then fixed spots
	 * that are usable application memory even under ASan (whose shadow
	 * covers 0x7fff8000..0x10007fff7fff). */
	static const uintptr_t fixed[] = {0x200000000000, 0x300000000000,
					  0x600000000000, 0x680000000000,
					  0x10000000,	  0x40000000};
	uintptr_t base = n ? near[0] & ~(uintptr_t)0xfff : 0x600000000000;
	const uintptr_t step = (uintptr_t)1 << 32;

	if (len > 4096)
		return NULL;
	for (int i = 0; i < 40; i++) {
		uintptr_t hint;
		void *p;
		if (i < 16)
			hint = i % 2 ? base + step * (uintptr_t)(i / 2 + 1)
				     : base - step * (uintptr_t)(i / 2 + 1);
		else if (i - 16 < (int)(sizeof(fixed) / sizeof(fixed[0])))
			hint = fixed[i - 16];
		else
			hint = 0x100000000000 + step * 64 * (uintptr_t)i;
		if (hint > 0x7ffffffff000 || hint < 0x10000)
			continue;
		p = mmap((void *)hint, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			continue;
		if (!far_from_all((uintptr_t)p, near, n)) {
			munmap(p, 4096);
			continue;
		}
		memset(p, SC_TEST_FILL, 4096);
		memcpy(p, code, len);
		__builtin___clear_cache((char *)p, (char *)p + len);
		if (mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0) {
			munmap(p, 4096);
			return NULL;
		}
		return p;
	}
	return NULL;
}

/* Does any thread block SIGTRAP (field 32 of its stat: blocked mask)? */
static bool any_blocks_sigtrap(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		char path[300], buf[1024], *p;
		unsigned long mask = 0;
		ssize_t n;
		int fd, f;
		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    sc_test_emulator_thread(atol(e->d_name)))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		p = strrchr(buf, ')');
		for (f = 2; p && *p && f < 32; p++)
			f += *p == ' ';
		if (p && f == 32 && sscanf(p, "%lu", &mask) == 1)
			found = (mask >> (SIGTRAP - 1)) & 1;
	}
	closedir(d);
	return found;
}

int it_settle(void)
{
	double end = sc_now() + 10;

	while (any_blocks_sigtrap()) {
		if (sc_now() > end)
			return -1;
		usleep(1000);
	}
	return 0;
}

void it_watchdog(double seconds)
{
	sc_test_watchdog(seconds);
	it_settle();
}

struct find {
	uintptr_t addr;
	const char *name;
	uintptr_t base;
	bool found;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && f->addr >= lo &&
		    f->addr - lo < ph->p_memsz) {
			f->name = info->dlpi_name;
			f->base = info->dlpi_addr;
			f->found = true;
			return 1;
		}
	}
	return 0;
}

static struct find find_module(const void *addr)
{
	struct find f = {.addr = (uintptr_t)addr};

	dl_iterate_phdr(find_cb, &f);
	return f;
}

const char *it_module_path(const void *addr)
{
	struct find f = find_module(addr);

	if (!f.found)
		return NULL;
	return f.name && f.name[0] ? f.name : "/proc/self/exe";
}

bool it_same_module(const void *a, const void *b)
{
	struct find fa = find_module(a), fb = find_module(b);

	return fa.found && fb.found && fa.base == fb.base &&
	       strcmp(fa.name ? fa.name : "", fb.name ? fb.name : "") == 0;
}

int it_file_read(const char *path, struct it_file *f)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	f->p = NULL;
	f->size = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return -EINVAL;
	}
	f->size = (size_t)st.st_size;
	f->p = malloc(f->size);
	while (f->p && got < f->size) {
		ssize_t n = read(fd, f->p + got, f->size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!f->p || got != f->size) {
		it_file_free(f);
		return -EIO;
	}
	return 0;
}

int it_file_write(const char *path, const struct it_file *f)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	size_t put = 0;

	if (fd < 0)
		return -errno;
	while (put < f->size) {
		ssize_t n = write(fd, f->p + put, f->size - put);
		if (n <= 0)
			break;
		put += (size_t)n;
	}
	close(fd);
	return put == f->size ? 0 : -EIO;
}

void it_file_free(struct it_file *f)
{
	free(f->p);
	f->p = NULL;
	f->size = 0;
}

static bool in_file(const struct it_file *f, uint64_t off, uint64_t len)
{
	return off <= f->size && len <= f->size - off;
}

int it_walk_relocs(const struct it_file *f, it_rel_fn fn, void *arg)
{
	Elf64_Ehdr eh;
	int count = 0;

	if (!in_file(f, 0, sizeof(eh)))
		return -1;
	memcpy(&eh, f->p, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(f, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)))
		return -1;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr rs, code, sym, str;
		memcpy(&rs, f->p + eh.e_shoff + i * sizeof(rs), sizeof(rs));
		if (rs.sh_type != SHT_RELA || rs.sh_info >= eh.e_shnum ||
		    rs.sh_link >= eh.e_shnum)
			continue;
		memcpy(&code, f->p + eh.e_shoff + rs.sh_info * sizeof(code),
		       sizeof(code));
		if (!(code.sh_flags & SHF_EXECINSTR) ||
		    !(code.sh_flags & SHF_ALLOC))
			continue;
		memcpy(&sym, f->p + eh.e_shoff + rs.sh_link * sizeof(sym),
		       sizeof(sym));
		if (sym.sh_link >= eh.e_shnum)
			return -1;
		memcpy(&str, f->p + eh.e_shoff + sym.sh_link * sizeof(str),
		       sizeof(str));
		if (!in_file(f, rs.sh_offset, rs.sh_size) ||
		    !in_file(f, sym.sh_offset, sym.sh_size) ||
		    !in_file(f, str.sh_offset, str.sh_size))
			return -1;
		for (uint64_t k = 0; k < rs.sh_size / sizeof(Elf64_Rela); k++) {
			struct it_rel r;
			Elf64_Sym s;
			uint64_t si, field;
			memset(&r, 0, sizeof(r));
			r.rela_off = rs.sh_offset + k * sizeof(Elf64_Rela);
			memcpy(&r.rela, f->p + r.rela_off, sizeof(r.rela));
			r.code = code;
			r.name = "";
			si = ELF64_R_SYM(r.rela.r_info);
			if (si && si < sym.sh_size / sizeof(s)) {
				memcpy(&s,
				       f->p + sym.sh_offset + si * sizeof(s),
				       sizeof(s));
				if (s.st_name < str.sh_size)
					r.name = (const char *)f->p +
						 str.sh_offset + s.st_name;
			}
			field = r.rela.r_offset - code.sh_addr;
			r.opcode = -1;
#if defined(__x86_64__)
			if (r.rela.r_offset > code.sh_addr &&
			    field <= code.sh_size &&
			    code.sh_type != SHT_NOBITS &&
			    in_file(f, code.sh_offset, code.sh_size))
				r.opcode = f->p[code.sh_offset + field - 1];
			r.call_or_jmp = (ELF64_R_TYPE(r.rela.r_info) ==
						 R_X86_64_PLT32 ||
					 ELF64_R_TYPE(r.rela.r_info) ==
						 R_X86_64_PC32) &&
					r.rela.r_addend == -4 &&
					(r.opcode == 0xe8 || r.opcode == 0xe9);
			r.kind = r.opcode == 0xe8   ? IT_CALL
				 : r.opcode == 0xe9 ? IT_TAIL
						    : 0;
#else
			if (r.rela.r_offset >= code.sh_addr &&
			    field + 4 <= code.sh_size &&
			    code.sh_type != SHT_NOBITS &&
			    in_file(f, code.sh_offset, code.sh_size))
				r.opcode = f->p[code.sh_offset + field + 3];
			r.call_or_jmp = (ELF64_R_TYPE(r.rela.r_info) ==
						 R_AARCH64_CALL26 ||
					 ELF64_R_TYPE(r.rela.r_info) ==
						 R_AARCH64_JUMP26) &&
					r.rela.r_addend == 0 &&
					((r.opcode & 0xfc) == 0x94 ||
					 (r.opcode & 0xfc) == 0x14);
			r.kind = (r.opcode & 0xfc) == 0x94   ? IT_CALL
				 : (r.opcode & 0xfc) == 0x14 ? IT_TAIL
							     : 0;
#endif
			count++;
			if (fn)
				fn(arg, &r);
		}
	}
	return count;
}

struct count_arg {
	const char *sym;
	int n;
};

static void count_cb(void *arg, const struct it_rel *r)
{
	struct count_arg *a = arg;

	if (r->call_or_jmp && strcmp(r->name, a->sym) == 0)
		a->n++;
}

int it_count_sites(const char *path, const char *sym)
{
	struct it_file f;
	struct count_arg a = {sym, 0};
	int err = it_file_read(path, &f);

	if (err)
		return err;
	err = it_walk_relocs(&f, count_cb, &a);
	it_file_free(&f);
	return err < 0 ? err : a.n;
}
