#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Check the Promela models of the patch protocols with spin, and variants of
# each with one piece of the protocol taken away or changed, and compare
# every verdict with the expected one (docs/model.md explains them):
#   int3   patch.pml   the int3 protocol (protocol=int3, and key and inline
#                      sites that cannot take another one);
#   store  store.pml   in-place atomic word stores to a trampoline
#                      (protocol=store);
#   flip   flip.pml    the page flip (protocol=flip, the default).
# One line per variant; exits non-zero if any verdict differs: a base model
# failing, a variant that must fail passing (the model would no longer tell
# the difference the variant is about), or a variant that must pass failing
# (a claim of docs/model.md or docs/design.md would be wrong).
#
# Two kinds of run:
#   safety    gcc -DSAFETY, pan: assertions (torn, stale, ...) and
#             invalid end states (deadlock);
#   liveness  -DLIVENESS (ltl term: every process terminates), pan -a -f:
#             acceptance cycles under weak fairness, i.e. livelock (and
#             deadlock, and the assertions too).  Weak fairness stands for
#             "a stale instruction-fetch view is eventually refreshed";
#             without it any rewind loop on a stale int3 would count.
#             Only models with liveness[] set have a liveness property:
#             the int3 model (its trap handler rewinds and re-runs); in
#             store nothing waits or loops, and in flip a fault waits for
#             the mmap lock and nothing else (a deadlock: safety).
# With liveness, a variant expected to fail runs safety first (it names the
# failure), then liveness if safety passed; one expected to pass needs only
# liveness; the base model gets both.  Every pan.c is compiled with -O0:
# the state spaces are small, and gcc -O2 on pan.c would take most of the
# time.  spin -o3 (no statement merging) keeps every statement visible to
# pan's list of unreached statements, which the witnesses rely on.
# The base run of each model must also reach every witness (WITNESS() or a
# printf("witness: ...") in the model): a scenario the properties are
# about, such as a late trap after the patcher finished or a slot loaded
# after far->NULL, that pan must not list as unreached.
#
# Usage: tools/model/check.sh [-v]     (-v: keep and show pan's output dir)
# Env:   CC (default gcc), JOBS (default nproc).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
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

# model | name | spin -D options | expected: OK or the failure class.
# The order is the order of the report.
declare -A file=([int3]=patch.pml [store]=store.pml [flip]=flip.pml)
declare -A liveness=([int3]=1 [store]=0 [flip]=0)
variants=(
	"int3|base||OK"
	"int3|NO_SYNC1|-DNO_SYNC1|torn"
	"int3|NO_SYNC2|-DNO_SYNC2|torn"
	"int3|NO_SYNC3|-DNO_SYNC3|OK"
	"int3|INORDER+NO_SYNC12|-DINORDER_FETCH -DNO_SYNC1 -DNO_SYNC2|OK"
	"int3|INORDER+NO_SYNC123|-DINORDER_FETCH -DNO_SYNC1 -DNO_SYNC2 -DNO_SYNC3|stale"
	"int3|REREAD_BYTE|-DREREAD_BYTE|foreign"
	"int3|NO_READERS_WAIT|-DNO_READERS_WAIT|use_after_free"
	"int3|HANDLER_WAITS|-DHANDLER_WAITS|deadlock"
	"int3|HANDLER_WAITS+NO_SIGNAL|-DHANDLER_WAITS -DNO_SIGNAL|OK"
	"int3|PUBLISH_LATE|-DPUBLISH_LATE|livelock"
	"int3|PUBLISH_LATE+NO_SIGNAL|-DPUBLISH_LATE -DNO_SIGNAL|OK"
	"store|base||OK"
	"store|NEAR_SETS_SLOT|-DNEAR_SETS_SLOT|OK"
	"store|GAP_BOUNDED|-DGAP_BOUNDED|OK"
	"store|BEFORE_FIX|-DZERO_SLOT -DNEAR_SETS_SLOT|zero"
	"store|BEFORE_FIX+GAP_BOUNDED|-DZERO_SLOT -DNEAR_SETS_SLOT -DGAP_BOUNDED|zero"
	"store|ZERO_SLOT|-DZERO_SLOT|zero"
	"store|ZERO_SLOT+ZERO_LAST|-DZERO_SLOT -DZERO_LAST|zero"
	"store|ZERO_SLOT+ZERO_LAST+SYNC_BETWEEN|-DZERO_SLOT -DZERO_LAST -DSYNC_BETWEEN|zero"
	"store|ZERO_SLOT+ZERO_LAST+SYNC_BETWEEN+GAP_BOUNDED|-DZERO_SLOT -DZERO_LAST -DSYNC_BETWEEN -DGAP_BOUNDED|OK"
	"store|INSN_FIRST|-DINSN_FIRST|zero"
	"store|NO_SYNC|-DNO_SYNC|stale"
	"store|SLOT_HALVES|-DSLOT_HALVES|bogus"
	"store|SPLIT_FETCH|-DSPLIT_FETCH|mix"
	"flip|base||OK"
	"flip|TWO_MMAPS|-DTWO_MMAPS|torn"
	"flip|EAGER_CATCHUP|-DEAGER_CATCHUP|torn"
	"flip|NO_SYNC|-DNO_SYNC|stale"
	"flip|SPLIT_FETCH|-DSPLIT_FETCH|torn"
	"flip|IPI|-DIPI|OK"
	"flip|IPI+TWO_MMAPS|-DIPI -DTWO_MMAPS|torn"
	"flip|IPI+EAGER_CATCHUP|-DIPI -DEAGER_CATCHUP|OK"
	"flip|IPI+NO_SYNC|-DIPI -DNO_SYNC|OK"
	"flip|IPI+SPLIT_FETCH|-DIPI -DSPLIT_FETCH|OK"
)

