//! The scale benchmark: three problems a realtime system meets as it grows, each a scenario
//! a learner can run, on the cluster a team deploys (`scripts/cluster`: replicas of the
//! bench profile's server on Postgres and Redis, nginx in front; see `support/cluster.rs`).
//!
//! ```text
//! cargo bench -p server --bench scale -- celebrity --clients 2000
//! cargo bench -p server --bench scale -- storm --clients 3000
//! cargo bench -p server --bench scale -- affinity [--bus nats]
//! cargo bench -p server --bench scale -- buses
//! ```
//!
//! * `celebrity`: one board followed by many clients on one replica, a steady write rate,
//!   each pattern in turn: the replica's CPU, the bytes its clients receive and the requests
//!   that reach it, per change. Poke-pull runs twice: pulls straight to the replica, and
//!   pulls through nginx's snapshot cache (`proxy_cache_lock`), to count the pulls per
//!   change that reach the replica.
//! * `storm`: clients on one replica that is SIGKILLed; they reconnect to the survivors
//!   with the page's backoff (`board_core::backoff`), with its jitter and without. Reconnects
//!   per 100 ms, time until everyone is live again, the peak accept rate, and what the
//!   survivors refused (`503` + `Retry-After` when `--max-connections` sheds) or let time out.
//! * `affinity`: boards followed through nginx with board affinity on and off: the bus's
//!   messages each replica receives and head reads, per commit (`--bus`: Redis, NATS or
//!   Postgres NOTIFY).
//! * `buses`: two replicas over each bus in turn: from commit to delivery on the other
//!   replica, the bus going away mid-stream and the log's repair ([`buses`]).
//!
//! Each scenario fails on any lost, repeated or out-of-order change, and writes its figures
//! as JSON and its chart as SVG (`--out`, by default `docs/performance/`). Bounded in count
//! and time (clients, changes, a deadline per scenario); loopback only.
//! `cargo test -p server --bench scale -- <scenario> --clients 20 --out DIR` runs one in
//! miniature (`scripts/test` does, for each).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures::StreamExt;
use serde_json::json;

#[path = "../tests/common/bus_server.rs"]
#[allow(dead_code)]
mod bus_server;
#[path = "scale/buses.rs"]
mod buses;
#[path = "support/chart.rs"]
mod chart;
#[path = "support/child.rs"]
mod child;
#[path = "support/clients.rs"]
mod clients;
#[path = "support/cluster.rs"]
mod cluster;
use chart::{Chart, Series};
use child::create_board;
use clients::{check, sse_data, Client, Hold, Puller, Pulls};
use cluster::{Cluster, Options};

use board_core::backoff::Backoff;
use board_core::patterns::{Frame, PatternKind};
use board_core::protocol::Transport;

