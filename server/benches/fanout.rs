//! The fan-out benchmark: how long a change takes to reach N clients on each transport, and
//! what those N connections cost the server in memory.
//!
//! ```text
//! cargo bench -p server --bench fanout -- --clients 1000 --changes 50
//! ```
//!
//! Per transport it starts the server binary (the bench profile's, optimised) as a child
//! process on a free loopback port with a fresh SQLite database, so the memory figures are
//! that server's alone (`VmRSS` from `/proc`). Then, on a fresh board: connect N clients
//! with one pattern (in waves of `--wave`, sampling memory after each), commit M changes at a fixed pace through `POST /commands`, and print
//! the delivery latency (from sending the command to each client's receipt of its frame)
//! and the server's resident memory per connection.
//!
//! It also prints, per delivered change, the server's CPU time (from `/proc`) and the TCP
//! segments and bytes it sent (from the kernel's socket statistics): how close each
//! transport comes to one `write` per frame per connection, and what a frame weighs on
//! the wire. Beside them, measured in the same run: the floor (`support/floor.rs`: one
//! bare write of a 144-byte frame to each of as many loopback connections, at the same
//! pace), each transport's CPU per frame as a multiple of it, and the server's system
//! calls that write per frame (`support/syscalls.rs`, counted by `perf`).
//!
//! Every client must end at seq M having received each change once and in order (for the
//! self-contained patterns, poke-pull and push-state, the newest frame may stand for several);
//! the run fails otherwise, so a fast but lossy build cannot print a good figure.
//!
//! Then presence: `--presence-clients` tabs (default: `--clients`, at most 1,000) join one
//! board, each its own SSE stream with a client id, until every one has seen the full
//! list; then all leave, until a watcher sees the list empty. It prints the lists sent (each
//! client counts what it received), their bytes, and the server's CPU time: the cost of a
//! full list per change, which grows with the square of the tabs, made visible.
//!
//! Bounded in count and time: at most 16,000 clients and 1,000 changes, a 120 s deadline per
//! transport, and only loopback traffic. `cargo test -p server --bench fanout -- --clients 20`
//! runs the same program unoptimised, as a quick check that it still works.

use std::time::{Duration, Instant};

use clap::Parser;

#[path = "support/chart.rs"]
mod chart;
#[path = "support/child.rs"]
mod child;
#[path = "support/clients.rs"]
mod clients;
#[path = "support/floor.rs"]
mod floor;
#[path = "support/syscalls.rs"]
mod syscalls;
use child::Server;
use clients::{check, sse_data, Client, Hold};
use futures::StreamExt;
use serde_json::json;

use board_core::patterns::{Frame, PatternKind};
use board_core::protocol::Transport;

#[derive(Parser, Debug)]
#[command(about = "Fan-out latency and memory per transport")]
struct Args {
    /// Clients per transport (each its own connection).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=16000))]
    clients: u64,
    /// Changes committed while they listen.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    changes: u64,
    /// Milliseconds between changes.
    #[arg(long, default_value_t = 20)]
    pace_ms: u64,
    /// Clients connect in waves of this many, each wave before the next (a single wave of
    /// thousands measures the burst's peak: its buffers stay in the allocator's free lists).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    wave: u64,
    #[arg(long, default_value = "event-diff")]
    pattern: PatternKind,
    /// Comma-separated, in the order they run.
    #[arg(long, value_delimiter = ',', default_value = "sse,ws,long-poll,poll")]
    transports: Vec<Transport>,
    /// The poll transport's interval.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Tabs in the presence run (0: none; default: `--clients`, at most 1,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1000))]
    presence_clients: Option<u64>,
    /// Where the JSON results and SVG charts go (default: docs/performance/).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Tracing on the server (docs/observability.md): `off`, today's server (no exporter,
    /// nothing sampled); `sample`, an OTLP exporter and `TRACE_SAMPLE=0.01`; `all`, an
    /// exporter and every command of the board traced (a sampled `traceparent`), as a board
    /// in `TRACE_BOARDS` or a traced tab is. The exporter sends to a sink in this process.
    #[arg(long, value_enum, default_value = "off")]
    trace: Tracing,
    /// The server speaks TLS itself (`TLS_CERT`, a certificate made here) and the clients
    /// share HTTP/2 connections, a hundred streams each, as a browser's tabs share one:
    /// what a stream costs multiplexed (SSE, long-poll, poll; not WebSocket).
    #[arg(long)]
    tls: bool,
    /// Internal: run as the floor's writer child (`support/floor.rs`).
    #[arg(long, hide = true)]
    floor_writer: Option<String>,
    // `cargo bench` passes `--bench` to every bench binary; accept and ignore it.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
enum Tracing {
    Off,
    Sample,
    All,
}

/// An OTLP/HTTP collector that takes every export and keeps only its size.
async fn otlp_sink() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let received = std::sync::Arc::new(AtomicU64::new(0));
    let counted = received.clone();
    let sink = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            counted.fetch_add(body.len() as u64, Ordering::Relaxed);
            async { "{}" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, sink).await.unwrap() });
    (endpoint, received)
}

