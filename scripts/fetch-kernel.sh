#!/usr/bin/env bash
# Extract Debian's linux-source-6.12 into the cache; prints the source dir.
set -euo pipefail
. "$(dirname "$0")/env.sh"

ver=$(kernel_source_version | tr "~" "_")
dest="$BINDER_CACHE/src/linux-source-$ver"
if [ ! -f "$dest/.extracted" ]; then
	[ -f "$KSRC_TARBALL" ] || die "$KSRC_TARBALL missing; run 'make setup'"
	echo "fetch-kernel: extracting $KSRC_TARBALL ($ver)" >&2
	rm -rf "$dest" "$dest.tmp"
	mkdir -p "$dest.tmp"
	tar -xJf "$KSRC_TARBALL" -C "$dest.tmp" --strip-components=1
	touch "$dest.tmp/.extracted"
	mv "$dest.tmp" "$dest"
fi
echo "$dest"