#[derive(Parser, Debug)]
#[command(about = "Scale scenarios: the celebrity board, the reconnect storm, board affinity, the buses")]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
    /// Where the JSON results and SVG charts go (default: docs/performance/).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    // `cargo bench` passes `--bench` to every bench binary; accept and ignore it.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// One board, many followers on one replica, each pattern's cost per change.
    Celebrity {
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=12000))]
        clients: u64,
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=500))]
        changes: u64,
        /// Milliseconds between changes.
        #[arg(long, default_value_t = 100)]
        pace_ms: u64,
        #[arg(long, default_value = "ws")]
        transport: Transport,
        /// Comma-separated; default all five.
        #[arg(long, value_delimiter = ',', default_value = "poke-pull,push-state,push-ops,push-events,event-diff")]
        patterns: Vec<PatternKind>,
    },
    /// Clients on a replica that is killed reconnect to the others.
    Storm {
        #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..=12000))]
        clients: u64,
        /// Replicas in all (the first is killed).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=5))]
        replicas: u64,
        /// Boards the clients follow (client i follows board i mod boards).
        #[arg(long, default_value_t = 10)]
        boards: u64,
        #[arg(long, default_value = "sse")]
        transport: Transport,
        /// Each survivor's connection limit (`MAX_CONNECTIONS`): beyond it, `503` with
        /// `Retry-After`. Default: no limit in reach.
        #[arg(long)]
        max_connections: Option<u64>,
    },
    /// Boards followed through nginx, with board affinity on and off.
    Affinity {
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=5))]
        replicas: u64,
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=200))]
        boards: u64,
        /// Followers per board, alternately SSE and long-poll.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=100))]
        clients: u64,
        /// Changes per board.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=200))]
        changes: u64,
        /// The bus between the replicas.
        #[arg(long, default_value = "redis", value_parser = ["redis", "nats", "postgres"])]
        bus: String,
    },
    /// Each bus between two replicas: from commit to delivery on the other replica, and the
    /// bus going away mid-stream.
    Buses {
        /// Comma-separated; default all three.
        #[arg(long, value_delimiter = ',', default_value = "redis,nats,postgres", value_parser = ["redis", "nats", "postgres"])]
        buses: Vec<String>,
        /// Changes whose delivery is timed, on one board.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=2000))]
        commits: u64,
        /// Milliseconds between them.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        pace_ms: u64,
        /// Changes committed while the bus is away (one every 100 ms).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100))]
        outage: u64,
    },
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let out = chart::out_dir(args.out.as_deref());
    println!(
        "machine: {} cores; clients, replicas, Postgres, Redis and nginx share it",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let deadline = Duration::from_secs(300);
    let run = async {
        match args.scenario {
            Scenario::Celebrity { clients, changes, pace_ms, transport, patterns } => {
                celebrity(&out, clients, changes, pace_ms, transport, &patterns).await
            }
            Scenario::Storm { clients, replicas, boards, transport, max_connections } => {
                storm(&out, clients, replicas as usize, boards, transport, max_connections).await
            }
            Scenario::Affinity { replicas, boards, clients, changes, bus } => {
                affinity(&out, replicas as usize, boards, clients, changes, &bus).await
            }
            Scenario::Buses { buses, commits, pace_ms, outage } => {
                buses::compare(&out, &buses, commits, Duration::from_millis(pace_ms), outage).await
            }
        }
    };
    tokio::time::timeout(deadline, run).await.expect("the scenario finished within 300 s");
}

async fn commit(http: &reqwest::Client, base: &str, board: &str, title: String) -> u64 {
    let r = http
        .post(format!("{base}/api/boards/{board}/commands"))
        .json(&json!({"type": "add_todo", "title": title}))
        .send()
        .await
        .expect("the command is answered");
    assert_eq!(r.status(), 200, "a command is refused");
    r.json::<serde_json::Value>().await.unwrap()["seq"].as_u64().unwrap()
}

// ---------------------------------------------------------------------------------------
// The celebrity board.

/// How pulls travel in a poke-pull run.
#[derive(Clone, Copy, PartialEq)]
enum Pulling {
    /// The pattern does not pull.
    No,
    /// Straight to the replica.
    Direct,
    /// Through nginx and its snapshot cache.
    Cached,
}

struct CelebrityRun {
    pattern: PatternKind,
    pulling: Pulling,
    cpu_per_change: Duration,
    bytes_per_change: f64,
    frames_per_change: f64,
    /// Snapshot pulls (answered or refused) and state reads that reached the replica, per
    /// change (its own counters).
    reads_per_change: f64,
    pulls: Pulls,
    p50: Duration,
    p99: Duration,
}

