#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/staticcall.gdb under gdb -batch: a program of the int3 protocol
# (gdb_prog: key toggles with transient traps, a trap certain on every
# toggle, the application's own traps) must run to completion, with a
# breakpoint and stepping through the trapping site too, and so must
# /bin/true.  Exit 77 (skipped) without gdb, without gdb's Python, or
# where ptrace is not permitted.
# Usage: run.sh <tools/staticcall.gdb> <gdb_prog>
set -u
script=$1
prog=$2
[ -x "$prog" ] || { echo "no program $prog"; exit 1; }
command -v gdb >/dev/null 2>&1 || { echo "no gdb: skipped"; exit 77; }
if ! gdb -nx -batch -ex 'python print("python-ok")' 2>&1 | grep -q python-ok; then
	echo "gdb has no Python: skipped"
	exit 77
fi
out=$(timeout 60 gdb -nx -batch -ex run /bin/true 2>&1)
if ! echo "$out" | grep -q 'exited normally'; then
	echo "$out" | tail -5
	echo "gdb cannot run a program here (ptrace not permitted?): skipped"
	exit 77
fi
# LeakSanitizer cannot work under a tracer; the int3 protocol is the one
# that traps.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export STATICCALL_PROTOCOL=int3
failed=0

# check <name> <expected line> <gdb arguments...>
check() {
	name=$1
	want=$2
	shift 2
	out=$(timeout 120 gdb -nx -batch -x "$script" "$@" 2>&1)
	if echo "$out" | grep -q 'exited normally' &&
		echo "$out" | grep -q -- "$want" &&
		! echo "$out" | grep -Eq 'received signal|terminated with signal'; then
		echo "ok: $name"
	else
		echo "FAILED: $name; gdb printed:"
		echo "$out" | tail -25
		failed=1
	fi
}

check "/bin/true" "" -ex run /bin/true
check "int3 protocol, run" "gdb_prog: ok" -ex run "$prog"
# the patching thread stopped in the trace hook with the int3 on the site,
# stepped into the function of the site, single-stepped onto the int3 (the
# PC goes past it) and into the library's handler, then continued (a single
# step inside a handler that blocks SIGTRAP would make Linux reset it)
check "int3 protocol, stepi into the site in the window" "gdb_prog: ok" \
	-ex 'break gdb_before_probe' -ex run -ex finish -ex step -ex stepi \
	-ex stepi -ex 'delete 2' -ex continue "$prog"
# the same with next over the call, 10 times
check "int3 protocol, next over the site in the window" "gdb_prog: ok" \
	-ex 'break gdb_before_probe' -ex run -ex finish -ex next -ex next \
	-ex continue -ex finish -ex next -ex next -ex continue -ex finish \
	-ex next -ex next -ex 'delete 2' -ex continue "$prog"
# a breakpoint that stops the readers 30 times while keys are toggled
check "int3 protocol, 30 stops at a breakpoint" "gdb_prog: ok" \
	-ex 'break gdb_reader_tick' -ex 'ignore 2 30' -ex run -ex 'delete 2' \
	-ex continue "$prog"
exit $failed
