//! The session over channels: the test plays the peer (and the board's stream) and reads
//! what the session sends, on a paused clock where time matters. Each test builds a real
//! server state (SQLite in a temporary directory), so commands run through the real
//! command service; no listener, no TCP.

use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::{close_code, Message};
use futures::channel::mpsc;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde_json::json;

use board_core::patterns::Frame;

use super::{session, Peer, CLOSE_REVOKED, DEAD_AFTER, PING_WHEN_QUIET};
use crate::access::{self, Presented, Role};
use crate::config::Config;
use crate::state::AppState;
use crate::stream::{Frames, Outgoing};

/// The session's end of two channels: what the peer sends comes out of `from_peer`, what
/// the session sends goes into `to_peer`.
struct Pipe {
    from_peer: mpsc::UnboundedReceiver<Result<Message, axum::Error>>,
    to_peer: mpsc::UnboundedSender<Message>,
}

impl Stream for Pipe {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.from_peer.poll_next_unpin(cx)
    }
}

impl Sink<Message> for Pipe {
    type Error = axum::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.to_peer.poll_ready_unpin(cx).map_err(axum::Error::new)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), axum::Error> {
        self.to_peer.start_send_unpin(message).map_err(axum::Error::new)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.to_peer.poll_flush_unpin(cx).map_err(axum::Error::new)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.to_peer.poll_close_unpin(cx).map_err(axum::Error::new)
    }
}

/// The test's end: it speaks as the peer and hears what the session sent.
struct TestPeer {
    says: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    hears: mpsc::UnboundedReceiver<Message>,
}

impl TestPeer {
    fn say(&self, message: Message) {
        self.says.unbounded_send(Ok(message)).expect("the session is reading");
    }

    /// Sends the session a read error, as the socket reports a peer that broke the rules.
    fn break_rules(&self, error: tungstenite::Error) {
        self.says.unbounded_send(Err(axum::Error::new(error))).expect("the session is reading");
    }

