// SPDX-License-Identifier: GPL-2.0
//! `rsb_alloc test`: the rsbinder scenarios, one KTAP case each. Every
//! scenario starts its own service process, so the allocator state it
//! leaves behind depends on that scenario alone.
//!
//! After each scenario the service's allocator state as binder debugfs
//! reports it (buffers, pages active:lru:free, high watermark, free async
//! space, pool threads) and the scenario's own facts (largest parcel that
//! fits, one-way calls accepted) are printed as one line:
//!
//!   # state SCENARIO key=value ...
//!
//! scripts/differential.py compares these lines between the stock module
//! and ours (same kernel): they must match except where it lists an
//! intended difference.

use crate::aidl::alloctest::{
    IAllocTest::IAllocTest,
    ICallback::{BnCallback, ICallback},
    Inner::Inner,
    Outer::Outer,
};
use crate::debugfs::{wait_buffers, AllocState};
use crate::proc::{release_loads, start_hub, start_load, ChildProc, ServiceProc};
use crate::service::{digest, pattern_file, read_whole};
use crate::{init_binder, pattern};
use rsbinder::{
    hub, DeathRecipient, Interface, ParcelFileDescriptor, Status, StatusCode, WIBinder,
};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

type Outcome = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// How long a service may take to free a transaction's buffer after
/// replying (TCG guests are slow).
const SETTLE: Duration = Duration::from_secs(10);

fn status(call: &str, e: Status) -> String {
    format!("{call}: {e}")
}

fn is_code(e: &Status, code: StatusCode) -> bool {
    e.transaction_error() == code
}

struct Scenario {
    name: &'static str,
    facts: Vec<(String, String)>,
}

impl Scenario {
    fn fact(&mut self, key: &str, value: impl ToString) {
        self.facts.push((key.to_owned(), value.to_string()));
    }

    /// Waits until the service holds `buffers` buffers and prints its
    /// state line (with the facts gathered so far) under `label`.
    fn capture(
        &mut self,
        label: &str,
        svc: &ServiceProc,
        buffers: u64,
    ) -> Result<AllocState, String> {
        let state = wait_buffers(svc.pid(), buffers, SETTLE)?;
        let facts: String = self
            .facts
            .drain(..)
            .map(|(k, v)| format!(" {k}={v}"))
            .collect();
        println!(
            "# state {label} buffers={} pages={} pages_high={} free_async={} pool_threads={}{facts}",
            state.buffers, state.pages, state.pages_high, state.free_async, state.pool_threads
        );
        Ok(state)
    }

    fn capture_final(&mut self, svc: &ServiceProc) -> Outcome {
        let name = self.name;
        self.capture(name, svc, 0).map(drop)
    }
}

/// echo(data) must come back byte for byte.
fn echo_ok(svc: &dyn IAllocTest, data: &[u8]) -> Outcome {
    let reply = svc
        .echo(data)
        .map_err(|e| status(&format!("echo({} bytes)", data.len()), e))?;
    ensure!(
        reply == data,
        "echo of {} bytes came back as {} different bytes",
        data.len(),
        reply.len()
    );
    Ok(())
}

fn hub_register_lookup_ping(sc: &mut Scenario) -> Outcome {
    let name = "alloctest.hub";
    let svc = ServiceProc::start(name, 4)?;
    let names = hub::try_list_services(hub::DUMP_FLAG_PRIORITY_ALL)
        .map_err(|e| status("listServices", e))?;
    ensure!(
        names.iter().any(|n| n == name),
        "{name} not in the hub's list {names:?}"
    );
    ensure!(
        names.iter().any(|n| n == "manager"),
        "the hub does not list itself: {names:?}"
    );
    svc.service
        .as_binder()
        .ping_binder()
        .map_err(|e| format!("ping: {e:?}"))?;
    let pid = svc.service.getPid().map_err(|e| status("getPid", e))?;
    ensure!(
        pid as u32 == svc.pid(),
        "getPid answered {pid}, the service is {}",
        svc.pid()
    );
    let again =
        hub::check_interface::<dyn IAllocTest>(name).map_err(|e| format!("checkService: {e:?}"))?;
    ensure!(
        again.as_binder() == svc.service.as_binder(),
        "a second lookup returned another binder"
    );
    println!("# {name} registered, listed, pinged; pid {pid}");
    sc.capture_final(&svc)
}

