//! The abuse benchmark: what one loopback client trying to hurt the server costs everyone
//! else. Each scenario is an attack from the hardening issue (round two), measured on the
//! optimised server binary (a child process, see `support/child.rs`) the same way before
//! and after its fix:
//!
//! ```text
//! cargo bench -p server --bench abuse -- pages      # four clients looping the compare page of a 4,000-todo board
//! cargo bench -p server --bench abuse -- slow-sse   # 100 SSE readers at 100 KB/s on a push-state board
//! cargo bench -p server --bench abuse -- webhooks   # 300 receivers that never answer, and another board's delivery
//! cargo bench -p server --bench abuse -- presence   # 20,000 made-up tabs by plain polling: the list every viewer gets
//! cargo bench -p server --bench abuse -- signals    # 50 made-up tabs pouring signals into one viewer for 8 s
//! ```
//!
//! Every scenario talks to the server through its public API only, so the same program
//! measures an older server binary too (`BENCH_SERVER=path/to/server`). Bounded in count and
//! time: loopback only, each phase capped in seconds and in requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/child.rs"]
mod child;
use child::Server;

#[derive(Parser, Debug)]
#[command(about = "What one abusive client costs everyone else")]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
    // `cargo bench` passes `--bench` to every bench binary; accept and ignore it.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Clients loop `GET /boards/{board}/compare` on a big public board while another
    /// client's commands are timed, and the server's memory is sampled.
    Pages {
        /// Todos on the big board (titles of about 480 characters).
        #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(10..=5000))]
        todos: u64,
        /// Clients looping the page, each on its own connections.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=16))]
        clients: u64,
        /// Connections per client, each looping.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=16))]
        connections: u64,
        /// Seconds of looping.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=120))]
        secs: u64,
        /// The page: `compare` or `board`.
        #[arg(long, default_value = "compare")]
        page: String,
    },
    /// SSE readers that read at a trickle on a `push-state` board that changes often:
    /// how soon they are cut, and what they cost in memory meanwhile.
    SlowSse {
        #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(10..=5000))]
        todos: u64,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
        readers: u64,
        /// Bytes a second each reader takes.
        #[arg(long, default_value_t = 100_000)]
        rate: u64,
        /// Milliseconds between changes.
        #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(20..=10_000))]
        pace_ms: u64,
        /// Seconds to watch.
        #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(5..=120))]
        secs: u64,
    },
    /// Receivers that accept a connection and never answer hold webhooks of many boards;
    /// how long another board's webhook waits for its delivery.
    Webhooks {
        /// Webhooks that never get an answer.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=2000))]
        stuck: u64,
        /// Of them on each board (a board holds at most 20).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=20))]
        per_board: u64,
    },
    /// Polls with made-up tab ids, as fast as one client goes: how many land on the list,
    /// and how big the list every viewer gets grows.
    Presence {
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=50_000))]
        tabs: u64,
    },
    /// Made-up tabs each posting 64 KiB signals to one viewer as fast as they may: the
    /// bytes the viewer takes in.
    Signals {
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=500))]
        senders: u64,
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=60))]
        secs: u64,
    },
}

#[tokio::main]
async fn main() {
    match Args::parse().scenario {
        Scenario::Pages { todos, clients, connections, secs, page } => {
            pages(todos, clients, connections, secs, &page).await
        }
        Scenario::SlowSse { todos, readers, rate, pace_ms, secs } => {
            slow_sse(todos, readers, rate, pace_ms, secs).await
        }
        Scenario::Webhooks { stuck, per_board } => webhooks(stuck, per_board).await,
        Scenario::Presence { tabs } => presence(tabs).await,
        Scenario::Signals { senders, secs } => signals(senders, secs).await,
    }
}

/// A public board created through the API: its id and write key.
async fn board(http: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let r = http
        .post(format!("{base}/api/boards"))
        .json(&json!({"name": name, "visibility": "public"}))
        .send()
        .await
        .expect("the board is created");
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    (created["id"].as_str().unwrap().to_owned(), created["keys"]["write"].as_str().unwrap_or_default().to_owned())
}

