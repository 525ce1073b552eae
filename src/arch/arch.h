/* SPDX-License-Identifier: MIT */
/*
 * The architecture contract.  Each port provides src/arch/<arch>/arch.h with
 * the functions below; the generic code (poke.c, trap.c, static_call.c) knows
 * nothing about instruction encodings.
 *
 *   SC_ARCH_TRAP_BYTE        the 1-byte breakpoint written first
 *   sc_arch_is_trap(si)      is this SIGTRAP's si_code that of the breakpoint
 *                            (as the kernel or valgrind report it)?
 *
 *   sc_arch_tramp_decode()   check 16 trampoline bytes; 0 and the current
 *                            target (NULL, ret0 or an address), or -ENOEXEC
 *   sc_arch_tramp_encode()   the bytes and the trap emulation of a trampoline
 *                            that reaches @func
 *   sc_arch_trap_site()      the site address a SIGTRAP context trapped on
 *   sc_arch_pc()             the program counter of a signal context
 *   sc_arch_trap_rewind()    make the context re-execute the site
 *   sc_arch_emulate()        make the context behave as the poke's new
 *                            instruction would (async-signal-safe)
 *   sc_arch_serialize()      a core-serialising instruction on this thread
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
#else
#error "libstaticcall: no port for this architecture"
#endif

#endif
