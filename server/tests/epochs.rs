//! Positions carry an epoch: a client holding a seq from another incarnation of a board (here
//! the database was wiped and the demo board seeded again) is told to reset on every path,
//! even though the new board's head has grown past its seq. A client that sends no epoch is
//! taken at its word, as before.

mod common;

use board_core::api::{FramesPage, EPOCH_HEADER};
use board_core::patterns::Frame;
use common::{Backend, TestServer};
use futures::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The board's state, seq and epoch as `GET` reports them.
async fn state(srv: &TestServer) -> (u64, String) {
    let r = srv.http.get(srv.url("/api/boards/demo")).send().await.unwrap();
    let epoch = r.headers()[EPOCH_HEADER].to_str().unwrap().to_owned();
    let state: board_core::domain::BoardState = r.json().await.unwrap();
    (state.seq, epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seq_from_a_wiped_database_is_reset_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("board.db");
    let url = format!("sqlite://{}", file.display());

    // The first incarnation: the client follows it up to seq `held`.
    let first = TestServer::start_with(Backend::Sqlite, |c| c.database_url = url.clone()).await;
    let (seeded, old_epoch) = state(&first).await;
    for i in 0..2 {
        first.ok("demo", json!({"type": "add_todo", "title": format!("before the wipe {i}")})).await;
    }
    let held = seeded + 2;
    let mut sse = first.sse("demo", "since=0", None).await;
    assert!(
        matches!(sse.next().await.1, Frame::Hello { ref epoch, .. } if *epoch == old_epoch),
        "hello tells the epoch"
    );
    first.stop().await;

    // The database is wiped; the server seeds the demo board again and it grows past `held`.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.database_url = url.clone()).await;
    for i in 0..5 {
        srv.ok("demo", json!({"type": "add_todo", "title": format!("after the wipe {i}")})).await;
    }
    let (head, epoch) = state(&srv).await;
    assert_ne!(epoch, old_epoch, "a new incarnation has a new epoch");
    assert!(head > held, "the new head {head} passed the held seq {held}");

    let from = format!("since={held}&epoch={old_epoch}");
    // SSE, by `since` and by `Last-Event-ID` (the epoch stays in the URL, as EventSource keeps it).
    for (query, last_event_id) in [(from.clone(), None), (format!("since=0&epoch={old_epoch}"), Some(held))] {
        let mut sse = srv.sse("demo", &query, last_event_id).await;
        assert!(matches!(sse.next().await.1, Frame::Hello { ref epoch, .. } if *epoch != old_epoch));
        assert_eq!(sse.next().await.1, Frame::Reset { head }, "SSE {query} {last_event_id:?}");
    }
    // WebSocket.
    let ws_url = format!("{}/api/boards/demo/ws?pattern=push-ops&{from}", srv.base.replace("http", "ws"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let mut frames = Vec::new();
    while frames.len() < 2 {
        if let Some(Ok(Message::Text(text))) = ws.next().await {
            frames.push(serde_json::from_str::<Frame>(&text).unwrap());
        }
    }
    assert_eq!(frames[1], Frame::Reset { head }, "WebSocket");
    // Poll and long-poll answer the reset.
    for path in ["poll", "long-poll"] {
        let page = srv.frames(&format!("/api/boards/demo/{path}?pattern=push-ops&{from}&timeout=1")).await;
        assert_eq!(page.frames, [Frame::Reset { head }], "{path}");
        assert_eq!(page.epoch, epoch, "{path} tells the epoch");
    }
    // Backfill refuses: the seq means nothing here.
    let r = srv.http.get(srv.url(&format!("/api/boards/demo/changes?pattern=push-ops&{from}"))).send().await.unwrap();
    assert_eq!(r.status(), 410);
    // A conditional GET with the old epoch matches nothing, even at the same seq.
    for (their_epoch, expected) in [(&old_epoch, 200), (&epoch, 304)] {
        let r = srv
            .http
            .get(srv.url("/api/boards/demo"))
            .header("If-None-Match", format!("\"{head}\""))
            .header(EPOCH_HEADER, their_epoch.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "If-None-Match at the head in epoch {their_epoch}");
    }

    // A client that names no epoch is taken at its word (it cannot be told apart).
    let page: FramesPage = srv.frames(&format!("/api/boards/demo/poll?pattern=push-ops&since={held}")).await;
    assert_eq!(page.frames.first().and_then(Frame::seq), Some(held + 1));
    // And one in the right epoch goes on as usual.
    let page = srv.frames(&format!("/api/boards/demo/poll?pattern=push-ops&since={held}&epoch={epoch}")).await;
    assert_eq!(page.frames.first().and_then(Frame::seq), Some(held + 1));
    srv.stop().await;
}