/// Adds `todos` todos with titles of about 480 characters, eight at a time.
async fn fill(http: &reqwest::Client, base: &str, board: &str, todos: u64) {
    let started = Instant::now();
    let title = "x".repeat(470);
    futures::stream::iter(0..todos)
        .map(|i| command(http, base, board, json!({"type": "add_todo", "title": format!("{i} {title}")})))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    println!("filled a board with {todos} todos in {:.1} s", started.elapsed().as_secs_f64());
}

/// Posts a command that must succeed, as a client does (a `503`, SQLite's writers queued
/// past its busy timeout on a loaded machine, is sent again); how long it took.
async fn command(http: &reqwest::Client, base: &str, board: &str, body: serde_json::Value) -> Duration {
    let started = Instant::now();
    for attempt in 1.. {
        let r = http.post(format!("{base}/api/boards/{board}/commands")).json(&body).send().await.unwrap();
        match r.status().as_u16() {
            200 => break,
            503 if attempt < 10 => tokio::time::sleep(Duration::from_millis(200)).await,
            status => panic!("{body} answered {status}"),
        }
    }
    started.elapsed()
}

/// Samples the server's resident memory every 10 ms until dropped; the peak so far.
struct Peak {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Peak {
    fn watch(server: &Server) -> Peak {
        let peak = Arc::new(AtomicU64::new(server.rss()));
        let (into, rss) = (peak.clone(), server.rss_reader());
        let task = tokio::spawn(async move {
            loop {
                into.fetch_max(rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Peak { peak, task }
    }

    fn get(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for Peak {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Commands on a small board of their own, one after another for `run`: their median.
async fn command_p50(http: &reqwest::Client, base: &str, board: &str, run: Duration) -> (Duration, usize) {
    let until = Instant::now() + run;
    let mut times = Vec::new();
    let mut i = 0;
    while Instant::now() < until && times.len() < 100_000 {
        times.push(command(http, base, board, json!({"type": "rename_todo", "id": 1, "title": format!("r{i}")})).await);
        i += 1;
    }
    let n = times.len();
    (median(times), n)
}

async fn pages(todos: u64, clients: u64, connections: u64, secs: u64, page: &str) {
    let server = Server::start().await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let (big, _) = board(&http, &base, "big").await;
    fill(&http, &base, &big, todos).await;
    let (small, _) = board(&http, &base, "small").await;
    command(&http, &base, &small, json!({"type": "add_todo", "title": "the other user's todo"})).await;
    let url = match page {
        "board" => format!("{base}/boards/{big}"),
        _ => format!("{base}/boards/{big}/compare"),
    };

    // One page alone: what it costs the server, and what the client downloads.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu, rss) = (server.cpu(), server.rss());
    let peak = Peak::watch(&server);
    let started = Instant::now();
    let r = http.get(&url).header("accept-encoding", "gzip").send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap();
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!(
        "one GET {page} page: {status} in {}, {} KiB gzipped, server CPU {}, resident memory +{}",
        ms(took),
        body.len() / 1024,
        ms(server.cpu() - cpu),
        mib(peak.get().saturating_sub(rss))
    );
    drop(peak);

    // Another user's commands, alone and while the clients loop the page.
    let (idle, n) = command_p50(&http, &base, &small, Duration::from_secs(3)).await;
    println!("another user's command p50 alone: {} ({n} commands)", ms(idle));
    let rss = server.rss();
    let cpu = server.cpu();
    let peak = Peak::watch(&server);
    let until = Instant::now() + Duration::from_secs(secs);
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let mut loops = Vec::new();
    for _ in 0..clients {
        let client = reqwest::Client::builder().pool_max_idle_per_host(connections as usize).build().unwrap();
        for _ in 0..connections {
            let (client, url, statuses) = (client.clone(), url.clone(), statuses.clone());
            loops.push(tokio::spawn(async move {
                while Instant::now() < until {
                    let status = match client.get(&url).header("accept-encoding", "gzip").send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let _ = r.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                    if status != 200 {
                        // A refused client waits a moment, as Retry-After asks.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (busy, n) = command_p50(&http, &base, &small, until.saturating_duration_since(Instant::now())).await;
    for task in loops {
        task.await.unwrap();
    }
    let grown = peak.get().saturating_sub(rss);
    let used = server.cpu() - cpu;
    println!(
        "{clients} clients x {connections} connections looping the {page} page for {secs} s: answers by status {:?}; \
         server CPU {:.1} s",
        statuses.lock().unwrap(),
        used.as_secs_f64()
    );
    println!(
        "another user's command p50 meanwhile: {} ({n} commands) = {:.1}x alone; server resident memory +{}",
        ms(busy),
        busy.as_secs_f64() / idle.as_secs_f64().max(1e-6),
        mib(grown)
    );
}

/// One SSE reader that reads at most `rate` bytes a second; when its stream ended, if it did.
async fn trickle_reader(base: String, board: String, rate: u64, run: Duration) -> Option<Duration> {
    let addr = base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.ok()?;
    // A small receive buffer, as a slow mobile link has: the kernel holds little for us.
    let request = format!(
        "GET /api/boards/{board}/sse?pattern=push-state HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.ok()?;
    let started = Instant::now();
    let mut buffer = vec![0u8; 8192];
    let chunk = (rate / 10).max(1) as usize;
    while started.elapsed() < run {
        let tick = Instant::now();
        let mut taken = 0;
        while taken < chunk {
            let want = (chunk - taken).min(buffer.len());
            match tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buffer[..want])).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                Ok(Ok(n)) => taken += n,
                Err(_) => break,
            }
        }
        // A tenth of a second's worth per tenth of a second.
        tokio::time::sleep(Duration::from_millis(100).saturating_sub(tick.elapsed())).await;
    }
    None
}

async fn slow_sse(todos: u64, readers: u64, rate: u64, pace_ms: u64, secs: u64) {
    // The server's own count of streams it cut (`board_slow_consumers_total`): a reader
    // sees its end only once it has read what the kernels still hold for it, megabytes later.
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let server = Server::start_with(&[("METRICS_BIND", metrics_bind.as_str())]).await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let (big, _) = board(&http, &base, "big").await;
    fill(&http, &base, &big, todos).await;
    let state_bytes = http.get(format!("{base}/api/boards/{big}")).send().await.unwrap().bytes().await.unwrap().len();
    let cut_so_far = {
        let http = http.clone();
        move || {
            let http = http.clone();
            let url = format!("http://{metrics_bind}/metrics");
            async move {
                let text = http.get(url).send().await.ok()?.text().await.ok()?;
                let line = text.lines().find(|l| l.starts_with("board_slow_consumers_total") && l.contains("\"sse\""));
                Some(line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).unwrap_or(0.0) as u64)
            }
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = server.rss();
    let peak = Peak::watch(&server);
    let run = Duration::from_secs(secs);
    let started = Instant::now();
    let readers_left: Vec<_> = (0..readers)
        .map(|_| tokio::spawn(trickle_reader(base.clone(), big.clone(), rate, run + Duration::from_secs(5))))
        .collect();
    // Changes at a steady pace: each is a whole new board for every push-state reader;
    // meanwhile, when the server has cut each reader.
    let until = Instant::now() + run;
    let mut changes = 0u64;
    let mut cuts: Vec<(u64, Duration)> = Vec::new();
    while Instant::now() < until {
        command(&http, &base, &big, json!({"type": "rename_todo", "id": 1, "title": format!("change {changes}")}))
            .await;
        changes += 1;
        if let Some(cut) = cut_so_far().await.filter(|cut| *cut > 0) {
            if cuts.last().is_none_or(|(n, _)| *n != cut) {
                cuts.push((cut, started.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(pace_ms)).await;
    }
    let grown = peak.get().saturating_sub(rss);
    for reader in readers_left {
        reader.abort();
    }
    let all = cuts.iter().find(|(n, _)| *n >= readers).map(|(_, at)| *at);
    let first = cuts.first().map(|(_, at)| *at);
    let cut = cuts.last().map_or(0, |(n, _)| *n);
    println!(
        "{readers} SSE readers at {} KB/s on a push-state board of {todos} todos ({} KiB a frame), {changes} changes in {secs} s:",
        rate / 1000,
        state_bytes / 1024
    );
    println!(
        "  the server cut {cut} of {readers} (the first {}, all {}); its resident memory +{} at its peak",
        first.map_or("never".into(), |d| format!("after {:.1} s", d.as_secs_f64())),
        all.map_or("never".into(), |d| format!("after {:.1} s", d.as_secs_f64())),
        mib(grown)
    );
}

/// A receiver that accepts every connection and never answers.
async fn black_hole() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

/// A receiver that answers 200 at once and reports when each delivery arrived.
async fn receiver() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Instant>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let mut seen = Vec::new();
                while let Ok(n) = socket.read(&mut buffer).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buffer[..n]);
                    // One request per connection is enough to know one arrived.
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        let _ = tx.send(Instant::now());
                        seen.clear();
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

async fn webhooks(stuck: u64, per_board: u64) {
    let (hole, _hole) = black_hole().await;
    let (good, mut delivered) = receiver().await;
    let allow = format!("127.0.0.1:{hole},127.0.0.1:{good}");
    // One client makes all the boards: above one address's board rate, on purpose.
    let settings = [("WEBHOOK_ALLOW", allow.as_str()), ("WEBHOOK_TIMEOUT", "10"), ("BOARDS_PER_MINUTE", "100000")];
    let server = Server::start_with(&settings).await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let boards = stuck.div_ceil(per_board);
    let mut created = 0;
    let mut stuck_boards = Vec::new();
    for b in 0..boards {
        let (id, key) = board(&http, &base, &format!("stuck {b}")).await;
        for _ in 0..per_board.min(stuck - created) {
            let r = http
                .post(format!("{base}/api/boards/{id}/webhooks"))
                .bearer_auth(&key)
                .json(&json!({"url": format!("http://127.0.0.1:{hole}/hook"), "pattern": "push-events"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
            created += 1;
        }
        stuck_boards.push(id);
    }
    let (fine, key) = board(&http, &base, "fine").await;
    let r = http
        .post(format!("{base}/api/boards/{fine}/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": format!("http://127.0.0.1:{good}/hook"), "pattern": "push-events"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Alone: one change on the fine board.
    let sent = Instant::now();
    command(&http, &base, &fine, json!({"type": "add_todo", "title": "alone"})).await;
    let alone = tokio::time::timeout(Duration::from_secs(60), delivered.recv()).await.unwrap().unwrap() - sent;
    // A change on every stuck board: their webhooks all hang.
    for id in &stuck_boards {
        command(&http, &base, id, json!({"type": "add_todo", "title": "into the void"})).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = Instant::now();
    command(&http, &base, &fine, json!({"type": "add_todo", "title": "while they hang"})).await;
    let busy =
        tokio::time::timeout(Duration::from_secs(120), delivered.recv()).await.ok().flatten().map(|at| at - sent);
    println!(
        "another board's webhook delivery: {} alone; {} while {created} webhooks on {boards} boards wait on receivers that never answer",
        ms(alone),
        busy.map_or("none within 120 s".into(), ms)
    );
}

/// A viewer's SSE stream with a tab of its own, from another address than the attacker's
/// (127.0.0.2, loopback too): someone else on the board.
async fn viewer(base: &str, board: &str) -> reqwest::Response {
    let url = format!(
        "{base}/api/boards/{board}/sse?pattern=push-ops&client=viewer&name=Viewer&secret=the-viewers-own-secret-1"
    );
    let elsewhere: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let r = reqwest::Client::builder().local_address(elsewhere).build().unwrap().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r
}

/// Reads an SSE response for `run`, calling `each` with every `data:` line's bytes.
async fn read_events(response: reqwest::Response, run: Duration, mut each: impl FnMut(&[u8])) {
    let mut body = response.bytes_stream();
    let mut line = Vec::new();
    let until = Instant::now() + run;
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(until.saturating_duration_since(Instant::now()), body.next()).await
    {
        for byte in chunk {
            if byte == b'\n' {
                if let Some(data) = line.strip_prefix(b"data: ") {
                    each(data);
                }
                line.clear();
            } else {
                line.push(byte);
            }
        }
    }
}

async fn presence(tabs: u64) {
    let server = Server::start().await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let (board, _) = board(&http, &base, "crowd").await;
    let rss = server.rss();
    let peak = Peak::watch(&server);
    let started = Instant::now();
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    futures::stream::iter(0..tabs)
        .map(|i| {
            let url = format!("{base}/api/boards/{board}/poll?pattern=push-ops&since=0&client=fake{i}&every=60000");
            let (http, statuses) = (http.clone(), statuses.clone());
            async move {
                let status = http.get(url).send().await.map_or(0, |r| r.status().as_u16());
                *statuses.lock().unwrap().entry(status).or_default() += 1;
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let took = started.elapsed();
    // The list a viewer gets now (the first frame after hello), and its presence traffic
    // for five seconds.
    let mut first = None;
    let mut bytes = 0usize;
    read_events(viewer(&base, &board).await, Duration::from_secs(5), |data| {
        if data.starts_with(b"{\"kind\":\"presence\"") {
            first.get_or_insert(data.len());
            bytes += data.len();
        }
    })
    .await;
    println!(
        "{tabs} made-up tabs by plain polling in {:.1} s: answers by status {:?}",
        took.as_secs_f64(),
        statuses.lock().unwrap()
    );
    println!(
        "  the presence list a viewer then gets: {} KiB; its presence traffic in 5 s: {} KiB; server resident memory +{}",
        first.unwrap_or(0) / 1024,
        bytes / 1024,
        mib(peak.get().saturating_sub(rss))
    );
}

async fn signals(senders: u64, secs: u64) {
    let server = Server::start().await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let (board, _) = board(&http, &base, "signals").await;
    let response = viewer(&base, &board).await;
    for i in 0..senders {
        let url = format!("{base}/api/boards/{board}/poll?pattern=push-ops&since=0&client=sender{i}&every=60000");
        let status = http.get(url).send().await.unwrap().status();
        assert!(status == 200 || status == 304, "{status}");
    }
    let run = Duration::from_secs(secs);
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let received = received.clone();
        tokio::spawn(read_events(response, run + Duration::from_secs(1), move |data| {
            if data.starts_with(b"{\"kind\":\"signal\"") {
                received.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }))
    };
    let payload = "x".repeat(63 * 1024);
    let until = Instant::now() + run;
    let sent = Arc::new(AtomicU64::new(0));
    let posts: Vec<_> = (0..senders)
        .map(|i| {
            let (http, base, board, payload, sent) =
                (http.clone(), base.clone(), board.clone(), payload.clone(), sent.clone());
            tokio::spawn(async move {
                let body = json!({"from": format!("sender{i}"), "to": "viewer", "data": payload});
                while Instant::now() < until {
                    let r = http.post(format!("{base}/api/boards/{board}/signal")).json(&body).send().await;
                    match r.map(|r| r.status().as_u16()) {
                        Ok(202) => {
                            sent.fetch_add(payload.len() as u64, Ordering::Relaxed);
                        }
                        // Refused (a rate, a full mailbox): as a client told to wait would.
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect();
    for post in posts {
        post.await.unwrap();
    }
    reader.await.unwrap();
    println!(
        "{senders} made-up tabs posting 63 KiB signals to one viewer for {secs} s: {} accepted, the viewer took in {}",
        mib(sent.load(Ordering::Relaxed)),
        mib(received.load(Ordering::Relaxed))
    );
}
