#!/usr/bin/env bash
# Disassembly test: compile branch_site.c with the given compiler at -O0..-O3,
# PIC and not, and check that probe() holds the 5-byte nop 0f 1f 44 00 00
# (on aarch64: the nop d503201f) and never refers to site_key (no load, no
# compare: the key is only reachable through the jump table).
# Usage: branch_site.sh <cc> <include-dir> <src-dir> [language flags]
# (default -std=gnu11; the C++ run passes -x c++ -std=c++11)
# Environment: SC_ARCH (x86_64, the default, or aarch64), SC_OBJDUMP.
set -euo pipefail
cc=$1 inc=$2 src=$3
objdump=${SC_OBJDUMP:-objdump}
case "${SC_ARCH:-x86_64}" in
aarch64) nop="d503201f" nop_name="nop" ;;
*) nop="0f 1f 44 00 00" nop_name="5-byte nop" ;;
esac
shift 3
lang=("$@")
[ ${#lang[@]} -eq 0 ] && lang=(-std=gnu11)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for opt in -O0 -O1 -O2 -O3 -Os; do
	for pic in -fPIC -fno-pic; do
		"$cc" $opt $pic "${lang[@]}" -I"$inc" -c "$src/branch_site.c" -o "$tmp/s.o"
		dis=$("$objdump" -dr --no-show-raw-insn "$tmp/s.o" |
			awk '/<probe>:/{p=1;next} /^$/{p=0} p')
		raw=$("$objdump" -d "$tmp/s.o" | awk '/<probe>:/{p=1;next} /^$/{p=0} p')
		if ! grep -q "$nop" <<<"$raw"; then
			echo "FAIL $cc $opt $pic: no $nop_name in probe()"
			fail=1
		fi
		if grep -q "site_key" <<<"$dis"; then
			echo "FAIL $cc $opt $pic: probe() refers to site_key:"
			grep "site_key" <<<"$dis"
			fail=1
		fi
		[ $fail -eq 0 ] && echo "ok   $cc $opt $pic: $nop_name site, no key access"
	done
done
exit $fail
