#!/usr/bin/env bash
# make bench: boot the same guests once per module (the stock C allocator
# and ours, same kernel build), alternating the order, BENCH_REPS times
# (default 5), run identical workloads (tests/guest/binder_bench.c), count
# the guest instructions of each allocator call once per module
# (scripts/insn-profile.sh) and report medians, spread and ratios in
# bench/results/ (markdown, JSON, PNG).
set -euo pipefail
. "$(dirname "$0")/env.sh"

reps=${BENCH_REPS:-5}
secs=${BENCH_SECONDS:-5}
logdir="$PROJECT_DIR/build/bench"
mkdir -p "$logdir"
rm -f "$logdir"/*.log

kbase=$("$PROJECT_DIR/scripts/prepare.sh" base stock rust)
kzram=$("$PROJECT_DIR/scripts/prepare.sh" zram stock rust)
logs=()
for rep in $(seq 1 "$reps"); do
	order="stock rust"
	[ $((rep % 2)) = 0 ] && order="rust stock"
	for m in $order; do
		for k in base zram; do
			if [ $k = base ]; then kdir=$kbase plan=bench; else kdir=$kzram plan=bench-pressure; fi
			log="$logdir/$k-$m-$rep.log"
			echo "bench: repetition $rep, $k kernel, $m module"
			GUEST_APPEND="bench_seconds=$secs" "$PROJECT_DIR/scripts/run-guest.sh" \
				"$kdir/arch/x86/boot/bzImage" "$PROJECT_DIR/build/$k/initrd.gz" \
				"$m" "$plan" "$log" 900 512M || echo "bench: guest failed, see $log"
			logs+=("$m:$rep=$log")
		done
	done
done
# Instructions per allocator call: deterministic, so it needs no
# repetitions; both modules at once (BENCH_INSNS=0 skips it).
if [ "${BENCH_INSNS:-1}" = 1 ]; then
	echo "bench: instructions per allocator call (QEMU execution log, both modules)"
	pids=()
	for m in stock rust; do
		"$PROJECT_DIR/scripts/insn-profile.sh" "$kbase" "$PROJECT_DIR/build/base/initrd.gz" \
			"$m" "$logdir/insns-$m.log" >/dev/null & pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || echo "bench: an instruction profile failed"; done
	for m in stock rust; do
		[ -s "$logdir/insns-$m.log" ] && logs+=("$m:insns=$logdir/insns-$m.log")
	done
fi
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib ||
	echo "bench: matplotlib unavailable, no chart"
python3 "$PROJECT_DIR/scripts/bench_report.py" "$PROJECT_DIR/bench/results" \
	"$(basename "$kbase")" "$(git -C "$PROJECT_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	"${logs[@]}"
