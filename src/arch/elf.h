/* SPDX-License-Identifier: MIT */
/* The architecture's relocation facts for src/elfsites.c. */
#ifndef SC_ARCH_ELF_H
#define SC_ARCH_ELF_H

#if defined(__x86_64__)
#include "x86_64/elf.h"
#elif defined(__aarch64__)
#include "aarch64/elf.h"
#else
#error "libstaticcall: no port for this architecture"
#endif

#endif
