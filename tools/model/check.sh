#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Check the Promela model of the int3 patch protocol (patch.pml) and each of
# its variants with spin, and compare every verdict with the expected one
# (docs/model.md explains them).  One line per variant; exits non-zero if
# any verdict differs: the base model failing, a variant that must fail
# passing (the model would no longer tell the difference the variant is
# about), or a variant that must pass failing (a claim of docs/model.md or
# docs/design.md would be wrong).
#
# Two kinds of run:
#   safety    gcc -DSAFETY, pan: assertions (torn, stale, foreign,
#             use_after_free) and invalid end states (deadlock);
#   liveness  -DLIVENESS (ltl term: every process terminates), pan -a -f:
#             acceptance cycles under weak fairness, i.e. livelock (and
#             deadlock, and the assertions too).  Weak fairness stands for
#             "a stale instruction-fetch view is eventually refreshed";
#             without it any rewind loop on a stale int3 would count.
# A variant expected to fail runs safety first (it names the failure), then
# liveness if safety passed.  One expected to pass needs only liveness;
# the base model gets both.  Every pan.c is compiled with -O0: the state
# spaces are small, and gcc -O2 on pan.c would take most of the time.
# The base model's safety run must also reach every witness (WITNESS() in
# patch.pml): a scenario the properties are about, such as a late trap
# after the patcher finished, that pan must not list as unreached.
#
# Usage: tools/model/check.sh [-v]     (-v: keep and show pan's output dir)
# Env:   CC (default gcc), JOBS (default nproc).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
model=$here/patch.pml
verbose=0
[ "${1:-}" = "-v" ] && verbose=1

if ! command -v spin >/dev/null 2>&1; then
	echo "spin not installed: model not checked"
	exit 0
fi
cc=${CC:-gcc}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "check.sh: no C compiler ($cc) to build spin's verifier" >&2
	exit 1
fi
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/scmodel.XXXXXX")
if [ $verbose -eq 1 ]; then
	echo "pan output in $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi

# name | spin -D options | expected: OK or the failure class.
# The order is the order of the report.
variants=(
	"base||OK"
	"NO_SYNC1|-DNO_SYNC1|torn"
	"NO_SYNC2|-DNO_SYNC2|torn"
	"NO_SYNC3|-DNO_SYNC3|OK"
	"INORDER+NO_SYNC12|-DINORDER_FETCH -DNO_SYNC1 -DNO_SYNC2|OK"
	"INORDER+NO_SYNC123|-DINORDER_FETCH -DNO_SYNC1 -DNO_SYNC2 -DNO_SYNC3|stale"
	"REREAD_BYTE|-DREREAD_BYTE|foreign"
	"NO_READERS_WAIT|-DNO_READERS_WAIT|use_after_free"
	"HANDLER_WAITS|-DHANDLER_WAITS|deadlock"
	"HANDLER_WAITS+NO_SIGNAL|-DHANDLER_WAITS -DNO_SIGNAL|OK"
	"PUBLISH_LATE|-DPUBLISH_LATE|livelock"
	"PUBLISH_LATE+NO_SIGNAL|-DPUBLISH_LATE -DNO_SIGNAL|OK"
)

declare -A what=(
	[torn]="torn instruction executed"
	[stale]="older version executed after the update returned"
	[foreign]="own int3 taken for a foreign trap (process killed)"
	[use_after_free]="batch used after it was freed"
	[deadlock]="deadlock (invalid end state)"
	[livelock]="a process never terminates (fair cycle)"
)

# Classify pan's output: OK, a failure class, or "error: ..." when the run
# itself went wrong (then the verdict cannot be trusted either way).
classify() {
	local out=$1
	if grep -q "max search depth too small" "$out"; then
		echo "error: search depth too small"
	elif grep -qE "out of memory|hash table is full" "$out"; then
		echo "error: pan ran out of memory"
	elif grep -q "errors: 0" "$out"; then
		echo OK
	elif grep -q "^pan:1: assertion violated" "$out"; then
		case $(grep -m1 "^pan:1: assertion violated" "$out") in
		*"!(torn)"*) echo torn ;;
		*"!(stale)"*) echo stale ;;
		*"!(foreign)"*) echo foreign ;;
		*"!(use_after_free)"*) echo use_after_free ;;
		*) echo "error: unknown assertion" ;;
		esac
	elif grep -q "^pan:1: invalid end state" "$out"; then
		echo deadlock
	elif grep -q "^pan:1: acceptance cycle" "$out"; then
		echo livelock
	else
		echo "error: no verdict from pan"
	fi
}

states() { awk '/states, stored/ { print $1; exit }' "$1"; }

