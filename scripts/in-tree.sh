#!/usr/bin/env bash
# Add the Rust binder allocator to a 6.12 kernel source tree, or take it out:
#   in-tree.sh KSRC            (make in-tree KSRC=...)
#   in-tree.sh --revert KSRC   (make in-tree-revert KSRC=...)
# Copies this project's allocator sources and Kconfig to
# KSRC/drivers/android/binder_alloc_rs/ and adds three marked blocks:
# drivers/android/Kconfig sources binder_alloc_rs/Kconfig (the choice
# ANDROID_BINDER_ALLOC_RUST and its KUnit option), drivers/android/Makefile
# puts the Rust objects in place of binder_alloc.o when it is chosen, and
# drivers/android/binder_alloc.h gives binder.c the Rust allocator's
# header then. Nothing outside drivers/android/ is touched. Running it
# again refreshes the copied sources; --revert restores the three files
# and removes binder_alloc_rs/. Then configure as usual, e.g.
#   scripts/config --enable ANDROID_BINDER_IPC --enable ANDROID_BINDER_ALLOC_RUST
set -euo pipefail
. "$(dirname "$0")/env.sh"

revert=0
if [ "${1:-}" = --revert ]; then
	revert=1
	shift
fi
ksrc=${1:?usage: in-tree.sh [--revert] KSRC (a 6.12 kernel source tree)}
android="$ksrc/drivers/android"
dest="$android/binder_alloc_rs"
begin=">>> binder_alloc_rs"
end="<<< binder_alloc_rs"

for f in Kconfig Makefile binder.c binder_alloc.h; do
	[ -f "$android/$f" ] || die "$ksrc is not a kernel source tree with binder (no drivers/android/$f)"
done
version=$(sed -n 's/^VERSION = //p' "$ksrc/Makefile").$(sed -n 's/^PATCHLEVEL = //p' "$ksrc/Makefile")
[ "$version" = 6.12 ] || [ "${FORCE:-0}" = 1 ] ||
	die "$ksrc is Linux $version; this allocator implements 6.12's contract (FORCE=1 to try anyway)"

# A file of the tree without the marked blocks this script added.
pristine() {
	awk -v b="$begin" -v e="$end" 'index($0, b) { skip = 1 } !skip { print } index($0, e) { skip = 0 }' "$1"
}

# Replaces a file by its new content from stdin, only if it differs (keeps
# mtimes, so that an incremental kernel build rebuilds only what changed).
update() {
	local tmp="$1.binder_alloc_rs.tmp"
	cat >"$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

if [ $revert = 1 ]; then
	for f in Kconfig Makefile binder_alloc.h; do pristine "$android/$f" | update "$android/$f"; done
	rm -rf "$dest"
	echo "in-tree: the Rust allocator is out of $android"
	exit 0
fi

mkdir -p "$dest"
# The sources: the allocator, its Kconfig, its KUnit suite; stale files go.
read -r -a files <<<"$(allocator_sources)"
wanted=(Kconfig binder_alloc_test.c "${files[@]}")
for f in "$dest"/*; do
	[ -e "$f" ] || continue
	case " ${wanted[*]} " in *" $(basename "$f") "*) ;; *) rm -f "$f" ;; esac
done
update "$dest/Kconfig" <"$PROJECT_DIR/Kconfig"
update "$dest/binder_alloc_test.c" <"$PROJECT_DIR/tests/kunit/binder_alloc_test.c"
for f in "${files[@]}"; do update "$dest/$f" <"$PROJECT_DIR/$f"; done

# Kconfig: inside the Android menu, before its endmenu.
awk -v b="$begin" -v e="$end" '
	{ lines[NR] = $0 }
	/^endmenu/ { last = NR }
	END {
		for (i = 1; i <= NR; i++) {
			if (i == last) {
				print "# " b " (binder-alloc-rs scripts/in-tree.sh; undo: in-tree.sh --revert)"
				print "source \"drivers/android/binder_alloc_rs/Kconfig\""
				print "# " e
			}
			print lines[i]
		}
	}' <(pristine "$android/Kconfig") | update "$android/Kconfig"
grep -q "binder_alloc_rs/Kconfig" "$android/Kconfig" || die "no endmenu in $android/Kconfig"

# Makefile: the objects, at the end (after every line that lists them).
{
	pristine "$android/Makefile"
	echo "# $begin (binder-alloc-rs scripts/in-tree.sh; undo: in-tree.sh --revert)"
	cat "$PROJECT_DIR/scripts/in-tree.mk"
	echo "# $end"
} | update "$android/Makefile"

# binder_alloc.h: binder.c, binderfs.c and the selftest compile against
# the Rust allocator's contract when it is chosen (after the SPDX line).
{
	pristine "$android/binder_alloc.h" | sed -n 1p
	echo "/* $begin (binder-alloc-rs scripts/in-tree.sh; undo: in-tree.sh --revert) */"
	echo "#ifdef CONFIG_ANDROID_BINDER_ALLOC_RUST"
	echo "#include \"binder_alloc_rs/binder_alloc.h\""
	echo "#else"
	echo "/* $end */"
	pristine "$android/binder_alloc.h" | tail -n +2
	echo "/* $begin */"
	echo "#endif /* CONFIG_ANDROID_BINDER_ALLOC_RUST */"
	echo "/* $end */"
} | update "$android/binder_alloc.h"
echo "in-tree: the Rust allocator is in $dest; choose it with CONFIG_ANDROID_BINDER_ALLOC_RUST=y"
