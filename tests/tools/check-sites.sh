#!/usr/bin/env bash
# tools/staticcall-sites on files with known sites, and on files it must
# refuse (with the exit status and the message docs/tools.md gives).
# Usage: check-sites.sh <tool> <sites_prog> <sites_lib.so> <sites_plain> <dir>
# Environment: SC_ARCH (x86_64, the default, or aarch64: the files'
# architecture), SC_EMULATOR (the command that runs a built program, in a
# cross build), SC_OBJDUMP (an objdump that reads the files).
set -uo pipefail
tool=$1 prog=$2 lib=$3 plain=$4 work=$5
mkdir -p "$work"
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
emu=(${SC_EMULATOR:-})
objdump=${SC_OBJDUMP:-objdump}
case "${SC_ARCH:-x86_64}" in
aarch64)
	arch=aarch64 # the name the tool prints
	b='([0-9a-f]{2} ){3}(9[4-7]|1[4-7])$' # bl / b, little-endian
	other_machine='\076\000' # EM_X86_64
	call=bl jmp=b ;;
*)
	arch=x86-64
	b='e[89]( [0-9a-f]{2}){4}$' # call / jmp rel32
	other_machine='\267\000' # EM_AARCH64
	call=call jmp=jmp ;;
esac

# run <expected status> <file...>: output in $out, errors in $err
run() {
	local want=$1
	shift
	out=$("${emu[@]}" "$tool" "$@" 2>"$work/stderr")
	rc=$?
	err=$(cat "$work/stderr")
	if [ "$rc" -eq "$want" ]; then
		ok "staticcall-sites $* exits $rc"
	else
		bad "staticcall-sites $* exits $rc, not $want"
		echo "$out"
		echo "$err"
	fi
}
has() { # has <text> <extended regex> <what>
	if grep -Eq -- "$2" <<<"$1"; then ok "$3"; else
		bad "$3: no line matches /$2/ in:"
		echo "$1"
	fi
}

# --- the known sites -------------------------------------------------------
run 0 "$prog"
echo "$out"
x='0x[0-9a-f]+ +'
has "$out" "^$prog: $arch (PIE )?executable$" "header line"
has "$out" "^${x}call +tool_a +call_a(\+0x[0-9a-f]+)? +defined +$b" \
	"call of tool_a in call_a, trampoline defined"
has "$out" "^${x}call +tool_lib +call_lib(\+0x[0-9a-f]+)? +plt +$b" \
	"call of tool_lib in call_lib, through the PLT"
has "$out" "^${x}tail +tool_a +tail_a(\+0x[0-9a-f]+)? +defined +$b" \
	"tail call of tool_a in tail_a"
has "$out" "^3 sites: 2 call, 1 tail in [0-9]+ code sections?; 1 module scanned$" \
	"summary"
n=$(grep -Ec "^0x" <<<"$out")
[ "$n" -eq 3 ] && ok "3 site lines" || bad "$n site lines, not 3"

# The bytes and addresses agree with objdump's disassembly of the file
# (which shows an A64 instruction as one little-endian word).
if command -v "$objdump" >/dev/null; then
	while read -r addr kind name _ _ bytes; do
		a=$((addr))
		dis=$("$objdump" -d --start-address=$a --stop-address=$((a + 5)) "$prog" |
			grep -E "^ +$(printf '%x' $a):")
		op=$([ "$kind" = call ] && echo $call || echo $jmp)
		shown=$bytes
		[ $arch = aarch64 ] && shown=$(echo $bytes | awk '{ print $4 $3 $2 $1 }')
		if grep -Eq "$shown[[:space:]]+$op[[:space:]].*<__SCT__$name(@plt)?>" <<<"$dis"; then
			ok "objdump: $op __SCT__$name at $addr ($bytes)"
		else
			bad "objdump at $addr does not show $op __SCT__$name ($bytes): $dis"
		fi
	done < <(grep -E "^0x" <<<"$out")
fi

# The library, running the program, takes the sites the tool lists.
run 0 "$prog" "$lib"
has "$out" "^${x}call +tool_lib +lib_call(\+0x[0-9a-f]+)? +defined +$b" \
	"sites_lib.so: call of its own tool_lib"
has "$out" "^4 sites: 3 call, 1 tail in [0-9]+ code sections?; 2 modules scanned$" \
	"summary of two modules"
listed=$(awk '/^0x/ { n[$3]++ } END { for (k in n) print k, n[k] }' <<<"$out" | sort)
taken=$("${emu[@]}" "$prog" | sort)
if [ "$listed" = "$taken" ]; then
	ok "the library took the sites listed: $(echo $taken)"
else
	bad "listed: $(echo $listed); the library took: $(echo $taken)"
fi

# --- refusals --------------------------------------------------------------
run 61 "$plain"
has "$err" "no relocations kept.*link with -Wl,--emit-relocs or staticcall_inline\(\)" \
	"no --emit-relocs: ENODATA, with the fix"
run 8 "$0"
has "$err" "not an ELF file" "a script: ENOEXEC, not ELF"
head -c $(($(stat -c %s "$prog") / 2)) "$prog" >"$work/truncated"
run 8 "$work/truncated"
has "$err" "malformed ELF file" "a truncated copy: ENOEXEC, malformed"
cp "$prog" "$work/other-machine"
printf "$other_machine" | dd of="$work/other-machine" bs=1 seek=18 conv=notrunc status=none
run 8 "$work/other-machine"
has "$err" "not an $arch ELF file" "e_machine of another architecture: ENOEXEC"
cp "$prog" "$work/object"
printf '\001\000' | dd of="$work/object" bs=1 seek=16 conv=notrunc status=none
run 8 "$work/object"
has "$err" "an object file" "ET_REL: ENOEXEC, an object file"
: >"$work/empty"
run 8 "$work/empty"
run 1 "$work/no such file"
run 1 "$work"
run 1 "$prog" "$work/no such file"
has "$out" "^3 sites: " "one file missing: the others are still listed"
run 2
run 2 -x "$prog"
run 0 -h
has "$out" "^usage: " "-h prints the usage"

echo
if [ $fails -eq 0 ]; then
	echo "check-sites: all checks passed"
else
	echo "check-sites: $fails check(s) FAILED"
	exit 1
fi
