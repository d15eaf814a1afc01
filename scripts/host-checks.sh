#!/usr/bin/env bash
# Host-side checks of how the allocator is built and packaged, reported as
# KTAP like a guest (ktap_report.py counts them):
#   host-checks.sh OUT.log RUST_MODULE.ko
# Cases:
#   notrace_build       the module builds against a 6.12 kernel without
#                       tracepoints, jump labels and debugfs (the notrace
#                       variant), and references no tracepoint
#   modinfo_complete    RUST_MODULE.ko has a description, license, author,
#                       the version of VERSION and dkms.conf, and a
#                       description for every parameter
#   in_tree_apply_revert  scripts/in-tree.sh on a scratch copy of the
#                       tree's drivers/android: applying it twice gives the
#                       same tree, it changes nothing outside
#                       drivers/android, --revert restores every file
set -euo pipefail
. "$(dirname "$0")/env.sh"

out=${1:?usage: host-checks.sh OUT.log RUST_MODULE.ko}
ko=${2:?}
n=0
results=()
add() { n=$((n + 1)); results+=("$1 $n $2${3:+ # $3}"); }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# -- notrace_build
if kdir=$("$PROJECT_DIR/scripts/build-kernel.sh" notrace 2>"$work/kernel.err"); then
	if PREPARED_ONLY=1 "$PROJECT_DIR/scripts/build-module.sh" "$kdir" rust "$PROJECT_DIR/build/notrace/mod-rust" \
		>/dev/null 2>"$work/module.err"; then
		tp=$(nm -u "$PROJECT_DIR/build/notrace/mod-rust/binder_linux.ko" | grep -c __tracepoint || true)
		if grep -q "^CONFIG_TRACEPOINTS=y" "$kdir/.config"; then
			add "not ok" notrace_build "the notrace kernel has tracepoints"
		elif [ "$tp" != 0 ]; then
			add "not ok" notrace_build "the module references $tp tracepoint symbols"
		else
			add ok notrace_build
		fi
	else
		add "not ok" notrace_build "$(grep -m1 -E 'error|undefined' "$PROJECT_DIR/build/notrace/mod-rust/build.log" || tail -1 "$work/module.err")"
	fi
else
	add "not ok" notrace_build "$(tail -1 "$work/kernel.err")"
fi

# -- modinfo_complete
readelf -p .modinfo "$ko" | sed -n 's/^ *\[ *[0-9a-f]*\] *//p' >"$work/modinfo"
version=$(cat "$PROJECT_DIR/VERSION")
dkms_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$PROJECT_DIR/dkms.conf")
missing=()
for key in description license author; do
	grep -q "^$key=." "$work/modinfo" || missing+=("no $key")
done
grep -qx "version=$version" "$work/modinfo" || missing+=("version is not $version")
[ "$dkms_version" = "$version" ] || missing+=("dkms.conf has version $dkms_version, VERSION $version")
# Parameters: those with a type (module_param) and those binder.c defines
# with module_param_call (no type entry).
for p in $(sed -n 's/^parmtype=\([^:]*\):.*/\1/p' "$work/modinfo") stop_on_user_error; do
	grep -q "^parm=$p:." "$work/modinfo" || missing+=("parameter $p undescribed")
done
if [ ${#missing[@]} = 0 ]; then add ok modinfo_complete; else
	add "not ok" modinfo_complete "$(IFS=,; echo "${missing[*]}")"
fi

# -- in_tree_apply_revert, on a scratch tree: the kernel's top Makefile
# (for its version) and a copy of drivers/android, plus a file outside it.
src=$("$PROJECT_DIR/scripts/fetch-kernel.sh")
tree="$work/tree"
mkdir -p "$tree/drivers" "$tree/mm"
cp "$src/Makefile" "$tree/"
cp -a "$src/drivers/android" "$tree/drivers/"
cp "$src/mm/memory.c" "$tree/mm/"
cp -a "$tree" "$work/pristine"
why=""
if ! "$PROJECT_DIR/scripts/in-tree.sh" "$tree" >/dev/null 2>"$work/in-tree.err"; then
	why="in-tree.sh failed: $(tail -1 "$work/in-tree.err")"
else
	cp -a "$tree" "$work/once"
	"$PROJECT_DIR/scripts/in-tree.sh" "$tree" >/dev/null 2>&1 || why="the second run failed"
	[ -n "$why" ] || diff -r "$work/once" "$tree" >/dev/null || why="a second run changed the tree"
	[ -n "$why" ] || diff -r -x android "$work/pristine" "$tree" >/dev/null ||
		why="files outside drivers/android changed"
	[ -n "$why" ] || grep -q 'source "drivers/android/binder_alloc_rs/Kconfig"' "$tree/drivers/android/Kconfig" ||
		why="drivers/android/Kconfig does not source the allocator's Kconfig"
	[ -n "$why" ] || [ "$(grep -c binder_alloc_rs/binder_alloc.o "$tree/drivers/android/Makefile")" -ge 1 ] ||
		why="drivers/android/Makefile does not build the Rust allocator"
	[ -n "$why" ] || "$PROJECT_DIR/scripts/in-tree.sh" --revert "$tree" >/dev/null 2>&1 || why="--revert failed"
	[ -n "$why" ] || diff -r "$work/pristine" "$tree" >/dev/null || why="--revert left differences"
fi
if [ -z "$why" ]; then add ok in_tree_apply_revert; else add "not ok" in_tree_apply_revert "$why"; fi

host_ktap host_build "$out" "${results[@]}"
