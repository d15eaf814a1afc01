#!/usr/bin/env bash
# The project's test command (make check): for each kernel variant, build
# it (cached), build the modules under test and the guest, boot one guest
# per module, then report every test case and "N passed, N failed".
#
# Environment: KERNELS (default "base debug builtin"), MODULES (default
# "stock rust"), QUICK=1 (short stress runs), STRESS_SECONDS=N (longer or
# shorter ones), DKMS=0 (skip the DKMS case), FUZZ_SEEDS=1,2,... and
# FUZZ_OPS=N (the differential fuzzer's seeds and ops per seed),
# SELFTEST_DEBUG=1 (also the kernel's selftest on the debug kernel).
#
# Kernels: base and debug (KASAN, lockdep, kmemleak) boot the modules;
# builtin is 6.12 with scripts/in-tree.sh applied, binder and the Rust
# allocator built in with the kernel's own allocator selftest. Host-side
# cases: lint, the build against a kernel without tracepoints, modinfo,
# in-tree apply/revert, and DKMS (dkms builds the module against the base
# kernel; a guest boots it).
set -euo pipefail
. "$(dirname "$0")/env.sh"

kernels=${KERNELS:-base debug builtin}
modules=${MODULES:-stock rust}
logdir="$PROJECT_DIR/build/logs"
mkdir -p "$logdir"

guest_mem() { case "$1" in debug) echo 1G ;; *) echo 512M ;; esac; }
# Guest time limits (kernel, run): about 4x what each takes here, so that
# a machine at a quarter of this one's speed still passes. The longest is
# the kernel's exhaustive selftest on the debug kernel (SELFTEST_DEBUG=1):
# about 2,400 s on an idle host.
guest_timeout() {
	case "$1:$2" in
	debug:*selftest*) echo 5400 ;;
	debug:*) echo 2700 ;;
	builtin:*) echo 1800 ;;
	*) echo 900 ;;
	esac
}
# Seconds of binder_stress per guest: 2 minutes on the debug kernel
# (QUICK=1: a short version; STRESS_SECONDS=N: N on every kernel).
stress_seconds() {
	if [ -n "${STRESS_SECONDS:-}" ]; then echo "$STRESS_SECONDS"
	elif [ "${QUICK:-0}" = 1 ]; then echo 10
	else case "$1" in debug) echo 120 ;; *) echo 30 ;; esac; fi
}

# The differential fuzzer's seeds and ops (guest/plans/check has defaults).
# The messages mode runs on the base kernel only (its texts do not depend
# on the kernel variant; it takes 40-100 s of ratelimit spacing).
fuzz_append() { # kernel
	[ -n "${FUZZ_SEEDS:-}" ] && printf ' fuzz_seeds=%s' "$FUZZ_SEEDS"
	[ -n "${FUZZ_OPS:-}" ] && printf ' fuzz_ops=%s' "$FUZZ_OPS"
	[ "$1" = base ] || printf ' fuzz_messages=0'
	return 0
}

# Guest runs per kernel: "module:plan:mode". mode is the installation
# mode the module is loaded with: eager (the default: senders map pages)
# or fault (install_on_fault=1: the receiver's page faults map them).
# Everything runs in both modes but the slow cases: the kernel's own
# binder_alloc selftest (single-threaded in the guest, minutes on the debug
# kernel) runs once per kernel, on our allocator in the default mode, in
# the background while the other guests run; the long stress run is short
# in page-fault mode. Our allocator's KUnit suite runs in a test build of
# the module (rust-kunit), at load.
guest_runs=()
for m in $modules; do guest_runs+=("$m:check:eager"); done
slow_runs=()
case " $modules " in
*" rust "*)
	guest_runs+=("rust:check:fault" "rust-kunit:kunit:eager" "rust-kunit:kunit:fault")
	slow_runs+=("rust-selftest:selftest:eager")
	;;
esac

# The runs of one kernel: guest_runs and slow_runs for base and debug
# (the selftest on base only when the builtin kernel does not run it: the
# same allocator and configuration); the builtin kernel runs the selftest
# and then the check plan, in the background.
runs_of() { # kernel -> "fg|bg run" lines
	local k=$1 r
	if [ "$k" = builtin ]; then
		echo "bg builtin:selftest+check:eager"
		return
	fi
	for r in "${guest_runs[@]}"; do echo "fg $r"; done
	[ "$k" = base ] && [[ " $kernels " == *" builtin "* ]] && return
	# On the debug kernel the selftest took 2,400-4,800 s (the guest's
	# limit is 5,400): only with SELFTEST_DEBUG=1.
	[ "$k" = debug ] && [ "${SELFTEST_DEBUG:-0}" != 1 ] && return
	for r in "${slow_runs[@]}"; do echo "bg $r"; done
}

# The name of a run in logs and results: the module, "-fault" in that mode.
run_label() {
	case "$1" in
	*:fault) echo "${1%%:*}-fault" ;;
	*) echo "${1%%:*}" ;;
	esac
}

