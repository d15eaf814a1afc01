// SPDX-License-Identifier: GPL-2.0
//! rsb_alloc: binder-alloc-rs exercised through a real userspace binder
//! stack (rsbinder, a Rust implementation of Android's libbinder) in the
//! test guest. One static binary, several roles:
//!
//!   rsb_alloc test                  the scenarios, as KTAP (make check)
//!   rsb_alloc demo                  the make run transcript
//!   rsb_alloc service NAME THREADS  the AIDL test service (IAllocTest),
//!                                   registered with rsb_hub as NAME
//!   rsb_alloc load NAME THREADS ROUNDS SIZE
//!                                   a client process for the concurrency
//!                                   scenario; exits 0 when every reply
//!                                   was intact
//!   rsb_alloc hub-ready             exit status 0 when rsb_hub answers
//!
//! rsb_hub (rsbinder-tools) is the service manager; `test` and `demo`
//! start it and the services they need as child processes.

#![allow(non_snake_case)]

mod aidl {
    include!(concat!(env!("OUT_DIR"), "/alloctest.rs"));
}
mod debugfs;
mod demo;
mod proc;
mod scenarios;
mod service;

use std::process::exit;

/// The binder device every role opens (binderfs, mounted by guest/init).
pub const BINDER_DEVICE: &str = "/dev/binderfs/binder";

/// Deterministic payload bytes: `seed` tells payloads apart.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

/// Joins the binder driver as a process with at most `threads` pool threads
/// spawned on the driver's request.
pub fn init_binder(threads: u32) {
    if let Err(e) = rsbinder::ProcessState::init(BINDER_DEVICE, threads) {
        eprintln!("rsb_alloc: cannot open {BINDER_DEVICE}: {e}");
        exit(2);
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: rsb_alloc test | demo | service NAME THREADS | load NAME THREADS ROUNDS SIZE"
    );
    exit(2);
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("test") => exit(scenarios::run()),
        Some("demo") => exit(demo::run()),
        Some("hub-ready") => exit(proc::hub_ready()),
        Some("service") => service::serve(&arg::<String>(&args, 2), arg(&args, 3)),
        Some("load") => exit(service::load(
            &arg::<String>(&args, 2),
            arg(&args, 3),
            arg(&args, 4),
            arg(&args, 5),
        )),
        _ => usage(),
    }
}
