//! Several replicas for the scale benchmark: `scripts/cluster` (the docker-compose topology
//! without Docker) run with the bench profile's server binary, on free loopback ports, a
//! fresh Postgres database and a bus between the replicas (the machine's Redis by default;
//! NATS, Postgres NOTIFY, or a bus server of the benchmark's own), behind its nginx. The benchmark reads
//! each replica's pid (CPU, memory, SIGKILL) and `/metrics` from there, so what it measures
//! is the topology a team deploys, not a copy of it.

// Each scenario uses part of this harness.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running cluster; dropping it stops nginx and every replica (SIGTERM to the script,
/// whose trap stops them).
pub struct Cluster {
    /// nginx in front: `http://127.0.0.1:PORT`.
    pub base: String,
    pub replicas: Vec<Replica>,
    /// The replicas' database (Postgres' name for it): a benchmark may end its sessions.
    pub database: String,
    script: Child,
    /// Replicas started again by [`Cluster::restart`]: not the script's, so stopped here.
    restarted: Vec<Child>,
    dir: tempfile::TempDir,
}

/// One replica, reached directly (as nginx reaches it).
pub struct Replica {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its `/metrics` listener (loopback only, as in production).
    pub metrics: String,
    pub pid: u32,
}

/// How the cluster is started.
pub struct Options<'a> {
    pub replicas: usize,
    /// `board` (nginx hashes the board to a replica) or `none` (round-robin).
    pub affinity: &'a str,
    /// nginx's connections per worker (it has one worker).
    pub nginx_connections: u32,
    /// More environment for the replicas (`MAX_CONNECTIONS`, say).
    pub env: Vec<(&'a str, String)>,
    /// The bus between the replicas: `redis`, `nats` or `postgres` (scripts/cluster's `--bus`).
    pub bus: &'a str,
    /// The bus server's URL, for Redis or NATS; `None`: the machine's (`TEST_REDIS_URL`,
    /// `TEST_NATS_URL`, else the default ports).
    pub bus_url: Option<String>,
}

impl Cluster {
    pub async fn start(options: Options<'_>) -> Cluster {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = tempfile::Builder::new().prefix("board-bench-").tempdir().unwrap();
        let (port, first) = free_ports(options.replicas);
        let admin =
            std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let database = format!(
            "{}/board_bench_{}_{}",
            admin.rsplit_once('/').expect("a database URL").0,
            std::process::id(),
            port
        );
        let machine = |variable: &str, default: &str| std::env::var(variable).unwrap_or_else(|_| default.into());
        // Where the bus is, for Redis and NATS; on Postgres scripts/cluster makes
        // DATABASE_URL the bus.
        let bus_server = match options.bus {
            "redis" => Some((
                "REDIS_URL",
                options.bus_url.unwrap_or_else(|| machine("TEST_REDIS_URL", "redis://127.0.0.1:6379")),
            )),
            "nats" => {
                Some(("NATS_URL", options.bus_url.unwrap_or_else(|| machine("TEST_NATS_URL", "nats://127.0.0.1:4222"))))
            }
            "postgres" => None,
            other => panic!("no bus named {other}"),
        };
        let mut command = Command::new(root.join("scripts/cluster"));
        command
            .arg(options.replicas.to_string())
            .current_dir(&root)
            .env("SERVER_BIN", env!("CARGO_BIN_EXE_server"))
            .env("CLUSTER_DIR", dir.path())
            .env("CLUSTER_PORT", port.to_string())
            // nginx's TLS listener, which the benchmark does not use: a port no other run holds.
            .env(
                "CLUSTER_TLS_PORT",
                std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string(),
            )
            .env("CLUSTER_BASE_PORT", first.to_string())
            .env("AFFINITY", options.affinity)
            .env("NGINX_WORKER_CONNECTIONS", options.nginx_connections.to_string())
            .env("DATABASE_URL", &database)
            .env("BUS", options.bus)
            .env("RUST_LOG", "warn")
            // Every client of the benchmark is 127.0.0.1: lift the per-address limits that
            // would (rightly) stop one address opening thousands of streams.
            .env("MAX_STREAMS_PER_IP", "1000000")
            .env("COMMANDS_PER_MINUTE", "1000000")
            .env("MAX_CONNECTIONS", "100000");
        if let Some((variable, url)) = &bus_server {
            command.env(variable, url);
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut script = command
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/cluster starts (bash, nginx, psql)");
        // The script says `cluster: ...` once nginx and every replica answer.
        let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("cluster:") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(ready, Ok(true)), "scripts/cluster did not start within 60 s (logs in {:?})", dir.path());
        // Read to the end: the script says more after that line, and a line it cannot
        // write (its reader gone: EPIPE, since Rust's children inherit an ignored SIGPIPE)
        // ends it under `set -e`, and its trap stops the cluster.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let replicas = (0..options.replicas)
            .map(|i| {
                let pid = std::fs::read_to_string(dir.path().join(format!("replica-{}.pid", i + 1)))
                    .expect("the script records each replica's pid");
                Replica {
                    base: format!("http://127.0.0.1:{}", first as usize + i),
                    metrics: format!("http://127.0.0.1:{}/metrics", first as usize + 100 + i + 1),
                    pid: pid.trim().parse().unwrap(),
                }
            })
            .collect();
        let database = database.rsplit_once('/').expect("a database URL").1.to_owned();
        Cluster { base: format!("http://127.0.0.1:{port}"), replicas, database, script, restarted: Vec::new(), dir }
    }