/// Over `--tls`, how many clients' streams share one HTTP/2 connection.
const STREAMS_PER_CONNECTION: usize = 100;

/// The floor's frame: a WebSocket `push-events` frame's size on the wire.
const FLOOR_BYTES: u64 = 144;

/// What one transport's run measured.
struct Run {
    transport: Transport,
    connect: Duration,
    rss_per_client: f64,
    /// (clients connected, server RSS in bytes) as they connect: memory against connections.
    memory: Vec<(u64, u64)>,
    latencies: Vec<Duration>,
    frames: u64,
    bytes: u64,
    /// Server CPU time (user, system) from the first commit until every client had
    /// everything: the commands and the deliveries.
    cpu: (Duration, Duration),
    /// What the server sent meanwhile on its open connections (kernel TCP statistics).
    written: child::Written,
    /// The server's system calls that write, meanwhile (`Err`: why they were not counted).
    write_calls: Result<syscalls::WriteCalls, String>,
}

impl Run {
    /// Data frames delivered (a change reaching one client): what "per frame" divides by.
    fn delivered(&self) -> f64 {
        self.latencies.len().max(1) as f64
    }

    /// The server's CPU time (user + system) per delivered frame, in µs.
    fn cpu_us_per_frame(&self) -> f64 {
        (self.cpu.0 + self.cpu.1).as_secs_f64() * 1e6 / self.delivered()
    }

    /// The server's system calls that write, per delivered frame, when they were counted.
    fn write_calls_per_frame(&self) -> Option<f64> {
        self.write_calls.as_ref().ok().map(|calls| calls.total() as f64 / self.delivered())
    }
}

fn main() {
    let args = Args::parse();
    if let Some(spec) = &args.floor_writer {
        return floor::writer_main(spec);
    }
    tokio::runtime::Runtime::new().unwrap().block_on(bench(args));
}

