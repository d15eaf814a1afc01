// SPDX-License-Identifier: GPL-2.0
//! Child processes of the scenarios: rsb_hub and IAllocTest services.
//! Each is killed and reaped when its handle is dropped, so a failed
//! scenario leaves nothing running.

use crate::aidl::alloctest::IAllocTest::IAllocTest;
use crate::service::lookup;
use rsbinder::Strong;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct ChildProc {
    pub child: Child,
    what: String,
}

impl ChildProc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL now; the process is reaped on drop.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits up to `timeout` for the process to end; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus, String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => return Err(format!("{} still running after {timeout:?}", self.what)),
                Err(e) => return Err(format!("waiting for {}: {e}", self.what)),
            }
        }
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts rsb_hub (the service manager, allowing everything) and waits
/// until it answers as the context manager. The guest kernel has no
/// AF_UNIX, so rsb_hub's $NOTIFY_SOCKET readiness report is out; each
/// probe is a fresh `rsb_alloc hub-ready` process, so no failed lookup
/// of handle 0 is cached in this one.
pub fn start_hub() -> Result<ChildProc, String> {
    let child = Command::new("rsb_hub")
        .arg("--insecure-allow-all")
        .spawn()
        .map_err(|e| format!("starting rsb_hub: {e}"))?;
    let mut hub = ChildProc {
        child,
        what: "rsb_hub".into(),
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = hub.child.try_wait() {
            return Err(format!("rsb_hub exited: {status}"));
        }
        let probe = Command::new(&exe).arg("hub-ready").status();
        match probe {
            Ok(status) if status.success() => return Ok(hub),
            Ok(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(status) => {
                return Err(format!(
                    "rsb_hub not answering after 30 s (probe: {status})"
                ))
            }
            Err(e) => return Err(format!("running the hub probe: {e}")),
        }
    }
}

/// `rsb_alloc hub-ready`: exit status 0 when the service manager answers.
pub fn hub_ready() -> i32 {
    crate::init_binder(0);
    match rsbinder::hub::try_list_services(rsbinder::hub::DUMP_FLAG_PRIORITY_ALL) {
        Ok(names) if names.iter().any(|n| n == "manager") => 0,
        _ => 1,
    }
}

/// An IAllocTest service process registered with rsb_hub as `name`.
pub struct ServiceProc {
    pub proc: ChildProc,
    pub service: Strong<dyn IAllocTest>,
}

impl ServiceProc {
    /// Starts `rsb_alloc service NAME THREADS` and looks it up through the hub.
    pub fn start(name: &str, threads: u32) -> Result<ServiceProc, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .args(["service", name, &threads.to_string()])
            .spawn()
            .map_err(|e| format!("starting service {name}: {e}"))?;
        let proc = ChildProc {
            child,
            what: format!("service {name}"),
        };
        let service = lookup(name, Duration::from_secs(20))?;
        Ok(ServiceProc { proc, service })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

/// Starts a load client process (see service::load). It looks the
/// service up, reports "ready" on its stdout and waits for a line on its
/// stdin before calling: `release_loads` starts all clients at once, so
/// their calls overlap however long each took to start.
pub fn start_load(name: &str, threads: u32, rounds: u32, size: usize) -> Result<ChildProc, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args([
            "load",
            name,
            &threads.to_string(),
            &rounds.to_string(),
            &size.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting load client: {e}"))?;
    Ok(ChildProc {
        child,
        what: format!("load client of {name}"),
    })
}

/// Waits until every load client has found the service, then lets them
/// all go. A client that fails its lookup exits: its stdout ends without
/// "ready" and this returns the error.
pub fn release_loads(loads: &mut [ChildProc]) -> Result<(), String> {
    for load in loads.iter_mut() {
        let out = load
            .child
            .stdout
            .take()
            .ok_or("load client without stdout")?;
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| format!("reading from the {}: {e}", load.what))?;
        if line.trim() != "ready" {
            return Err(format!("the {} did not get ready", load.what));
        }
    }
    for load in loads.iter_mut() {
        let mut input = load.child.stdin.take().ok_or("load client without stdin")?;
        input
            .write_all(b"go\n")
            .map_err(|e| format!("starting the {}: {e}", load.what))?;
    }
    Ok(())
}
