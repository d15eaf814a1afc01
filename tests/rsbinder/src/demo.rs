// SPDX-License-Identifier: GPL-2.0
//! `rsb_alloc demo` (make run): rsb_hub, a demo service and this process
//! as its client, making calls of several sizes through the module, then
//! the allocator's state in binder debugfs and, on this project's module,
//! its own counters.

use crate::debugfs::{alloc_state, rust_alloc_counters, wait_buffers};
use crate::proc::{start_hub, ServiceProc};
use crate::{init_binder, pattern};
use std::time::{Duration, Instant};

fn print_state(who: &str, pid: u32) {
    match alloc_state(pid) {
        Some(s) => println!(
            "# {who} (pid {pid}): buffers {}, pages active:lru:free {}, high watermark {}, free async space {}",
            s.buffers, s.pages, s.pages_high, s.free_async
        ),
        None => println!("# {who} (pid {pid}): not in binder debugfs"),
    }
}

fn print_counters() {
    match rust_alloc_counters() {
        Some(text) => {
            println!("# binder_alloc/stats (this project's allocator):");
            text.lines().for_each(|l| println!("#   {l}"));
        }
        None => println!("# no binder_alloc/stats: this is the stock C allocator"),
    }
}

fn demo() -> Result<(), String> {
    init_binder(4);
    rsbinder::ProcessState::start_thread_pool();
    let _hub = start_hub()?;
    println!(
        "# rsb_hub is the context manager on {}",
        crate::BINDER_DEVICE
    );
    let svc = ServiceProc::start("alloctest.demo", 4)?;
    println!("# service alloctest.demo registered by pid {}", svc.pid());
    for len in [0usize, 100, 4096, 65536, 262144, 1000000] {
        let data = pattern(len, len as u32);
        let start = Instant::now();
        let result = svc.service.echo(&data);
        let us = start.elapsed().as_micros();
        match result {
            Ok(reply) if reply == data => println!(
                "# echo({len:>7} bytes) -> {:>7} bytes intact, {us} us",
                reply.len()
            ),
            Ok(reply) => {
                return Err(format!(
                    "echo({len}) came back as {} different bytes",
                    reply.len()
                ))
            }
            Err(e) => return Err(format!("echo({len}): {e}")),
        }
        wait_buffers(svc.pid(), 0, Duration::from_secs(10))?;
    }
    let big = pattern(1 << 20, 0);
    match svc.service.echo(&big) {
        Err(e) => println!(
            "# echo(1048576 bytes) refused as expected (the service maps 1 MiB - 8 KiB): {e}"
        ),
        Ok(_) => return Err("echo of 1 MiB fit into a 1 MiB - 8 KiB mapping".into()),
    }
    print_state("service", svc.pid());
    print_state("client", std::process::id());
    print_counters();
    // The unused pages sit on the allocator's LRU until memory is short:
    // drop_caches runs the shrinkers, which hand them back to the kernel.
    std::fs::write("/proc/sys/vm/drop_caches", "2").map_err(|e| format!("drop_caches: {e}"))?;
    println!("# echo 2 > /proc/sys/vm/drop_caches (runs the binder shrinker)");
    print_state("service", svc.pid());
    let data = pattern(65536, 7);
    match svc.service.echo(&data) {
        Ok(reply) if reply == data => {
            println!("# echo(  65536 bytes) after reclaim -> intact (pages installed again)")
        }
        other => return Err(format!("echo after reclaim: {other:?}")),
    }
    wait_buffers(svc.pid(), 0, Duration::from_secs(10))?;
    print_state("service", svc.pid());
    print_counters();
    Ok(())
}

pub fn run() -> i32 {
    println!("KTAP version 1");
    println!("1..1");
    match demo() {
        Ok(()) => {
            println!("ok 1 rsbinder_demo");
            0
        }
        Err(e) => {
            println!("# {e}");
            println!("not ok 1 rsbinder_demo");
            1
        }
    }
}