async fn celebrity(
    out: &std::path::Path,
    clients: u64,
    changes: u64,
    pace_ms: u64,
    transport: Transport,
    patterns: &[PatternKind],
) {
    println!("celebrity: {clients} {transport} clients follow one board on one replica; {changes} changes, one every {pace_ms} ms");
    let cluster = Cluster::start(Options {
        replicas: 1,
        affinity: "board",
        nginx_connections: (clients as u32) * 2 + 256,
        env: vec![],
        bus: "redis",
        bus_url: None,
    })
    .await;
    let mut runs = Vec::new();
    for &pattern in patterns {
        let modes: &[Pulling] =
            if pattern == PatternKind::PokePull { &[Pulling::Direct, Pulling::Cached] } else { &[Pulling::No] };
        for &pulling in modes {
            runs.push(celebrity_run(&cluster, clients, changes, pace_ms, transport, pattern, pulling).await);
        }
    }

    println!();
    println!(
        "{:<12} {:<9} {:>12} {:>14} {:>12} {:>15} {:>15} {:>9} {:>9}",
        "pattern", "pulls", "cpu/change", "bytes/change", "frames/chg", "replica reads/chg", "pulls/chg", "p50", "p99"
    );
    for run in &runs {
        let pulls = run.pulls.sent as f64 / changes as f64;
        println!(
            "{:<12} {:<9} {:>12} {:>14.0} {:>12.1} {:>15.1} {:>15.1} {:>9} {:>9}",
            run.pattern.as_str(),
            pulling_name(run.pulling),
            format!("{:.2} ms", run.cpu_per_change.as_secs_f64() * 1e3),
            run.bytes_per_change,
            run.frames_per_change,
            run.reads_per_change,
            pulls,
            ms(run.p50),
            ms(run.p99),
        );
    }
    println!();
    println!("cpu/change: the replica's CPU (user + system) from the first commit until every client had everything, per change; bytes/frames per change: what all clients received on their streams; replica reads/change: snapshot pulls (answered or refused) and state reads that reached the replica (its metrics); pulls/change: requests the clients sent (snapshot pulls and their fallbacks); latency from the command to a client holding the change (a pull included)");

    let results: Vec<_> = runs
        .iter()
        .map(|run| {
            json!({
                "pattern": run.pattern.as_str(),
                "pulls": pulling_name(run.pulling),
                "cpu_ms_per_change": run.cpu_per_change.as_secs_f64() * 1e3,
                "bytes_per_change": run.bytes_per_change,
                "frames_per_change": run.frames_per_change,
                "replica_reads_per_change": run.reads_per_change,
                "pulls_sent": run.pulls.sent,
                "pulls_cache_hits": run.pulls.cache_hits,
                "pulls_fallbacks": run.pulls.fallbacks,
                "reaching_replica_by_seq": run.pulls.reached_by_seq,
                "p50_ms": run.p50.as_secs_f64() * 1e3,
                "p99_ms": run.p99.as_secs_f64() * 1e3,
            })
        })
        .collect();
    chart::write_json(
        out,
        "celebrity",
        &json!({"clients": clients, "changes": changes, "pace_ms": pace_ms, "transport": transport.as_str(), "runs": results}),
    );
    let series = runs
        .iter()
        .filter(|run| run.pulling != Pulling::No)
        .map(|run| Series {
            name: format!("poke-pull, {}", pulling_name(run.pulling)),
            points: run.pulls.reached_by_seq.iter().map(|(&seq, &n)| (seq as f64, n as f64)).collect(),
        })
        .collect();
    chart::write_svg(
        out,
        "celebrity-pulls",
        &Chart {
            title: &format!("Pulls reaching the replica per change, {clients} followers"),
            x: "change (seq)",
            y: "requests reaching the replica",
            series,
        },
    );
}

fn pulling_name(pulling: Pulling) -> &'static str {
    match pulling {
        Pulling::No => "-",
        Pulling::Direct => "direct",
        Pulling::Cached => "via cache",
    }
}

