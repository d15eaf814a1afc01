#!/usr/bin/env bash
# Build binder_linux.ko out of tree:
#   build-module.sh KDIR FLAVOR OUT_DIR [SELFTEST=0|1] [KUNIT=0|1]
# KDIR is a kernel build directory (its 'source' link or itself holds the
# kernel source). FLAVOR is 'stock' (the tree's binder_alloc.c) or 'rust'.
# The tree's binder sources are copied into OUT_DIR next to this project's
# Kbuild and sources, then Kbuild runs there; OUT_DIR/binder_linux.ko is
# the result.
set -euo pipefail
. "$(dirname "$0")/env.sh"

kdir=${1:?usage: build-module.sh KDIR FLAVOR OUT_DIR [SELFTEST]}
flavor=${2:?}
out=${3:?}
selftest=${4:-0}
kunit=${5:-0}

# PREPARED_ONLY=1: KDIR had only modules_prepare (no vmlinux, no
# Module.symvers): modpost then reports every kernel symbol as a warning.
[ -f "$kdir/Module.symvers" ] || [ "${PREPARED_ONLY:-0}" = 1 ] ||
	die "$kdir is not a built kernel tree (no Module.symvers)"
ksrc=$kdir
[ -e "$kdir/source" ] && ksrc=$(readlink -f "$kdir/source")
android="$ksrc/drivers/android"
[ -f "$android/binder.c" ] || die "no drivers/android/binder.c under $ksrc"

tree_files=(binder.c binderfs.c binder_internal.h binder_trace.h dbitmap.h binder_alloc_selftest.c)
# This project's sources of the Rust allocator.
project_files=(Kbuild)
case "$flavor" in
stock) tree_files+=(binder_alloc.c binder_alloc.h) ;;
rust)
	read -r -a srcs <<<"$(allocator_sources)"
	project_files+=("${srcs[@]}")
	;;
*) die "unknown allocator flavor '$flavor' (stock, rust)" ;;
esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
for f in "${tree_files[@]}"; do
	[ -f "$android/$f" ] || die "kernel tree lacks drivers/android/$f"
	cmp -s "$android/$f" "$out/$f" || cp "$android/$f" "$out/$f"
done
for f in "${project_files[@]}"; do
	cmp -s "$PROJECT_DIR/$f" "$out/$f" || cp "$PROJECT_DIR/$f" "$out/$f"
done
if [ "$kunit" = 1 ]; then
	[ "$flavor" = rust ] || die "the KUnit suite tests this project's allocator (flavor rust)"
	cmp -s "$PROJECT_DIR/tests/kunit/binder_alloc_test.c" "$out/binder_alloc_test.c" ||
		cp "$PROJECT_DIR/tests/kunit/binder_alloc_test.c" "$out/"
fi

# Our Rust is always built through clippy (the kernel's lint set: missing
# docs, unreachable pub, undocumented unsafe); scripts/lint.sh fails the
# check on any warning in build.log.
lint=()
if [ "$flavor" = rust ] && [ -x /usr/bin/clippy-driver ]; then
	lint=(CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver)
	# Recompile the crate every time so build.log always holds its warnings.
	rm -f "$out/binder_alloc.o"
fi
modpost=()
[ -f "$kdir/Module.symvers" ] || modpost=(KBUILD_MODPOST_WARN=1)
make -C "$kdir" M="$out" "${KMAKE_FLAGS[@]}" "${lint[@]}" "${modpost[@]}" BINDER_ALLOC="$flavor" \
	BINDER_SELFTEST="$selftest" BINDER_KUNIT="$kunit" -j"$(nproc)" modules >"$out/build.log" 2>&1 || {
	tail -30 "$out/build.log" >&2
	die "module build ($flavor) against $kdir failed, see $out/build.log"
}
echo "$out/binder_linux.ko"