/// Largest echo payload the service's buffer space accepts: binary search
/// between a size that fits and one that does not. Each probe starts with
/// the service holding no buffer.
fn largest_echo(svc: &ServiceProc, mut fits: usize, mut too_big: usize) -> Result<usize, String> {
    while too_big - fits > 1 {
        let mid = fits + (too_big - fits) / 2;
        wait_buffers(svc.pid(), 0, SETTLE)?;
        match svc.service.echo(&pattern(mid, mid as u32)) {
            Ok(reply) if reply == pattern(mid, mid as u32) => fits = mid,
            Ok(_) => return Err(format!("echo of {mid} bytes came back corrupted")),
            Err(e) if is_code(&e, StatusCode::FailedTransaction) => too_big = mid,
            Err(e) => return Err(status(&format!("echo({mid} bytes)"), e)),
        }
    }
    Ok(fits)
}

fn parcel_sizes(sc: &mut Scenario) -> Outcome {
    let svc = ServiceProc::start("alloctest.sizes", 4)?;
    let sizes = [
        0,
        1,
        3,
        4,
        7,
        8,
        100,
        4095,
        4096,
        4097,
        8192 + 13,
        65536,
        131072 + 5,
        524287,
    ];
    for (i, &len) in sizes.iter().enumerate() {
        wait_buffers(svc.pid(), 0, SETTLE)?;
        echo_ok(&*svc.service, &pattern(len, i as u32))?;
    }
    // The service maps 1 MiB - 2 pages: 1 MiB never fits.
    let largest = largest_echo(&svc, 524287, 1 << 20)?;
    wait_buffers(svc.pid(), 0, SETTLE)?;
    echo_ok(&*svc.service, &pattern(largest, 1))
        .map_err(|e| format!("largest ({largest}) again: {e}"))?;
    wait_buffers(svc.pid(), 0, SETTLE)?;
    match svc.service.echo(&pattern(largest + 1, 2)) {
        Err(e) if is_code(&e, StatusCode::FailedTransaction) => {}
        other => {
            return Err(format!(
                "echo of largest+1 = {} bytes: {other:?}",
                largest + 1
            ))
        }
    }
    wait_buffers(svc.pid(), 0, SETTLE)?;
    echo_ok(&*svc.service, &pattern(4096, 3)).map_err(|e| format!("after a refused call: {e}"))?;
    println!(
        "# {} sizes echoed intact; largest byte[] that fits: {largest}",
        sizes.len()
    );
    sc.fact("largest_echo", largest);
    sc.capture_final(&svc)
}

fn inner(id: i32, blob_len: usize) -> Inner {
    Inner {
        id,
        label: format!("inner-{id}-\u{17e}\u{1f40e}"),
        blob: pattern(blob_len, id as u32),
    }
}

fn strings_and_parcelables(sc: &mut Scenario) -> Outcome {
    let svc = ServiceProc::start("alloctest.parcelables", 4)?;
    let long: String = "binder-".repeat(9362);
    let strings = [
        "",
        "a",
        "\u{17e}lu\u{165}ou\u{10d}k\u{fd} k\u{16f}\u{148} \u{1f40e}",
        long.as_str(),
    ];
    for s in strings {
        let reply = svc
            .service
            .echoString(s)
            .map_err(|e| status("echoString", e))?;
        ensure!(
            reply == s,
            "echoString of {} chars came back as {} chars",
            s.len(),
            reply.len()
        );
    }
    for (seq, items) in [(0i64, 0usize), (1, 1), (2, 50)] {
        let outer = Outer {
            seq,
            first: inner(-1, 300),
            items: (0..items).map(|i| inner(i as i32, i * 97)).collect(),
            note: (seq % 2 == 0).then(|| format!("note {seq}")),
        };
        let reply = svc
            .service
            .echoOuter(&outer)
            .map_err(|e| status("echoOuter", e))?;
        ensure!(
            reply == outer,
            "echoOuter with {items} items came back different"
        );
    }
    println!(
        "# {} strings and 3 nested parcelables echoed intact",
        strings.len()
    );
    sc.capture_final(&svc)
}

/// The client's callback: returns value + digest(data) and counts calls.
struct Callback {
    calls: Arc<AtomicU32>,
}