    /// Stops a replica and starts it again with its start command (scripts/cluster keeps
    /// one per replica) and more environment: one replica configured unlike the others.
    pub async fn restart(&mut self, replica: usize, env: &[(&str, String)]) {
        self.kill(replica);
        // Gone (or a zombie the script has yet to reap): its port is free again.
        let old = self.replicas[replica].pid;
        let gone = || std::fs::read_to_string(format!("/proc/{old}/stat")).map_or(true, |stat| stat.contains(") Z "));
        while !gone() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let start = self.dir.path().join(format!("replica-{}.start", replica + 1));
        let mut command = Command::new("bash");
        command.arg(start).stdout(Stdio::null()).kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("the replica starts again");
        self.replicas[replica].pid = child.id().expect("a running replica");
        self.restarted.push(child);
        let ready = format!("{}/readyz", self.replicas[replica].base);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !reqwest::get(&ready).await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "replica {replica} did not come back within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the replica vanishes mid-write, as after a crash or an OOM kill.
    pub fn kill(&self, replica: usize) {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &self.replicas[replica].pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "replica {replica} was running");
    }

    /// The sum of a metric's samples on one replica (all label sets); 0 if never counted.
    pub async fn metric(&self, replica: usize, name: &str) -> f64 {
        let text = reqwest::get(&self.replicas[replica].metrics)
            .await
            .expect("the replica's metrics answer")
            .text()
            .await
            .unwrap();
        sample_sum(&text, name)
    }

    /// How many boards are followed by N replicas, for each N (`board_boards_by_followers`):
    /// a board followed by N replicas is counted on each of them, so each replica's count is
    /// divided by N.
    pub async fn following(&self, replicas: impl IntoIterator<Item = usize>) -> std::collections::BTreeMap<usize, f64> {
        let mut boards = std::collections::BTreeMap::new();
        for replica in replicas {
            let text = reqwest::get(&self.replicas[replica].metrics).await.unwrap().text().await.unwrap();
            for line in text.lines().filter_map(|l| l.strip_prefix("board_boards_by_followers{replicas=\"")) {
                let Some((n, value)) = line.split_once("\"} ") else { continue };
                let (Ok(n), Ok(value)) = (n.parse::<usize>(), value.trim().parse::<f64>()) else { continue };
                *boards.entry(n).or_insert(0.0) += value / n as f64;
            }
        }
        boards
    }

    /// A metric summed over the given replicas.
    pub async fn metric_over(&self, replicas: impl IntoIterator<Item = usize>, name: &str) -> f64 {
        let mut sum = 0.0;
        for replica in replicas {
            sum += self.metric(replica, name).await;
        }
        sum
    }
}

impl Replica {
    /// CPU time so far (user + system), from `/proc/PID/stat`.
    pub fn cpu(&self) -> Duration {
        let (user, system) = super::child::cpu_of(self.pid);
        user + system
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGTERM runs the script's trap, which stops nginx and the replicas and waits.
        if let Some(pid) = self.script.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && std::path::Path::new(&format!("/proc/{pid}")).exists() {
                if matches!(self.script.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// One sample line per label set: `name{labels} value` or `name value`.
pub fn sample_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// nginx's port, then the first of `replicas` consecutive replica ports whose metrics
/// ports (100 above, plus one) are free too.
fn free_ports(replicas: usize) -> (u16, u16) {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let nginx = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Start somewhere that depends on the process, so two runs do not collide.
    let mut first = 20_000 + (std::process::id() % 2_000) as u16 * 10;
    loop {
        let ports = (0..replicas as u16).flat_map(|i| [first + i, first + 100 + i + 1]);
        if ports.clone().all(free) && !ports.clone().any(|p| p == nginx) {
            return (nginx, first);
        }
        first += 10;
        assert!(first < 60_000, "no free ports for the cluster");
    }
}
