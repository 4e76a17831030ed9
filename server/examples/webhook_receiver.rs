//! A webhook receiver to copy: the other end of the board's webhooks.
//!
//! ```text
//! cargo run -p server --example webhook_receiver -- --secret whsec_... [--bind 127.0.0.1:4000] [--server http://127.0.0.1:3000]
//! ```
//!
//! Register it on a board (`POST /api/boards/{board}/webhooks` with
//! `{"url":"http://127.0.0.1:4000/hook"}`, and `WEBHOOK_ALLOW=127.0.0.1:4000` on the server,
//! since it is on loopback), give it the secret the registration showed, and it:
//!
//! 1. verifies each delivery's Standard Webhooks signature and timestamp (the
//!    `standardwebhooks` crate: a missing, empty or wrong signature, or a timestamp more
//!    than five minutes off, is refused with `401`, and the sender retries);
//! 2. drops a delivery whose `webhook-id` it already handled (`200`: at-least-once delivery
//!    means repeats happen, after a retry or a replica's takeover);
//! 3. applies the frame to its copy of the board with the same domain code the server and
//!    the browser run (taking the board's state from `--server` when it has none, or when a
//!    frame does not follow on), and prints the board.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clap::Parser;
use serde::Deserialize;

use board_core::domain::BoardState;
use board_core::patterns::{Applied, Frame, PatternKind};

#[derive(Parser)]
struct Args {
    /// The webhook's secret, as its registration showed it (`whsec_...`).
    #[arg(long, env = "WEBHOOK_SECRET")]
    secret: String,
    #[arg(long, default_value = "127.0.0.1:4000")]
    bind: std::net::SocketAddr,
    /// Where to read the board's state from when the receiver has none.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    server: String,
}

/// How many `webhook-id`s are remembered for deduplication.
const REMEMBERED: usize = 10_000;

struct Receiver {
    verifier: standardwebhooks::Webhook,
    server: String,
    /// Ids handled, oldest first (bounded).
    seen: VecDeque<String>,
    seen_set: HashSet<String>,
    board: Option<BoardState>,
}

#[derive(Deserialize)]
struct Delivery {
    board: String,
    frame: Frame,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let verifier = standardwebhooks::Webhook::new(&args.secret).expect("the secret is whsec_ and base64");
    let receiver = Arc::new(Mutex::new(Receiver {
        verifier,
        server: args.server,
        seen: VecDeque::new(),
        seen_set: HashSet::new(),
        board: None,
    }));
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(receiver);
    let listener = tokio::net::TcpListener::bind(args.bind).await.expect("the address is free");
    println!("receiving webhooks on http://{}/hook", args.bind);
    axum::serve(listener, app).await.unwrap();
}

async fn hook(
    State(receiver): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, &'static str) {
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (delivery, state_url) = {
        let r = receiver.lock().unwrap();
        if let Err(err) = r.verifier.verify(&body, &headers) {
            eprintln!("refused {id}: {err}");
            return (StatusCode::UNAUTHORIZED, "bad signature");
        }
        if r.seen_set.contains(&id) {
            println!("{id}: seen already, dropped");
            return (StatusCode::OK, "duplicate");
        }
        let Ok(delivery) = serde_json::from_slice::<Delivery>(&body) else {
            return (StatusCode::BAD_REQUEST, "not a delivery");
        };
        let url = format!("{}/api/boards/{}", r.server, delivery.board);
        (delivery, url)
    };
    let Some(pattern) = pattern_of(&delivery.frame) else { return (StatusCode::OK, "not a change") };
    // Apply; when the frame does not follow on (or there is no board yet), take the state.
    let applied = {
        let mut r = receiver.lock().unwrap();
        match r.board.as_mut() {
            Some(board) if board.board.id == delivery.board => {
                matches!(pattern.apply(board, &delivery.frame), Ok(Applied::Applied))
            }
            _ => false,
        }
    };
    if !applied {
        match fetch(&state_url).await {
            Some(state) => receiver.lock().unwrap().board = Some(state),
            None => return (StatusCode::SERVICE_UNAVAILABLE, "cannot read the board"),
        }
    }
    let mut r = receiver.lock().unwrap();
    r.seen_set.insert(id.clone());
    r.seen.push_back(id.clone());
    if r.seen.len() > REMEMBERED {
        if let Some(old) = r.seen.pop_front() {
            r.seen_set.remove(&old);
        }
    }
    if let Some(board) = &r.board {
        println!(
            "{id}: {} at seq {}, {} todos, {} sprints",
            board.board.name,
            board.seq,
            board.todos.len(),
            board.sprints.len()
        );
        for todo in &board.todos {
            println!("  [{}] {}", todo.status.as_str(), todo.title);
        }
    }
    (StatusCode::OK, "applied")
}

/// Which pattern a frame is in.
fn pattern_of(frame: &Frame) -> Option<PatternKind> {
    match frame {
        Frame::Poke { .. } => Some(PatternKind::PokePull),
        Frame::State { .. } => Some(PatternKind::PushState),
        Frame::Ops { .. } => Some(PatternKind::PushOps),
        Frame::Event { .. } => Some(PatternKind::PushEvents),
        Frame::EventDiff { .. } => Some(PatternKind::EventDiff),
        _ => None,
    }
}

async fn fetch(url: &str) -> Option<BoardState> {
    reqwest::get(url).await.ok()?.json().await.ok()
}
