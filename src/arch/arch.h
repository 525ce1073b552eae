/* SPDX-License-Identifier: MIT */
/*
 * The architecture contract.  Each port provides src/arch/<arch>/arch.h and
 * insn.c with what is listed here; generic code knows no instruction byte.
 *
 * Traps (the int3 protocol):
 *   SC_ARCH_TRAP_LEN, SC_ARCH_TRAP_INSN   the breakpoint written over the
 *                            start of a site (x86: 1 byte, cc)
 *   sc_arch_is_trap(si)      is this SIGTRAP that breakpoint (as the kernel
 *                            or valgrind report it)?
 *   sc_arch_trap_site(uc)    the address of the site a context trapped on
 *   sc_arch_pc(uc)           the program counter of a signal context
 *   sc_arch_trap_rewind()    make the context run the site again
 *   sc_arch_emulate()        make the context behave as struct sc_emu says
 *                            (async-signal-safe)
 * Trampolines (layout in include/staticcall/arch-<arch>.h):
 *   sc_arch_tramp_decode()   0 and the target the bytes reach (NULL for
 *                            the NULL form), or -ENOEXEC
 *   sc_arch_tramp_encode()   the bytes of a trampoline that reaches @func,
 *                            given its current bytes, and their emulation.
 *                            Rule: its first instruction is ONE instruction,
 *                            and a data word that a caller of the old form
 *                            may still read is only ever rewritten with
 *                            another valid target (never cleared).
 *   sc_arch_tramp_signature()  does a trampoline of ours start here?
 * Static key sites:
 *   SC_ARCH_JUMP_LEN         bytes of a branch site
 *   sc_arch_jump_encode()    the site's bytes when it jumps (or not)
 * Inline call sites:
 *   SC_ARCH_SITE_LEN, sc_arch_site_decode(), sc_arch_site_encode(),
 *   sc_arch_site_state(), sc_arch_plt_slot(); relocations in arch/elf.h
 * The store protocol:
 *   SC_ARCH_INSN_STORE       the smaller aligned store (dividing the store
 *                            word) used when a word's changed bytes all
 *                            lie in one such unit: an instruction changed
 *                            alone (aarch64: 4, one A64 instruction; x86:
 *                            8, the word itself)
 *   SC_ARCH_STORE_WORD       the size of the aligned, single-copy atomic
 *                            stores it makes (a site never crosses one)
 *   sc_arch_flush_icache()   what the architecture needs after a store to
 *                            code (x86: nothing)
 * Machine:
 *   sc_arch_serialize()      a core-serialising instruction on this thread
 *   sc_arch_tlb_broadcast()  may the CPU invalidate other cores' TLBs
 *                            without interrupting them (then a flip could
 *                            tear an instruction that straddles pages)?
 *   sc_arch_syscall3()       a raw system call, inline (no libc, no call)
 *   SC_ARCH_SIG_ENTRY(e, h)  define e, an entry for signal handler h whose
 *                            first bytes carry SC_SIG_MAGIC (signals.h)
 *   sc_arch_sig_entry_is()   do these SC_ARCH_SIG_ENTRY_LEN bytes start such
 *                            an entry?
 */
#ifndef SC_ARCH_H
#define SC_ARCH_H

#if defined(__x86_64__)
#include "x86_64/arch.h"
#elif defined(__aarch64__)
#include "aarch64/arch.h"
#else
#error "libstaticcall: no port for this architecture"
#endif

#endif
