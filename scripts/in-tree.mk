# The Rust binder buffer allocator in place of binder_alloc.o (appended to
# drivers/android/Makefile by binder-alloc-rs scripts/in-tree.sh; the
# sources are in binder_alloc_rs/, Kconfig options in binder_alloc_rs/Kconfig).
ifdef CONFIG_ANDROID_BINDER_ALLOC_RUST
binder_alloc_rs_objs := binder_alloc_rs/binder_alloc.o binder_alloc_rs/binder_alloc_glue.o
ifdef CONFIG_ANDROID_BINDER_ALLOC_RUST_KUNIT_TEST
# The KUnit suite and the allocator's test hooks (C and Rust).
binder_alloc_rs_objs += binder_alloc_rs/binder_alloc_test.o
ccflags-y += -DBINDER_ALLOC_KUNIT
rustflags-y += --cfg binder_alloc_test
endif
ifneq ($(binder_linux-y),)
# binder as binder_linux.ko or built in (Debian's and Android's trees).
binder_linux-y := $(filter-out binder_alloc.o,$(binder_linux-y)) $(binder_alloc_rs_objs)
else
# binder as plain built-in objects (mainline, where binder is bool).
obj-y := $(filter-out binder_alloc.o,$(obj-y)) $(binder_alloc_rs_objs)
endif

binder_alloc_rs_dir := binder_alloc_rs/
include $(src)/binder_alloc_rs/common.mk
endif
