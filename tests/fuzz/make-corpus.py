#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Regenerate tests/fuzz/corpus/: the seed inputs of fuzz_elfsites.

Small linked files with static call sites (assembled, and compiled from C
with the real header, trampoline pages shrunk to 16 bytes to keep them a
few KB), then hand-made variants: extended section numbering, code without
file contents, and malformed files that the parser must refuse.

Usage: tests/fuzz/make-corpus.py [CC]      (needs as, ld, objcopy; CC: gcc)
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
INCLUDE = os.path.join(HERE, "..", "..", "include")
CC = sys.argv[1] if len(sys.argv) > 1 else "gcc"
SMALL = ["-z", "noseparate-code", "-z", "max-page-size=4096"]

EXEC_S = r"""
	.text
	.globl _start
	.type _start,@function
_start:	call __SCT__a
	call *__SCT__b@GOTPCREL(%rip)	# relaxed by ld: addr32 call, PC32
	jmp __SCT__a
	.size _start, .-_start
	.type g,@function
g:	call __SCT__b
	lea __SCT__a(%rip), %rax	# PC32 -4 too, but not a call
	ret
	.size g, .-g
	.section .text.staticcall_tramp,"ax",@progbits
	.p2align 4
	.globl __SCT__a
	.type __SCT__a,@function
__SCT__a: ret
	.p2align 4
	.globl __SCT__b
	.type __SCT__b,@function
__SCT__b: ret
"""

DSO_S = r"""
	.text
	.globl f
	.type f,@function
f:	call __SCT__ext@PLT
	call __SCT__own
	jmp __SCT__ext@PLT
	.size f, .-f
	.section .text.staticcall_tramp,"ax",@progbits
	.p2align 4
	.globl __SCT__own
	.protected __SCT__own
	.type __SCT__own,@function
__SCT__own: ret
"""

C_SRC = r"""
#include <staticcall.h>
int t1(int x) { return x + 1; }
DEFINE_STATIC_CALL(m_a, t1);
DECLARE_STATIC_CALL(m_ext, t1);
int call_a(int x) { return static_call(m_a)(x) + 1; }
int call_ext(int x) { return static_call(m_ext)(x) * 2; }
int tail_a(int x) { return static_call(m_a)(x); }
"""


def run(*cmd):
    subprocess.run(cmd, check=True)


