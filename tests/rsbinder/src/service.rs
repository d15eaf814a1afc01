// SPDX-License-Identifier: GPL-2.0
//! The IAllocTest service (one process per scenario) and the load client
//! that the concurrency scenario starts in several processes.

use crate::aidl::alloctest::{
    IAllocTest::{BnAllocTest, IAllocTest},
    ICallback::ICallback,
    Outer::Outer,
};
use crate::{init_binder, pattern};
use rsbinder::{hub, BinderResult, Interface, ParcelFileDescriptor, Status, StatusCode, Strong};
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Calls in flight and the threads that served them (slowCall).
#[derive(Default)]
struct PoolStats {
    in_flight: i32,
    max_in_flight: i32,
    threads: HashSet<ThreadId>,
}

#[derive(Default)]
struct AllocTestService {
    /// seqs recorded by post, in arrival order.
    posted: Mutex<Vec<i32>>,
    /// While true, post blocks; the condvar signals a release.
    hold_posts: Mutex<bool>,
    released: Condvar,
    pool: Mutex<PoolStats>,
}

fn io_error(e: std::io::Error) -> Status {
    Status::from(StatusCode::Errno(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// Length and byte sum of a file read from offset 0, folded into one value.
pub fn digest(bytes: &[u8]) -> i64 {
    bytes.len() as i64 * 1_000_003 + bytes.iter().map(|&b| b as i64).sum::<i64>()
}

/// A file with `len` pattern bytes, already unlinked.
pub fn pattern_file(len: usize, seed: u32) -> std::io::Result<File> {
    let path = format!("/tmp/rsb_alloc.{}.{seed}", std::process::id());
    let mut file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    file.write_all(&pattern(len, seed))?;
    Ok(file)
}

/// The whole file behind `file`, read with pread (the offset is shared
/// with the sender, who left it at the end).
pub fn read_whole(file: &File) -> std::io::Result<Vec<u8>> {
    let len = file.metadata()?.len() as usize;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

impl Interface for AllocTestService {}

impl IAllocTest for AllocTestService {
    fn getPid(&self) -> BinderResult<i32> {
        Ok(std::process::id() as i32)
    }

    fn echo(&self, data: &[u8]) -> BinderResult<Vec<u8>> {
        Ok(data.to_vec())
    }

    fn echoString(&self, s: &str) -> BinderResult<String> {
        Ok(s.to_owned())
    }

    fn echoOuter(&self, o: &Outer) -> BinderResult<Outer> {
        Ok(o.clone())
    }

    fn callBack(&self, cb: &Strong<dyn ICallback>, value: i32, size: i32) -> BinderResult<i64> {
        cb.onCall(value, &pattern(size.max(0) as usize, value as u32))
    }

    fn digestFd(&self, fd: &ParcelFileDescriptor) -> BinderResult<i64> {
        let file = File::from(OwnedFd::from(fd.try_clone()?));
        Ok(digest(&read_whole(&file).map_err(io_error)?))
    }

    fn makeFile(&self, size: i32) -> BinderResult<ParcelFileDescriptor> {
        let file = pattern_file(size.max(0) as usize, size as u32).map_err(io_error)?;
        Ok(ParcelFileDescriptor::new(file))
    }

    fn post(&self, seq: i32, _payload: &[u8]) -> BinderResult<()> {
        self.posted.lock().unwrap().push(seq);
        let mut held = self.hold_posts.lock().unwrap();
        while *held {
            held = self.released.wait(held).unwrap();
        }
        Ok(())
    }

    fn takePosted(&self) -> BinderResult<Vec<i32>> {
        Ok(std::mem::take(&mut *self.posted.lock().unwrap()))
    }

    fn holdPosts(&self, hold: bool) -> BinderResult<()> {
        *self.hold_posts.lock().unwrap() = hold;
        self.released.notify_all();
        Ok(())
    }

    fn slowCall(&self, millis: i32) -> BinderResult<()> {
        {
            let mut pool = self.pool.lock().unwrap();
            pool.in_flight += 1;
            pool.max_in_flight = pool.max_in_flight.max(pool.in_flight);
            pool.threads.insert(std::thread::current().id());
        }
        std::thread::sleep(Duration::from_millis(millis.max(0) as u64));
        self.pool.lock().unwrap().in_flight -= 1;
        Ok(())
    }

    fn takePoolStats(&self) -> BinderResult<Vec<i32>> {
        let mut pool = self.pool.lock().unwrap();
        let stats = vec![pool.max_in_flight, pool.threads.len() as i32];
        pool.max_in_flight = pool.in_flight;
        pool.threads.clear();
        Ok(stats)
    }

    fn hang(&self) -> BinderResult<()> {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    fn exitMidCall(&self, code: i32) -> BinderResult<()> {
        // SAFETY: _exit ends the process at once; nothing runs after it.
        unsafe { libc::_exit(code) }
    }
}

/// `rsb_alloc service NAME THREADS`: serve IAllocTest as NAME until killed.
pub fn serve(name: &str, threads: u32) -> ! {
    init_binder(threads);
    let service = BnAllocTest::new_binder(AllocTestService::default());
    rsbinder::ProcessState::start_thread_pool();
    if let Err(e) = hub::add_service(name, service.as_binder()) {
        eprintln!("rsb_alloc service: registering {name} with rsb_hub failed: {e}");
        std::process::exit(1);
    }
    let rc = rsbinder::ProcessState::join_thread_pool();
    eprintln!("rsb_alloc service: thread pool ended: {rc:?}");
    std::process::exit(1);
}

/// The service registered as `name`, waiting for its registration up to
/// `timeout`.
pub fn lookup(name: &str, timeout: Duration) -> Result<Strong<dyn IAllocTest>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match hub::try_get_interface::<dyn IAllocTest>(name) {
            Ok(Some(service)) => return Ok(service),
            Ok(None) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) => return Err(format!("{name} not registered after {timeout:?}")),
            Err(e) => return Err(format!("looking up {name}: {e}")),
        }
    }
}

/// `rsb_alloc load NAME THREADS ROUNDS SIZE`: THREADS threads, each making
/// ROUNDS pairs of slowCall and echo(SIZE bytes) on NAME. Exit status 0
/// when every call succeeded and every echo came back intact.
pub fn load(name: &str, threads: u32, rounds: u32, size: usize) -> i32 {
    init_binder(0);
    let service = match lookup(name, Duration::from_secs(10)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rsb_alloc load: {e}");
            return 1;
        }
    };
    // The start barrier of proc::release_loads.
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut go = String::new();
    if std::io::stdin().read_line(&mut go).is_err() || go.trim() != "go" {
        eprintln!("rsb_alloc load: no start signal");
        return 1;
    }
    let failures: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let service = service.clone();
                scope.spawn(move || {
                    let mut failures = 0;
                    for round in 0..rounds {
                        if let Err(e) = service.slowCall(40) {
                            eprintln!("rsb_alloc load: slowCall: {e}");
                            failures += 1;
                        }
                        let data = pattern(size, std::process::id() ^ (t << 16) ^ round);
                        match service.echo(&data) {
                            Ok(reply) if reply == data => {}
                            Ok(reply) => {
                                eprintln!(
                                    "rsb_alloc load: echo of {} bytes came back as {}",
                                    data.len(),
                                    reply.len()
                                );
                                failures += 1;
                            }
                            Err(e) => {
                                eprintln!("rsb_alloc load: echo: {e}");
                                failures += 1;
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(1)).sum()
    });
    i32::from(failures != 0)
}