async fn celebrity_run(
    cluster: &Cluster,
    clients: u64,
    changes: u64,
    pace_ms: u64,
    transport: Transport,
    pattern: PatternKind,
    pulling: Pulling,
) -> CelebrityRun {
    let replica = &cluster.replicas[0];
    let board = create_board(&replica.base, &format!("celebrity {pattern}")).await;
    let puller = match pulling {
        Pulling::No => None,
        Pulling::Direct => Some(Arc::new(Puller::new(&replica.base, clients as usize))),
        Pulling::Cached => Some(Arc::new(Puller::new(&cluster.base, clients as usize))),
    };
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(clients as usize);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(clients as usize);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = Client {
            base: replica.base.clone(),
            board: board.clone(),
            pattern,
            target: changes,
            hold: Hold { done: done_tx.clone(), release: release_rx.clone() },
            puller: puller.clone(),
            http: None,
        };
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(client.follow(transport, ready, Duration::from_secs(1))));
    }
    for _ in 0..clients {
        ready_rx.recv().await.expect("every client connects");
    }
    let reads = "board_snapshot_requests_total";
    let states = "board_state_reads_total";
    let (cpu_before, reads_before) = (replica.cpu(), cluster.metric(0, reads).await + cluster.metric(0, states).await);
    let http = reqwest::Client::new();
    let mut sent = vec![Instant::now(); changes as usize + 1];
    let mut pace = tokio::time::interval(Duration::from_millis(pace_ms.max(1)));
    for i in 0..changes {
        pace.tick().await;
        let at = Instant::now();
        let seq = commit(&http, &replica.base, &board, format!("change {i}")).await;
        sent[seq as usize] = at;
    }
    for _ in 0..clients {
        done_rx.recv().await.expect("every client gets everything");
    }
    let cpu = replica.cpu() - cpu_before;
    let replica_reads = cluster.metric(0, reads).await + cluster.metric(0, states).await - reads_before;
    release_tx.send(true).unwrap();
    let (mut frames, mut bytes, mut latencies) = (0, 0, Vec::new());
    for task in tasks {
        let got = task.await.expect("a client panicked");
        check(pattern, transport, &got.seqs, changes);
        frames += got.frames;
        bytes += got.bytes;
        latencies.extend(got.seqs.iter().map(|(seq, at)| at.duration_since(sent[*seq as usize])));
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let pulls = puller.map(|p| p.counts.lock().unwrap().clone()).unwrap_or_default();
    if pulling == Pulling::Direct {
        // Every pull the clients sent reached the replica, and the replica counted each.
        assert_eq!(replica_reads as u64, pulls.sent, "direct pulls: the replica served each one");
    }
    CelebrityRun {
        pattern,
        pulling,
        cpu_per_change: cpu / changes as u32,
        bytes_per_change: bytes as f64 / changes as f64,
        frames_per_change: frames as f64 / changes as f64,
        reads_per_change: replica_reads / changes as f64,
        pulls,
        p50: pct(0.5),
        p99: pct(0.99),
    }
}

// ---------------------------------------------------------------------------------------
// The reconnect storm.

/// How a cut-off client waits before its next attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Jitter {
    /// The page's engine: exponential, half fixed and half random.
    Engine,
    /// The same delays without the random half: everyone at 250 ms, then 500 ms, ...
    None,
}

/// What happened to one client from the kill on.
#[derive(Default)]
struct StormClient {
    /// When each reconnect attempt was sent, from the kill.
    attempts: Vec<Duration>,
    /// When it was live again (had its `hello` from a survivor).
    live: Option<Duration>,
    /// Attempts answered `503` (shed at the connection limit, with `Retry-After`).
    shed: u64,
    /// Attempts that failed otherwise (refused, reset, timed out).
    failed: Vec<String>,
    /// Every change's seq it received, across connections.
    seqs: Vec<u64>,
}

