//! A replica as its own process (the server binary), so that a test can SIGKILL it: no
//! goodbye to the other replicas, no lease given back.

use std::process::Stdio;
use std::time::{Duration, Instant};

pub struct Replica {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: std::process::Child,
}

impl Replica {
    /// Starts a replica on `database` and `redis` with these extra settings, and waits until
    /// it is ready.
    pub async fn spawn(database: &str, redis: &str, name: &str, settings: &[(&str, &str)]) -> Replica {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
        command.env("REDIS_URL", redis).env("REPLICA_ID", name);
        Replica::start(command, database, settings).await
    }

    /// Starts a server of its own (the in-process broker) whose open-file limit, soft and
    /// hard, is `files` (through util-linux's `prlimit`, which then runs the server in its
    /// own process).
    pub async fn spawn_with_open_files(database: &str, files: u64, settings: &[(&str, &str)]) -> Replica {
        let mut command = std::process::Command::new("prlimit");
        command.arg(format!("--nofile={files}:{files}")).arg(env!("CARGO_BIN_EXE_server")).env_remove("REDIS_URL");
        Replica::start(command, database, settings).await
    }

    async fn start(mut command: std::process::Command, database: &str, settings: &[(&str, &str)]) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = command
            .env("DATABASE_URL", database)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("METRICS_BIND", "off")
            .env("RUST_LOG", "warn")
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("the server binary starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "the replica did not become ready in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Replica { base, child }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
