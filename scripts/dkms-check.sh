#!/usr/bin/env bash
# make check's DKMS case: install this project as a DKMS package would,
# have dkms build it against a kernel, and boot the module dkms built:
#   dkms-check.sh KDIR OUT.log GUEST.log
# The source goes to /usr/src/binder-alloc-rs-<version> (the project's
# tracked files), then `dkms add`, `dkms build -k <release>
# --kernelsourcedir KDIR`; the module is packed into an initramfs of its
# own and the guest runs guest/plans/dkms. OUT.log gets the host steps as
# KTAP, GUEST.log the guest's console. Everything dkms keeps is removed
# afterwards (dkms remove, /usr/src copy).
set -euo pipefail
. "$(dirname "$0")/env.sh"

kdir=${1:?usage: dkms-check.sh KDIR OUT.log GUEST.log}
out=${2:?}
guest_log=${3:?}
name=binder-alloc-rs
version=$(cat "$PROJECT_DIR/VERSION")
release=$(cat "$kdir/include/config/kernel.release")
usrsrc="/usr/src/$name-$version"
work="$PROJECT_DIR/build/dkms"
n=0
results=()
add() { n=$((n + 1)); results+=("$1 $n $2${3:+ # $3}"); }
report() { host_ktap dkms "$out" "${results[@]}"; }
made_modules_dir=0
cleanup() {
	dkms remove -m "$name" -v "$version" --all >/dev/null 2>&1 || true
	rm -rf "$usrsrc"
	[ "$made_modules_dir" = 0 ] || rm -rf "/lib/modules/$release"
}
trap 'cleanup; report' EXIT
mkdir -p "$work"
rm -f "$work"/*.log

command -v dkms >/dev/null || { add "not ok" dkms_add "dkms is not installed (make setup)"; exit 0; }
cleanup
mkdir -p "$usrsrc"
git -C "$PROJECT_DIR" ls-files -z --cached --others --exclude-standard | (cd "$PROJECT_DIR" && xargs -0 cp --parents -t "$usrsrc")
if dkms add -m "$name" -v "$version" >"$work/add.log" 2>&1; then add ok dkms_add; else
	add "not ok" dkms_add "$(tail -1 "$work/add.log")"
	exit 0
fi
start=$(date +%s)
if dkms build -m "$name" -v "$version" -k "$release" --kernelsourcedir "$kdir" >"$work/build.log" 2>&1; then
	add ok dkms_build "$(($(date +%s) - start)) s"
else
	cp "/var/lib/dkms/$name/$version/build/make.log" "$work/make.log" 2>/dev/null || true
	add "not ok" dkms_build "$(tail -1 "$work/build.log"); see $work/make.log"
	exit 0
fi
ko=$(find "/var/lib/dkms/$name/$version/$release" -name 'binder_linux.ko*' | head -1)
case "$ko" in
*.ko) cp "$ko" "$work/binder_linux.ko" ;;
*.ko.xz) xz -dc "$ko" >"$work/binder_linux.ko" ;;
*.ko.zst) zstd -dqc "$ko" >"$work/binder_linux.ko" ;;
*) add "not ok" dkms_module "no binder_linux.ko under /var/lib/dkms/$name/$version/$release"; exit 0 ;;
esac
# dkms install puts it in updates/dkms, as dkms.conf says (on this host,
# under /lib/modules/<release>, removed again by the cleanup).
if [ ! -d "/lib/modules/$release" ]; then
	made_modules_dir=1
	mkdir -p "/lib/modules/$release"
fi
if dkms install -m "$name" -v "$version" -k "$release" --kernelsourcedir "$kdir" --force \
	>"$work/install.log" 2>&1 && ls "/lib/modules/$release/updates/dkms/binder_linux.ko"* >/dev/null 2>&1; then
	add ok dkms_install_to_updates_dkms
else
	add "not ok" dkms_install_to_updates_dkms "$(tail -1 "$work/install.log")"
fi
"$PROJECT_DIR/scripts/mkinitramfs.sh" "$work/initrd.gz" "$PROJECT_DIR/build/base/progs" "dkms=$work/binder_linux.ko"
"$PROJECT_DIR/scripts/run-guest.sh" "$kdir/arch/x86/boot/bzImage" "$work/initrd.gz" dkms dkms \
	"$guest_log" 900 512M || true
