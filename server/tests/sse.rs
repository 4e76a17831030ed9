//! SSE: resume across reconnects with nothing lost or repeated, `reset` past the retained
//! log, heartbeats with the head seq; on SQLite and on Postgres.

mod common;

use board_core::patterns::{Frame, PatternKind};
use board_core::step::Step;
use common::{Backend, TestClient, TestServer};
use serde_json::json;

/// The next frame, which must be the client's next seq and apply as it is.
async fn apply(client: &mut TestClient, frame: &Frame) {
    assert_eq!(frame.seq(), Some(client.seq() + 1), "frames arrive in seq order with no gap or repeat");
    assert_eq!(client.handle(frame).await, Step::Applied);
}

async fn resume_across_a_reconnect(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("resume").await;
    let mut client = srv.client(&board, PatternKind::EventDiff).await;
    let mut stream = srv.sse(&board, "pattern=event-diff&since=0", None).await;
    assert!(matches!(stream.next().await.1, Frame::Hello { head: 0, ref replica, .. } if replica == "test-replica"));

    srv.ok(&board, json!({"type": "add_sprint", "name": "S"})).await;
    srv.ok(&board, json!({"type": "add_todo", "title": "a", "sprint_id": 1})).await;
    srv.ok(&board, json!({"type": "add_todo", "title": "b"})).await;
    for _ in 0..3 {
        let (id, frame) = stream.next_data().await;
        assert_eq!(id, frame.seq(), "the SSE id is the seq");
        apply(&mut client, &frame).await;
    }
    drop(stream);

    // Changes while the client is away, then a reconnect that says where it was. The URL
    // still says since=0 (as a browser's EventSource would): Last-Event-ID wins.
    srv.ok(&board, json!({"type": "start_sprint", "id": 1})).await;
    srv.ok(&board, json!({"type": "move_todo", "id": 3, "sprint_id": 1, "position": 0})).await;
    srv.ok(&board, json!({"type": "set_todo_status", "id": 2, "status": "done"})).await;
    srv.ok(&board, json!({"type": "complete_sprint", "id": 1})).await;
    let mut stream = srv.sse(&board, "pattern=event-diff&since=0", Some(client.seq())).await;
    assert!(matches!(stream.next().await.1, Frame::Hello { head: 7, .. }));
    for _ in 0..4 {
        apply(&mut client, &stream.next_data().await.1).await;
    }
    // And live again after the catch-up: the seam neither drops nor repeats.
    srv.ok(&board, json!({"type": "rename_todo", "id": 3, "title": "b2"})).await;
    apply(&mut client, &stream.next_data().await.1).await;
    assert_eq!(client.state, srv.state(&board).await);

    // `since` in the query works the same without the header.
    let mut stream = srv.sse(&board, &format!("pattern=event-diff&since={}", client.seq() - 2), None).await;
    stream.next().await;
    assert_eq!(stream.next_data().await.1.seq(), Some(client.seq() - 1));
    srv.stop().await;
}

async fn reset_when_the_log_no_longer_reaches(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.log_retain = 3).await;
    let board = srv.create_board("pruned").await;
    for i in 0..6 {
        srv.ok(&board, json!({"type": "add_todo", "title": format!("t{i}")})).await;
    }
    let mut stream = srv.sse(&board, "pattern=event-diff&since=1", None).await;
    stream.next().await;
    let (id, frame) = stream.next().await;
    assert_eq!(frame, Frame::Reset { head: 6 });
    assert_eq!(id, Some(6));
    // After the reset the stream continues live from the head.
    srv.ok(&board, json!({"type": "add_todo", "title": "t6"})).await;
    assert_eq!(stream.next_data().await.1.seq(), Some(7));
    // Within the retained log, the catch-up works as usual.
    let mut stream = srv.sse(&board, "pattern=event-diff&since=5", None).await;
    stream.next().await;
    assert_eq!(stream.next_data().await.1.seq(), Some(6));
    srv.stop().await;
}

async fn heartbeats_carry_the_head(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.heartbeat_secs = 1).await;
    let board = srv.create_board("idle").await;
    srv.ok(&board, json!({"type": "add_todo", "title": "t"})).await;
    let mut stream = srv.sse(&board, "pattern=event-diff", None).await;
    assert!(matches!(stream.next().await.1, Frame::Hello { head: 1, .. }));
    assert_eq!(stream.next().await.1, Frame::Heartbeat { head: 1 });
    srv.stop().await;
}

/// Proxies close a stream that says nothing: each heartbeat comes after a keep-alive
/// comment, every `HEARTBEAT_SECS`, whether changes flow or not.
#[tokio::test]
async fn a_keep_alive_comment_comes_with_every_heartbeat() {
    use futures::StreamExt;
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.heartbeat_secs = 1).await;
    let board = srv.create_board("kept alive").await;
    let answer = srv.http.get(srv.url(&format!("/api/boards/{board}/sse?pattern=push-ops"))).send().await.unwrap();
    let mut body = answer.bytes_stream();
    let mut text = String::new();
    let heartbeats = |text: &str| text.matches("data: {\"kind\":\"heartbeat\"").count();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while heartbeats(&text) < 2 {
            text.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
            // A change between the two heartbeats: they keep coming while the stream is busy.
            if heartbeats(&text) == 1 && !text.contains("\"kind\":\"ops\"") {
                srv.ok(&board, json!({"type": "add_todo", "title": "busy"})).await;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "two heartbeats within 10 s: {text}");
    assert_eq!(text.matches(":keep-alive\n\ndata: {\"kind\":\"heartbeat\"").count(), 2, "{text}");
    assert_eq!(text.matches(":keep-alive").count(), 2, "a comment with each heartbeat, no other: {text}");
    srv.stop().await;
}

async fn every_pattern_streams_to_the_same_board(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("patterns").await;
    let start = srv.state(&board).await;
    let mut streams = Vec::new();
    for pattern in PatternKind::ALL {
        let mut s = srv.sse(&board, &format!("pattern={pattern}&since=0"), None).await;
        s.next().await;
        streams.push((s, srv.client_at(&board, pattern, start.clone())));
    }
    srv.ok(&board, json!({"type": "add_sprint", "name": "S"})).await;
    srv.ok(&board, json!({"type": "add_todo", "title": "a", "sprint_id": 1})).await;
    srv.ok(&board, json!({"type": "start_sprint", "id": 1})).await;
    srv.ok(&board, json!({"type": "complete_sprint", "id": 1})).await;
    let server_state = srv.state(&board).await;
    for (stream, client) in &mut streams {
        while client.seq() < server_state.seq {
            let (_, frame) = stream.next_data().await;
            client.handle(&frame).await;
        }
        assert_eq!(client.state, server_state, "{}", client.pattern);
    }
    srv.stop().await;
}

on_both_backends!(
    resume_across_a_reconnect,
    reset_when_the_log_no_longer_reaches,
    heartbeats_carry_the_head,
    every_pattern_streams_to_the_same_board,
);
