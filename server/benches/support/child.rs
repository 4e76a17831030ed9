//! The server under test for the benchmarks: the bench profile's (optimised) server binary
//! as a child process on a free loopback port, with a fresh SQLite database, so memory
//! figures are that server's alone (`VmRSS` from `/proc`). It dies with the benchmark.

// Each benchmark uses part of this harness.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::{Child, Command};

/// The server under test, a child process that dies with the benchmark.
pub struct Server {
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` when it speaks TLS.
    pub base: String,
    /// A client of this server (one that trusts its certificate, over TLS).
    pub http: reqwest::Client,
    /// The certificate it serves (PEM), when it speaks TLS.
    certificate: Option<Vec<u8>>,
    pid: u32,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// With more settings (environment variables). `BENCH_SERVER` names another server
    /// binary to measure (an older build, say); by default, this build's.
    pub async fn start_with(settings: &[(&str, &str)]) -> Server {
        Server::start_as(settings, false).await
    }

    /// As `start_with`; with `tls`, the server speaks TLS itself (`TLS_CERT`, `TLS_KEY`:
    /// HTTP/2 by ALPN) with a certificate for `localhost` made here.
    pub async fn start_as(settings: &[(&str, &str)], tls: bool) -> Server {
        let binary = std::env::var("BENCH_SERVER").unwrap_or_else(|_| env!("CARGO_BIN_EXE_server").to_owned());
        let dir = tempfile::tempdir().unwrap();
        // A free port: bind, note it, let it go (the server binds it a moment later).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let mut command = Command::new(binary);
        let certificate = tls.then(|| {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
            let pem = made.cert.pem().into_bytes();
            std::fs::write(&cert, &pem).unwrap();
            command.env("TLS_CERT", &cert).env("TLS_KEY", &key);
            pem
        });
        let child = command
            .env("DATABASE_URL", format!("sqlite://{}/bench.db", dir.path().display()))
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("REPLICA_ID", "bench")
            .env("RUST_LOG", "warn")
            // Every client of the benchmark comes from 127.0.0.1: lift the per-address
            // limits that would otherwise (rightly) stop one address opening thousands of
            // streams; the connection limit stays above the clients.
            .env("MAX_STREAMS_PER_IP", "1000000")
            .env("MAX_TABS_PER_IP", "1000000")
            .env("COMMANDS_PER_MINUTE", "1000000")
            .env("MAX_CONNECTIONS", "100000")
            .env("METRICS_BIND", "off")
            .env_remove("REDIS_URL")
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server binary starts");
        let base = match tls {
            true => format!("https://localhost:{port}"),
            false => format!("http://127.0.0.1:{port}"),
        };
        let http = client_of(certificate.as_deref());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "the server did not become healthy in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = child.id().expect("a running child");
        Server { base, http, certificate, pid, _child: child, _dir: dir }
    }

    /// A new client of this server, with connections of its own (over TLS, HTTP/2: one
    /// connection that carries every request and stream it makes, as a browser's does).
    pub fn client(&self) -> reqwest::Client {
        client_of(self.certificate.as_deref())
    }

    pub async fn create_board(&self, name: &str) -> String {
        create_board_with(&self.http, &self.base, name).await
    }

    /// The server's process id (for `/proc` and `perf`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resident memory in bytes, from `/proc/PID/status`.
    pub fn rss(&self) -> u64 {
        rss_of(self.pid)
    }

    /// Reads the resident memory from another task (a sampler).
    pub fn rss_reader(&self) -> impl Fn() -> u64 + Send + 'static {
        let pid = self.pid;
        move || rss_of(pid)
    }
}

impl Server {
    /// CPU time the server has used so far (user and system), from `/proc/PID/stat`.
    pub fn cpu(&self) -> Duration {
        let (user, system) = self.cpu_split();
        user + system
    }

    /// CPU time in user space and in the kernel (on loopback, a `send` also runs the
    /// receiving socket's side of TCP, so the kernel share counts the client's too).
    pub fn cpu_split(&self) -> (Duration, Duration) {
        cpu_of(self.pid)
    }
}

/// A client that trusts `certificate` (PEM), if any.
fn client_of(certificate: Option<&[u8]>) -> reqwest::Client {
    let mut client = reqwest::Client::builder();
    if let Some(pem) = certificate {
        client = client.add_root_certificate(reqwest::Certificate::from_pem(pem).expect("the certificate made here"));
    }
    client.build().expect("a client")
}

/// Creates a public board on the server (or nginx) at `base`; returns its id.
pub async fn create_board(base: &str, name: &str) -> String {
    create_board_with(&reqwest::Client::new(), base, name).await
}

/// As [`create_board`], through `http` (a client that trusts the server's certificate).
async fn create_board_with(http: &reqwest::Client, base: &str, name: &str) -> String {
    let r = http
        .post(format!("{base}/api/boards"))
        .json(&json!({ "name": name, "visibility": "public" }))
        .send()
        .await
        .expect("the board is created");
    assert_eq!(r.status(), 201);
    r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// A process's CPU time so far, in user space and in the kernel, from `/proc/PID/stat`.
pub fn cpu_of(pid: u32) -> (Duration, Duration) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("Linux /proc");
    // After the command name in parentheses: field 14 is utime, 15 stime, in ticks.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    // Linux's USER_HZ is 100 on every platform this runs on.
    let ticks = |i: usize| Duration::from_millis(fields[i].parse::<u64>().unwrap() * 10);
    (ticks(11), ticks(12))
}

/// What the server has sent on its open connections so far, from the kernel's TCP
/// statistics (`ss -ti`): payload bytes and data segments. On loopback (no MTU worth
/// speaking of) one segment is one `write` of the server's, so segments per delivered
/// frame say how close a transport comes to one write per frame. Connections that closed
/// in between are not counted (polls on kept-alive connections are).
#[derive(Clone, Copy, Debug, Default)]
pub struct Written {
    pub bytes: u64,
    pub segments: u64,
}

impl std::ops::Sub for Written {
    type Output = Written;

    fn sub(self, earlier: Written) -> Written {
        Written {
            bytes: self.bytes.saturating_sub(earlier.bytes),
            segments: self.segments.saturating_sub(earlier.segments),
        }
    }
}

impl Server {
    pub fn written(&self) -> Written {
        let port = self.base.rsplit(':').next().expect("a port");
        let out = std::process::Command::new("ss")
            .args(["-tinH", "state", "established", &format!("( sport = :{port} )")])
            .output()
            .expect("ss (iproute2) runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let sum = |name: &str| -> u64 {
            text.split_whitespace()
                .filter_map(|field| field.strip_prefix(name))
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        };
        Written { bytes: sum("bytes_sent:"), segments: sum("data_segs_out:") }
    }
}

fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("Linux /proc");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}
