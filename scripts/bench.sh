#!/usr/bin/env bash
# make bench: boot the same guests once per allocator and repetition, run
# identical workloads (tests/guest/binder_bench.c), count the guest
# instructions of each allocator call once per allocator
# (scripts/insn-profile.sh) and report medians, worst cases, spread and
# ratios in bench/results/ (markdown, JSON, PNG).
#
# The allocators (columns), all built against the same kernel build:
#   stock  the kernel tree's C allocator
#   eager  ours, default mode (senders map pages into the receiver)
#   fault  ours with install_on_fault=1 (the receiver's page faults map them)
# The order rotates between repetitions, so each allocator runs first,
# second and third equally often.
#
# Environment: BENCH_REPS (base kernel workloads, default 5),
# BENCH_PRESSURE_REPS (zram kernel, default 10: stock's long stalls are
# rare events), BENCH_SECONDS (per workload, default 5), BENCH_INSNS=0
# (skip the instruction counts), BENCH_ALLOCATORS (default "stock eager
# fault").
set -euo pipefail
. "$(dirname "$0")/env.sh"

reps=${BENCH_REPS:-5}
preps=${BENCH_PRESSURE_REPS:-10}
secs=${BENCH_SECONDS:-5}
read -r -a allocators <<<"${BENCH_ALLOCATORS:-stock eager fault}"
logdir="$PROJECT_DIR/build/bench"
mkdir -p "$logdir"
rm -f "$logdir"/*.log "$logdir"/*.serial

# An allocator's module and its parameters.
module_of() { if [ "$1" = stock ]; then echo stock; else echo rust; fi; }
params_of() { if [ "$1" = fault ]; then echo install_on_fault=1; fi; }

kbase=$("$PROJECT_DIR/scripts/prepare.sh" base stock rust)
kzram=$("$PROJECT_DIR/scripts/prepare.sh" zram stock rust)
logs=()
n=${#allocators[@]}
start=$(date +%s)
for rep in $(seq 1 $((reps > preps ? reps : preps))); do
	order=()
	for i in $(seq 0 $((n - 1))); do order+=("${allocators[$(((i + rep - 1) % n))]}"); done
	for a in "${order[@]}"; do
		for k in base zram; do
			if [ $k = base ]; then
				[ "$rep" -le "$reps" ] || continue
				kdir=$kbase plan=bench
			else
				[ "$rep" -le "$preps" ] || continue
				kdir=$kzram plan=bench-pressure
			fi
			log="$logdir/$k-$a-$rep.log"
			echo "bench: repetition $rep, $k kernel, $a ($(($(date +%s) - start)) s so far)"
			MODPARAMS=$(params_of "$a") GUEST_APPEND="bench_seconds=$secs" \
				"$PROJECT_DIR/scripts/run-guest.sh" \
				"$kdir/arch/x86/boot/bzImage" "$PROJECT_DIR/build/$k/initrd.gz" \
				"$(module_of "$a")" "$plan" "$log" 900 512M || echo "bench: guest failed, see $log"
			logs+=("$a:$rep=$log")
		done
	done
done
# Instructions per allocator call: deterministic, so it needs no
# repetitions; all allocators at once (BENCH_INSNS=0 skips it).
if [ "${BENCH_INSNS:-1}" = 1 ]; then
	echo "bench: instructions per allocator call (QEMU execution log, ${allocators[*]})"
	# The steady workload (the hot path), then churn (install and reclaim).
	# Then the contention workload without reclaim (calls that contend).
	for plan in insns insns-churn insns-contention; do
		pids=()
		for a in "${allocators[@]}"; do
			INSN_PLAN=$plan MODPARAMS=$(params_of "$a") "$PROJECT_DIR/scripts/insn-profile.sh" \
				"$kbase" "$PROJECT_DIR/build/base/initrd.gz" "$(module_of "$a")" \
				"$logdir/$plan-$a.log" >/dev/null & pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || echo "bench: an instruction profile failed"; done
		for a in "${allocators[@]}"; do
			[ -s "$logdir/$plan-$a.log" ] && logs+=("$a:$plan=$logdir/$plan-$a.log")
		done
	done
fi
echo "bench: guests done after $(($(date +%s) - start)) s"
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib ||
	echo "bench: matplotlib unavailable, no chart"
python3 "$PROJECT_DIR/scripts/bench_report.py" "$PROJECT_DIR/bench/results" \
	"$(basename "$kbase")" "$(git -C "$PROJECT_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	"${logs[@]}"
