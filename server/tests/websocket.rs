//! The WebSocket's command path: acks with the seq, error frames with the contract's
//! statuses, and close 1009 for a message over 64 KiB; a silent peer is dropped within
//! 7 s and one that answers pings is not (on paused time); shutdown closes with 1012.

mod common;

use board_core::patterns::{Frame, PatternKind};
use board_core::protocol::Transport;
use common::{Backend, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

async fn next_frame(ws: &mut common::WsStream) -> Frame {
    loop {
        let message =
            tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The next frame that is not a data frame or hello (the answer to a command).
async fn next_answer(ws: &mut common::WsStream) -> Frame {
    loop {
        let frame = next_frame(ws).await;
        if matches!(frame, Frame::Ack { .. } | Frame::Error { .. }) {
            return frame;
        }
    }
}

#[tokio::test]
async fn commands_up_the_socket_are_acked_or_refused() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("ws").await;
    let sub = srv.subscribe(&board, Transport::Ws, PatternKind::PushEvents, 0).await;
    let mut ws = sub_ws(sub);
    assert!(matches!(next_frame(&mut ws).await, Frame::Hello { head: 0, .. }));

    let send = |body: serde_json::Value| Message::Text(body.to_string().into());
    ws.send(send(
        json!({"request_id": "r1", "actor": "Ada", "command": {"type": "add_todo", "title": "over the socket"}}),
    ))
    .await
    .unwrap();
    let Frame::Ack { request_id, seq, id, step } = next_answer(&mut ws).await else { panic!("a command gets an ack") };
    assert_eq!((request_id.as_deref(), seq, id), (Some("r1"), 1, Some(1)));
    // The ack carries what the change did to its todo, for the sender's undo.
    let step = step.expect("an add is undoable");
    assert_eq!((&step.before, step.after.as_ref().map(|t| t.title.as_str())), (&None, Some("over the socket")));
    assert_eq!(srv.state(&board).await.todos[0].title, "over the socket");
    // The actor beside the command is kept with the change, as `Board-Actor` is over HTTP.
    let history: board_core::api::TodoHistoryPage = srv
        .http
        .get(srv.url(&format!("/api/boards/{board}/todos/1/history")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history.changes[0].actor.as_deref(), Some("Ada"));

    let cases = [
        (json!({"request_id": "r2", "command": {"type": "add_todo", "title": ""}}), 422),
        (json!({"request_id": "r3", "command": {"type": "rename_todo", "id": 99, "title": "x"}}), 404),
        (json!({"request_id": "r4", "command": {"type": "warp"}}), 400),
        (
            json!({"request_id": "r5", "command": {"type": "rename_todo", "id": 1, "title": "x", "expected_version": 9}}),
            409,
        ),
    ];
    for (body, status) in cases {
        let id = body["request_id"].as_str().unwrap().to_owned();
        ws.send(send(body)).await.unwrap();
        match next_answer(&mut ws).await {
            Frame::Error { request_id, status: got, error } => {
                assert_eq!((request_id.as_deref(), got), (Some(id.as_str()), status));
                assert!(!error.is_empty());
            }
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
    // The same idempotency key twice applies once.
    for _ in 0..2 {
        ws.send(send(
            json!({"request_id": "k", "idempotency_key": "same", "command": {"type": "add_sprint", "name": "S"}}),
        ))
        .await
        .unwrap();
        assert!(matches!(next_answer(&mut ws).await, Frame::Ack { seq: 2, .. }));
    }
    assert_eq!(srv.state(&board).await.seq, 2, "refusals and the replay changed nothing");
    srv.stop().await;
}

/// Sends one message up a fresh socket and returns the close code the server answers with,
/// and the board's seq afterwards.
async fn close_code_after(message: Message) -> (u16, u64) {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("rude").await;
    let mut ws = sub_ws(srv.subscribe(&board, Transport::Ws, PatternKind::EventDiff, 0).await);
    next_frame(&mut ws).await;
    ws.send(message).await.unwrap();
    let close = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let seq = srv.state(&board).await.seq;
    srv.stop().await;
    (u16::from(close.expect("a close code").code), seq)
}

#[tokio::test]
async fn a_message_over_64_kib_closes_with_1009() {
    let big = json!({"command": {"type": "add_todo", "title": "x".repeat(70 * 1024)}}).to_string();
    assert_eq!(close_code_after(Message::Text(big.into())).await, (1009, 0));
}

#[tokio::test]
async fn a_text_message_that_is_not_utf8_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as RawFrame;
    let invalid = RawFrame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    assert_eq!(close_code_after(Message::Frame(invalid)).await, (1007, 0));
}

/// An Idempotency-Key follows one rule whichever way it comes: a WebSocket message may not
/// store a key that no HTTP header could carry (a control character, a non-ASCII letter),
/// and a key that works on one path replays on the other.
#[tokio::test]
async fn idempotency_keys_follow_one_rule_on_both_paths() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("keys").await;
    let mut ws = sub_ws(srv.subscribe(&board, Transport::Ws, PatternKind::PushEvents, 0).await);
    assert!(matches!(next_frame(&mut ws).await, Frame::Hello { .. }));
    let add = json!({"type": "add_todo", "title": "once"});
    let long = "k".repeat(201);
    for (i, key) in ["line\nbreak", "tab\there", "caf\u{e9}", "", long.as_str()].into_iter().enumerate() {
        let message = json!({"request_id": format!("bad{i}"), "idempotency_key": key, "command": add});
        ws.send(Message::Text(message.to_string().into())).await.unwrap();
        match next_answer(&mut ws).await {
            Frame::Error { status, .. } => assert_eq!(status, 400, "key {key:?}"),
            other => panic!("key {key:?} was accepted: {other:?}"),
        }
    }
    assert_eq!(srv.state(&board).await.seq, 0, "no refused key applied anything");

    // A good key sent over the socket is the same key over HTTP: the retry replays.
    let message = json!({"request_id": "good", "idempotency_key": " same-key ", "command": add});
    ws.send(Message::Text(message.to_string().into())).await.unwrap();
    assert!(matches!(next_answer(&mut ws).await, Frame::Ack { seq: 1, .. }));
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/commands")))
        .header("idempotency-key", "same-key")
        .json(&add)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["seq"], 1, "replayed, not applied again");
    assert_eq!(srv.state(&board).await.todos.len(), 1);
    srv.stop().await;
}

/// A peer that stops answering pings (a frozen tab, a browser behind a proxy that keeps
/// the TCP connection open) must not hold a socket, a subscription and a place on the
/// presence list: the protocol says it leaves within 10 s. The client here never reads, so
/// it never pongs; the clock is paused and stepped a second at a time to find when the
/// server gives up.
#[tokio::test]
async fn a_silent_peer_is_dropped_within_7_seconds() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("silent").await;
    let mut ws = sub_ws(srv.subscribe(&board, Transport::Ws, PatternKind::EventDiff, 0).await);
    assert!(matches!(next_frame(&mut ws).await, Frame::Hello { .. }));
    let dead_peers = || counter(&srv.app.metrics.render(), "board_ws_dead_peers_total");
    let before = dead_peers();

    tokio::time::pause();
    let mut waited = 0;
    while dead_peers() == before && waited < 7 {
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        waited += 1;
    }
    // At 7 s of paused time the clock stays put: the server gets up to 3 s of the wall
    // clock to finish the steps it has left (a busy machine runs them late), but no more
    // of the peer's silence.
    let wall = std::time::Instant::now();
    while dead_peers() == before {
        assert!(
            wall.elapsed() < std::time::Duration::from_secs(3),
            "the silent peer is still connected after {waited} s"
        );
        tokio::task::yield_now().await;
    }
    assert!(waited >= 7, "a peer was dropped after only {waited} s of silence (it gets 7 s)");
    tokio::time::resume();

    // The client sees the connection end (after the pings it never answered), without a
    // close handshake: there is nobody to hand one to.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) => panic!("a dead peer gets no close frame"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server dropped the peer but the socket stayed open");
    srv.stop().await;
}

/// The other side of the bound: an idle peer that answers the pings (as every browser does,
/// below the page's script) is kept however long it stays quiet, and hears a ping every
/// few seconds. The client reads, which is when tungstenite answers a ping.
#[tokio::test]
async fn an_idle_peer_that_answers_pings_is_kept() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("idle").await;
    let mut ws = sub_ws(srv.subscribe(&board, Transport::Ws, PatternKind::EventDiff, 0).await);
    assert!(matches!(next_frame(&mut ws).await, Frame::Hello { .. }));
    let dead_peers = || counter(&srv.app.metrics.render(), "board_ws_dead_peers_total");
    let before = dead_peers();

    tokio::time::pause();
    let mut pings = 0;
    // 14 s: longer than the 7 s a silent peer gets, shorter than the stream's heartbeat
    // (15 s), whose read of the database does not finish on a paused clock.
    for _ in 0..14 {
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        // The server's timer fired; let its session run.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        // Read whatever came (a ping, answered as it is read) until the socket is quiet.
        while let Ok(Some(message)) = tokio::time::timeout(std::time::Duration::from_millis(1), ws.next()).await {
            match message.expect("the socket stays open") {
                Message::Ping(_) => pings += 1,
                Message::Close(close) => panic!("an answering peer was closed: {close:?}"),
                _ => {}
            }
        }
    }
    tokio::time::resume();
    assert_eq!(dead_peers(), before, "a peer that answered every ping was dropped");
    assert!((3..=5).contains(&pings), "{pings} pings in 14 s of quiet (one after every 3 s)");
    // Still subscribed: a change arrives.
    let (status, _) = srv.command(&board, json!({"type": "add_todo", "title": "still here"})).await;
    assert_eq!(status, 200);
    loop {
        if let Frame::EventDiff { .. } = next_frame(&mut ws).await {
            break;
        }
    }
    srv.stop().await;
}

/// One sample of a counter in the Prometheus text (0 when it was never incremented).
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn sub_ws(sub: common::Subscriber) -> common::WsStream {
    sub.into_ws()
}

#[tokio::test]
async fn shutdown_tells_every_transport_to_go_elsewhere() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("leaving").await;
    let mut ws = sub_ws(srv.subscribe(&board, Transport::Ws, PatternKind::EventDiff, 0).await);
    next_frame(&mut ws).await;
    let mut sse = srv.sse(&board, "pattern=event-diff&since=0", None).await;
    sse.next().await;
    let held = tokio::spawn(srv.http.get(srv.url(&format!("/api/boards/{board}/long-poll?since=0&timeout=30"))).send());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    // What SIGTERM does: the shutdown signal, then the drain.
    srv.signal_shutdown();
    // The socket closes with 1012 (service restart)...
    let close = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("a close code").code), 1012);
    // ...the held long-poll is answered with no frames...
    let page: board_core::api::FramesPage = held.await.unwrap().unwrap().json().await.unwrap();
    assert!(page.frames.is_empty());
    // ...and the SSE stream ends, all well within the drain.
    assert!(sse.ended().await);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
