// SPDX-License-Identifier: GPL-2.0
//! Compiles the test interface (aidl/alloctest/*.aidl) to Rust with
//! rsbinder-aidl; src/main.rs includes the result.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=aidl");
    if let Err(err) = rsbinder_aidl::Builder::new()
        .source(PathBuf::from("aidl"))
        .output(PathBuf::from("alloctest.rs"))
        .set_async_support(false)
        .generate()
    {
        eprintln!("{:?}", miette::Report::new(err));
        std::process::exit(1);
    }
}
