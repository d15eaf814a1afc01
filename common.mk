# SPDX-License-Identifier: GPL-2.0
# What ./Kbuild (out of tree) and scripts/in-tree.mk (in a kernel tree)
# share. Set binder_alloc_rs_dir to the sources' directory relative to
# $(obj) ("" or "binder_alloc_rs/") before including this file.

# The version modinfo reports (dkms.conf has the same).
ccflags-y += -DBINDER_ALLOC_RS_VERSION='"$(shell cat $(src)/$(binder_alloc_rs_dir)VERSION)"'

# Build-time check that Rust's mirrors of the C structs match the header:
# binder_layout.c -> binder_layout.s (the C compiler's sizes and
# offsets) -> binder_layout.rs (constants that ffi.rs asserts against),
# which ffi.rs includes from the path in BINDER_ALLOC_LAYOUT_RS.
export BINDER_ALLOC_LAYOUT_RS := $(abspath $(obj)/$(binder_alloc_rs_dir)binder_layout.rs)

quiet_cmd_binder_layout_rs = GEN     $@
      cmd_binder_layout_rs = sed -ne 's/^.*->\([A-Za-z0-9_]*\) [$$]\{0,1\}\([0-9][0-9]*\) .*$$/pub(crate) const \U\1\E: usize = \2;/p' $< >$@

$(obj)/$(binder_alloc_rs_dir)binder_layout.rs: $(obj)/$(binder_alloc_rs_dir)binder_layout.s FORCE
	$(call if_changed,binder_layout_rs)

$(obj)/$(binder_alloc_rs_dir)binder_alloc.o: $(obj)/$(binder_alloc_rs_dir)binder_layout.rs
targets += $(binder_alloc_rs_dir)binder_layout.s $(binder_alloc_rs_dir)binder_layout.rs
