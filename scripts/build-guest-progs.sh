#!/usr/bin/env bash
# Build the static guest test programs: build-guest-progs.sh HEADERS_DIR OUT_DIR
# HEADERS_DIR holds the kernel's exported UAPI headers (make headers_install).
set -euo pipefail
. "$(dirname "$0")/env.sh"

hdrs=${1:?usage: build-guest-progs.sh HEADERS_DIR OUT_DIR}
out=${2:?usage: build-guest-progs.sh HEADERS_DIR OUT_DIR}
mkdir -p "$out"
CC=${GUEST_CC:-gcc}
for src in "$PROJECT_DIR"/tests/guest/*.c; do
	prog=$(basename "$src" .c)
	if [ ! "$out/$prog" -nt "$src" ] || [ "$PROJECT_DIR/tests/guest/binder_util.h" -nt "$out/$prog" ]; then
		$CC -static -O2 -g -Wall -Wextra -Werror -Wno-unused-function \
			-isystem "$hdrs" -o "$out/$prog" "$src" -lpthread ||
			die "building guest program $prog failed"
	fi
done
# The programs built on the rsbinder userspace binder stack (Rust).
"$PROJECT_DIR/scripts/build-rsbinder.sh" "$out"
