#!/usr/bin/env bash
# Build (or reuse) a test kernel:
#   build-kernel.sh base|debug|zram|notrace|builtin
# Prints the kernel build directory. Cached under $BINDER_CACHE/kernels,
# keyed by the kernel source version and the config fragments' content.
# notrace is only prepared for building modules against (modules_prepare:
# the Rust kernel crate, no vmlinux, no Module.symvers). builtin is built
# from a copy of the source tree with scripts/in-tree.sh applied (binder
# and the Rust allocator built in); its sources follow the project's, so
# it is brought up to date (an incremental build) on every call.
set -euo pipefail
. "$(dirname "$0")/env.sh"

variant=${1:?usage: build-kernel.sh base|debug|zram|notrace|builtin}
case "$variant" in
base) frags=("$PROJECT_DIR/configs/base.config") ;;
debug) frags=("$PROJECT_DIR/configs/base.config" "$PROJECT_DIR/configs/debug.config") ;;
zram) frags=("$PROJECT_DIR/configs/base.config" "$PROJECT_DIR/configs/zram.config") ;;
notrace) frags=("$PROJECT_DIR/configs/base.config" "$PROJECT_DIR/configs/notrace.config") ;;
builtin) frags=("$PROJECT_DIR/configs/base.config" "$PROJECT_DIR/configs/builtin.config") ;;
*) die "unknown kernel variant '$variant' (base, debug, zram, notrace, builtin)" ;;
esac

src=$("$PROJECT_DIR/scripts/fetch-kernel.sh")
ver=$(kernel_source_version | tr "~" "_")
key=$(cat "${frags[@]}" | sha256sum | cut -c1-12)
out="$BINDER_CACHE/kernels/$ver-$variant-$key"

if [ "$variant" = builtin ]; then
	# A tree of hard links to the source but for drivers/android, a real
	# copy that in-tree.sh changes (it replaces files, never edits them).
	tree="$src-binder_alloc_rs"
	if [ ! -f "$tree/.binder_alloc_rs_tree" ]; then
		echo "build-kernel: making the in-tree source copy $tree" >&2
		rm -rf "$tree"
		cp -al "$src" "$tree"
		rm -rf "$tree/drivers/android"
		cp -a "$src/drivers/android" "$tree/drivers/android"
		touch "$tree/.binder_alloc_rs_tree"
	fi
	"$PROJECT_DIR/scripts/in-tree.sh" "$tree" >&2
	src=$tree
	if [ -f "$out/.built" ]; then
		echo "build-kernel: bringing the builtin kernel up to date with the project's sources" >&2
		make -C "$src" O="$out" "${KMAKE_FLAGS[@]}" -j"$(($(nproc) + 1))" bzImage >"$out/update.log" 2>&1 ||
			die "builtin kernel build failed, see $out/update.log"
	fi
fi

if [ -f "$out/.built" ]; then
	echo "$out"
	exit 0
fi

echo "build-kernel: building $variant kernel in $out (takes 10-15 minutes on 2 cores)" >&2
mkdir -p "$out"
log="$out/build.log"
{
	make -C "$src" O="$out" "${KMAKE_FLAGS[@]}" tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}"
	make -C "$src" O="$out" "${KMAKE_FLAGS[@]}" olddefconfig
} >"$log" 2>&1 || die "kernel configuration failed, see $log"

# Every option of the fragments must have survived olddefconfig (the last
# fragment that sets an option wins).
bad=0
declare -A seen
while IFS= read -r line; do
	case "$line" in
	"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *} ;;
	CONFIG_*) opt=${line%%=*} ;;
	*) continue ;;
	esac
	[ -z "${seen[$opt]:-}" ] || continue
	seen[$opt]=1
	case "$line" in
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		grep -q "^$opt=" "$out/.config" && { echo "build-kernel: $opt is set, fragment wants it off" >&2; bad=1; } ;;
	CONFIG_*=n) opt=${line%%=*}; grep -q "^$opt=" "$out/.config" && { echo "build-kernel: $opt is set, fragment wants n" >&2; bad=1; } ;;
	CONFIG_*) grep -qxF "$line" "$out/.config" || { echo "build-kernel: '$line' did not take (missing dependency?)" >&2; bad=1; } ;;
	esac
done < <(cat "${frags[@]}" | tac)
[ $bad -eq 0 ] || die "kernel config for $variant does not match its fragments"

jobs=$(($(nproc) + 1))
targets=(bzImage modules)
[ "$variant" = notrace ] && targets=(modules_prepare)
[ "$variant" = builtin ] && targets=(bzImage)
make -C "$src" O="$out" "${KMAKE_FLAGS[@]}" -j"$jobs" "${targets[@]}" >>"$log" 2>&1 ||
	die "kernel build failed, see $log"
touch "$out/.built"
echo "build-kernel: $variant kernel ready" >&2
echo "$out"