impl Interface for Callback {}

impl ICallback for Callback {
    fn onCall(&self, value: i32, data: &[u8]) -> rsbinder::BinderResult<i64> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(value as i64 + digest(data))
    }
}

fn callback_binder(sc: &mut Scenario) -> Outcome {
    let svc = ServiceProc::start("alloctest.callback", 4)?;
    let calls = Arc::new(AtomicU32::new(0));
    let binder = BnCallback::new_binder(Callback {
        calls: calls.clone(),
    });
    let sizes = [0, 1000, 65536];
    for (value, &size) in sizes.iter().enumerate() {
        let got = svc
            .service
            .callBack(&binder, value as i32, size)
            .map_err(|e| status("callBack", e))?;
        let want = value as i64 + digest(&pattern(size as usize, value as u32));
        ensure!(
            got == want,
            "callBack({value}, {size}) returned {got}, expected {want}"
        );
    }
    let calls = calls.load(Ordering::SeqCst);
    ensure!(
        calls == sizes.len() as u32,
        "the callback ran {calls} times, expected {}",
        sizes.len()
    );
    println!("# the service called the client's binder back {calls} times, data intact");
    drop(binder);
    sc.capture_final(&svc)
}

fn file_descriptors(sc: &mut Scenario) -> Outcome {
    let svc = ServiceProc::start("alloctest.fds", 4)?;
    let len = 10000;
    let file = pattern_file(len, 7).map_err(|e| format!("creating a file: {e}"))?;
    let got = svc
        .service
        .digestFd(&ParcelFileDescriptor::new(file))
        .map_err(|e| status("digestFd", e))?;
    let want = digest(&pattern(len, 7));
    ensure!(
        got == want,
        "the service read {got} through the passed descriptor, expected {want}"
    );
    let size = 20000;
    let pfd = svc
        .service
        .makeFile(size)
        .map_err(|e| status("makeFile", e))?;
    let file = File::from(OwnedFd::from(pfd));
    let bytes = read_whole(&file).map_err(|e| format!("reading the returned descriptor: {e}"))?;
    ensure!(
        bytes == pattern(size as usize, size as u32),
        "the returned file holds {} different bytes",
        bytes.len()
    );
    println!("# a descriptor passed to the service and one returned by it: contents intact");
    sc.capture_final(&svc)
}

