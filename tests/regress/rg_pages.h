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

#define RG_PAGES_MACRO                                                         \
	".macro rg_key_site name, ref, at, flags=0\n"                          \
	"	.org \\at, 0xcc\n"                                                   \
	"	.globl \\name\n"                                                     \
	"	.type \\name, @function\n"                                           \
	"\\name:\n"                                                            \
	"771:	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"                            \
	"	xor %eax, %eax\n"                                                    \
	"	ret\n"                                                               \
	"772:	mov $1, %eax\n"                                                  \
	"	ret\n"                                                               \
	"	.size \\name, . - \\name\n"                                          \
	"	.pushsection sc_jump_table, \"aw\"\n"                                \
	"	.balign 8\n"                                                         \
	"	.long 771b - ., 772b - .\n"                                          \
	"	.quad \\ref - . + \\flags\n"                                         \
	"	.popsection\n"                                                       \
	".endm\n"

/* The hidden pointer to key @k that rg_key_site's <ref> names. */
#define RG_KEY_REF(ref, k)                                                     \
	__attribute__((used,                                                   \
		       visibility("hidden"))) struct static_key *const ref =   \
		&(k).key

#define RG_PAGE 4096

#endif