declare -A what=(
	[torn]="torn instruction executed"
	[stale]="older version executed after the update returned"
	[foreign]="own int3 taken for a foreign trap (process killed)"
	[use_after_free]="batch used after it was freed"
	[deadlock]="deadlock (invalid end state)"
	[livelock]="a process never terminates (fair cycle)"
	[zero]="a call jumped to address 0"
	[bogus]="a call reached a target never installed during it"
	[mix]="a mix of two instructions executed"
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
		*"!(zero)"*) echo zero ;;
		*"!(bogus)"*) echo bogus ;;
		*"!(mix)"*) echo mix ;;
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

# witnesses <dir> <model>: "reached/total", then the names of the witnesses
# that were not reached.  A witness's code may be expanded in several
# places (patch.pml's exec_site() in Caller and Signal, flip.pml's fetch
# once per core): it is reached if one of them is, i.e. if pan's list of
# unreached statements (the safety run's report) names it fewer times than
# the state machines (pan -d) hold it.
witnesses() {
	local dir=$1 model=$2 w total=0 reached=0 missed=() in un
	while IFS= read -r w; do
		total=$((total + 1))
		in=$(grep -cF "'witness: $w\\n'" "$dir/safety.d")
		un=$(W="'witness: $w\\n'" awk '
			/^unreached in / { u = 1 }
			u && index($0, ENVIRON["W"]) { n++ }
			END { print n + 0 }' "$dir/safety.out")
		if [ "$in" -gt 0 ] && [ "$un" -lt "$in" ]; then
			reached=$((reached + 1))
		else
			missed+=("$w")
		fi
	done < <(grep -o '"witness: [^"\\]*' "$here/$model" | sed 's/^"witness: //' | sort -u)
	echo "$reached/$total${missed[*]:+ (not reached: ${missed[*]})}"
	[ "$reached" -eq "$total" ] && [ "$total" -gt 0 ]
}

# run <dir> <model file> <safety|liveness> <defines...>: build and run pan
# in <dir>; a safety run also lists its state machines (pan -d) for the
# witnesses.
run() {
	local dir=$1 model=$here/$2 kind=$3
	shift 3
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
			spin -o3 "$@" "${spinopt[@]}" -a "$model" >"$kind.spin" 2>&1 &&
			"$cc" -O0 -w "${ccopt[@]}" -o "pan.$kind" pan.c \
				>"$kind.cc" 2>&1 &&
			timeout 60 "./pan.$kind" -m20000 -w20 "${panopt[@]}" \
				>"$kind.out" 2>&1 &&
			if [ "$kind" = safety ]; then
				"./pan.$kind" -d >"$kind.d" 2>&1
			fi
	)
	# pan exits 0 even when it finds errors: its report is what counts.
	[ -s "$dir/$kind.out" ] || echo "error: spin/cc failed" >"$dir/$kind.out"
}

