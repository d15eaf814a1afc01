#!/usr/bin/env bash
# Build everything one guest kernel variant needs and pack its initramfs:
#   prepare.sh VARIANT MODULE...
# MODULE: stock | rust, optionally with "-selftest" (the tree's
# binder_alloc_selftest.c built in) or "-kunit" (the project's KUnit
# suite built in), e.g. rust-selftest; or builtin (nothing to build: the
# builtin kernel variant has binder in it).
# Prints the kernel build dir. Products land in build/VARIANT/.
set -euo pipefail
. "$(dirname "$0")/env.sh"

variant=${1:?usage: prepare.sh VARIANT MODULE...}
shift
kdir=$("$PROJECT_DIR/scripts/build-kernel.sh" "$variant")
bdir="$PROJECT_DIR/build/$variant"
mkdir -p "$bdir"

hdrs="$kdir/usr/include"
if [ ! -f "$hdrs/linux/android/binder.h" ]; then
	make -C "$kdir" "${KMAKE_FLAGS[@]}" headers_install >/dev/null 2>&1 ||
		die "headers_install in $kdir failed"
fi
"$PROJECT_DIR/scripts/build-guest-progs.sh" "$hdrs" "$bdir/progs"

mods=()
for m in "$@"; do
	# builtin: binder is in the kernel (the builtin variant), no module.
	[ "$m" = builtin ] && continue
	flavor=${m%%-*}
	selftest=0
	kunit=0
	case "$m" in
	*-selftest) selftest=1 ;;
	*-kunit) kunit=1 ;;
	esac
	ko=$("$PROJECT_DIR/scripts/build-module.sh" "$kdir" "$flavor" "$bdir/mod-$m" "$selftest" "$kunit")
	mods+=("$m=$ko")
done
"$PROJECT_DIR/scripts/mkinitramfs.sh" "$bdir/initrd.gz" "$bdir/progs" "${mods[@]}"
echo "$kdir"
