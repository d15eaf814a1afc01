#!/usr/bin/env bash
# The project's test command (make check): for each kernel variant, build
# it (cached), build the modules under test and the guest, boot one guest
# per module, then report every test case and "N passed, N failed".
#
# Environment: KERNELS (default "base debug"), MODULES (default "stock rust").
set -euo pipefail
. "$(dirname "$0")/env.sh"

kernels=${KERNELS:-base debug}
modules=${MODULES:-stock rust}
logdir="$PROJECT_DIR/build/logs"
mkdir -p "$logdir"

guest_mem() { case "$1" in debug) echo 1G ;; *) echo 512M ;; esac; }
guest_timeout() { case "$1" in debug) echo 1200 ;; *) echo 600 ;; esac; }

runs=()
for k in $kernels; do
	kdir=$("$PROJECT_DIR/scripts/prepare.sh" "$k" $modules)
	for m in $modules; do
		log="$logdir/$k-$m.log"
		echo "check: booting the $k kernel with the $m module (log: build/logs/$k-$m.log)"
		start=$(date +%s)
		"$PROJECT_DIR/scripts/run-guest.sh" "$kdir/arch/x86/boot/bzImage" \
			"$PROJECT_DIR/build/$k/initrd.gz" "$m" check "$log" \
			"$(guest_timeout "$k")" "$(guest_mem "$k")" || true
		echo "check: $k/$m guest finished in $(($(date +%s) - start)) s"
		runs+=("$k/$m=$log")
	done
done
lint_dirs=()
for k in $kernels; do
	case " $modules " in *" rust "*) lint_dirs+=("$PROJECT_DIR/build/$k/mod-rust") ;; esac
done
"$PROJECT_DIR/scripts/lint.sh" "$logdir/host-lint.log" "${lint_dirs[@]}"
runs+=("host/lint=$logdir/host-lint.log")
python3 "$PROJECT_DIR/scripts/ktap_report.py" "${runs[@]}"
