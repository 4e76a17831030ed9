//! A checker in the style of Jepsen's total-queue test, over every acknowledged write.
//!
//! Two replicas share Postgres and a bus (Redis, NATS or Postgres NOTIFY: the check runs on
//! each). Four writers (two per replica) add uniquely titled todos with Idempotency-Keys
//! while notices are dropped on purpose. Clients
//! on both replicas follow the board on every transport with each delta pattern. Then:
//!
//! * the log holds seqs 1..=H, each once;
//! * every acknowledged write is in the log exactly once, at the seq its ack named;
//! * every client applied exactly 1..=H, in order, once each, and ends on `GET` state.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use board_core::domain::{BoardState, Event};
use board_core::patterns::{Frame, PatternKind};
use board_core::protocol::Transport;
use common::TestServer;
use serde_json::{json, Value};

const WRITERS: usize = 4;
const WRITES_EACH: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_redis_every_acknowledged_write_is_applied_once_in_order_by_every_client() {
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    check_every_acknowledged_write(&redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_nats_every_acknowledged_write_is_applied_once_in_order_by_every_client() {
    let nats = std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    check_every_acknowledged_write(&nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_postgres_notify_every_acknowledged_write_is_applied_once_in_order_by_every_client() {
    check_every_acknowledged_write(&common::postgres_admin_url()).await;
}

/// The check, with the replicas talking over the bus at `bus`.
async fn check_every_acknowledged_write(bus: &str) {
    let database = common::fresh_postgres_database().await;
    let replicas = Arc::new([
        TestServer::replica(&database, bus, "checker-a").await,
        TestServer::replica(&database, bus, "checker-b").await,
    ]);
    let board = replicas[0].create_board("checker").await;
    let start = replicas[0].state(&board).await;
    let target = Arc::new(AtomicU64::new(u64::MAX));

    // Clients: every transport, every delta pattern, on both replicas.
    let mut clients = Vec::new();
    for (r, replica) in replicas.iter().enumerate() {
        for transport in Transport::ALL {
            for pattern in [PatternKind::PushOps, PatternKind::PushEvents, PatternKind::EventDiff] {
                let mut sub = replica.subscribe(&board, transport, pattern, 0).await;
                let mut client = replica.client_at(&board, pattern, start.clone());
                let (target, replicas) = (target.clone(), replicas.clone());
                clients.push(tokio::spawn(async move {
                    // What the stream sent, in order: the property under test.
                    let mut applied: Vec<u64> = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(90);
                    while client.seq() < target.load(Ordering::SeqCst) {
                        assert!(
                            Instant::now() < deadline,
                            "{pattern} / {transport} on replica {r} stalled at {}",
                            client.seq()
                        );
                        for frame in sub.batch_within(client.seq(), Duration::from_millis(500)).await {
                            assert!(!matches!(frame, Frame::Reset { .. }), "no reset expected");
                            if let Some(seq) = frame.seq() {
                                let last = applied.last().copied().unwrap_or(0);
                                assert_eq!(
                                    seq,
                                    last + 1,
                                    "{pattern} / {transport} on replica {r}: in order, no gap, no repeat"
                                );
                                applied.push(seq);
                            }
                            client.handle(&frame).await;
                        }
                    }
                    let truth = replicas[r].state(&client.state.board.id).await;
                    assert_eq!(client.state, truth, "{pattern} / {transport} on replica {r} ends on GET state");
                    sub.close().await;
                    applied
                }));
            }
        }
    }

    // Writers, two per replica, with lost notices sprinkled in.
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (replicas, board) = (replicas.clone(), board.clone());
        writers.push(tokio::spawn(async move {
            let replica = &replicas[w % 2];
            let mut acked = Vec::new();
            for i in 0..WRITES_EACH {
                if (w * WRITES_EACH + i) % 7 == 3 {
                    replica.lossy.drop_next_publishes(1);
                }
                let title = format!("w{w}-{i}");
                let key = format!("key-{title}");
                let answer: Value = loop {
                    let r = replica
                        .http
                        .post(replica.url(&format!("/api/boards/{board}/commands")))
                        .header("Idempotency-Key", &key)
                        .json(&json!({"type": "add_todo", "title": title}))
                        .send()
                        .await
                        .unwrap();
                    if r.status() == 200 {
                        break r.json().await.unwrap();
                    }
                    assert_eq!(r.status(), 503, "only unavailability is retried");
                };
                acked.push((title, answer["seq"].as_u64().unwrap()));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    let head = (WRITERS * WRITES_EACH) as u64;
    target.store(head, Ordering::SeqCst);

    // The log: seqs 1..=H once each; every acknowledged write exactly once, at its seq.
    let page = replicas[1].frames(&format!("/api/boards/{board}/changes?since=0&pattern=push-events")).await;
    assert_eq!(page.frames.iter().filter_map(Frame::seq).collect::<Vec<_>>(), (1..=head).collect::<Vec<_>>());
    let mut logged: HashMap<String, Vec<u64>> = HashMap::new();
    for frame in &page.frames {
        if let Frame::Event { seq, event: Event::TodoAdded { title, .. }, .. } = frame {
            logged.entry(title.clone()).or_default().push(*seq);
        }
    }
    for (title, seq) in &acked {
        assert_eq!(logged.get(title), Some(&vec![*seq]), "acknowledged {title} is in the log once, at seq {seq}");
    }
    let final_state: BoardState = replicas[0].state(&board).await;
    assert_eq!(final_state.todos.len(), acked.len());

    // Every client applied exactly 1..=H, in order.
    let clients_count = clients.len();
    for client in clients {
        let applied = tokio::time::timeout(Duration::from_secs(120), client).await.unwrap().unwrap();
        assert_eq!(applied, (1..=head).collect::<Vec<_>>());
    }
    let dropped: u64 = replicas.iter().map(|replica| replica.lossy.dropped()).sum();
    println!(
        "checker: {} acknowledged writes, {clients_count} clients on 2 replicas x 4 transports x 3 patterns, \
         {dropped} notices lost on purpose: every write applied once, in order, by every client",
        acked.len()
    );
    assert!(dropped >= 1, "the run lost notices on purpose");
}
