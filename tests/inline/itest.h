/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the inline call site tests (tests/inline): decoding a site's
 * bytes independently of the library, a page of code far (> 2 GiB) from
 * given addresses, and a walk over a linked file's kept relocations that
 * does not share any code with src/elfsites.c.
 */
#ifndef SC_ITEST_H
#define SC_ITEST_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "common.h"

#define IT_NOINLINE __attribute__((noinline, used))
#define IT_HIDDEN __attribute__((visibility("hidden")))

/* A site's length: 5 (call/jmp rel32), 4 on aarch64 (bl/b); how far
 * before its relocation's r_offset it starts (the opcode byte; aarch64:
 * the relocation is on the instruction). */
#define IT_SITE_LEN SC_TEST_SITE_LEN
#if defined(__x86_64__)
#define IT_SITE_BACK 1
#else
#define IT_SITE_BACK 0
#endif

/* What the library writes for NULL at a call site: the 5-byte nop
 * (0f 1f 44 00 00), `nop` on aarch64. */
extern const uint8_t it_nop[IT_SITE_LEN];
#if defined(__x86_64__)
/* NULL at a tail site (c3 cc cc cc cc); RET0 at a call site
 * (2e 2e 2e 31 c0: xor %eax,%eax).  On aarch64 neither exists: NULL at a
 * tail site is a branch to its trampoline's `ret` (it_null_tail()), RET0
 * a call of __static_call_return0 like any target. */
extern const uint8_t it_ret5[5];
extern const uint8_t it_xor5[5];
#define IT_RET0_INLINE 1 /* RET0 at a call site has a state of its own */
#else
#define IT_RET0_INLINE 0
#endif

/* Does the NULL tail site @site hold what the library writes there, given
 * its trampoline @tramp? */
bool it_null_tail(const void *site, uintptr_t tramp);

/* A direct call or tail call at @site: IT_CALL (`call rel32`, `bl`) or
 * IT_TAIL (`jmp rel32`, `b`) and its destination; -1 if the site holds
 * something else. */
enum { IT_CALL = 1, IT_TAIL = 2 };
int it_branch(const void *site, uintptr_t *dest);
#define it_rel32 it_branch

/* Name of an enum static_call_site_state value. */
const char *it_state(int state);

/* The GOT slot a PLT entry (jmp *disp32(%rip), maybe after endbr64 / bnd;
 * adrp/ldr/add/br x17, maybe after bti c) jumps through: 0, or -1 if
 * @stub is not such an entry. */
int it_plt_slot(const void *stub, uintptr_t *slot);

/* Is the distance between @a and @b beyond what a direct call reaches
 * (rel32: 2 GiB; bl: 128 MiB)? */
bool it_far(uintptr_t a, uintptr_t b);

/* Code for it_far_code(): `int f(int x) { return 4 * x + 3; }` and
 * `void f(int *p) { *p = 3; }`. */
extern const uint8_t it_code_4x3[];
extern const size_t it_code_4x3_len;
extern const uint8_t it_code_store3[];
extern const size_t it_code_store3_len;

/* A page more than 2 GiB (+ 1 MiB) away from each of @near[0..n), holding
 * @len bytes of code at its start: written while the page is PROT_READ |
 * PROT_WRITE, then made PROT_READ | PROT_EXEC (never both).  NULL if no
 * such address could be mapped. */
void *it_far_code(const uintptr_t *near, size_t n, const void *code,
		  size_t len);

/* sc_test_watchdog(@seconds), then it_settle(). */
void it_watchdog(double seconds);

/* Wait (up to 10 s) until no thread of the process blocks SIGTRAP.  A new
 * thread starts with every signal blocked (glibc) until it runs, and the
 * int3 protocol refuses to patch (-EAGAIN) while one does: on a loaded
 * machine, a thread just created may not run for longer than the library
 * waits for it (20 ms).  Call after creating threads, before patching.
 * Returns 0, or -1 if some thread still blocks SIGTRAP. */
int it_settle(void);

/* The path of the file of the module holding @addr ("/proc/self/exe" for
 * the main program). */
const char *it_module_path(const void *addr);
/* Does @a lie in the same module as @b? */
bool it_same_module(const void *a, const void *b);

/* A file read into memory (malloc). */
struct it_file {
	uint8_t *p;
	size_t size;
};
int it_file_read(const char *path, struct it_file *f);
int it_file_write(const char *path, const struct it_file *f);
void it_file_free(struct it_file *f);

/* One relocation of an executable section of a linked file. */
struct it_rel {
	size_t rela_off;  /* file offset of the Elf64_Rela */
	Elf64_Rela rela;  /* its contents */
	const char *name; /* its symbol's name ("" if none) */
	Elf64_Shdr code;  /* the section it applies to */
	int opcode;	  /* the file's byte before r_offset (aarch64: the
			   * top byte at r_offset), -1 if none */
	bool call_or_jmp; /* PLT32/PC32, addend -4, opcode e8 or e9;
			   * CALL26/JUMP26, addend 0, bl or b */
	int kind;	  /* IT_CALL, IT_TAIL (by the opcode), or 0 */
};
typedef void (*it_rel_fn)(void *arg, const struct it_rel *r);

/* Walk every relocation of the allocated executable sections of @f. */
int it_walk_relocs(const struct it_file *f, it_rel_fn fn, void *arg);

/* How many call/jmp relocations of @path's code name the symbol @sym. */
int it_count_sites(const char *path, const char *sym);

#endif
