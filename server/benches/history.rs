//! The history benchmark: what walking a board's history costs, on a large board with a
//! full log. The figures docs/history.md gives.
//!
//! ```text
//! cargo bench -p server --bench history -- --todos 4000 --changes 10000 --reads 200
//! ```
//!
//! On the optimised server binary (a child process, `support/child.rs`), with the defaults
//! (`SNAPSHOT_EVERY` 1000, `LOG_RETAIN` 10,000): a board of `--todos` todos, then changes
//! (renames, moves, statuses, in turn) up to `--changes` in all, sent one at a time so that
//! each commit is timed. Then:
//!
//! * commits: p50 of those that also wrote a snapshot and of those that did not;
//! * `GET /history?at=N` for `--reads` seqs spread over the retained log: time to the last
//!   byte, p50 and p99, and bytes; the same with `then=200` (the page's window); at the head;
//! * the page's step inside a window: replaying up to 200 events through the shared reducer
//!   (`app::sync::history::Window`, here natively; the browser runs the same code in wasm);
//! * an undo: the domain's inverse of a rename's step computed on the large board, and the
//!   undo command's time against a plain rename's.
//!
//! It fails unless every history answer is the board at the seq asked for (the state at
//! the head equals `GET` state; each seq is the one asked), and every undo puts the title
//! back. Bounded: at most 5,000 todos and 20,000 changes, 2,000 reads, loopback only.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::json;

use app::sync::history::Window;
use board_core::api::{CommandAnswer, HistoryPage};
use board_core::domain::BoardState;

#[path = "support/child.rs"]
mod child;
use child::Server;

