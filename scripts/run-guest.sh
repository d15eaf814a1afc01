#!/usr/bin/env bash
# Boot one guest and save its serial log:
#   run-guest.sh BZIMAGE INITRD MODULE PLAN LOG [TIMEOUT_S] [MEM]
# MODPARAMS (environment): the module's parameters, comma-separated.
# The guest reboots itself when the plan is done (QEMU exits on reboot
# with -no-reboot); a guest still running after TIMEOUT_S is killed and
# the run fails. QEMU runs under TCG: KVM does not work on these hosts.
set -euo pipefail
. "$(dirname "$0")/env.sh"

kernel=${1:?usage: run-guest.sh BZIMAGE INITRD MODULE PLAN LOG [TIMEOUT] [MEM]}
initrd=${2:?}
module=${3:?}
plan=${4:?}
log=${5:?}
timeout_s=${6:-600}
mem=${7:-512M}
extra=${GUEST_APPEND:-}

append="console=ttyS0 panic=-1 oops=panic log_buf_len=8M printk.devkmsg=on"
append="$append testmod=$module testplan=$plan $extra"
[ -n "${MODPARAMS:-}" ] && append="$append testmodparams=$MODPARAMS"

# Two NUMA nodes, one vCPU and half the memory each, as a device kernel
# with NUMA sees them: list_lru keeps one list per node and a page goes on
# its own node's list.
case "$mem" in
*G) mib=$((${mem%G} * 1024)) ;;
*M) mib=${mem%M} ;;
*) die "guest memory '$mem' must end in M or G" ;;
esac
half=$((mib / 2))
numa=(-object "memory-backend-ram,id=node0,size=${half}M"
	-object "memory-backend-ram,id=node1,size=$((mib - half))M"
	-numa node,nodeid=0,cpus=0,memdev=node0
	-numa node,nodeid=1,cpus=1,memdev=node1)

rc=0
if [ "${INTERACTIVE:-0}" = 1 ]; then
	exec qemu-system-x86_64 -m "${mib}M" -smp 2,sockets=2,cores=1,threads=1 "${numa[@]}" -nographic -no-reboot \
		-kernel "$kernel" -initrd "$initrd" -append "$append testshell=1"
fi
# What the guest is doing, from its console: the plan step it runs and
# how many steps have finished.
doing() {
	local step done
	step=$(grep -a "^guest: running " "$log" 2>/dev/null | tail -1 | sed 's/^guest: running \([^:]*\):.*/\1/')
	done=$(grep -a -c "^guest: .* exited " "$log" 2>/dev/null || true)
	if [ -n "$step" ]; then echo "running $step ($done plan steps finished)"; else echo "booting"; fi
}

# The guest runs in the background; every PROGRESS_SECONDS (default 60)
# a line on stderr says how far it is, and at TIMEOUT_S it is killed with
# a message saying so, after how long and what it was doing.
name=$(basename "$log" .log)
qemu-system-x86_64 -m "${mib}M" -smp 2,sockets=2,cores=1,threads=1 "${numa[@]}" -display none -serial stdio \
	-monitor none -no-reboot -kernel "$kernel" -initrd "$initrd" \
	-append "$append" </dev/null >"$log" 2>&1 &
qemu=$!
start=$(date +%s)
progress=${PROGRESS_SECONDS:-60}
next=$progress
timed_out=0
while kill -0 "$qemu" 2>/dev/null; do
	sleep 1
	elapsed=$(($(date +%s) - start))
	if [ "$elapsed" -ge "$timeout_s" ]; then
		timed_out=1
		what=$(doing)
		kill "$qemu" 2>/dev/null || true
		sleep 5
		kill -9 "$qemu" 2>/dev/null || true
		break
	fi
	if [ "$elapsed" -ge "$next" ]; then
		echo "run-guest: $name: $elapsed s, $(doing)" >&2
		next=$((next + progress))
	fi
done
wait "$qemu" 2>/dev/null || rc=$?
if [ $timed_out = 1 ]; then
	echo "run-guest: $name: guest TIMED OUT after ${elapsed}s (limit ${timeout_s}s) while $what (log: $log)" >&2
	echo "=== GUEST TIMEOUT after ${elapsed}s (limit ${timeout_s}s) while $what ===" >>"$log"
	exit 3
fi
exit $rc
