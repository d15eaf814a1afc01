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
