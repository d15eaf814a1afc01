# SPDX-License-Identifier: GPL-2.0
# Top-level entry points. The module itself is described by ./Kbuild.
#
#   make check         the test suite: kernels, modules, guests, report
#   make run           boot a guest and demonstrate binder IPC through the module
#   make shell         the same guest, interactive
#   make bench         A/B benchmark, stock vs ours (bench/results/)
#   make modules KDIR=<kernel build dir>   build binder_linux.ko only
#   make setup         install the host packages (Debian 12, as root)
#   make kernels       build the cached test kernels
#   make clean         remove build/ (the kernel cache stays)

SHELL := /bin/bash
PROJECT := $(CURDIR)
# Allocator flavors built and tested: the reference C allocator and ours.
MODULES ?= stock rust
KERNELS ?= base debug
# Kernel to build against for `make modules`; default: the cached base kernel.
KDIR ?=

export MODULES KERNELS

.PHONY: all modules check run shell bench setup kernels clean help

all: modules

help:
	@sed -n '2,12p' Makefile | sed 's/^# \{0,1\}//'

setup:
	@bash scripts/setup-host.sh

kernels: setup
	@for k in $(KERNELS); do bash scripts/build-kernel.sh $$k >/dev/null || exit 1; done

modules: setup
	@kdir="$(KDIR)"; \
	if [ -z "$$kdir" ]; then kdir=$$(bash scripts/build-kernel.sh base) || exit 1; fi; \
	for m in $(MODULES); do \
		ko=$$(bash scripts/build-module.sh "$$kdir" $$m "$(PROJECT)/build/modules/$$m") || exit 1; \
		echo "built $$ko (against $$kdir)"; \
	done

check: setup
	@bash scripts/check.sh

run: setup
	@bash scripts/run-demo.sh

bench: setup
	@bash scripts/bench.sh

shell: setup
	@INTERACTIVE=1 bash scripts/run-demo.sh

clean:
	rm -rf build