    /// The next message the session sent (within 10 s of the clock, paused or not).
    async fn next(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(10), self.hears.next())
            .await
            .expect("the session sent something within 10 s")
            .expect("the session is still sending")
    }

    /// The next frame the session sent (a text message).
    async fn frame(&mut self) -> Frame {
        match self.next().await {
            Message::Text(text) => serde_json::from_str(&text).expect("the session sends frames"),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// The close code the session sent.
    async fn close_code(&mut self) -> u16 {
        match self.next().await {
            Message::Close(Some(close)) => close.code,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

fn pipe() -> (Pipe, TestPeer) {
    let (says, from_peer) = mpsc::unbounded();
    let (to_peer, hears) = mpsc::unbounded();
    (Pipe { from_peer, to_peer }, TestPeer { says, hears })
}

/// A server's state with its demo board (public: anyone may write), and the sender that
/// tells it to close.
async fn server() -> (AppState, tokio::sync::watch::Sender<bool>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_database(format!("sqlite://{}/board.db", dir.path().display()));
    config.site_root = dir.path().join("site");
    let (close, closing) = tokio::sync::watch::channel(false);
    let app = crate::build_state(&config, "127.0.0.1:3000".parse().unwrap(), closing).await.expect("state builds");
    (app, close, dir)
}

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The demo board's peer, with the role the keys presented give.
async fn peer(app: &AppState, presented: &Presented) -> Peer {
    let grant = access::authorize(app, "demo", presented, Role::Read).await.unwrap();
    Peer { app: app.clone(), grant, ip: IP, me: None, ended: Default::default() }
}

/// A board stream that never sends anything.
fn quiet() -> Frames {
    Box::pin(futures::stream::pending())
}

fn frames(items: Vec<Outgoing>) -> Frames {
    Box::pin(futures::stream::iter(items).chain(futures::stream::pending()))
}

/// `elapsed` is `expected` to the timer's resolution (tokio's timers round up to the next
/// millisecond).
fn about(elapsed: Duration, expected: Duration) -> bool {
    elapsed >= expected && elapsed < expected + Duration::from_millis(5)
}

#[tokio::test]
async fn a_silent_peer_is_pinged_after_3_seconds_and_dropped_after_7() {
    let (app, _close, _dir) = server().await;
    let peer = peer(&app, &Presented::default()).await;
    let (socket, mut test) = pipe();
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let session = tokio::spawn(session::run(socket, quiet(), peer));

    assert!(matches!(test.next().await, Message::Ping(_)));
    assert!(about(started.elapsed(), PING_WHEN_QUIET), "the ping goes out after 3 s of quiet: {:?}", started.elapsed());
    // Silent still: the session ends with nothing more sent (the peer is gone, not closed).
    assert!(test.hears.next().await.is_none(), "nothing after the ping: the session ended");
    assert!(about(started.elapsed(), DEAD_AFTER), "dropped 7 s after the last word: {:?}", started.elapsed());
    session.await.unwrap();
}

#[tokio::test]
async fn a_peer_that_answers_pings_is_kept_until_it_closes() {
    let (app, _close, _dir) = server().await;
    let peer = peer(&app, &Presented::default()).await;
    let (socket, mut test) = pipe();
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let session = tokio::spawn(session::run(socket, quiet(), peer));

    let mut pings = 0;
    while started.elapsed() < Duration::from_secs(30) {
        match test.next().await {
            Message::Ping(payload) => {
                pings += 1;
                test.say(Message::Pong(payload));
            }
            other => panic!("an idle session sends only pings, got {other:?}"),
        }
    }
    assert!(!session.is_finished(), "a peer that answers is kept");
    assert_eq!(pings, 10, "one ping per 3 s of quiet");
    test.say(Message::Close(None));
    tokio::time::timeout(Duration::from_secs(1), session).await.expect("the peer's close ends it").unwrap();
}

#[tokio::test]
async fn a_command_is_answered_with_its_seq_and_a_bad_one_with_a_status() {
    let (app, _close, _dir) = server().await;
    let peer = peer(&app, &Presented::default()).await;
    let (socket, mut test) = pipe();
    let session = tokio::spawn(session::run(socket, quiet(), peer));

    let before = app.head("demo").await.unwrap();
    let command = json!({"request_id": "r1", "command": {"type": "add_todo", "title": "over channels"}});
    test.say(Message::Text(command.to_string().into()));
    let Frame::Ack { request_id, seq, id, .. } = test.frame().await else { panic!("a command gets an ack") };
    assert_eq!((request_id.as_deref(), seq), (Some("r1"), before + 1), "the ack carries the request id and the seq");
    let head = seq;
    let state = app.snapshot("demo").await.unwrap();
    assert!(state.state.todos.iter().any(|todo| Some(todo.id) == id && todo.title == "over channels"));

    let cases = [
        (json!({"request_id": "r2", "command": {"type": "add_todo", "title": ""}}), 422),
        (json!({"request_id": "r3", "command": {"type": "warp"}}), 400),
        (json!({"request_id": "r4"}), 400),
    ];
    for (body, status) in cases {
        test.say(Message::Text(body.to_string().into()));
        let answer = test.frame().await;
        let Frame::Error { request_id, status: got, .. } = answer else {
            panic!("expected an error frame, got {answer:?}")
        };
        assert_eq!((request_id, got), (body["request_id"].as_str().map(str::to_owned), status), "{body}");
    }
    test.say(Message::Binary(vec![1, 2, 3].into()));
    assert!(matches!(test.frame().await, Frame::Error { status: 400, .. }), "binary is refused, not fatal");
    assert_eq!(app.head("demo").await.unwrap(), head, "no refused command changed the board");
    assert!(!session.is_finished());
}

#[tokio::test]
async fn a_read_key_socket_may_watch_but_not_command() {
    let (app, _close, _dir) = server().await;
    let created = crate::service::boards::create(
        &app,
        IP,
        board_core::api::CreateBoard { name: "private".into(), visibility: None },
    )
    .await
    .unwrap();
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {}", created.keys.read).parse().unwrap());
    let grant = access::authorize(&app, &created.id, &Presented::from_headers(&headers), Role::Read).await.unwrap();
    let peer = Peer { app: app.clone(), grant, ip: IP, me: None, ended: Default::default() };
    let (socket, mut test) = pipe();
    let _session = tokio::spawn(session::run(socket, quiet(), peer));

    let command = json!({"request_id": "w", "command": {"type": "add_todo", "title": "not mine to add"}});
    test.say(Message::Text(command.to_string().into()));
    assert!(matches!(test.frame().await, Frame::Error { status: 403, .. }));
    assert_eq!(app.head(&created.id).await.unwrap(), 0, "the refused command changed nothing");
}

#[tokio::test]
async fn a_revoked_key_closes_with_4403_after_the_frames_before_it() {
    let (app, _close, _dir) = server().await;
    let peer = peer(&app, &Presented::default()).await;
    let (socket, mut test) = pipe();
    let before = Outgoing::ephemeral(Frame::Heartbeat { head: 0 }.to_json().into());
    let session = tokio::spawn(session::run(socket, frames(vec![before, Outgoing::revoked()]), peer));

    assert!(matches!(test.frame().await, Frame::Heartbeat { head: 0 }), "the frame before the revocation arrives");
    assert_eq!(test.close_code().await, CLOSE_REVOKED);
    session.await.unwrap();
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009_and_bad_text_with_1007() {
    let (app, _close, _dir) = server().await;
    for (error, code) in [
        (
            tungstenite::Error::Capacity(tungstenite::error::CapacityError::MessageTooLong {
                size: super::MAX_MESSAGE_BYTES + 1,
                max_size: super::MAX_MESSAGE_BYTES,
            }),
            close_code::SIZE,
        ),
        (tungstenite::Error::Utf8("invalid utf-8".into()), close_code::INVALID),
        (
            tungstenite::Error::Protocol(tungstenite::error::ProtocolError::UnmaskedFrameFromClient),
            close_code::PROTOCOL,
        ),
    ] {
        let peer = peer(&app, &Presented::default()).await;
        let (socket, mut test) = pipe();
        let session = tokio::spawn(session::run(socket, quiet(), peer));
        test.break_rules(error);
        assert_eq!(test.close_code().await, code);
        session.await.unwrap();
    }
}

#[tokio::test]
async fn a_stream_the_operator_ended_closes_with_4000() {
    let (app, _close, _dir) = server().await;
    let peer = peer(&app, &Presented::default()).await;
    peer.ended.cancel();
    let (socket, mut test) = pipe();
    let session = tokio::spawn(session::run(socket, Box::pin(futures::stream::empty()), peer));
    assert_eq!(test.close_code().await, session::CLOSE_ENDED);
    session.await.unwrap();
}

#[tokio::test]
async fn the_stream_ending_closes_with_1012_on_shutdown_and_1011_otherwise() {
    let (app, close, _dir) = server().await;
    for (closing, code) in [(false, close_code::ERROR), (true, close_code::RESTART)] {
        close.send_replace(closing);
        let peer = peer(&app, &Presented::default()).await;
        let (socket, mut test) = pipe();
        let session = tokio::spawn(session::run(socket, Box::pin(futures::stream::empty()), peer));
        assert_eq!(test.close_code().await, code);
        session.await.unwrap();
    }
}
