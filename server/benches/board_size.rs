//! The board-size benchmark: what one command costs as a board grows, and what a catch-up
//! of its log costs the server. The figures issue 10 ("bounded under abuse") is judged by.
//!
//! ```text
//! cargo bench -p server --bench board_size -- --todos 4000
//! ```
//!
//! On the optimised server binary (a child process, see `support/child.rs`), for a small
//! board (10 todos) and a large one (`--todos`):
//!
//! * `move_todo`: median and p90 time of moves to the top of the backlog, and the size of
//!   one move's change in each delta pattern (what the log stores and every client gets);
//! * other boards' writes while one client loops moves on the large board for a few
//!   seconds (SQLite has one writer: what one board's moves cost everyone else);
//! * `GET /changes?since=0`: the answer's size, and the server's resident memory growth for
//!   ten of them at once.
//!
//! Bounded in count and time: at most 5,000 todos, loopback only, each phase capped.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::json;

#[path = "support/child.rs"]
mod child;
use child::Server;

#[derive(Parser, Debug)]
#[command(about = "Command cost and catch-up cost by board size")]
struct Args {
    /// Todos on the large board.
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(10..=5000))]
    todos: u64,
    /// Moves timed on each board.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    moves: u64,
    /// Seconds one client loops moves while other boards' writes are timed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=30))]
    busy_secs: u64,
    // `cargo bench` passes `--bench` to every bench binary; accept and ignore it.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let server = Server::start().await;
    let http = reqwest::Client::new();
    let small = server.create_board("small").await;
    fill(&http, &server, &small, 10).await;
    let large = server.create_board("large").await;
    let started = Instant::now();
    fill(&http, &server, &large, args.todos).await;
    println!("filled a board with {} todos in {:.1} s", args.todos, started.elapsed().as_secs_f64());

    println!();
    println!(
        "{:<8} {:>10} {:>10} {:>14} {:>14} {:>14}",
        "todos", "move p50", "move p90", "push-ops B", "push-events B", "event-diff B"
    );
    for (board, todos) in [(&small, 10), (&large, args.todos)] {
        let (p50, p90) = time_moves(&http, &server, board, args.moves).await;
        let sizes = last_change_sizes(&http, &server, board).await;
        println!("{todos:<8} {:>10} {:>10} {:>14} {:>14} {:>14}", ms(p50), ms(p90), sizes[0], sizes[1], sizes[2]);
    }

    // Other boards' writes, alone and while one client loops moves on the large board.
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(server.create_board(&format!("other {i}")).await);
    }
    let quiet = other_writes(&http, &server, &others, Duration::from_secs(args.busy_secs)).await;
    let mover = {
        let (http, base, large) = (http.clone(), server.base.clone(), large.clone());
        // Ids are the seqs that created them; re-spacings take seqs too, so read them.
        let ids = todo_ids(&http, &server, &large).await;
        let until = Instant::now() + Duration::from_secs(args.busy_secs);
        tokio::spawn(async move {
            let mut i = 0usize;
            while Instant::now() < until {
                let id = ids[(i * 7919) % ids.len()];
                post(&http, &base, &large, json!({"type": "move_todo", "id": id, "sprint_id": null, "position": 0}))
                    .await;
                i += 1;
            }
            i
        })
    };
    let busy = other_writes(&http, &server, &others, Duration::from_secs(args.busy_secs)).await;
    let moved = mover.await.unwrap();
    println!();
    println!(
        "other boards' writes: p50 {} alone, {} while one client looped {moved} moves on the large board",
        ms(quiet),
        ms(busy)
    );

    // Catch-up from seq 0: one answer, and ten at once.
    let url = format!("{}/api/boards/{large}/changes?since=0&pattern=push-ops", server.base);
    let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    let before = server.rss();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let (peak, pid_rss) = (peak.clone(), server.rss_reader());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(pid_rss(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let answers = futures::future::join_all(
        (0..10).map(|_| async { http.get(&url).send().await.unwrap().bytes().await.unwrap().len() }),
    )
    .await;
    sampler.abort();
    let grown = peak.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(before);
    println!(
        "GET /changes?since=0 (push-ops) on the large board: {} KiB in one answer; ten at once ({} KiB each) raised resident memory by {:.1} MiB",
        body.len() / 1024,
        answers[0] / 1024,
        grown as f64 / (1024.0 * 1024.0)
    );
}

/// Adds `todos` todos of about 40 characters, eight at a time.
async fn fill(http: &reqwest::Client, server: &Server, board: &str, todos: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    futures::stream::iter(0..todos)
        .map(|i| {
            post(
                http,
                &server.base,
                board,
                json!({"type": "add_todo", "title": format!("todo number {i} of the benchmark board")}),
            )
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    assert!(Instant::now() < deadline, "filling took over 300 s");
}

/// Posts a command that must succeed.
async fn post(http: &reqwest::Client, base: &str, board: &str, command: serde_json::Value) {
    let r = http.post(format!("{base}/api/boards/{board}/commands")).json(&command).send().await.unwrap();
    assert_eq!(r.status(), 200, "{command}");
}

/// Median and p90 of `moves` moves of todos to the top of the backlog.
async fn time_moves(http: &reqwest::Client, server: &Server, board: &str, moves: u64) -> (Duration, Duration) {
    let ids = todo_ids(http, server, board).await;
    let mut times = Vec::new();
    for i in 0..moves {
        let id = ids[(i as usize * 7919) % ids.len()];
        let started = Instant::now();
        post(http, &server.base, board, json!({"type": "move_todo", "id": id, "sprint_id": null, "position": 0})).await;
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[times.len() * 9 / 10])
}

/// The ids of the board's todos.
async fn todo_ids(http: &reqwest::Client, server: &Server, board: &str) -> Vec<i64> {
    let state: board_core::domain::BoardState =
        http.get(format!("{}/api/boards/{board}", server.base)).send().await.unwrap().json().await.unwrap();
    state.todos.iter().map(|t| t.id).collect()
}

/// The size of the board's last change in each delta pattern.
async fn last_change_sizes(http: &reqwest::Client, server: &Server, board: &str) -> [usize; 3] {
    let mut sizes = [0; 3];
    for (i, pattern) in ["push-ops", "push-events", "event-diff"].iter().enumerate() {
        let head = http
            .get(format!("{}/api/boards/{board}/changes?since=0&pattern={pattern}", server.base))
            .send()
            .await
            .unwrap()
            .json::<board_core::api::FramesPage>()
            .await
            .unwrap()
            .head;
        let page: board_core::api::FramesPage = http
            .get(format!("{}/api/boards/{board}/changes?since={}&pattern={pattern}", server.base, head - 1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sizes[i] = page.frames.last().map_or(0, |f| f.to_json().len());
    }
    sizes
}

/// The median time of renames on the other boards, round-robin, for `run`.
async fn other_writes(http: &reqwest::Client, server: &Server, boards: &[String], run: Duration) -> Duration {
    for board in boards {
        post(http, &server.base, board, json!({"type": "add_todo", "title": "the other board's todo"})).await;
    }
    let until = Instant::now() + run;
    let mut times = Vec::new();
    let mut i = 0;
    while Instant::now() < until {
        let board = &boards[i % boards.len()];
        let started = Instant::now();
        post(http, &server.base, board, json!({"type": "rename_todo", "id": 1, "title": format!("renamed {i}")})).await;
        times.push(started.elapsed());
        i += 1;
    }
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
