#!/usr/bin/env bash
# Build the guest programs that use the rsbinder userspace binder stack:
#   build-rsbinder.sh OUT_DIR
# - rsb_hub (the service manager) from rsbinder-tools on crates.io, at a
#   pinned version with its own Cargo.lock (cargo install --locked), cached
#   under $BINDER_CACHE/rsbinder-tools-<version>;
# - tests/rsbinder (this project's AIDL test service, scenarios and demo),
#   built with its committed Cargo.lock; cargo's target dir is cached under
#   $BINDER_CACHE/rsbinder-target, so a rebuild only recompiles our code.
# Everything is linked statically (the guest has no libc).
set -euo pipefail
. "$(dirname "$0")/env.sh"

out=${1:?usage: build-rsbinder.sh OUT_DIR}
mkdir -p "$out"
command -v cargo >/dev/null 2>&1 || die "cargo not found (rustup's cargo builds the rsbinder guest programs)"

RSBINDER_TOOLS_VERSION=0.12.0
target=x86_64-unknown-linux-gnu
# Only the target is linked statically: an explicit --target keeps the
# flag away from build scripts and proc-macros, which must stay dynamic.
export RUSTFLAGS="-C target-feature=+crt-static"

tools="$BINDER_CACHE/rsbinder-tools-$RSBINDER_TOOLS_VERSION"
if [ ! -x "$tools/bin/rsb_hub" ]; then
	echo "build-rsbinder: cargo install rsbinder-tools $RSBINDER_TOOLS_VERSION (about 4 minutes, once)" >&2
	rm -rf "$tools.tmp"
	cargo install --quiet --locked --target "$target" --root "$tools.tmp" \
		"rsbinder-tools@=$RSBINDER_TOOLS_VERSION" >&2 ||
		die "cargo install rsbinder-tools failed"
	rm -rf "$tools"
	mv "$tools.tmp" "$tools"
fi
cp "$tools/bin/rsb_hub" "$out/rsb_hub"

tdir="$BINDER_CACHE/rsbinder-target"
cargo build --quiet --release --locked --target "$target" --target-dir "$tdir" \
	--manifest-path "$PROJECT_DIR/tests/rsbinder/Cargo.toml" >&2 ||
	die "building tests/rsbinder failed"
cp "$tdir/$target/release/rsb_alloc" "$out/rsb_alloc"