# witnesses <pan output>: "reached/total", then the names of the witnesses
# that no proctype reached.  exec_site() is expanded in both Caller and
# Signal; a witness is reached if it is not unreached in one of them.
witnesses() {
	local out=$1 w total=0 reached=0 missed=()
	while IFS= read -r w; do
		total=$((total + 1))
		if [ "$(awk -v w="witness: $w" '
			/^unreached in proctype/ { p = $4 }
			index($0, w) && (p == "Caller" || p == "Signal") { n[p] = 1 }
			END { print (n["Caller"] && n["Signal"]) ? "no" : "yes" }' \
			"$out")" = yes ]; then
			reached=$((reached + 1))
		else
			missed+=("$w")
		fi
	done < <(grep -o '"witness: [^"\\]*' "$model" | sed 's/^"witness: //')
	echo "$reached/$total${missed[*]:+ (not reached: ${missed[*]})}"
	[ "$reached" -eq "$total" ] && [ "$total" -gt 0 ]
}

# run <dir> <safety|liveness> <defines...>: build and run pan in <dir>.
run() {
	local dir=$1 kind=$2
	shift 2
	# No partial order reduction: its soundness next to the Patcher's
	# provided clause is not worth the doubt, and costs 20% of states.
	local spinopt=() ccopt=(-DNOREDUCE -DSAFETY) panopt=()
	if [ "$kind" = liveness ]; then
		spinopt=(-DLIVENESS)
		ccopt=(-DNOREDUCE)
		panopt=(-a -f)
	fi
	(
		cd "$dir" &&
			spin "$@" "${spinopt[@]}" -a "$model" >"$kind.spin" 2>&1 &&
			"$cc" -O0 -w "${ccopt[@]}" -o "pan.$kind" pan.c \
				>"$kind.cc" 2>&1 &&
			timeout 60 "./pan.$kind" -m20000 -w20 "${panopt[@]}" \
				>"$kind.out" 2>&1
	)
	# pan exits 0 even when it finds errors: its report is what counts.
	[ -s "$dir/$kind.out" ] || echo "error: spin/cc failed" >"$dir/$kind.out"
}

# check <index>: one variant, verdict line into <tmp>/<index>.line, and
# "mismatch" into <tmp>/<index>.bad when it differs from the expected one.
check() {
	local i=$1 name defs expect got n live nl line s
	IFS='|' read -r name defs expect <<<"${variants[$i]}"
	local dir=$tmp/$i
	mkdir -p "$dir"
	n="" nl="" live=""
	if [ "$expect" = OK ] && [ "$name" != base ]; then
		# The liveness run alone shows a variant OK: it covers every
		# reachable state, checks the assertions, and a deadlock is a
		# run that stutters before the end.  Only if it fails does the
		# safety run tell which way (deadlock or assertion).
		# shellcheck disable=SC2086 # defs is a list of -D options
		run "$dir" liveness $defs
		got=$(classify "$dir/liveness.out")
		nl=$(states "$dir/liveness.out")
		live="liveness states=${nl:-?}"
		if [ "$got" != OK ]; then
			# shellcheck disable=SC2086
			run "$dir" safety $defs
			s=$(classify "$dir/safety.out")
			[ "$s" = OK ] || got=$s
		fi
	else
		# shellcheck disable=SC2086
		run "$dir" safety $defs
		got=$(classify "$dir/safety.out")
		n=$(states "$dir/safety.out")
		if [ "$got" = OK ]; then
			# shellcheck disable=SC2086
			run "$dir" liveness $defs
			got=$(classify "$dir/liveness.out")
			nl=$(states "$dir/liveness.out")
			live=", liveness states=${nl:-?}"
		fi
		live="states=${n:-?}$live"
	fi
	local wit=""
	if [ "$name" = base ] && [ "$got" = OK ]; then
		# the witnesses are in the safety run's report
		if wit=$(witnesses "$dir/safety.out"); then
			wit=", witnesses $wit"
		else
			got="error: witnesses $wit"
		fi
	fi
	if [ "$got" = "$expect" ]; then
		if [ "$got" = OK ]; then
			line="$name: OK ($live, errors=0$wit)"
		else
			line="$name: FAILS as expected: ${what[$got]} ($live)"
		fi
	else
		echo mismatch >"$tmp/$i.bad"
		case $got in
		OK) line="$name: UNEXPECTED: passes ($live), expected: ${what[$expect]}" ;;
		error:*)
			local where="check.sh -v keeps pan's output"
			[ $verbose -eq 1 ] && where="see $dir"
			line="$name: ERROR: ${got#error: } ($where)"
			;;
		*) line="$name: UNEXPECTED: ${what[$got]:-$got}, expected: ${what[$expect]:-OK} ($live)" ;;
		esac
	fi
	echo "$line" >"$tmp/$i.line"
}

start=$SECONDS
running=0
for i in "${!variants[@]}"; do
	check "$i" &
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

status=0
for i in "${!variants[@]}"; do
	cat "$tmp/$i.line" 2>/dev/null || {
		echo "${variants[$i]%%|*}: ERROR: no verdict"
		status=1
	}
	[ -e "$tmp/$i.bad" ] && status=1
done
echo "model: ${#variants[@]} variants in $((SECONDS - start)) s: $([ $status -eq 0 ] && echo "all verdicts as expected" || echo "VERDICTS DIFFER")"
exit $status