async fn storm(
    out: &std::path::Path,
    clients: u64,
    replicas: usize,
    boards: u64,
    transport: Transport,
    max_connections: Option<u64>,
) {
    println!(
        "storm: {clients} {transport} clients on replica 1 of {replicas}, {boards} boards; replica 1 is SIGKILLed and they reconnect to the others"
    );
    let mut results = Vec::new();
    let mut series = Vec::new();
    for jitter in [Jitter::Engine, Jitter::None] {
        let run = storm_run(clients, replicas, boards, transport, max_connections, jitter).await;
        series.push(Series {
            name: format!("{} jitter", if jitter == Jitter::Engine { "engine" } else { "no" }),
            points: run.accepted.iter().enumerate().map(|(i, &n)| (i as f64 * 100.0, n as f64)).collect(),
        });
        results.push(run);
    }
    println!();
    println!(
        "{:<8} {:>12} {:>14} {:>16} {:>10} {:>8} {:>8}",
        "jitter", "all live", "attempts", "peak accepts/s", "peak/100ms", "shed", "failed"
    );
    for run in &results {
        println!(
            "{:<8} {:>12} {:>14} {:>16} {:>10} {:>8} {:>8}",
            run.jitter,
            ms(run.all_live),
            run.attempts,
            run.peak_per_100ms * 10,
            run.peak_per_100ms,
            run.shed,
            run.failed
        );
    }
    println!();
    println!("all live: from the SIGKILL until the last client had its hello from a survivor; attempts: reconnects sent; peak: the most hellos in one 100 ms bucket; shed: 503 + Retry-After (only with --max-connections); failed: refused, reset or timed out (must be 0)");
    chart::write_json(
        out,
        "storm",
        &json!({
            "clients": clients, "replicas": replicas, "boards": boards, "transport": transport.as_str(),
            "max_connections": max_connections,
            "runs": results.iter().map(|run| json!({
                "jitter": run.jitter,
                "all_live_ms": run.all_live.as_secs_f64() * 1e3,
                "attempts": run.attempts,
                "peak_accepts_per_s": run.peak_per_100ms * 10,
                "shed": run.shed,
                "failed": run.failed,
                "attempts_per_100ms": run.attempted,
                "accepted_per_100ms": run.accepted,
            })).collect::<Vec<_>>(),
        }),
    );
    chart::write_svg(
        out,
        "storm",
        &Chart {
            title: &format!("Reconnect storm: {clients} clients back on {} survivors", replicas - 1),
            x: "ms since the replica was killed",
            y: "clients live again per 100 ms",
            series,
        },
    );
}

/// Rounds of changes (one per board, every 100 ms) while the clients reconnect; each
/// client stops once it holds seq `ROUNDS + 1` (one change came before the kill).
const ROUNDS: u64 = 10;

struct StormRun {
    jitter: &'static str,
    all_live: Duration,
    attempts: u64,
    peak_per_100ms: u64,
    shed: u64,
    failed: u64,
    /// Per 100 ms bucket from the kill.
    attempted: Vec<u64>,
    accepted: Vec<u64>,
}