/// takePosted until `count` seqs arrived; they must be 0..count in order.
fn collect_posted(svc: &ServiceProc, count: usize) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seqs = Vec::new();
    while seqs.len() < count && Instant::now() < deadline {
        seqs.extend(
            svc.service
                .takePosted()
                .map_err(|e| status("takePosted", e))?,
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let want: Vec<i32> = (0..count as i32).collect();
    ensure!(
        seqs == want,
        "one-way calls arrived as {} seqs, not 0..{count} in order: {:?}",
        seqs.len(),
        &seqs[..seqs.len().min(20)]
    );
    Ok(())
}

fn oneway_order(sc: &mut Scenario) -> Outcome {
    let svc = ServiceProc::start("alloctest.oneway", 4)?;
    let count = 200;
    // Held, every call stays allocated until the release: the placement
    // of the buffers does not depend on timing.
    svc.service
        .holdPosts(true)
        .map_err(|e| status("holdPosts", e))?;
    for seq in 0..count {
        let payload = pattern((seq * 13 % 2048) as usize, seq as u32);
        svc.service
            .post(seq, &payload)
            .map_err(|e| status(&format!("post {seq}"), e))?;
    }
    sc.capture("oneway_order_held", &svc, count as u64)?;
    svc.service
        .holdPosts(false)
        .map_err(|e| status("holdPosts", e))?;
    collect_posted(&svc, count as usize)?;
    println!("# {count} one-way calls on one binder arrived in order");
    sc.capture_final(&svc)
}

fn oneway_flood(sc: &mut Scenario) -> Outcome {
    let svc = ServiceProc::start("alloctest.flood", 4)?;
    svc.service
        .holdPosts(true)
        .map_err(|e| status("holdPosts", e))?;
    let payload = pattern(16384, 5);
    let mut accepted = 0;
    let refusal = loop {
        ensure!(
            accepted < 1000,
            "1000 one-way calls of 16 KiB accepted: the driver never refused"
        );
        match svc.service.post(accepted, &payload) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    ensure!(
        is_code(&refusal, StatusCode::FailedTransaction),
        "the flood ended with {refusal}, not FailedTransaction"
    );
    ensure!(
        accepted >= 10,
        "only {accepted} one-way calls accepted before the refusal"
    );
    println!(
        "# the driver refused one-way call {} ({refusal}) after accepting {accepted}",
        accepted + 1
    );
    sc.fact("accepted", accepted);
    sc.capture("oneway_flood_held", &svc, accepted as u64)?;
    svc.service
        .holdPosts(false)
        .map_err(|e| status("holdPosts", e))?;
    collect_posted(&svc, accepted as usize)?;
    wait_buffers(svc.pid(), 0, SETTLE)?;
    svc.service
        .post(0, &payload)
        .map_err(|e| status("post after the flood", e))?;
    collect_posted(&svc, 1)?;
    echo_ok(&*svc.service, &payload).map_err(|e| format!("after the flood: {e}"))?;
    println!("# after the release all {accepted} were served in order; one-way and sync calls work again");
    sc.capture_final(&svc)
}

/// Unused pages go back to the kernel when the shrinker runs, and the
/// next call installs what it needs again.
fn reclaim_and_reinstall(sc: &mut Scenario) -> Outcome {
    let svc = ServiceProc::start("alloctest.reclaim", 4)?;
    for (i, len) in [65536usize, 300000, 4096].into_iter().enumerate() {
        wait_buffers(svc.pid(), 0, SETTLE)?;
        echo_ok(&*svc.service, &pattern(len, i as u32))?;
    }
    let before = wait_buffers(svc.pid(), 0, SETTLE)?;
    std::fs::write("/proc/sys/vm/drop_caches", "2").map_err(|e| format!("drop_caches: {e}"))?;
    let after = sc.capture("reclaim_dropped", &svc, 0)?;
    let lru = |pages: &str| pages.split(':').nth(1).map(str::to_owned);
    ensure!(
        lru(&after.pages).as_deref() == Some("0"),
        "pages {} -> {} after drop_caches: the idle service's LRU pages were not all reclaimed",
        before.pages,
        after.pages
    );
    echo_ok(&*svc.service, &pattern(200000, 9)).map_err(|e| format!("after reclaim: {e}"))?;
    println!(
        "# pages {} -> {} after drop_caches; a 200000-byte call after it came back intact",
        before.pages, after.pages
    );
    sc.capture_final(&svc)
}

struct DeathFlag(AtomicBool);

impl DeathRecipient for DeathFlag {
    fn binder_died(&self, _who: &WIBinder) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn death_notification(sc: &mut Scenario) -> Outcome {
    let mut svc = ServiceProc::start("alloctest.death", 4)?;
    let flag = Arc::new(DeathFlag(AtomicBool::new(false)));
    svc.service
        .as_binder()
        .link_to_death_arc(&flag)
        .map_err(|e| format!("linkToDeath: {e:?}"))?;
    echo_ok(&*svc.service, &pattern(4096, 9))?;
    sc.capture("death_notification", &svc, 0)?;
    svc.proc.kill();
    let start = Instant::now();
    while !flag.0.load(Ordering::SeqCst) {
        ensure!(
            start.elapsed() < Duration::from_secs(20),
            "no death notification 20 s after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "# death notification {} ms after SIGKILL",
        start.elapsed().as_millis()
    );
    match svc.service.getPid() {
        Err(e) if is_code(&e, StatusCode::DeadObject) => Ok(()),
        other => Err(format!(
            "a call after the death returned {other:?}, not DeadObject"
        )),
    }
}

fn concurrent_clients(sc: &mut Scenario) -> Outcome {
    let name = "alloctest.pool";
    let max_threads = 4;
    let svc = ServiceProc::start(name, max_threads)?;
    let (procs, threads, rounds) = (3, 4, 6);
    let mut loads: Vec<ChildProc> = (0..procs)
        .map(|_| start_load(name, threads, rounds, 8192))
        .collect::<Result<_, _>>()?;
    release_loads(&mut loads)?;
    for (i, load) in loads.iter_mut().enumerate() {
        let status = load.wait_exit(Duration::from_secs(300))?;
        ensure!(status.success(), "load client {i} failed: {status}");
    }
    let stats = svc
        .service
        .takePoolStats()
        .map_err(|e| status("takePoolStats", e))?;
    let state = wait_buffers(svc.pid(), 0, SETTLE)?;
    println!(
        "# {procs} processes x {threads} threads x {rounds} rounds served; at most {} calls in flight on {} threads; \
         pool threads started/max {}",
        stats[0], stats[1], state.pool_threads
    );
    ensure!(
        state.pool_threads == format!("{max_threads}/{max_threads}"),
        "the pool did not grow to its maximum: started/max {}",
        state.pool_threads
    );
    ensure!(
        stats[0] > max_threads as i32,
        "at most {} calls in flight: the pool never ran full",
        stats[0]
    );
    sc.capture_final(&svc)
}

fn service_dies_mid_call(sc: &mut Scenario) -> Outcome {
    let mut svc = ServiceProc::start("alloctest.doomed", 4)?;
    let hanging = 3;
    let (tx, rx) = mpsc::channel();
    for _ in 0..hanging {
        let (service, tx) = (svc.service.clone(), tx.clone());
        // Not scoped: a call that never returns must not hang the test.
        std::thread::spawn(move || {
            let _ = tx.send(service.hang());
        });
    }
    sc.capture("service_dies_mid_call_blocked", &svc, hanging)?;
    match svc.service.exitMidCall(3) {
        Err(e) if is_code(&e, StatusCode::DeadObject) => {}
        other => {
            return Err(format!(
                "the call the service exited in returned {other:?}, not DeadObject"
            ))
        }
    }
    let exit = svc.proc.wait_exit(SETTLE)?;
    ensure!(
        exit.code() == Some(3),
        "the service ended with {exit}, not exit status 3"
    );
    for i in 0..hanging {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Err(e)) if is_code(&e, StatusCode::DeadObject) => {}
            Ok(other) => {
                return Err(format!(
                    "blocked call {i} returned {other:?}, not DeadObject"
                ))
            }
            Err(_) => {
                return Err(format!(
                    "blocked call {i} still hangs 20 s after the service exited"
                ))
            }
        }
    }
    match svc.service.echo(&[1, 2, 3]) {
        Err(e) if is_code(&e, StatusCode::DeadObject) => {}
        other => {
            return Err(format!(
                "a call after the exit returned {other:?}, not DeadObject"
            ))
        }
    }
    println!("# the exiting call and {hanging} blocked calls all got DeadObject; nothing hung");
    Ok(())
}

type ScenarioFn = fn(&mut Scenario) -> Outcome;

const SCENARIOS: &[(&str, ScenarioFn)] = &[
    ("hub_register_lookup_ping", hub_register_lookup_ping),
    ("parcel_sizes", parcel_sizes),
    ("strings_and_parcelables", strings_and_parcelables),
    ("callback_binder", callback_binder),
    ("file_descriptors", file_descriptors),
    ("oneway_order", oneway_order),
    ("oneway_flood", oneway_flood),
    ("reclaim_and_reinstall", reclaim_and_reinstall),
    ("death_notification", death_notification),
    ("concurrent_clients", concurrent_clients),
    ("service_dies_mid_call", service_dies_mid_call),
];

/// Runs every scenario; the exit status is 1 if any failed.
pub fn run() -> i32 {
    println!("KTAP version 1");
    println!("1..{}", SCENARIOS.len());
    init_binder(4);
    // Death notifications and callbacks need a looper thread.
    rsbinder::ProcessState::start_thread_pool();
    let hub = start_hub();
    if let Err(e) = &hub {
        println!("# {e}");
    }
    let mut failed = 0;
    for (i, (name, scenario)) in SCENARIOS.iter().enumerate() {
        let start = Instant::now();
        let result = match &hub {
            Ok(_) => scenario(&mut Scenario {
                name,
                facts: Vec::new(),
            }),
            Err(e) => Err(format!("no service manager: {e}")),
        };
        let secs = start.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                println!("# {name}: {secs:.1} s");
                println!("ok {} {name}", i + 1);
            }
            Err(e) => {
                failed += 1;
                println!("# {name}: {e}");
                println!("not ok {} {name}", i + 1);
            }
        }
    }
    drop(hub);
    i32::from(failed != 0)
}
