//! The `buses` scenario: the same two replicas over each bus (Redis pub/sub, NATS core
//! subjects, Postgres LISTEN/NOTIFY), and what the choice changes.
//!
//! One board, one SSE follower on each replica, commits posted straight to the first:
//!
//! 1. **latency**: each change's time from the commit's request to its frame, on the
//!    replica that committed it (no bus: the local fan-out) and on the other one (one hop
//!    over the bus). The difference is what the bus costs a change.
//! 2. **the bus goes away**: Redis and NATS are servers of the benchmark's own, SIGKILLed
//!    and started again a second later; on Postgres the replicas' listening sessions are
//!    ended by the server (`pg_terminate_backend`, as a restart or a failover would). The
//!    changes committed meanwhile are notices nobody hears; the other replica finds them
//!    in the log when it listens again (its reconnect sweeps the heads), or sooner, in its
//!    periodic head sweep. Measured: the longest any of them took from its commit to the
//!    other replica's follower (and the disconnects that replica counted).
//! 3. **what it costs to run**: the bus server's memory after the run (Redis, NATS), and
//!    the bus's own connections per replica.
//!
//! Fails on any lost, repeated or out-of-order change, as every scenario does.

use std::time::{Duration, Instant};

use serde_json::json;

use board_core::patterns::PatternKind;
use board_core::protocol::Transport;

use super::bus_server::BusServer;
use super::child::create_board;
use super::clients::{check, Client, Hold};
use super::cluster::{Cluster, Options};
use super::{chart, commit, ms};

/// How long the bus stays away (Redis, NATS); the outage's changes are spread over it.
const OUTAGE: Duration = Duration::from_secs(1);
/// How long the other replica may take to have every change once the bus is back.
const REPAIR_DEADLINE: Duration = Duration::from_secs(30);

pub async fn compare(out: &std::path::Path, buses: &[String], commits: u64, pace: Duration, outage: u64) {
    println!(
        "buses: two replicas, one board, an SSE follower on each; {commits} commits {} apart on the first, then {outage} while the bus is away",
        ms(pace)
    );
    let mut runs = Vec::new();
    for bus in buses {
        runs.push(run(bus, commits, pace, outage).await);
    }
    println!();
    println!(
        "{:<9} {:>22} {:>22} {:>18} {:>22} {:>16}",
        "bus", "same replica p50/p99", "other replica p50/p99", "bus hop p50", "while away: slowest", "bus server RSS"
    );
    for run in &runs {
        let rss = run["bus_server_rss_kib"]
            .as_u64()
            .map_or("none".to_owned(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0));
        println!(
            "{:<9} {:>22} {:>22} {:>18} {:>22} {:>16}",
            run["bus"].as_str().unwrap(),
            format!("{:.1} / {:.1} ms", run["same_p50_ms"].as_f64().unwrap(), run["same_p99_ms"].as_f64().unwrap()),
            format!("{:.1} / {:.1} ms", run["other_p50_ms"].as_f64().unwrap(), run["other_p99_ms"].as_f64().unwrap()),
            format!("{:.1} ms", run["other_p50_ms"].as_f64().unwrap() - run["same_p50_ms"].as_f64().unwrap()),
            format!("{:.0} ms", run["away_slowest_ms"].as_f64().unwrap()),
            rss,
        );
    }
    println!();
    println!("latency: from sending the commit's request to the frame on a follower of that replica (same) or of the other (other); while away: the longest a change committed while the bus was away (Redis and NATS killed for {} s, Postgres' listening sessions ended) took to reach the other replica's follower, through the log", OUTAGE.as_secs());
    chart::write_json(
        out,
        "buses",
        &json!({"commits": commits, "pace_ms": pace.as_millis() as u64, "outage_commits": outage, "runs": runs}),
    );
}

