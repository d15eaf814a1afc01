#!/usr/bin/env bash
# Install the host tools this project needs on Debian 12 (run as root).
# Idempotent: only what is missing is installed.
set -euo pipefail

BINDGEN_VERSION=${BINDGEN_VERSION:-0.73.2}

pkgs=(
	linux-source-6.12
	rustc-web rust-web-src rust-web-clippy rustfmt-web
	clang-19 lld-19 llvm-19 libclang-19-dev
	bc flex bison libelf-dev libssl-dev cpio xz-utils rsync
	qemu-system-x86 busybox-static
	make gcc libc6-dev python3
	dkms
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup-host: missing Debian packages: ${missing[*]}" >&2
		echo "setup-host: run 'make setup' as root or install them by hand" >&2
		exit 1
	fi
	echo "setup-host: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's bindgen is too old for 6.12 (needs >= 0.65.1): take it from crates.io.
bindgen_ok() {
	command -v bindgen >/dev/null 2>&1 &&
		bindgen --version 2>/dev/null | grep -q "bindgen $BINDGEN_VERSION"
}
export PATH="$HOME/.cargo/bin:$PATH"
if ! bindgen_ok; then
	if ! command -v cargo >/dev/null 2>&1; then
		echo "setup-host: cargo not found; install rustup's cargo to build bindgen-cli" >&2
		exit 1
	fi
	echo "setup-host: cargo install bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
fi
echo "setup-host: host tools ready"