#[derive(Parser, Debug)]
#[command(about = "What reading a board's history costs")]
struct Args {
    /// Todos on the board.
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(10..=5000))]
    todos: u64,
    /// Changes in the board's log in all (the adds included).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(20..=20_000))]
    changes: u64,
    /// History reads timed.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=2000))]
    reads: u64,
    /// The server's `SNAPSHOT_EVERY`.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_every: u64,
    // `cargo bench` passes `--bench` to every bench binary; accept and ignore it.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let every = args.snapshot_every.to_string();
    let retain = args.changes.max(10_000).to_string();
    let server = Server::start_with(&[
        ("SNAPSHOT_EVERY", every.as_str()),
        ("LOG_RETAIN", retain.as_str()),
        ("HISTORY_PER_MINUTE", "1000000"),
    ])
    .await;
    let http = reqwest::Client::new();
    let board = server.create_board("history").await;
    let deadline = Instant::now() + Duration::from_secs(600);

    // The board: adds eight at a time, then the other changes one at a time, timed.
    let started = Instant::now();
    futures::stream::iter(0..args.todos)
        .map(|i| {
            post(
                &http,
                &server.base,
                &board,
                json!({"type": "add_todo", "title": format!("todo number {i} of the history board")}),
            )
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let ids = todo_ids(&http, &server, &board).await;
    let (mut plain, mut with_snapshot) = (Vec::new(), Vec::new());
    let mut seq = head(&http, &server, &board).await;
    let mut i = 0u64;
    while seq < args.changes {
        assert!(Instant::now() < deadline, "filling the log took over 600 s");
        let id = ids[(i as usize * 7919) % ids.len()];
        let command = match i % 3 {
            0 => json!({"type": "rename_todo", "id": id, "title": format!("renamed {i}")}),
            1 => json!({"type": "move_todo", "id": id, "sprint_id": null, "position": (i * 31) % args.todos}),
            _ => {
                let status = ["todo", "doing", "done"][(i % 9 / 3) as usize];
                json!({"type": "set_todo_status", "id": id, "status": status})
            }
        };
        let t = Instant::now();
        let answer = post(&http, &server.base, &board, command).await;
        let took = t.elapsed();
        // A re-spacing may follow a move: the seq is the answer's.
        if answer.seq.is_multiple_of(args.snapshot_every) {
            with_snapshot.push(took);
        } else {
            plain.push(took);
        }
        seq = answer.seq;
        i += 1;
    }
    seq = head(&http, &server, &board).await;
    let now: BoardState = get_json(&http, &format!("{}/api/boards/{board}", server.base)).await;
    let board_bytes = serde_json::to_string(&now).unwrap().len();
    println!(
        "a board of {} todos ({} KiB as JSON) with {seq} changes in its log, filled in {:.0} s",
        now.todos.len(),
        board_bytes / 1024,
        started.elapsed().as_secs_f64()
    );
    println!(
        "commits: p50 {} without a snapshot ({} of them), {} with one ({} of them, one every {})",
        ms(pct(&mut plain, 50)),
        plain.len(),
        ms(pct(&mut with_snapshot, 50)),
        with_snapshot.len(),
        args.snapshot_every
    );

    // History reads spread over the retained log.
    let first: HistoryPage = get_json(&http, &format!("{}/api/boards/{board}/history?at={seq}", server.base)).await;
    assert_eq!(first.state, now, "the board at the head is the board");
    let floor = first.floor;
    println!("history reaches back to seq {floor} (head {seq})");
    println!();
    println!("{:<28} {:>10} {:>10} {:>12}", "read", "p50", "p99", "bytes p50");
    for then in [0u64, 200] {
        let mut times = Vec::new();
        let mut sizes = Vec::new();
        for r in 0..args.reads {
            // Spread evenly, offset so that snapshot seqs and the ones just below them
            // (the most replay) both come up.
            let at = floor + (r * 7919 + 13) % (seq - floor + 1);
            let url = format!("{}/api/boards/{board}/history?at={at}&then={then}", server.base);
            let t = Instant::now();
            let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
            times.push(t.elapsed());
            sizes.push(body.len());
            let page: HistoryPage = serde_json::from_slice(&body).unwrap();
            assert_eq!((page.at, page.state.seq), (at, at), "the board at the seq asked for");
            assert_eq!(page.then.len() as u64, then.min(seq - at));
        }
        sizes.sort();
        let label = if then == 0 { "GET /history?at=N".to_owned() } else { format!("GET /history?at=N&then={then}") };
        println!(
            "{label:<28} {:>10} {:>10} {:>12}",
            ms(pct(&mut times, 50)),
            ms(pct(&mut times, 99)),
            sizes[sizes.len() / 2]
        );
    }
    let mut at_head = Vec::new();
    for _ in 0..args.reads.min(50) {
        let t = Instant::now();
        http.get(format!("{}/api/boards/{board}/history?at={seq}", server.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        at_head.push(t.elapsed());
    }
    println!(
        "{:<28} {:>10} {:>10} {:>12}",
        "GET /history at the head",
        ms(pct(&mut at_head, 50)),
        ms(pct(&mut at_head, 99)),
        board_bytes
    );

    // The page's step inside a window: replay up to 200 events from the window's board.
    let at = seq.saturating_sub(250).max(floor);
    let window =
        Window::new(get_json(&http, &format!("{}/api/boards/{board}/history?at={at}&then=200", server.base)).await);
    let mut steps = Vec::new();
    for k in 0..=200u64.min(seq - at) {
        let t = Instant::now();
        let view = window.at(at + k).expect("the window covers it");
        steps.push(t.elapsed());
        assert_eq!(view.seq, at + k);
    }
    println!(
        "a step inside a held window (replaying up to 200 events on {} todos, native): p50 {}, p99 {}",
        now.todos.len(),
        ms(pct(&mut steps, 50)),
        ms(pct(&mut steps, 99))
    );

    // An undo: computing the inverse on the large board, and sending it.
    let (mut renames, mut undos, mut inverses) = (Vec::new(), Vec::new(), Vec::new());
    let mut answer_bytes = (0, 0);
    for k in 0..20usize {
        let id = ids[(k * 104_729) % ids.len()];
        let t = Instant::now();
        let answer = post(
            &http,
            &server.base,
            &board,
            json!({"type": "rename_todo", "id": id, "title": format!("undo me {k}")}),
        )
        .await;
        renames.push(t.elapsed());
        let step = answer.step.clone().expect("a rename has a step");
        let state: BoardState = get_json(&http, &format!("{}/api/boards/{board}", server.base)).await;
        let t = Instant::now();
        let undo = step.inverse(&state, None).expect("nobody else changed it");
        inverses.push(t.elapsed());
        let t = Instant::now();
        post(&http, &server.base, &board, serde_json::to_value(&undo).unwrap()).await;
        undos.push(t.elapsed());
        let back: BoardState = get_json(&http, &format!("{}/api/boards/{board}", server.base)).await;
        assert_eq!(back.todo(id).map(|t| t.title.as_str()), step.before.as_ref().map(|t| t.title.as_str()), "undone");
        let with = serde_json::to_string(&answer).unwrap().len();
        let without = serde_json::to_string(&CommandAnswer { step: None, ..answer }).unwrap().len();
        answer_bytes = (with, without);
    }
    println!(
        "an undo: its inverse computed on {} todos in {} (p50); sent, {} against {} for a plain rename (p50); the step adds {} bytes to an answer ({} with it, {} without)",
        now.todos.len(),
        ms(pct(&mut inverses, 50)),
        ms(pct(&mut undos, 50)),
        ms(pct(&mut renames, 50)),
        answer_bytes.0 - answer_bytes.1,
        answer_bytes.0,
        answer_bytes.1
    );
    let kept = seq / args.snapshot_every - floor / args.snapshot_every + 1;
    println!(
        "snapshots kept: about {kept} (one every {} seqs back to the floor), about {} KiB each",
        args.snapshot_every,
        board_bytes / 1024
    );
}

/// Posts a command that must succeed; returns its answer.
async fn post(http: &reqwest::Client, base: &str, board: &str, command: serde_json::Value) -> CommandAnswer {
    let r = http
        .post(format!("{base}/api/boards/{board}/commands"))
        .header("Board-Actor", "bench")
        .json(&command)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{command}");
    r.json().await.unwrap()
}

async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> T {
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    r.json().await.unwrap()
}

async fn head(http: &reqwest::Client, server: &Server, board: &str) -> u64 {
    get_json::<BoardState>(http, &format!("{}/api/boards/{board}", server.base)).await.seq
}

async fn todo_ids(http: &reqwest::Client, server: &Server, board: &str) -> Vec<i64> {
    get_json::<BoardState>(http, &format!("{}/api/boards/{board}", server.base))
        .await
        .todos
        .iter()
        .map(|t| t.id)
        .collect()
}

/// The `p`th percentile of `times` (sorted in place).
fn pct(times: &mut [Duration], p: usize) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    times.sort();
    times[(times.len() * p / 100).min(times.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
