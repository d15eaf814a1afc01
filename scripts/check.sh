#!/usr/bin/env bash
# The project's test command (make check): for each kernel variant, build
# it (cached), build the modules under test and the guest, boot one guest
# per module, then report every test case and "N passed, N failed".
#
# Environment: KERNELS (default "base debug"), MODULES (default "stock rust"),
# QUICK=1 (short stress runs), STRESS_SECONDS=N (longer or shorter ones).
set -euo pipefail
. "$(dirname "$0")/env.sh"

kernels=${KERNELS:-base debug}
modules=${MODULES:-stock rust}
logdir="$PROJECT_DIR/build/logs"
mkdir -p "$logdir"

guest_mem() { case "$1" in debug) echo 1G ;; *) echo 512M ;; esac; }
guest_timeout() { case "$1" in debug) echo 2700 ;; *) echo 900 ;; esac; }
# Seconds of binder_stress per guest: 2 minutes on the debug kernel
# (QUICK=1: a short version; STRESS_SECONDS=N: N on every kernel).
stress_seconds() {
	if [ -n "${STRESS_SECONDS:-}" ]; then echo "$STRESS_SECONDS"
	elif [ "${QUICK:-0}" = 1 ]; then echo 10
	else case "$1" in debug) echo 120 ;; *) echo 30 ;; esac; fi
}

# Guest runs per kernel: "module:plan". The kernel's own binder_alloc
# selftest is slow under TCG (single-threaded in the guest, minutes on the
# debug kernel): it runs once per kernel, on our allocator, in the
# background while the other guests run.
# Our allocator's KUnit suite runs in a test build of the module
# (rust-kunit), at load.
guest_runs=()
for m in $modules; do guest_runs+=("$m:check"); done
slow_runs=()
case " $modules " in
*" rust "*)
	guest_runs+=("rust-kunit:kunit")
	slow_runs+=("rust-selftest:selftest")
	;;
esac

boot() { # kernel kdir module plan -> log
	local k=$1 kdir=$2 m=$3 plan=$4 log="$logdir/$1-$3.log" start
	start=$(date +%s)
	GUEST_APPEND="stress_seconds=$(stress_seconds "$k")" \
		"$PROJECT_DIR/scripts/run-guest.sh" "$kdir/arch/x86/boot/bzImage" \
		"$PROJECT_DIR/build/$k/initrd.gz" "$m" "$plan" "$log" \
		"$(guest_timeout "$k")" "$(guest_mem "$k")" || true
	echo "check: $k/$m ($plan) finished in $(($(date +%s) - start)) s"
}

runs=()
declare -A kdirs
for k in $kernels; do
	all=("${guest_runs[@]}" "${slow_runs[@]}")
	kdirs[$k]=$("$PROJECT_DIR/scripts/prepare.sh" "$k" "${all[@]%%:*}")
done
bg=()
for k in $kernels; do
	for run in "${slow_runs[@]}"; do
		echo "check: booting the $k kernel with the ${run%%:*} module, plan ${run#*:}, in the background"
		boot "$k" "${kdirs[$k]}" "${run%%:*}" "${run#*:}" &
		bg+=($!)
		runs+=("$k/${run%%:*}=$logdir/$k-${run%%:*}.log")
	done
done
for k in $kernels; do
	for run in "${guest_runs[@]}"; do
		echo "check: booting the $k kernel with the ${run%%:*} module, plan ${run#*:}"
		boot "$k" "${kdirs[$k]}" "${run%%:*}" "${run#*:}"
		runs+=("$k/${run%%:*}=$logdir/$k-${run%%:*}.log")
	done
done
for pid in "${bg[@]}"; do wait "$pid" || true; done

# The rsbinder scenarios printed the allocator state of their services:
# the two modules must agree (scripts/differential.py lists the intended
# differences).
if [[ " $modules " == *" stock "* && " $modules " == *" rust "* ]]; then
	for k in $kernels; do
		out="$logdir/host-differential-$k.log"
		python3 "$PROJECT_DIR/scripts/differential.py" "$k" "$logdir/$k-stock.log" "$logdir/$k-rust.log" "$out"
		runs+=("host/differential_$k=$out")
	done
fi

lint_dirs=()
for k in $kernels; do
	case " $modules " in *" rust "*) lint_dirs+=("$PROJECT_DIR/build/$k/mod-rust") ;; esac
done
"$PROJECT_DIR/scripts/lint.sh" "$logdir/host-lint.log" "${lint_dirs[@]}"
runs+=("host/lint=$logdir/host-lint.log")
python3 "$PROJECT_DIR/scripts/ktap_report.py" "${runs[@]}"
