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

#include "common.h"

#define IT_NOINLINE __attribute__((noinline, used))
#define IT_HIDDEN __attribute__((visibility("hidden")))

extern const uint8_t it_nop5[5]; /* 0f 1f 44 00 00 */
extern const uint8_t it_ret5[5]; /* c3 cc cc cc cc */
extern const uint8_t it_xor5[5]; /* 2e 2e 2e 31 c0 */

/* The opcode (0xe8 / 0xe9) of a `call/jmp rel32` at @site and its
 * destination; -1 if the site holds something else. */
int it_rel32(const void *site, uintptr_t *dest);

/* Name of an enum static_call_site_state value. */
const char *it_state(int state);

/* The GOT slot a PLT entry (jmp *disp32(%rip), maybe after endbr64 / bnd)
 * jumps through: 0, or -1 if @stub is not such an entry. */
int it_plt_slot(const void *stub, uintptr_t *slot);

/* Is the distance between @a and @b beyond what a rel32 reaches? */
bool it_far(uintptr_t a, uintptr_t b);

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
	int opcode;	  /* the file's byte before r_offset, -1 if none */
	bool call_or_jmp; /* PLT32/PC32, addend -4, opcode e8 or e9 */
};
typedef void (*it_rel_fn)(void *arg, const struct it_rel *r);

/* Walk every relocation of the allocated executable sections of @f. */
int it_walk_relocs(const struct it_file *f, it_rel_fn fn, void *arg);

/* How many call/jmp relocations of @path's code name the symbol @sym. */
int it_count_sites(const char *path, const char *sym);

#endif
