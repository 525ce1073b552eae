#!/usr/bin/env bash
# Configuring with the tests on fails, with a message saying what to
# install and how to turn the tests off, when cmocka or pkg-config is
# missing; with -DSTATICCALL_BUILD_TESTS=OFF it succeeds (the README's
# demo command on a machine without them).  The missing dependency is
# simulated: pkg-config that finds no module (PKG_CONFIG_LIBDIR), and no
# pkg-config at all (PKG_CONFIG_EXECUTABLE pointing nowhere).
# Usage: missing_deps.sh <source-dir> <scratch-dir> <c-compiler>
set -uo pipefail
src=$1 work=$2 cc=$3
rm -rf "$work"
mkdir -p "$work"
fail=0

# expect <name> <0|1: should fail> <regex or ""> <cmake args...>
expect() {
	local name=$1 want_fail=$2 regex=$3
	shift 3
	local out rc
	out=$(cmake -S "$src" -B "$work/$name" -DCMAKE_C_COMPILER="$cc" \
		-DSTATICCALL_BUILD_FUZZ=OFF "$@" 2>&1)
	rc=$?
	if [ "$want_fail" = 1 ] && [ $rc -eq 0 ]; then
		echo "FAIL $name: configuring succeeded without the dependency"
		fail=1
	elif [ "$want_fail" = 0 ] && [ $rc -ne 0 ]; then
		echo "FAIL $name: configuring failed:"
		echo "$out" | tail -20
		fail=1
	elif [ -n "$regex" ] && ! tr '\n' ' ' <<<"$out" | grep -qE "$regex"; then
		echo "FAIL $name: no message matching /$regex/:"
		echo "$out" | tail -20
		fail=1
	else
		echo "ok   $name (exit $rc)"
	fi
}

off='-DSTATICCALL_BUILD_TESTS=OFF'
PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH= \
	expect no_cmocka 1 "the tests need cmocka.*STATICCALL_BUILD_TESTS=OFF"
expect no_pkgconfig 1 "the tests need pkg-config" \
	-DPKG_CONFIG_EXECUTABLE=/nonexistent/pkg-config
PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH= \
	expect no_cmocka_tests_off 0 "" "$off"
expect no_pkgconfig_tests_off 0 "" "$off" \
	-DPKG_CONFIG_EXECUTABLE=/nonexistent/pkg-config
rm -rf "$work"
exit $fail