async fn bench(args: Args) {
    println!(
        "fan-out: {} clients per transport (connecting in waves of {}), {} changes every {} ms, pattern {}; clients and server share this machine's {} cores",
        args.clients,
        args.wave,
        args.changes,
        args.pace_ms,
        args.pattern,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let (endpoint, exported) = otlp_sink().await;
    let settings: Vec<(&str, &str)> = match args.trace {
        Tracing::Off => Vec::new(),
        Tracing::Sample => vec![("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("TRACE_SAMPLE", "0.01")],
        Tracing::All => vec![("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("TRACE_SAMPLE", "0")],
    };
    println!("tracing: {:?}", args.trace);
    println!(
        "connections: {}",
        match args.tls {
            true => "TLS with HTTP/2, a hundred clients' streams to a connection (as a browser's tabs share one)",
            false => "each client its own (HTTP/1.1, or a WebSocket)",
        }
    );
    let mut runs = Vec::new();
    for &transport in &args.transports {
        // A fresh server per transport, so one run's heap growth is not the next one's
        // free memory.
        assert!(!(args.tls && transport == Transport::Ws), "--tls measures SSE, long-poll and poll, not WebSocket");
        let server = Server::start_as(&settings, args.tls).await;
        let run = tokio::time::timeout(Duration::from_secs(120), run(&server, &args, transport))
            .await
            .unwrap_or_else(|_| panic!("{transport}: not done within 120 s"));
        runs.push(run);
    }
    println!();
    println!(
        "{:<10} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>8} {:>13} {:>9} {:>10} {:>11} {:>12}",
        "transport",
        "connect",
        "rss/client",
        "p50",
        "p90",
        "p99",
        "max",
        "frames",
        "bytes/client",
        "cpu/frame",
        "user/frame",
        "segs/frame",
        "wire B/frame"
    );
    for run in &runs {
        let mut sorted = run.latencies.clone();
        sorted.sort();
        let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        let delivered = run.delivered();
        println!(
            "{:<10} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>8} {:>13} {:>9} {:>10} {:>11} {:>12}",
            run.transport.as_str(),
            ms(run.connect),
            format!("{:.1} KiB", run.rss_per_client / 1024.0),
            ms(pct(0.5)),
            ms(pct(0.9)),
            ms(pct(0.99)),
            ms(*sorted.last().unwrap()),
            run.frames,
            run.bytes / args.clients,
            format!("{:.2} µs", run.cpu_us_per_frame()),
            format!("{:.2} µs", run.cpu.0.as_secs_f64() * 1e6 / delivered),
            format!("{:.2}", run.written.segments as f64 / delivered),
            format!("{:.0}", run.written.bytes as f64 / delivered),
        );
    }
    println!();
    println!("latency: from sending the command to a client's receipt; rss/client: server VmRSS growth with the clients connected, divided by their number");
    println!("per frame (a change delivered to one client): the server's CPU time (user + system, /proc/PID/stat, 10 ms ticks; the commands included; on loopback the kernel's share includes the receiving side of TCP), in user space alone; the TCP data segments (on loopback, one per write) and payload bytes the server sent on its open connections (ss -ti)");

    // The floor in the same run: the same connections and pace, one bare write each.
    let floor = floor::Floor { clients: args.clients, frames: args.changes, pace_ms: args.pace_ms, bytes: FLOOR_BYTES };
    let (floor_us, floor_user, floor_system) = floor.per_write(floor::measure(floor, floor::Shape::Loop).await);
    println!();
    println!(
        "the floor (benches/floor.rs, this run): {} loopback connections, {} writes of {FLOOR_BYTES} bytes each, one task writing in turn: {floor_us:.2} µs CPU per write ({floor_user:.2} user, {floor_system:.2} system)",
        args.clients, args.changes
    );
    println!(
        "{:<10} {:>10} {:>14} {:>13}  calls (write, writev, sendto, sendmsg)",
        "transport", "cpu/frame", "against floor", "writes/frame"
    );
    for run in &runs {
        let cpu = run.cpu_us_per_frame();
        let per_frame = run.write_calls_per_frame().map_or("-".to_owned(), |n| format!("{n:.3}"));
        let calls = match &run.write_calls {
            Ok(calls) => calls.by_call.iter().map(|(_, n)| n.to_string()).collect::<Vec<_>>().join(", "),
            Err(why) => format!("not counted: {why}"),
        };
        println!(
            "{:<10} {:>10} {:>14} {:>13}  {}",
            run.transport.as_str(),
            format!("{cpu:.2} µs"),
            format!("{:.2}×", cpu / floor_us),
            per_frame,
            calls
        );
    }
    println!("writes/frame: the server's system calls that write (any socket, the commands' answers and the database's files included), per delivered frame, counted by perf over the same phase as the CPU time");

    write_results(&args, &runs, floor_us);
    if args.trace != Tracing::Off {
        // The exporter sends every 5 s: wait for the last batch.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let bytes = exported.load(std::sync::atomic::Ordering::Relaxed);
        println!("spans exported to the collector: {:.1} KiB of OTLP protobuf", bytes as f64 / 1024.0);
    }

    let tabs = args.presence_clients.unwrap_or(args.clients.min(1000));
    if tabs > 0 {
        let server = Server::start().await;
        let run = tokio::time::timeout(Duration::from_secs(120), presence(&server, tabs))
            .await
            .expect("presence: not done within 120 s");
        println!();
        println!("presence: {tabs} tabs join one board over SSE, then leave (lists coalesced to at most 10 a second)");
        println!(
            "  all joined and listed everywhere in {}; all gone from the list in {}",
            ms(run.joined),
            ms(run.left)
        );
        println!(
            "  lists received: {} ({:.1} per tab), {:.1} MiB ({:.1} KiB per tab); largest list {:.1} KiB",
            run.frames,
            run.frames as f64 / tabs as f64,
            run.bytes as f64 / (1024.0 * 1024.0),
            run.bytes as f64 / 1024.0 / tabs as f64,
            run.largest as f64 / 1024.0
        );
        println!("  server CPU: {} for the joins, {} for the leaves", ms(run.cpu_join), ms(run.cpu_leave));
        println!("  tabs cut off as too slow to read: {}", run.cut_off);
    }
}

/// What the presence run measured.
struct PresenceRun {
    joined: Duration,
    left: Duration,
    frames: u64,
    bytes: u64,
    largest: usize,
    cpu_join: Duration,
    cpu_leave: Duration,
    /// Tabs whose stream the server cut off (too slow to read what it sent).
    cut_off: u64,
}

/// `tabs` tabs join, each an SSE stream with its own client id, until each has seen the
/// whole list; then they all leave, until a watcher (a stream with no id) sees it empty.
async fn presence(server: &Server, tabs: u64) -> PresenceRun {
    let board = server.create_board("bench-presence").await;
    let (joined_tx, mut joined_rx) = tokio::sync::mpsc::channel::<()>(tabs as usize);
    let (leave_tx, leave_rx) = tokio::sync::watch::channel(false);
    let cpu_start = server.cpu();
    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..tabs {
        let url = format!("{}/api/boards/{board}/sse?client=c{i}&person=p{i}&name=Tab%20{i}", server.base);
        let (joined, mut leave, http) = (joined_tx.clone(), leave_rx.clone(), server.client());
        clients.push(tokio::spawn(async move {
            let (mut frames, mut bytes, mut largest) = (0u64, 0u64, 0usize);
            let mut events = sse_data(http.get(url).send().await.expect("SSE connects"));
            let mut told = false;
            loop {
                let next = tokio::select! {
                    data = events.next() => Some(data),
                    _ = leave.changed() => None,
                };
                let data = match next {
                    None => return (frames, bytes, largest, false),
                    Some(Some(data)) => data,
                    // Cut off: it counts as joined (it will never see the whole list).
                    Some(None) => {
                        if !told {
                            joined.send(()).await.unwrap();
                        }
                        return (frames, bytes, largest, true);
                    }
                };
                if let Ok(Frame::Presence { members, .. }) = serde_json::from_str::<Frame>(&data) {
                    frames += 1;
                    bytes += data.len() as u64;
                    largest = largest.max(data.len());
                    if members.len() as u64 == tabs && !told {
                        told = true;
                        joined.send(()).await.unwrap();
                    }
                }
            }
        }));
    }
    for _ in 0..tabs {
        joined_rx.recv().await.expect("every tab sees the whole list");
    }
    let joined = started.elapsed();
    let cpu_joined = server.cpu();

    let mut watching = sse_data(
        server.client().get(format!("{}/api/boards/{board}/sse", server.base)).send().await.expect("SSE connects"),
    );
    let leaving = Instant::now();
    leave_tx.send(true).unwrap();
    let (mut frames, mut bytes, mut largest, mut cut_off) = (0, 0, 0, 0);
    for client in clients {
        let (f, b, l, cut) = client.await.expect("a tab panicked");
        frames += f;
        bytes += b;
        largest = largest.max(l);
        cut_off += u64::from(cut);
    }
    loop {
        let data = watching.next().await.expect("the watcher's stream stays open");
        if let Ok(Frame::Presence { members, .. }) = serde_json::from_str::<Frame>(&data) {
            if members.is_empty() {
                break;
            }
        }
    }
    PresenceRun {
        joined,
        left: leaving.elapsed(),
        frames,
        bytes,
        largest,
        cpu_join: cpu_joined - cpu_start,
        cpu_leave: server.cpu() - cpu_joined,
        cut_off,
    }
}

/// One transport: connect, commit, collect, check.
async fn run(server: &Server, args: &Args, transport: Transport) -> Run {
    let board = server.create_board(&format!("bench-{transport}")).await;
    let rss_before = server.rss();
    let started = Instant::now();
    // Each client reports it is connected (it has the `hello`, or its first answer).
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.clients as usize);
    let mut clients = Vec::new();
    // Clients keep their connections open once they have everything, until the server's
    // sent bytes are read (closed connections vanish from its statistics).
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(args.clients as usize);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    // Clients arrive in waves of `--wave`: each wave is connected before the next starts,
    // and the server's memory is sampled between waves (memory against connections).
    let mut memory = vec![(0, rss_before)];
    let mut connected = 0;
    let mut shared = server.client();
    while connected < args.clients {
        let wave = args.wave.min(args.clients - connected);
        for _ in 0..wave {
            let (board, pattern, target) = (board.clone(), args.pattern, args.changes);
            let hold = Hold { done: done_tx.clone(), release: release_rx.clone() };
            // Over TLS, a hundred streams to a connection (the server allows 200 at once).
            let http = args.tls.then(|| {
                if clients.len() % STREAMS_PER_CONNECTION == 0 {
                    shared = server.client();
                }
                shared.clone()
            });
            let client = Client { base: server.base.clone(), board, pattern, target, hold, puller: None, http };
            let (ready, poll_every) = (ready_tx.clone(), Duration::from_millis(args.poll_ms));
            clients.push(tokio::spawn(async move { client.follow(transport, ready, poll_every).await }));
        }
        for _ in 0..wave {
            ready_rx.recv().await.expect("every client connects");
        }
        connected += wave;
        memory.push((connected, server.rss()));
    }
    let connect = started.elapsed();
    let rss_connected = server.rss();

    // Commit the changes at a steady pace, remembering when each was sent.
    let counting = syscalls::count(server.pid()).await;
    let (cpu_before, written_before) = (server.cpu_split(), server.written());
    let http = server.http.clone();
    let mut sent = vec![Instant::now(); args.changes as usize + 1];
    let mut pace = tokio::time::interval(Duration::from_millis(args.pace_ms.max(1)));
    for i in 0..args.changes {
        pace.tick().await;
        let at = Instant::now();
        let mut request = http
            .post(format!("{}/api/boards/{board}/commands", server.base))
            .json(&json!({"type": "add_todo", "title": format!("change {i}")}));
        if args.trace == Tracing::All {
            request = request.header("traceparent", format!("00-{:032x}-{:016x}-01", i + 1, i + 1));
        }
        let r = request.send().await.expect("the server answers");
        assert_eq!(r.status(), 200, "a command is refused");
        let seq = r.json::<serde_json::Value>().await.unwrap()["seq"].as_u64().unwrap();
        sent[seq as usize] = at;
    }

    for _ in 0..args.clients {
        done_rx.recv().await.expect("every client gets everything");
    }
    let (cpu_after, written) = (server.cpu_split(), server.written() - written_before);
    let write_calls = counting.and_then(syscalls::Counting::stop);
    release_tx.send(true).unwrap();
    let mut latencies = Vec::new();
    let (mut frames, mut bytes) = (0, 0);
    for client in clients {
        let got = client.await.expect("a client panicked");
        check(args.pattern, transport, &got.seqs, args.changes);
        for (seq, at) in got.seqs {
            latencies.push(at.duration_since(sent[seq as usize]));
        }
        frames += got.frames;
        bytes += got.bytes;
    }
    Run {
        transport,
        connect,
        rss_per_client: (rss_connected.saturating_sub(rss_before)) as f64 / args.clients as f64,
        memory,
        latencies,
        frames,
        bytes,
        cpu: (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1),
        written,
        write_calls,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `fanout.json`, `fanout-latency.svg` (the share of deliveries within each latency, per
/// transport) and `fanout-memory.svg` (the server's RSS as clients connect).
fn write_results(args: &Args, runs: &[Run], floor_us: f64) {
    let out = chart::out_dir(args.out.as_deref());
    let cdf = |run: &Run| {
        let mut sorted = run.latencies.clone();
        sorted.sort();
        // At most 200 points: every 0.5 % of the deliveries.
        (0..=200)
            .map(|i| {
                let at = sorted[((sorted.len() - 1) as f64 * i as f64 / 200.0).round() as usize];
                (at.as_secs_f64() * 1e3, i as f64 / 2.0)
            })
            .collect::<Vec<_>>()
    };
    let results: Vec<_> = runs
        .iter()
        .map(|run| {
            let delivered = run.delivered();
            json!({
                "transport": run.transport.as_str(),
                "connect_ms": run.connect.as_secs_f64() * 1e3,
                "rss_per_client_bytes": run.rss_per_client,
                "memory": run.memory,
                "latency_ms_by_percentile": cdf(run).iter().map(|(ms, pct)| json!([pct, ms])).collect::<Vec<_>>(),
                "cpu_us_per_frame": run.cpu_us_per_frame(),
                "user_us_per_frame": run.cpu.0.as_secs_f64() * 1e6 / delivered,
                "segments_per_frame": run.written.segments as f64 / delivered,
                "wire_bytes_per_frame": run.written.bytes as f64 / delivered,
                "against_floor": run.cpu_us_per_frame() / floor_us,
                "write_calls_per_frame": run.write_calls_per_frame(),
            })
        })
        .collect();
    chart::write_json(
        &out,
        "fanout",
        &json!({"clients": args.clients, "changes": args.changes, "pace_ms": args.pace_ms, "pattern": args.pattern.as_str(), "tls_http2": args.tls, "floor_us_per_write": floor_us, "runs": results}),
    );
    chart::write_svg(
        &out,
        "fanout-latency",
        &chart::Chart {
            title: &format!("Delivery latency, {} clients, {}", args.clients, args.pattern),
            x: "ms from the command to the client",
            y: "% of deliveries within",
            series: runs
                .iter()
                .map(|run| chart::Series { name: run.transport.as_str().into(), points: cdf(run) })
                .collect(),
        },
    );
    chart::write_svg(
        &out,
        "fanout-memory",
        &chart::Chart {
            title: "Server memory as clients connect",
            x: "connections",
            y: "server RSS, MiB",
            series: runs
                .iter()
                .map(|run| chart::Series {
                    name: run.transport.as_str().into(),
                    points: run.memory.iter().map(|&(n, rss)| (n as f64, rss as f64 / (1024.0 * 1024.0))).collect(),
                })
                .collect(),
        },
    );
}