async fn run(bus: &str, commits: u64, pace: Duration, outage: u64) -> serde_json::Value {
    let mut server = match bus {
        "redis" => Some(BusServer::redis()),
        "nats" => Some(BusServer::nats()),
        _ => None,
    };
    let cluster = Cluster::start(Options {
        replicas: 2,
        affinity: "none",
        nginx_connections: 256,
        env: vec![],
        bus,
        bus_url: server.as_ref().map(BusServer::url),
    })
    .await;
    let (first, second) = (cluster.replicas[0].base.clone(), cluster.replicas[1].base.clone());
    let board = create_board(&first, &format!("bus {bus}")).await;
    let total = commits + outage;

    // A follower on each replica, connected before the first commit.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(2);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(2);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let followers: Vec<_> = [&first, &second]
        .into_iter()
        .map(|base| {
            let client = Client {
                base: base.clone(),
                board: board.clone(),
                pattern: PatternKind::PushOps,
                target: total,
                hold: Hold { done: done_tx.clone(), release: release_rx.clone() },
                puller: None,
                http: None,
            };
            tokio::spawn(client.follow(Transport::Sse, ready_tx.clone(), Duration::from_secs(1)))
        })
        .collect();
    for _ in 0..2 {
        ready_rx.recv().await.expect("both followers connect");
    }

    // 1. Timed commits.
    let http = reqwest::Client::new();
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(pace);
    for i in 0..commits {
        tick.tick().await;
        let at = Instant::now();
        let seq = commit(&http, &first, &board, format!("timed {i}")).await;
        sent.push((seq, at));
    }

    // 2. The bus goes away; changes are committed meanwhile; it comes back.
    let disconnects_before = cluster.metric(1, "board_bus_disconnects_total").await;
    match server.as_mut() {
        Some(server) => server.kill(),
        None => end_listening_sessions(&cluster.database),
    }
    let away = Instant::now();
    let mut sent_away = Vec::new();
    for i in 0..outage {
        let at = Instant::now();
        sent_away.push((commit(&http, &first, &board, format!("while away {i}")).await, at));
        tokio::time::sleep(OUTAGE / outage as u32).await;
    }
    // (Postgres was never away: its sessions ended, and the relay reconnects by itself.)
    if let Some(server) = server.as_mut() {
        tokio::time::sleep(OUTAGE.saturating_sub(away.elapsed())).await;
        server.restart();
    }
    for _ in 0..2 {
        tokio::time::timeout(REPAIR_DEADLINE, done_rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("{bus}: a follower still lacked changes {} s after the bus came back", REPAIR_DEADLINE.as_secs())
            })
            .expect("every follower gets everything");
    }
    let disconnects = cluster.metric(1, "board_bus_disconnects_total").await - disconnects_before;
    release_tx.send(true).unwrap();
    let mut received = Vec::new();
    for follower in followers {
        let got = follower.await.expect("a follower panicked");
        check(PatternKind::PushOps, Transport::Sse, &got.seqs, total);
        received.push(got.seqs);
    }

    // Each change's time from its request to its frame, in ms, sorted.
    let delays = |sent: &[(u64, Instant)], seqs: &[(u64, Instant)]| {
        let mut delays: Vec<f64> = sent
            .iter()
            .map(|(seq, at)| {
                let (_, arrived) = seqs.iter().find(|(s, _)| s == seq).expect("every change arrived");
                arrived.saturating_duration_since(*at).as_secs_f64() * 1e3
            })
            .collect();
        delays.sort_by(f64::total_cmp);
        delays
    };
    let latency = |seqs: &[(u64, Instant)]| {
        let latencies = delays(&sent, seqs);
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.99))
    };
    let (same_p50, same_p99) = latency(&received[0]);
    let (other_p50, other_p99) = latency(&received[1]);
    let away_slowest = *delays(&sent_away, &received[1]).last().expect("changes while away");
    let rss = server.as_ref().map(BusServer::rss_kib);
    println!(
        "{bus}: same replica p50 {same_p50:.1} ms p99 {same_p99:.1} ms; other replica p50 {other_p50:.1} ms p99 {other_p99:.1} ms; {outage} changes while the bus was away, the slowest on the other replica {away_slowest:.0} ms after its commit ({disconnects} disconnect counted there)"
    );
    json!({
        "bus": bus,
        "same_p50_ms": same_p50,
        "same_p99_ms": same_p99,
        "other_p50_ms": other_p50,
        "other_p99_ms": other_p99,
        "changes_while_away": outage,
        "away_slowest_ms": away_slowest,
        "disconnects_counted": disconnects,
        "bus_server_rss_kib": rss,
    })
}

/// Ends the replicas' listening sessions on Postgres (the ones whose last statement was a
/// `LISTEN` or `UNLISTEN`), as a restart or a failover would.
fn end_listening_sessions(database: &str) {
    let admin =
        std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let sql = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database}' AND query LIKE '%LISTEN %'"
    );
    let output = std::process::Command::new("psql").args([&admin, "-tAc", &sql]).output().expect("psql runs");
    let ended = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(ended, "2", "one listening session per replica ended: {}", String::from_utf8_lossy(&output.stderr));
}
