# SPDX-License-Identifier: GPL-2.0
# Top-level entry points. The module itself is described by ./Kbuild.
#
#   make check         the test suite: kernels, modules, guests, report
#   make run           boot a guest and demonstrate binder IPC through the module
#   make shell         the same guest, interactive
#   make bench         benchmark: stock vs eager vs page-fault mode (bench/results/)
#   make fuzz SEEDS=1,2 OPS=1000   the differential fuzzer, stock vs rust
#   make modules KDIR=<kernel build dir>   build binder_linux.ko only
#   make in-tree KSRC=<6.12 source>        add the allocator to a kernel tree
#   make in-tree-revert KSRC=<6.12 source> take it out again
#   make setup         install the host packages (Debian 12, as root)
#   make kernels       build the cached test kernels
#   make clean         remove build/ (the kernel cache stays)

SHELL := /bin/bash
PROJECT := $(CURDIR)
# Allocator flavors built and tested: the reference C allocator and ours.
MODULES ?= stock rust
KERNELS ?= base debug builtin
# Kernel to build against for `make modules`; default: the cached base kernel.
KDIR ?=

export MODULES KERNELS

.PHONY: all modules check run shell bench fuzz setup kernels clean help in-tree in-tree-revert

all: modules

help:
	@sed -n '2,15p' Makefile | sed 's/^# \{0,1\}//'

setup:
	@bash scripts/setup-host.sh

kernels: setup
	@for k in $(KERNELS); do bash scripts/build-kernel.sh $$k >/dev/null || exit 1; done

# With KDIR given (DKMS, a distribution kernel) nothing is installed: the
# kernel's own toolchain must be there.
modules: $(if $(KDIR),,setup)
	@kdir="$(KDIR)"; \
	if [ -z "$$kdir" ]; then kdir=$$(bash scripts/build-kernel.sh base) || exit 1; fi; \
	for m in $(MODULES); do \
		ko=$$(bash scripts/build-module.sh "$$kdir" $$m "$(PROJECT)/build/modules/$$m") || exit 1; \
		echo "built $$ko (against $$kdir)"; \
	done

in-tree:
	@test -n "$(KSRC)" || { echo "usage: make in-tree KSRC=<6.12 kernel source tree>"; exit 1; }
	@bash scripts/in-tree.sh "$(KSRC)"

in-tree-revert:
	@test -n "$(KSRC)" || { echo "usage: make in-tree-revert KSRC=<6.12 kernel source tree>"; exit 1; }
	@bash scripts/in-tree.sh --revert "$(KSRC)"

check: setup
	@bash scripts/check.sh

run: setup
	@bash scripts/run-demo.sh

bench: setup
	@bash scripts/bench.sh

# SEEDS (comma-separated) and OPS (per seed) are optional.
fuzz: setup
	@bash scripts/fuzz.sh "$(SEEDS)" "$(OPS)"

shell: setup
	@INTERACTIVE=1 bash scripts/run-demo.sh

clean:
	rm -rf build
