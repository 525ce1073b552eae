/* SPDX-License-Identifier: MIT */
/*
 * Static key sites at chosen byte offsets of a 4 KiB-aligned section,
 * written in assembly, for tests about which pages a batch touches.
 *
 * RG_PAGES_MACRO defines the assembler macro
 *
 *     rg_key_site <name>, <ref>, <offset>
 *
 * which places, at byte <offset> of the current section (the section must
 * start with `.balign 4096`), a function `int <name>(void)` whose first
 * instruction is a static key site (unlikely form, a jump table entry in
 * the layout <staticcall.h> emits) of the key that the pointer <ref>
 * (hidden, `struct static_key *const`) names: it returns 1 when the key is
 * enabled, 0 when not.  Offsets must increase within a section.  <flags>
 * (default 0) is added to the entry's key field: 2 marks a site placed
 * for trap-free stores (STATICCALL_KEYS_TRAPFREE), which an offset that
 * is a multiple of 8 makes true.
 */
#ifndef SC_RG_PAGES_H
#define SC_RG_PAGES_H

#if defined(__x86_64__)
/* A 5-byte nop as the site, as <staticcall.h> emits it. */
#define RG_KEY_BODY                                                            \
	"771:	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"                            \
	"	xor %eax, %eax\n"                                                    \
	"	ret\n"                                                               \
	"772:	mov $1, %eax\n"                                                  \
	"	ret\n"
/* Every entry of <staticcall.h> on x86-64 carries only the flags asked. */
#define RG_KEY_FLAGS "\\flags"
/* The body of a function that calls @tramp (keeping the stack aligned)
 * and returns what it returned: an inline call site. */
#define RG_CALL_BODY(tramp)                                                    \
	"	sub $8, %rsp\n"                                                      \
	"	call " tramp "\n"                                              \
	"	add $8, %rsp\n"                                                      \
	"	ret\n"
#elif defined(__aarch64__)
#define RG_KEY_BODY                                                            \
	"771:	nop\n"                                                           \
	"	mov w0, #0\n"                                                        \
	"	ret\n"                                                               \
	"772:	mov w0, #1\n"                                                    \
	"	ret\n"
/* Every branch site of <staticcall.h> is one aligned word and every entry
 * says so (arch-aarch64.h): so do these, whatever <flags> asks. */
#define RG_KEY_FLAGS "2"
#define RG_CALL_BODY(tramp)                                                    \
	"	stp x29, x30, [sp, #-16]!\n"                                         \
	"	bl " tramp "\n"                                                \
	"	ldp x29, x30, [sp], #16\n"                                           \
	"	ret\n"
#else
#error "rg_pages.h: no port for this architecture"
#endif

#define RG_PAGES_MACRO                                                         \
	".macro rg_key_site name, ref, at, flags=0\n"                          \
	"	.org \\at, 0xcc\n"                                                   \
	"	.globl \\name\n"                                                     \
	"	.type \\name, @function\n"                                           \
	"\\name:\n" RG_KEY_BODY "	.size \\name, . - \\name\n"                  \
	"	.pushsection sc_jump_table, \"aw\"\n"                                \
	"	.balign 8\n"                                                         \
	"	.long 771b - ., 772b - .\n"                                          \
	"	.quad \\ref - . + " RG_KEY_FLAGS "\n"                          \
	"	.popsection\n"                                                       \
	".endm\n"

/* The hidden pointer to key @k that rg_key_site's <ref> names. */
#define RG_KEY_REF(ref, k)                                                     \
	__attribute__((used,                                                   \
		       visibility("hidden"))) struct static_key *const ref =   \
		&(k).key

#define RG_PAGE 4096

#endif