async fn storm_run(
    clients: u64,
    replicas: usize,
    boards: u64,
    transport: Transport,
    max_connections: Option<u64>,
    jitter: Jitter,
) -> StormRun {
    // The limit is the survivors'; the doomed replica is started again without it, to hold
    // everyone at first. Together the survivors must have room for them all.
    if let Some(max) = max_connections {
        assert!(max * (replicas as u64 - 1) > clients, "--max-connections must let the survivors hold the clients");
    }
    let env = max_connections.map(|max| vec![("MAX_CONNECTIONS", max.to_string())]).unwrap_or_default();
    let mut cluster = Cluster::start(Options {
        replicas,
        affinity: "board",
        nginx_connections: 1024,
        env,
        bus: "redis",
        bus_url: None,
    })
    .await;
    if max_connections.is_some() {
        cluster.restart(0, &[("MAX_CONNECTIONS", "100000".into())]).await;
    }
    let doomed = cluster.replicas[0].base.clone();
    let survivors: Arc<Vec<String>> = Arc::new(cluster.replicas[1..].iter().map(|r| r.base.clone()).collect());
    let mut ids = Vec::new();
    for i in 0..boards {
        ids.push(create_board(&survivors[0], &format!("storm {i}")).await);
    }
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(clients as usize);
    let (killed_tx, killed_rx) = tokio::sync::watch::channel(None::<Instant>);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let board = ids[(i % boards) as usize].clone();
        let (doomed, survivors, ready, killed) =
            (doomed.clone(), survivors.clone(), ready_tx.clone(), killed_rx.clone());
        tasks.push(tokio::spawn(storm_client(doomed, survivors, board, transport, jitter, ready, killed)));
    }
    for _ in 0..clients {
        ready_rx.recv().await.expect("every client connects to the doomed replica");
    }
    // A change on each board before and while the storm runs: no client may miss one.
    let http = reqwest::Client::new();
    for board in &ids {
        commit(&http, &survivors[0], board, "before".into()).await;
    }
    // Clients learn the kill's time first: a stream may end before `kill` returns.
    let killed = Instant::now();
    killed_tx.send(Some(killed)).unwrap();
    cluster.kill(0);
    let writer = {
        let (http, survivors, ids) = (http.clone(), survivors.clone(), ids.clone());
        tokio::spawn(async move {
            for round in 0..ROUNDS as usize {
                tokio::time::sleep(Duration::from_millis(100)).await;
                for board in &ids {
                    commit(&http, &survivors[round % survivors.len()], board, format!("during {round}")).await;
                }
            }
        })
    };
    writer.await.expect("the writer panicked");
    // Each client stops once it holds the board's head.
    let mut heads = BTreeMap::new();
    for board in &ids {
        let r = http.get(format!("{}/api/boards/{board}", survivors[0])).send().await.unwrap();
        let state: board_core::domain::model::BoardState = r.json().await.unwrap();
        heads.insert(board.clone(), state.seq);
    }
    assert!(
        heads.values().all(|&head| head == ROUNDS + 1),
        "each board has one change before the kill and {ROUNDS} during"
    );
    let mut results = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let mut client: StormClient = task.await.expect("a client panicked");
        let head = heads[&ids[i % boards as usize]];
        client.seqs.dedup();
        assert_eq!(client.seqs, (1..=head).collect::<Vec<_>>(), "client {i}: every change once, in order");
        results.push(client);
    }
    drop(cluster);

    let buckets = |times: &mut dyn Iterator<Item = Duration>| {
        let mut counts = Vec::new();
        for at in times {
            let bucket = (at.as_millis() / 100) as usize;
            if counts.len() <= bucket {
                counts.resize(bucket + 1, 0u64);
            }
            counts[bucket] += 1;
        }
        counts
    };
    let attempted = buckets(&mut results.iter().flat_map(|c| c.attempts.iter().copied()));
    let accepted = buckets(&mut results.iter().filter_map(|c| c.live));
    let failed: Vec<&String> = results.iter().flat_map(|c| c.failed.iter()).collect();
    let shed = results.iter().map(|c| c.shed).sum();
    assert!(failed.is_empty(), "{} attempts failed, first: {}", failed.len(), failed[0]);
    assert!(max_connections.is_some() || shed == 0, "a survivor shed load without a connection limit");
    StormRun {
        jitter: if jitter == Jitter::Engine { "engine" } else { "none" },
        all_live: results.iter().filter_map(|c| c.live).max().expect("clients came back"),
        attempts: results.iter().map(|c| c.attempts.len() as u64).sum(),
        peak_per_100ms: accepted.iter().copied().max().unwrap_or(0),
        shed,
        failed: 0,
        attempted,
        accepted,
    }
}

/// One client: follows its board on the doomed replica; when that dies, reconnects to a
/// random survivor (as a load balancer would send it) after the backoff's delay, resuming
/// from the last seq it holds; ends when it holds the board's head after the storm.
async fn storm_client(
    doomed: String,
    survivors: Arc<Vec<String>>,
    board: String,
    transport: Transport,
    jitter: Jitter,
    ready: tokio::sync::mpsc::Sender<()>,
    killed: tokio::sync::watch::Receiver<Option<Instant>>,
) -> StormClient {
    let mut me = StormClient::default();
    let mut ready = Some(ready);
    let mut base = doomed;
    let mut backoff = Backoff::default();
    let mut delay = Duration::ZERO;
    loop {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let since = me.seqs.last().copied().unwrap_or(0);
        let attempt_at = killed.borrow().map(|k| k.elapsed());
        if let Some(at) = attempt_at {
            me.attempts.push(at);
        }
        let url = format!("{base}/api/boards/{board}/{transport}?pattern=event-diff&since={since}");
        let opened = tokio::time::timeout(Duration::from_secs(10), open(transport, &url)).await;
        let mut frames = match opened {
            Ok(Ok(frames)) => frames,
            Ok(Err(Open::Shed(retry_after))) => {
                me.shed += 1;
                delay = retry_after.max(Duration::from_millis(u64::from(next_delay(&mut backoff, jitter))));
                base = pick(&survivors);
                continue;
            }
            Ok(Err(Open::Failed(why))) => {
                me.failed.push(why);
                return me;
            }
            Err(_) => {
                me.failed.push("no answer within 10 s".into());
                return me;
            }
        };
        // Live: the hello arrived.
        backoff.reset();
        while let Some(frame) = frames.next().await {
            match frame {
                Frame::Hello { .. } => {
                    if let Some(ready) = ready.take() {
                        ready.send(()).await.unwrap();
                    }
                    if let Some(at) = killed.borrow().map(|k| k.elapsed()) {
                        me.live.get_or_insert(at);
                    }
                }
                frame => {
                    if let Some(seq) = frame.seq() {
                        me.seqs.push(seq);
                        if seq > ROUNDS {
                            return me;
                        }
                    }
                }
            }
        }
        // The stream ended: the replica died (or, before the kill, must not happen).
        assert!(killed.borrow().is_some(), "a stream ended before the kill");
        delay = Duration::from_millis(u64::from(next_delay(&mut backoff, jitter)));
        base = pick(&survivors);
    }
}

