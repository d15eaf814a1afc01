#!/usr/bin/env bash
# Guest instructions per allocator call (deterministic, unlike TCG times):
#   insn-profile.sh KDIR INITRD MODULE OUT
# MODPARAMS (environment): the module's parameters, as for run-guest.sh;
# INSN_PLAN: the guest plan (default insns: the steady workload;
# insns-churn: install and reclaim; insns-contention: 4 senders, no
# reclaim).
# Boots KDIR's kernel with MODULE under QEMU's execution log (-d exec,
# nochain,in_asm, kernel and module text only), runs guest/plans/insns
# (the steady workload for 1 s) and has scripts/insn_profile.py count the
# instructions of every call of the allocator's entry points. OUT gets
# "# BENCH" lines as binder_bench prints them; OUT.serial is the console.
# Takes about 4 minutes, also with two running at once.
set -euo pipefail
. "$(dirname "$0")/env.sh"

kdir=${1:?usage: insn-profile.sh KDIR INITRD MODULE OUT}
initrd=${2:?}
module=${3:?}
out=${4:?}

fifo=$(mktemp -u "${TMPDIR:-/tmp}/insn-profile.XXXXXX")
mkfifo "$fifo"
trap 'rm -f "$fifo"' EXIT
rm -f "$out" "$out.serial"
plan=${INSN_PLAN:-insns}
python3 "$PROJECT_DIR/scripts/insn_profile.py" "$fifo" "$out.serial" "$kdir/System.map" "$out" \
	"${plan//-/_}" &
analyser=$!
append="console=ttyS0 panic=-1 oops=panic nokaslr testmod=$module testplan=$plan"
[ -n "${MODPARAMS:-}" ] && append="$append testmodparams=$MODPARAMS"
rc=0
timeout --foreground -k 10 1800 qemu-system-x86_64 -m 512M -smp 2 -display none \
	-serial stdio -monitor none -no-reboot -kernel "$kdir/arch/x86/boot/bzImage" \
	-initrd "$initrd" \
	-append "$append" \
	-d exec,nochain,in_asm -dfilter 0xffffffff81000000..0xffffffffff000000 -D "$fifo" \
	</dev/null >"$out.serial" 2>&1 || rc=$?
wait "$analyser" || rc=$?
[ $rc = 0 ] || echo "insn-profile: $module failed (rc $rc), see $out.serial" >&2
exit $rc
