#!/usr/bin/env bash
# Build (or reuse) a test kernel: build-kernel.sh base|debug|zram
# Prints the kernel build directory. Cached under $BINDER_CACHE/kernels,
# keyed by the kernel source version and the config fragments' content.
set -euo pipefail
. "$(dirname "$0")/env.sh"

variant=${1:?usage: build-kernel.sh base|debug|zram}
case "$variant" in
base) frags=("$PROJECT_DIR/configs/base.config") ;;
debug) frags=("$PROJECT_DIR/configs/base.config" "$PROJECT_DIR/configs/debug.config") ;;
zram) frags=("$PROJECT_DIR/configs/base.config" "$PROJECT_DIR/configs/zram.config") ;;
*) die "unknown kernel variant '$variant' (base, debug, zram)" ;;
esac

src=$("$PROJECT_DIR/scripts/fetch-kernel.sh")
ver=$(kernel_source_version | tr "~" "_")
key=$(cat "${frags[@]}" | sha256sum | cut -c1-12)
out="$BINDER_CACHE/kernels/$ver-$variant-$key"

if [ -f "$out/.built" ]; then
	echo "$out"
	exit 0
fi

echo "build-kernel: building $variant kernel in $out (takes 3-5 minutes)" >&2
mkdir -p "$out"
log="$out/build.log"
{
	make -C "$src" O="$out" "${KMAKE_FLAGS[@]}" tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}"
	make -C "$src" O="$out" "${KMAKE_FLAGS[@]}" olddefconfig
} >"$log" 2>&1 || die "kernel configuration failed, see $log"

# Every option of the fragments must have survived olddefconfig.
bad=0
while IFS= read -r line; do
	case "$line" in
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		grep -q "^$opt=" "$out/.config" && { echo "build-kernel: $opt is set, fragment wants it off" >&2; bad=1; } ;;
	CONFIG_*=n) opt=${line%%=*}; grep -q "^$opt=" "$out/.config" && { echo "build-kernel: $opt is set, fragment wants n" >&2; bad=1; } ;;
	CONFIG_*) grep -qxF "$line" "$out/.config" || { echo "build-kernel: '$line' did not take (missing dependency?)" >&2; bad=1; } ;;
	esac
done < <(cat "${frags[@]}")
[ $bad -eq 0 ] || die "kernel config for $variant does not match its fragments"

jobs=$(($(nproc) + 1))
make -C "$src" O="$out" "${KMAKE_FLAGS[@]}" -j"$jobs" bzImage modules >>"$log" 2>&1 ||
	die "kernel build failed, see $log"
touch "$out/.built"
echo "build-kernel: $variant kernel ready" >&2
echo "$out"
