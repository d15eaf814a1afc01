#!/usr/bin/env bash
# make run: boot the base guest with the module, run the binder IPC
# demonstration on a real userspace binder stack (rsbinder: rsb_hub as the
# service manager, an AIDL service and a client making calls of several
# sizes), print the transcript, the allocator's binder debugfs state and
# its counters, and exit.
# INTERACTIVE=1 (make shell) gives a shell in the same guest instead.
set -euo pipefail
. "$(dirname "$0")/env.sh"

# DEMO_MODULE=stock shows the same demo on the kernel tree's allocator.
module=${DEMO_MODULE:-rust}
kdir=$("$PROJECT_DIR/scripts/prepare.sh" base "$module")
log="$PROJECT_DIR/build/logs/demo-$module.log"
mkdir -p "$(dirname "$log")"

case "$module" in
rust) echo "run: binder_linux.ko with this project's Rust allocator" ;;
stock) echo "run: binder_linux.ko with the kernel tree's C allocator (reference)" ;;
esac
kernel="$kdir/arch/x86/boot/bzImage"
initrd="$PROJECT_DIR/build/base/initrd.gz"
if [ "${INTERACTIVE:-0}" = 1 ]; then
	exec "$PROJECT_DIR/scripts/run-guest.sh" "$kernel" "$initrd" "$module" demo /dev/null
fi

echo "run: booting the base kernel ($(basename "$kdir")) with the $module module..."
rc=0
"$PROJECT_DIR/scripts/run-guest.sh" "$kernel" "$initrd" "$module" demo "$log" 300 || rc=$?
# The transcript: the demo's KTAP output, de-indented.
sed -n '/^=== KTAP BEGIN ===/,/^=== KTAP END ===/p' "$log" | sed -e '1d;$d' -e 's/^    //'
echo "run: full serial log in ${log#"$PROJECT_DIR"/}"
python3 "$PROJECT_DIR/scripts/ktap_report.py" "demo/$module=$log" | tail -1
exit $rc
