# Sourced by the other scripts: where things live and how the kernel is built.
# Override BINDER_CACHE to move the cache (default ~/.cache/binder-alloc-rs).
PROJECT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINDER_CACHE=${BINDER_CACHE:-$HOME/.cache/binder-alloc-rs}
KSRC_TARBALL=${KSRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
export PATH="/usr/lib/llvm-19/bin:$HOME/.cargo/bin:$PATH"
# The rustup rustc on PATH has no rust-src: always use Debian's.
KMAKE_FLAGS=(LLVM=1 RUSTC=/usr/bin/rustc)

die() {
	echo "error: $*" >&2
	exit 1
}

# Version of the Debian kernel source package: part of every cache key.
kernel_source_version() {
	dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null ||
		die "linux-source-6.12 is not installed; run 'make setup'"
}

# This project's sources of the Rust allocator (paths under PROJECT_DIR,
# on one line), as build-module.sh and in-tree.sh copy them next to
# binder.c.
allocator_sources() {
	(cd "$PROJECT_DIR" && echo VERSION common.mk binder_alloc.h binder_alloc_glue.h binder_alloc_glue.c \
		binder_layout.c ./*.rs | sed 's|\./||g')
}

# Host-side results ("ok N case" / "not ok N case # why" lines) written as
# the KTAP a guest prints, so ktap_report.py counts them:
#   host_ktap NAME OUT RESULT...
host_ktap() {
	local name=$1 out=$2 r
	shift 2
	{
		echo "=== KTAP BEGIN ==="
		echo "KTAP version 1"
		echo "1..1"
		echo "    KTAP version 1"
		echo "    1..$#"
		for r in "$@"; do echo "    $r"; done
		if printf '%s\n' "$@" | grep -q '^not ok'; then echo "not ok 1 $name"; else echo "ok 1 $name"; fi
		echo "=== KTAP END ==="
	} >"$out"
}
