#!/usr/bin/env bash
# Host-side checks of the Rust allocator's source, reported as KTAP in the
# same format as a guest (so ktap_report.py counts them):
#   lint.sh OUT.log MODULE_BUILD_DIR...
# Cases: rustfmt clean (kernel's .rustfmt.toml); for each module build
# dir, no compiler or clippy warning in its build.log; the rsbinder guest
# programs formatted and clippy-clean.
set -euo pipefail
. "$(dirname "$0")/env.sh"

out=${1:?usage: lint.sh OUT.log MODULE_BUILD_DIR...}
shift
src=$("$PROJECT_DIR/scripts/fetch-kernel.sh")
n=0
results=()
add() { n=$((n + 1)); results+=("$1 $n $2${3:+ # $3}"); }

cd "$PROJECT_DIR"
unformatted=$(/usr/bin/rustfmt --edition 2021 --config-path "$src/.rustfmt.toml" --check -l ./*.rs 2>&1 | tr '\n' ' ' || true)
if [ -z "$unformatted" ]; then add ok rustfmt_clean; else add "not ok" rustfmt_clean "$unformatted"; fi

# The rsbinder guest programs (userspace Rust, default rustfmt style):
# formatted, and no clippy warning (the build is cached: a few seconds).
rsb="$PROJECT_DIR/tests/rsbinder/Cargo.toml"
if cargo fmt --manifest-path "$rsb" --check >/dev/null 2>&1; then add ok rsbinder_rustfmt_clean; else
	add "not ok" rsbinder_rustfmt_clean "cargo fmt --check fails in tests/rsbinder"
fi
clippy=$(RUSTFLAGS="-C target-feature=+crt-static" cargo clippy --quiet --release --locked \
	--target x86_64-unknown-linux-gnu --target-dir "$BINDER_CACHE/rsbinder-target" \
	--manifest-path "$rsb" -- -D warnings 2>&1) && rc=0 || rc=$?
if [ $rc = 0 ]; then add ok rsbinder_clippy_clean; else
	add "not ok" rsbinder_clippy_clean "$(echo "$clippy" | grep -m1 -E '^(warning|error)')"
fi

for dir in "$@"; do
	name=$(basename "$(dirname "$dir")")_$(basename "$dir")
	if [ ! -f "$dir/build.log" ]; then
		add "not ok" "no_build_warnings_$name" "no build.log"
		continue
	fi
	warnings=$(grep -c -E '^(warning|error)(\[|:)|: warning:' "$dir/build.log" || true)
	if [ "$warnings" = 0 ]; then
		add ok "no_build_warnings_$name"
	else
		first=$(grep -m1 -E '^(warning|error)(\[|:)|: warning:' "$dir/build.log")
		add "not ok" "no_build_warnings_$name" "$warnings warnings, first: $first"
	fi
done

host_ktap lint "$out" "${results[@]}"
