//! A bus server of the test's own (`redis-server`, `nats-server`), on a free port of
//! 127.0.0.2, which the test may kill and start again: a bus that restarts under a running
//! cluster. 127.0.0.2, because nothing else on the machine binds there: the port a test
//! reserved and let go is not taken by another test's server before its own binds it.
//! The scale benchmark uses it too (`#[path]`), for the same restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where it listens.
pub const HOST: &str = "127.0.0.2";

pub struct BusServer {
    program: &'static str,
    args: Vec<String>,
    pub port: u16,
    /// `None` while killed.
    child: Option<Child>,
}

impl BusServer {
    /// A Redis with nothing on disk.
    pub fn redis() -> BusServer {
        let port = free_port();
        let args = ["--port", &port.to_string(), "--bind", HOST, "--save", "", "--appendonly", "no"];
        BusServer::start("redis-server", args.map(str::to_owned).to_vec(), port)
    }

    /// A NATS server (core subjects only).
    pub fn nats() -> BusServer {
        let port = free_port();
        BusServer::start("nats-server", ["-a", HOST, "-p", &port.to_string()].map(str::to_owned).to_vec(), port)
    }

    /// Its URL for `BROKER_URL`.
    pub fn url(&self) -> String {
        let scheme = if self.program == "redis-server" { "redis" } else { "nats" };
        format!("{scheme}://{HOST}:{}", self.port)
    }

    fn start(program: &'static str, args: Vec<String>, port: u16) -> BusServer {
        let mut server = BusServer { program, args, port, child: None };
        server.restart();
        server
    }

    /// Kills it if it runs, starts it again on the same port, and returns once it accepts.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(self.program)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} is installed: {e}", self.program));
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect((HOST, self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not start", self.program);
    }

    /// Its resident memory, in KiB (0 when it is not running).
    pub fn rss_kib(&self) -> u64 {
        let Some(child) = &self.child else { return 0 };
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        let rss = status.lines().find_map(|line| line.strip_prefix("VmRSS:"));
        rss.and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
    }

    /// Kills it (SIGKILL: no goodbye to its clients) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BusServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind((HOST, 0)).unwrap().local_addr().unwrap().port()
}
