#!/usr/bin/env bash
# Pack a guest initramfs:
#   mkinitramfs.sh OUT.cpio.gz PROGS_DIR NAME=MODULE.ko [NAME=MODULE.ko ...]
# Contents: busybox-static, guest/init, guest/plans, the test programs in
# /tests and each module as /modules/NAME/binder_linux.ko.
set -euo pipefail
. "$(dirname "$0")/env.sh"

out=${1:?usage: mkinitramfs.sh OUT PROGS_DIR NAME=MODULE.ko...}
progs=${2:?usage: mkinitramfs.sh OUT PROGS_DIR NAME=MODULE.ko...}
shift 2
[ -x /bin/busybox ] || die "/bin/busybox missing; run 'make setup' (busybox-static)"
readelf -l /bin/busybox 2>/dev/null | grep -q "program interpreter" && die "/bin/busybox is not static; install busybox-static"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,modules,tests,plans,results}
cp /bin/busybox "$root/bin/busybox"
cp "$PROJECT_DIR/guest/init" "$root/init"
cp "$PROJECT_DIR"/guest/plans/* "$root/plans/"
cp "$progs"/* "$root/tests/"
for m in "$@"; do
	name=${m%%=*}
	ko=${m#*=}
	[ -f "$ko" ] || die "module $ko not built"
	mkdir -p "$root/modules/$name"
	cp "$ko" "$root/modules/$name/binder_linux.ko"
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