fn next_delay(backoff: &mut Backoff, jitter: Jitter) -> u32 {
    match jitter {
        Jitter::Engine => backoff.next_delay_ms(rand::random::<f64>()),
        // The ceiling itself: the random half always at its top, the same for everyone.
        Jitter::None => backoff.next_delay_ms(1.0),
    }
}

fn pick(survivors: &[String]) -> String {
    survivors[rand::random_range(0..survivors.len())].clone()
}

enum Open {
    /// `503` at the connection limit, with its `Retry-After`.
    Shed(Duration),
    Failed(String),
}

type Frames = futures::stream::BoxStream<'static, Frame>;

/// Opens a stream and yields its frames (ending when the connection does).
async fn open(transport: Transport, url: &str) -> Result<Frames, Open> {
    match transport {
        Transport::Ws => {
            let url = url.replacen("http", "ws", 1);
            match tokio_tungstenite::connect_async(url).await {
                Ok((ws, _)) => Ok(ws
                    .take_while(|m| futures::future::ready(m.is_ok()))
                    .filter_map(|m| async move {
                        match m.ok()? {
                            tokio_tungstenite::tungstenite::Message::Text(text) => serde_json::from_str(&text).ok(),
                            _ => None,
                        }
                    })
                    .boxed()),
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 503 => {
                    Err(Open::Shed(retry_after(r.headers())))
                }
                Err(err) => Err(Open::Failed(err.to_string())),
            }
        }
        _ => {
            let r = reqwest::get(url).await.map_err(|e| Open::Failed(format!("{e:?}")))?;
            if r.status() == 503 {
                return Err(Open::Shed(retry_after(r.headers())));
            }
            if r.status() != 200 {
                return Err(Open::Failed(format!("answered {}", r.status())));
            }
            Ok(sse_data(r).filter_map(|data| async move { serde_json::from_str(&data).ok() }).boxed())
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let secs = headers.get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    Duration::from_secs(secs.expect("a 503 says when to come back (Retry-After)"))
}

// ---------------------------------------------------------------------------------------
// Board affinity.

async fn affinity(out: &std::path::Path, replicas: usize, boards: u64, clients: u64, changes: u64, bus: &str) {
    println!(
        "affinity: {boards} boards, {clients} followers each (SSE and long-poll alternately) through nginx to {replicas} replicas over {bus}; {changes} changes per board"
    );
    let mut results = Vec::new();
    for mode in ["board", "none"] {
        results.push(affinity_run(replicas, boards, clients, changes, mode, bus).await);
    }
    println!();
    println!(
        "{:<9} {:>20} {:>22} {:>18} {:>16}",
        "affinity", "replicas per board", "bus msgs/commit", "head reads/commit", "replica cpu/commit"
    );
    for run in &results {
        println!(
            "{:<9} {:>20} {:>22.2} {:>18.2} {:>16}",
            run["affinity"].as_str().unwrap(),
            run["replicas_per_board"].as_f64().map_or("cannot tell".to_owned(), |n| format!("{n:.2}")),
            run["bus_messages_per_commit"].as_f64().unwrap(),
            run["head_reads_per_commit"].as_f64().unwrap(),
            format!("{:.2} ms", run["cpu_ms_per_commit"].as_f64().unwrap()),
        );
    }
    println!();
    println!("replicas per board: board_boards_by_followers, averaged (Redis counts them; NATS and Postgres cannot tell); bus msgs/commit: messages the bus delivered to replicas (board_bus_messages_received_total{{kind=\"change\"}}, a replica's own echo included) per commit, beside the one publish; head reads/commit: board_head_reads_total over all replicas per commit; cpu: all replicas' CPU per commit");
    // Redis keeps the name the figures have had since the first run; another bus, its own.
    let name = if bus == "redis" { "affinity".to_owned() } else { format!("affinity-{bus}") };
    chart::write_json(
        out,
        &name,
        &json!({"replicas": replicas, "boards": boards, "clients_per_board": clients, "changes_per_board": changes, "bus": bus, "runs": results}),
    );
}

async fn affinity_run(
    replicas: usize,
    boards: u64,
    clients: u64,
    changes: u64,
    mode: &str,
    bus: &str,
) -> serde_json::Value {
    let cluster = Cluster::start(Options {
        replicas,
        affinity: mode,
        nginx_connections: (boards * clients * 2 + 256) as u32,
        env: vec![],
        bus,
        bus_url: None,
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..boards {
        ids.push(create_board(&cluster.base, &format!("affinity {i}")).await);
    }
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel((boards * clients) as usize);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>((boards * clients) as usize);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for board in &ids {
        for j in 0..clients {
            let transport = if j % 2 == 0 { Transport::Sse } else { Transport::LongPoll };
            let client = Client {
                base: cluster.base.clone(),
                board: board.clone(),
                pattern: PatternKind::EventDiff,
                target: changes,
                hold: Hold { done: done_tx.clone(), release: release_rx.clone() },
                puller: None,
                http: None,
            };
            let ready = ready_tx.clone();
            tasks.push((transport, tokio::spawn(client.follow(transport, ready, Duration::from_secs(1)))));
        }
    }
    for _ in 0..boards * clients {
        ready_rx.recv().await.expect("every client connects");
    }
    let all = 0..replicas;
    let messages = "board_bus_messages_received_total{kind=\"change\"}";
    let heads = "board_head_reads_total";
    let cpu = |cluster: &Cluster| cluster.replicas.iter().map(|r| r.cpu()).sum::<Duration>();
    let (messages_before, heads_before, cpu_before) = (
        cluster.metric_over(all.clone(), messages).await,
        cluster.metric_over(all.clone(), heads).await,
        cpu(&cluster),
    );
    let http = reqwest::Client::new();
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for i in 0..changes {
        for board in &ids {
            pace.tick().await;
            commit(&http, &cluster.base, board, format!("change {i}")).await;
        }
    }
    for _ in 0..boards * clients {
        done_rx.recv().await.expect("every client gets everything");
    }
    let commits = (boards * changes) as f64;
    let messages = cluster.metric_over(all.clone(), messages).await - messages_before;
    let head_reads = cluster.metric_over(all.clone(), heads).await - heads_before;
    let cpu = cpu(&cluster) - cpu_before;
    let following = cluster.following(all.clone()).await;
    release_tx.send(true).unwrap();
    for (transport, task) in tasks {
        let got = task.await.expect("a client panicked");
        check(PatternKind::EventDiff, transport, &got.seqs, changes);
    }
    // Followers over all boards, per board.
    // `None` where the bus cannot count followers (NATS, Postgres): the metric is empty.
    let per_board = (!following.is_empty())
        .then(|| following.iter().map(|(n, count)| *n as f64 * count).sum::<f64>() / boards as f64);
    json!({
        "affinity": mode,
        "replicas_per_board": per_board,
        "bus_messages_per_commit": messages / commits,
        "head_reads_per_commit": head_reads / commits,
        "cpu_ms_per_commit": cpu.as_secs_f64() * 1e3 / commits,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
