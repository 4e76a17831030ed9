//! The system calls that write, counted for one process over a phase of a benchmark: the
//! kernel's `syscalls:sys_enter_*` tracepoints, counted by `perf stat` attached to the
//! process. Counting in the kernel, not tracing each call to user space as `strace` does,
//! so the process runs at its normal speed (a counted call costs tens of nanoseconds).
//!
//! Every call that can put bytes on a socket is counted: `write` and `writev` (what hyper and
//! tokio use), `sendto` and `sendmsg` (what `/proc/PID/io`'s `syscw` misses).
//!
//! `perf` is Debian's `linux-perf`; the tracepoints need root or
//! `kernel.perf_event_paranoid` ≤ 1. Without them the count is `Err` with the reason, which
//! the benchmark prints in place of the figure.

// Each benchmark uses part of this harness.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CALLS: [&str; 4] = ["write", "writev", "sendto", "sendmsg"];

/// A count under way.
pub struct Counting {
    perf: Child,
    out: tempfile::NamedTempFile,
}

/// The calls counted, by name.
#[derive(Clone, Debug, Default)]
pub struct WriteCalls {
    pub by_call: Vec<(&'static str, u64)>,
}

impl WriteCalls {
    pub fn total(&self) -> u64 {
        self.by_call.iter().map(|(_, n)| n).sum()
    }
}

/// Starts counting `pid`'s write calls (all its threads).
pub async fn count(pid: u32) -> Result<Counting, String> {
    let out = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let events: Vec<String> = CALLS.iter().map(|call| format!("syscalls:sys_enter_{call}")).collect();
    let perf = Command::new("perf")
        .args(["stat", "-x", ",", "--no-big-num", "-e", &events.join(","), "-p", &pid.to_string(), "-o"])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("perf does not run ({e}): install linux-perf"))?;
    // perf opens its counters within milliseconds; the phase must not start before.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Counting { perf, out })
}

impl Counting {
    /// Stops counting and reads the counts.
    pub fn stop(mut self) -> Result<WriteCalls, String> {
        // perf stat prints its counts when interrupted.
        let _ = Command::new("kill").args(["-INT", &self.perf.id().to_string()]).status();
        let _ = self.perf.wait();
        let text = std::fs::read_to_string(self.out.path()).map_err(|e| e.to_string())?;
        let mut calls = WriteCalls::default();
        for call in CALLS {
            let event = format!("syscalls:sys_enter_{call}");
            // CSV: value,unit,event,...
            let value = text
                .lines()
                .find(|line| line.split(',').nth(2) == Some(event.as_str()))
                .and_then(|line| line.split(',').next())
                .ok_or_else(|| {
                    format!("perf counted nothing: {}", text.lines().last().unwrap_or("no output").trim())
                })?;
            let n = value.parse::<u64>().map_err(|_| {
                format!("perf could not count {event} ({value}): it needs root or kernel.perf_event_paranoid <= 1")
            })?;
            calls.by_call.push((call, n));
        }
        Ok(calls)
    }
}
