//! The conformance table: every pattern over every transport receives the same command
//! script, with a disconnect and resume in the middle. Each cell must see seqs in order,
//! none twice (and, for delta patterns, none skipped), and end on `GET` state.

mod common;

use board_core::patterns::{Frame, PatternKind};
use board_core::protocol::Transport;
use common::{Backend, Subscriber, TestClient, TestServer};
use serde_json::{json, Value};

fn first_half() -> Vec<Value> {
    vec![
        json!({"type": "add_sprint", "name": "Sprint 1"}),
        json!({"type": "add_todo", "title": "a", "sprint_id": 1}),
        json!({"type": "add_todo", "title": "b", "sprint_id": 1}),
        json!({"type": "add_todo", "title": "c"}),
        json!({"type": "move_todo", "id": 4, "sprint_id": 1, "position": 0}),
        json!({"type": "start_sprint", "id": 1}),
    ]
}

fn second_half() -> Vec<Value> {
    vec![
        json!({"type": "set_todo_status", "id": 2, "status": "done"}),
        json!({"type": "rename_todo", "id": 3, "title": "b, renamed"}),
        json!({"type": "complete_sprint", "id": 1}),
        json!({"type": "add_todo", "title": "d"}),
        json!({"type": "delete_todo", "id": 4}),
    ]
}

/// Receives until the client reaches `target`. The stream's properties are checked on what
/// it sent (every seq once; for delta patterns, in order with no gap); the client applies
/// every frame as the browser does (`TestClient`).
async fn follow(sub: &mut Subscriber, client: &mut TestClient, seen: &mut Vec<u64>, target: u64) {
    while client.seq() < target {
        for frame in sub.next_batch(client.seq()).await {
            assert!(!matches!(frame, Frame::Reset { .. }), "{} / {}: unexpected reset", sub.pattern, sub.transport);
            if let Some(seq) = frame.seq() {
                assert!(!seen.contains(&seq), "{} / {}: seq {seq} twice", sub.pattern, sub.transport);
                // Only a poke or a state can be overtaken (by a pull that already went
                // further); a delta pattern's next frame is the next seq.
                if !sub.pattern.self_contained() {
                    let last = seen.last().copied().unwrap_or(0);
                    assert_eq!(seq, last + 1, "{} / {}: a gap before {seq}", sub.pattern, sub.transport);
                }
                seen.push(seq);
            }
            client.handle(&frame).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pattern_over_every_transport() {
    let srv = TestServer::start(Backend::Sqlite).await;
    for pattern in PatternKind::ALL {
        for transport in Transport::ALL {
            let board = srv.create_board(&format!("{pattern} over {transport}")).await;
            let mut client = srv.client(&board, pattern).await;
            let mut seen = Vec::new();
            let mut sub = srv.subscribe(&board, transport, pattern, client.seq()).await;
            let mut head = 0;
            for command in first_half() {
                head = srv.ok(&board, command).await;
            }
            follow(&mut sub, &mut client, &mut seen, head).await;
            // Disconnect; changes land meanwhile; resume from the applied seq.
            sub.close().await;
            for command in second_half() {
                head = srv.ok(&board, command).await;
            }
            let mut sub = srv.subscribe(&board, transport, pattern, client.seq()).await;
            follow(&mut sub, &mut client, &mut seen, head).await;
            // Live again after the resume.
            head = srv.ok(&board, json!({"type": "add_sprint", "name": "after resume"})).await;
            follow(&mut sub, &mut client, &mut seen, head).await;
            sub.close().await;

            assert_eq!(client.state, srv.state(&board).await, "{pattern} / {transport} ends on GET state");
            if !pattern.self_contained() {
                assert_eq!(seen, (1..=head).collect::<Vec<_>>(), "{pattern} / {transport}: every seq once, in order");
            }
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn poll_answers_304_when_nothing_is_newer_and_long_poll_holds() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("poll").await;
    let poll =
        |since: u64| srv.http.get(srv.url(&format!("/api/boards/{board}/poll?pattern=push-ops&since={since}"))).send();
    let r = poll(0).await.unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], "\"0\"");
    srv.ok(&board, json!({"type": "add_todo", "title": "x"})).await;
    let r = poll(0).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let page: board_core::api::FramesPage = r.json().await.unwrap();
    assert_eq!((page.head, page.frames.len()), (1, 1));
    assert_eq!(poll(1).await.unwrap().status(), 304);

    // A long-poll with nothing new waits; a commit answers it at once.
    let url = srv.url(&format!("/api/boards/{board}/long-poll?pattern=event-diff&since=1&timeout=20"));
    let started = std::time::Instant::now();
    let held = tokio::spawn(srv.http.get(url).send());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "the long-poll holds while nothing changes");
    srv.ok(&board, json!({"type": "add_todo", "title": "y"})).await;
    let page: board_core::api::FramesPage = held.await.unwrap().unwrap().json().await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "answered when the change landed");
    assert_eq!(page.frames.iter().filter_map(|f| f.seq()).collect::<Vec<_>>(), vec![2]);

    // The timeout answers with no frames.
    let r = srv.http.get(srv.url(&format!("/api/boards/{board}/long-poll?since=2&timeout=1"))).send().await.unwrap();
    let page: board_core::api::FramesPage = r.json().await.unwrap();
    assert_eq!((page.head, page.frames.len()), (2, 0));
    // Unknown pattern: 400 naming the valid ones, on every transport.
    for path in ["poll", "long-poll", "sse", "ws"] {
        let r = srv.http.get(srv.url(&format!("/api/boards/{board}/{path}?pattern=telepathy"))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("push-state"), "{path}");
    }
    // Unknown transport: 400 naming the valid ones.
    let r =
        srv.http.get(srv.url(&format!("/api/boards/{board}/carrier-pigeon?pattern=push-ops"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("long-poll"), "{body}");
    srv.stop().await;
}

#[tokio::test]
async fn poll_past_the_retained_log_gets_reset() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.log_retain = 2).await;
    let board = srv.create_board("pruned").await;
    for i in 0..5 {
        srv.ok(&board, json!({"type": "add_todo", "title": format!("t{i}")})).await;
    }
    for path in ["poll", "long-poll"] {
        let page = srv.frames(&format!("/api/boards/{board}/{path}?pattern=push-ops&since=1")).await;
        assert_eq!(page.frames, vec![Frame::Reset { head: 5 }], "{path}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_held_long_polls_are_answered_by_one_commit() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("held").await;
    // Two worker threads hold 200 requests: each held long-poll is a parked future.
    let held: Vec<_> = (0..200)
        .map(|_| {
            let url = srv.url(&format!("/api/boards/{board}/long-poll?pattern=push-events&since=0&timeout=30"));
            tokio::spawn(srv.http.get(url).send())
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(held.iter().all(|h| !h.is_finished()), "all 200 are held");
    let started = std::time::Instant::now();
    srv.ok(&board, json!({"type": "add_todo", "title": "wake up"})).await;
    for h in held {
        let page: board_core::api::FramesPage = h.await.unwrap().unwrap().json().await.unwrap();
        assert_eq!(page.frames.iter().filter_map(|f| f.seq()).collect::<Vec<_>>(), vec![1]);
    }
    println!("200 held long-polls answered {:?} after the commit", started.elapsed());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    srv.stop().await;
}
