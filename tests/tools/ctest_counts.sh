#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/ctest-counts (what tools/run-tests adds up) on the output of a
# small ctest project with a test of every outcome: a skipped test and a
# disabled one are skipped, not passed; a failed one and one whose program
# is missing are failed.
# Usage: ctest_counts.sh <tools/ctest-counts> <scratch directory>
set -eu
counts=$1
dir=$2
rm -rf "$dir"
mkdir -p "$dir/src"
cat >"$dir/src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(counts NONE)
enable_testing()
add_test(NAME ok1 COMMAND true)
add_test(NAME ok2 COMMAND true)
add_test(NAME bad COMMAND false)
add_test(NAME skip COMMAND sh -c "exit 77")
set_tests_properties(skip PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME missing COMMAND /nonexistent/program)
add_test(NAME disabled COMMAND true)
set_tests_properties(disabled PROPERTIES DISABLED ON)
CM
cmake -S "$dir/src" -B "$dir/build" >/dev/null
out=$(ctest --test-dir "$dir/build" 2>&1 || true)
got=$(echo "$out" | "$counts")
want="2 2 2
skipped: skip (Skipped)
skipped: disabled (Disabled)"
if [ "$got" != "$want" ]; then
	echo "$out"
	echo "ctest-counts printed:"
	echo "$got"
	echo "expected:"
	echo "$want"
	exit 1
fi
# no summary at all: an error, not zero tests
if echo "no tests here" | "$counts" >/dev/null; then
	echo "ctest-counts accepted an output without a summary"
	exit 1
fi
echo "ctest-counts: ok"
