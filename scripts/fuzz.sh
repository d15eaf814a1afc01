#!/usr/bin/env bash
# make fuzz: the seeded differential fuzzer, longer than make check runs it.
#   fuzz.sh [SEEDS] [OPS]     (or SEEDS=1,2,3 OPS=1000 in the environment)
# Builds the base kernel's guest (stock and rust modules), boots one guest
# per module with guest/plans/fuzz (binder_fuzz lockstep SEEDS OPS, then
# binder_fuzz threads), compares the traces with scripts/fuzz_compare.py
# and prints, per seed, "same" or the first differing line of both.
# Environment: MODULES (default "stock rust"; the first is the reference,
# "stock stock" checks determinism), THREADS_OPS (ops per thread of the
# threads mode, default 500), MODPARAMS (parameters of the second module,
# e.g. install_on_fault=1), FUZZ_TIMEOUT (guest time limit, s).
# Exit status: non-zero on a difference or a failed guest case.
set -euo pipefail
. "$(dirname "$0")/env.sh"

seeds=${1:-${SEEDS:-1,2,3,4,5,6}}
ops=${2:-${OPS:-1000}}
read -r -a mods <<<"${MODULES:-stock rust}"
[ "${#mods[@]}" = 2 ] || die "MODULES must name two modules (reference first), e.g. 'stock rust'"
logdir="$PROJECT_DIR/build/logs"
mkdir -p "$logdir"

mapfile -t uniq < <(printf '%s\n' "${mods[@]}" | sort -u)
kdir=$("$PROJECT_DIR/scripts/prepare.sh" base "${uniq[@]}" | tail -1)
append="fuzz_seeds=$seeds fuzz_ops=$ops fuzz_threads_ops=${THREADS_OPS:-500}"
logs=()
for i in 0 1; do
	m=${mods[$i]}
	log="$logdir/fuzz-$i-$m.log"
	params=""
	[ "$i" = 1 ] && params=${MODPARAMS:-}
	echo "fuzz: booting the base kernel with $m${params:+ ($params)}: seeds $seeds, $ops ops each"
	start=$(date +%s)
	MODPARAMS="$params" GUEST_APPEND="$append" "$PROJECT_DIR/scripts/run-guest.sh" \
		"$kdir/arch/x86/boot/bzImage" "$PROJECT_DIR/build/base/initrd.gz" "$m" fuzz "$log" \
		"${FUZZ_TIMEOUT:-3600}" || true
	echo "fuzz: $m finished in $(($(date +%s) - start)) s (log: $log)"
	logs+=("$log")
done

label="${mods[0]}_vs_${mods[1]}"
out="$logdir/host-fuzz-$label.log"
rc=0
python3 "$PROJECT_DIR/scripts/fuzz_compare.py" "${logs[0]}" "${logs[1]}" "$out" "$label" || rc=1
python3 "$PROJECT_DIR/scripts/ktap_report.py" "base/${mods[0]}=${logs[0]}" "base/${mods[1]}=${logs[1]}" \
	"host/fuzz_$label=$out" || rc=1
exit $rc