boot() { # kernel kdir run -> log
	local k=$1 kdir=$2 run=$3 m plan label params="" seconds start
	m=${run%%:*}
	plan=${run#*:}
	plan=${plan%%:*}
	label=$(run_label "$run")
	seconds=$(stress_seconds "$k")
	if [[ $run == *:fault ]]; then
		params=install_on_fault=1
		[ -n "${STRESS_SECONDS:-}" ] || seconds=10
	fi
	start=$(date +%s)
	MODPARAMS="$params" GUEST_APPEND="stress_seconds=$seconds$(fuzz_append "$k")" \
		"$PROJECT_DIR/scripts/run-guest.sh" "$kdir/arch/x86/boot/bzImage" \
		"$PROJECT_DIR/build/$k/initrd.gz" "$m" "$plan" "$logdir/$k-$label.log" \
		"$(guest_timeout "$k" "$run")" "$(guest_mem "$k")" || true
	echo "check: $k/$label ($plan) finished in $(($(date +%s) - start)) s"
}

runs=()
declare -A kdirs
for k in $kernels; do
	mapfile -t mods < <(runs_of "$k" | cut -d' ' -f2 | cut -d: -f1 | sort -u)
	kdirs[$k]=$("$PROJECT_DIR/scripts/prepare.sh" "$k" "${mods[@]}")
done

# Host-side build and packaging cases (before the guests: the notrace
# kernel may need building).
if [[ " $kernels " == *" base "* && " $modules " == *" rust "* ]]; then
	"$PROJECT_DIR/scripts/host-checks.sh" "$logdir/host-build.log" "$PROJECT_DIR/build/base/mod-rust/binder_linux.ko"
	runs+=("host/build=$logdir/host-build.log")
fi

bg=()
for k in $kernels; do
	while read -r where run; do
		[ "$where" = bg ] || continue
		echo "check: booting the $k kernel for $(run_label "$run"), in the background"
		boot "$k" "${kdirs[$k]}" "$run" &
		bg+=($!)
		runs+=("$k/$(run_label "$run")=$logdir/$k-$(run_label "$run").log")
	done < <(runs_of "$k")
done
for k in $kernels; do
	while read -r where run; do
		[ "$where" = fg ] || continue
		echo "check: booting the $k kernel for $(run_label "$run")"
		boot "$k" "${kdirs[$k]}" "$run"
		runs+=("$k/$(run_label "$run")=$logdir/$k-$(run_label "$run").log")
	done < <(runs_of "$k")
done
# DKMS: dkms builds the module against the base kernel; one guest boots it.
if [ "${DKMS:-1}" = 1 ] && [[ " $kernels " == *" base "* ]]; then
	echo "check: DKMS build against the base kernel, and a guest with its module"
	"$PROJECT_DIR/scripts/dkms-check.sh" "${kdirs[base]}" "$logdir/host-dkms.log" "$logdir/base-dkms.log"
	runs+=("host/dkms=$logdir/host-dkms.log" "base/dkms=$logdir/base-dkms.log")
fi
for pid in "${bg[@]}"; do wait "$pid" || true; done

# The rsbinder scenarios printed the allocator state of their services:
# the two modules must agree (scripts/differential.py lists the intended
# differences).
if [[ " $modules " == *" stock "* && " $modules " == *" rust "* ]]; then
	for k in $kernels; do
		[ "$k" = builtin ] && continue
		out="$logdir/host-differential-$k.log"
		python3 "$PROJECT_DIR/scripts/differential.py" "$k" "$logdir/$k-stock.log" "$logdir/$k-rust.log" "$out"
		runs+=("host/differential_$k=$out")
	done
fi

# The fuzzer's lockstep traces (binder_fuzz lockstep): ours, in both
# installation modes, must match stock line for line.
if [[ " $modules " == *" stock "* && " $modules " == *" rust "* ]]; then
	for k in $kernels; do
		[ "$k" = builtin ] && continue
		for label in rust rust-fault; do
			out="$logdir/host-fuzz-$k-$label.log"
			python3 "$PROJECT_DIR/scripts/fuzz_compare.py" "$logdir/$k-stock.log" "$logdir/$k-$label.log" \
				"$out" "stock_vs_$label" >/dev/null || true
			runs+=("host/fuzz_${k}_$label=$out")
		done
	done
fi

lint_dirs=()
for k in $kernels; do
	[ "$k" = builtin ] && continue
	case " $modules " in *" rust "*) lint_dirs+=("$PROJECT_DIR/build/$k/mod-rust") ;; esac
done
# The build against the kernel without tracepoints must be warning-free too.
[ -f "$PROJECT_DIR/build/notrace/mod-rust/build.log" ] && lint_dirs+=("$PROJECT_DIR/build/notrace/mod-rust")
"$PROJECT_DIR/scripts/lint.sh" "$logdir/host-lint.log" "${lint_dirs[@]}"
runs+=("host/lint=$logdir/host-lint.log")
python3 "$PROJECT_DIR/scripts/ktap_report.py" "${runs[@]}"