class Elf:
    def __init__(self, data):
        self.d = bytearray(data)
        (self.shoff,) = struct.unpack_from("<Q", self.d, 0x28)
        (self.shnum,) = struct.unpack_from("<H", self.d, 0x3C)
        (self.shstrndx,) = struct.unpack_from("<H", self.d, 0x3E)

    def shdr(self, i):
        return list(struct.unpack_from("<IIQQQQIIQQ", self.d, self.shoff + 64 * i))

    def set_shdr(self, i, s):
        struct.pack_into("<IIQQQQIIQQ", self.d, self.shoff + 64 * i, *s)

    def name(self, i):
        st = self.shdr(self.shstrndx)
        off = st[4] + self.shdr(i)[0]
        return bytes(self.d[off : self.d.index(0, off)]).decode()

    def find(self, name):
        return next(i for i in range(self.shnum) if self.name(i) == name)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def variant(base, name, fn):
    e = Elf(base)
    fn(e)
    write(name, e.d)


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    try:
        def p(x):
            return os.path.join(tmp, x)

        open(p("exec.s"), "w").write(EXEC_S)
        open(p("dso.s"), "w").write(DSO_S)
        open(p("m.c"), "w").write(C_SRC)
        run("as", p("exec.s"), "-o", p("exec.o"))
        run("ld", "--emit-relocs", *SMALL, "-o", p("exec"), p("exec.o"))
        run("ld", *SMALL, "-o", p("exec_norelocs"), p("exec.o"))
        run("as", p("dso.s"), "-o", p("dso.o"))
        run("ld", "-shared", "--emit-relocs", "-z", "now", *SMALL, "-o",
            p("dso"), p("dso.o"))
        # The real header; one 16-byte trampoline slot instead of a page.
        asm = subprocess.run(
            [CC, "-O2", "-fPIC", "-S", "-o", "-", "-I" + INCLUDE,
             "-fno-asynchronous-unwind-tables", "-x", "c", p("m.c")],
            check=True, capture_output=True, text=True).stdout
        open(p("m.s"), "w").write(asm.replace(".balign 4096", ".balign 16"))
        run(CC, "-shared", "-nostdlib", "-o", p("c_shared"), p("m.s"),
            "-Wl,--emit-relocs,-z,now,-z,noseparate-code,-z,max-page-size=4096,"
            "--unresolved-symbols=ignore-all")
        run("objcopy", "--remove-section=.comment",
            "--remove-section=.note.gnu.build-id",
            "--remove-section=.note.gnu.property", p("c_shared"))

        exe = open(p("exec"), "rb").read()
        shutil.copy(p("exec"), os.path.join(OUT, "exec_asm"))
        shutil.copy(p("dso"), os.path.join(OUT, "dso_plt_asm"))
        shutil.copy(p("c_shared"), os.path.join(OUT, "c_shared"))
        shutil.copy(p("exec_norelocs"), os.path.join(OUT, "no_relocs"))
        shutil.copy(p("exec.o"), os.path.join(OUT, "object_file"))

        def ext_numbering(e):  # e_shnum = 0: the count is in section 0
            s0 = e.shdr(0)
            s0[5] = e.shnum
            e.set_shdr(0, s0)
            struct.pack_into("<H", e.d, 0x3C, 0)

        def nobits_text(e):
            i = e.find(".text")
            s = e.shdr(i)
            s[1] = 8  # SHT_NOBITS
            e.set_shdr(i, s)

        def rela_entry(e, k, fmt_off, value, fmt):
            s = e.shdr(e.find(".rela.text"))
            struct.pack_into(fmt, e.d, s[4] + 24 * k + fmt_off, value)

        def bad_symlink(e):
            i = e.find(".rela.text")
            s = e.shdr(i)
            s[6] = 99
            e.set_shdr(i, s)

        def bad_symidx(e):
            rela_entry(e, 0, 12, 0xFFFF, "<I")  # high half of r_info

        def bad_stname(e):
            s = e.shdr(e.find(".symtab"))
            for k in range(1, s[5] // 24):
                struct.pack_into("<I", e.d, s[4] + 24 * k, 0x7FFFFFF0)

        def bad_roffset(e):
            rela_entry(e, 1, 0, 0x7FFFFFFFFFFFFFF0, "<Q")

        def dup_reloc(e):
            s = e.shdr(e.find(".rela.text"))
            e.d[s[4] + 24 : s[4] + 48] = e.d[s[4] : s[4] + 24]

        def bad_shentsize(e):
            struct.pack_into("<H", e.d, 0x3A, 40)

        def shoff_past_end(e):
            struct.pack_into("<Q", e.d, 0x28, len(e.d) - 32)

        def elf32(e):
            e.d[4] = 1

        variant(exe, "ext_numbering", ext_numbering)
        variant(exe, "nobits_text", nobits_text)
        variant(exe, "dup_reloc", dup_reloc)
        variant(exe, "bad_symlink", bad_symlink)
        variant(exe, "bad_symidx", bad_symidx)
        variant(exe, "bad_stname", bad_stname)
        variant(exe, "bad_roffset", bad_roffset)
        variant(exe, "bad_shentsize", bad_shentsize)
        variant(exe, "shoff_past_end", shoff_past_end)
        variant(exe, "elf32", elf32)
        write("truncated", exe[: len(exe) // 2])
        write("not_elf", b"#!/bin/sh\necho not an ELF file\n")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