# check <index>: one variant, verdict line into <tmp>/<index>.line, and
# "mismatch" into <tmp>/<index>.bad when it differs from the expected one.
check() {
	local i=$1 model name defs expect got n live nl line s f
	IFS='|' read -r model name defs expect <<<"${variants[$i]}"
	f=${file[$model]}
	local dir=$tmp/$i
	mkdir -p "$dir"
	n="" nl="" live=""
	if [ "${liveness[$model]}" -eq 1 ] && [ "$expect" = OK ] &&
		[ "$name" != base ]; then
		# The liveness run alone shows a variant OK: it covers every
		# reachable state, checks the assertions, and a deadlock is a
		# run that stutters before the end.  Only if it fails does the
		# safety run tell which way (deadlock or assertion).
		# shellcheck disable=SC2086 # defs is a list of -D options
		run "$dir" "$f" liveness $defs
		got=$(classify "$dir/liveness.out")
		nl=$(states "$dir/liveness.out")
		live="liveness states=${nl:-?}"
		if [ "$got" != OK ]; then
			# shellcheck disable=SC2086
			run "$dir" "$f" safety $defs
			s=$(classify "$dir/safety.out")
			[ "$s" = OK ] || got=$s
		fi
	else
		# shellcheck disable=SC2086
		run "$dir" "$f" safety $defs
		got=$(classify "$dir/safety.out")
		n=$(states "$dir/safety.out")
		if [ "$got" = OK ] && [ "${liveness[$model]}" -eq 1 ]; then
			# shellcheck disable=SC2086
			run "$dir" "$f" liveness $defs
			got=$(classify "$dir/liveness.out")
			nl=$(states "$dir/liveness.out")
			live=", liveness states=${nl:-?}"
		fi
		live="states=${n:-?}$live"
	fi
	local wit=""
	if [ "$name" = base ] && [ "$got" = OK ]; then
		# the witnesses are in the safety run's report
		if wit=$(witnesses "$dir" "$f"); then
			wit=", witnesses $wit"
		else
			got="error: witnesses $wit"
		fi
	fi
	name="$model $name"
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

# The report: one line per variant, then one line per model and the total.
status=0
declare -A nvar=() npass=() nfail=() nbad=()
models=()
for i in "${!variants[@]}"; do
	m=${variants[$i]%%|*}
	[ -n "${nvar[$m]:-}" ] || models+=("$m")
	nvar[$m]=$((${nvar[$m]:-0} + 1))
	if [ -e "$tmp/$i.line" ]; then
		cat "$tmp/$i.line"
	else
		r=${variants[$i]#*|}
		echo "$m ${r%%|*}: ERROR: no verdict"
		echo mismatch >"$tmp/$i.bad"
	fi
	if [ -e "$tmp/$i.bad" ]; then
		nbad[$m]=$((${nbad[$m]:-0} + 1))
		status=1
	elif [ "${variants[$i]##*|}" = OK ]; then
		npass[$m]=$((${npass[$m]:-0} + 1))
	else
		nfail[$m]=$((${nfail[$m]:-0} + 1))
	fi
done
echo "--"
for m in "${models[@]}"; do
	printf '%-6s %-11s %2d variants: %2d pass, %2d fail as they must%s\n' \
		"$m" "(${file[$m]})" "${nvar[$m]}" "${npass[$m]:-0}" \
		"${nfail[$m]:-0}" \
		"$([ -n "${nbad[$m]:-}" ] && echo ", ${nbad[$m]} NOT AS EXPECTED")"
done
echo "model: ${#variants[@]} variants of ${#models[@]} models in $((SECONDS - start)) s: $([ $status -eq 0 ] && echo "all verdicts as expected" || echo "VERDICTS DIFFER")"
exit $status
