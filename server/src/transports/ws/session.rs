//! One WebSocket session: one task and one loop over three things: the board's frames,
//! the peer's messages and a liveness timer. (axum's chat example reads in a task of its
//! own and forwards over a channel; that costs a task and a channel block, about 2.3 KB,
//! per idle socket. While the session runs a command or waits on a slow send it does not
//! read, and TCP holds the peer back meanwhile.)
//!
//! The session is generic over its socket: any `Stream` of messages that is also a `Sink`
//! of them. The server gives it axum's `WebSocket`; the tests below give it two channels
//! and play the peer, on a paused clock (as axum's `testing-websockets` example does).
//!
//! Liveness: a ping after 3 s without a word from the peer; a peer silent for 7 s is
//! dropped, so its tab leaves the presence list within the 10 s the protocol promises. The
//! kernel finds a vanished network by itself (`serve::find_dead_peers`), but not a peer
//! whose TCP connection is alive and whose socket is not: a proxy in front (nginx keeps its
//! own connection to the replica open), a frozen tab, a browser whose emulated network went
//! offline. Only an answer to a ping tells those apart.
//!
//! Close codes (RFC 6455): 1000 after the peer's close, 1002 protocol error, 1007 a text
//! message that is not UTF-8, 1009 message too big, 1011 the stream failed, 1012 the server
//! is restarting (clients reconnect), 1013 too slow to keep up; in the application's range,
//! 4000 the operator's console ended the stream (clients reconnect) and 4403 the key the
//! socket was opened with was revoked (they do not).

use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes};
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;

use board_core::patterns::Frame;
use board_core::protocol::Transport;

use super::answers::Peer;
use crate::stream::{Frames, Outgoing};
use crate::transports::SEND_TIMEOUT;

/// Quiet this long (nothing heard, nothing pinged), the peer gets a ping: an idle socket
/// costs a ping and a pong every 3 s; one whose peer talks, none.
pub const PING_WHEN_QUIET: Duration = Duration::from_secs(3);
/// Nothing heard for this long, pings included: the peer is gone.
pub const DEAD_AFTER: Duration = Duration::from_secs(7);
/// The close code when the socket's key is revoked (the 4000s are the application's).
pub const CLOSE_REVOKED: u16 = 4403;
/// The close code when the operator's console ended the stream: the client reconnects.
pub const CLOSE_ENDED: u16 = 4000;
/// At most this many bytes of frames share one write.
const BATCH_BYTES: usize = 64 * 1024;

/// What a session's socket is: messages from the peer, read errors included, and a sink
/// for messages to it.
pub trait Socket: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin {}
impl<S> Socket for S where S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin {}

/// A message from the peer, sorted.
enum Inbound {
    Text(Utf8Bytes),
    Binary,
    /// Any message (pongs included): the peer is alive.
    Heard,
    /// The peer closed, or the connection is gone.
    Gone,
    /// The peer broke the rules: close with this code.
    Violation(u16, &'static str),
}

/// Runs the session until the peer leaves, breaks the rules or falls silent, the board's
/// stream ends (shutdown, the operator, a failed read) or the key is revoked; then closes the socket
/// with the code that says which.
pub async fn run(mut socket: impl Socket, mut frames: Frames, peer: Peer) {
    let me = peer.me.as_deref();
    let mut last_heard = Instant::now();
    // A ping went out after the last word heard: the next deadline is the end, not a ping.
    let mut pinged = false;
    // A `revoked` frame that was waiting behind a batch: it ends the session next.
    let mut revoked = false;
    let close: Option<(u16, &'static str)> = loop {
        if revoked {
            break Some((CLOSE_REVOKED, "access revoked"));
        }
        // Quiet since the last word: a ping is due. Pinged and still silent: the peer is gone.
        let wake = last_heard + if pinged { DEAD_AFTER } else { PING_WHEN_QUIET };
        // (The socket is not split: `select!` drops its branches' futures, and with them
        // their borrows of the socket, before a branch's body runs.)
        tokio::select! {
            frame = frames.next() => match frame {
                Some(out) if out.revoked => break Some((CLOSE_REVOKED, "access revoked")),
                Some(out) => {
                    if let Some(close) = send_batch(&mut socket, out, &mut frames, &mut revoked).await {
                        break close;
                    }
                }
                // The stream ends on shutdown (go elsewhere) or when the log cannot be read.
                None if *peer.app.closing.borrow() => break Some((close_code::RESTART, "server restarting")),
                None if peer.ended.is_cancelled() => break Some((CLOSE_ENDED, "ended by the operator")),
                None => break Some((close_code::ERROR, "stream failed")),
            },
            heard = socket.next() => {
                last_heard = Instant::now();
                pinged = false;
                let reply = match inbound(heard) {
                    // Boxed: a command's future (its transaction) is large and only lives
                    // while it runs, not in every idle session.
                    Inbound::Text(text) => match Box::pin(peer.answer(&text)).await {
                        Some(reply) => reply,
                        None => continue,
                    },
                    Inbound::Binary => {
                        Frame::Error { request_id: None, status: 400, error: "send commands as text messages".into() }
                    }
                    Inbound::Heard => continue,
                    Inbound::Violation(code, reason) => break Some((code, reason)),
                    Inbound::Gone => break None,
                };
                if let Some(close) = send(&mut socket, Message::Text(reply.to_json().into())).await {
                    break close;
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if last_heard.elapsed() >= DEAD_AFTER {
                    metrics::counter!("board_ws_dead_peers_total").increment(1);
                    tracing::debug!(client = me, "websocket peer silent for 7 s: dropped");
                    break None;
                }
                pinged = true;
                if let Some(close) = send(&mut socket, Message::Ping(Default::default())).await {
                    break close;
                }
            }
        }
    };
    tracing::debug!(client = me, close = ?close, "websocket session ends");
    // Briefly: a client too slow to read frames may not read this either.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        match close {
            Some((code, reason)) => socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await,
            // The peer closed: the library queued the answer to its close frame; send it.
            None => socket.flush().await,
        }
    })
    .await;
}

/// What the peer sent, as the session sees it.
fn inbound(message: Option<Result<Message, axum::Error>>) -> Inbound {
    match message {
        Some(Ok(Message::Text(text))) => Inbound::Text(text),
        Some(Ok(Message::Binary(_))) => Inbound::Binary,
        Some(Ok(Message::Close(_))) | None => Inbound::Gone,
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Inbound::Heard,
        Some(Err(err)) => violation(err),
    }
}

/// The close code for a read error: too big → 1009, text that is not UTF-8 → 1007,
/// anything else → 1002.
fn violation(err: axum::Error) -> Inbound {
    match err.into_inner().downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => Inbound::Violation(close_code::SIZE, "message too big"),
        Some(tungstenite::Error::Utf8(_)) => Inbound::Violation(close_code::INVALID, "text is not UTF-8"),
        _ => Inbound::Violation(close_code::PROTOCOL, "protocol error"),
    }
}

/// What a send came to. `None`: sent. `Some(None)`: the connection is gone.
/// `Some(Some(close))`: the client reads too slowly (its socket's buffers are full); close
/// with 1013, and it resumes from its seq when it reconnects.
type Sent = Option<Option<(u16, &'static str)>>;

/// Sends one message (and flushes it) within [`SEND_TIMEOUT`].
async fn send(socket: &mut impl Socket, message: Message) -> Sent {
    within_send_timeout(socket.send(message)).await
}

/// Sends `first` and every frame already waiting behind it (a burst of changes, a
/// catch-up page), up to [`BATCH_BYTES`], with one flush: one `write` for all of them
/// instead of one each. A `revoked` frame met on the way is left for the session
/// (`revoked` turns true).
async fn send_batch(socket: &mut impl Socket, first: Outgoing, frames: &mut Frames, revoked: &mut bool) -> Sent {
    within_send_timeout(async {
        let mut next = Some(first);
        let mut bytes = 0;
        while let Some(out) = next.take() {
            bytes += out.json.len();
            let text = Utf8Bytes::try_from(out.json).expect("frames are UTF-8 JSON");
            socket.feed(Message::Text(text)).await?;
            if bytes >= BATCH_BYTES {
                break;
            }
            match frames.next().now_or_never() {
                Some(Some(out)) if out.revoked => *revoked = true,
                Some(Some(out)) => next = Some(out),
                // Nothing waiting (or the stream ended, which the session sees next).
                _ => {}
            }
        }
        socket.flush().await
    })
    .await
}

/// Runs a send within [`SEND_TIMEOUT`]. The timer is armed only if the send cannot finish
/// at once: usually the socket's buffer has room, and a timer per frame would cost more
/// than the write. Nothing else of the session runs while a send waits, so this also
/// bounds how late the dead-peer check can be.
async fn within_send_timeout(send: impl std::future::Future<Output = Result<(), axum::Error>>) -> Sent {
    let mut send = std::pin::pin!(send);
    let done = match futures::poll!(send.as_mut()) {
        std::task::Poll::Ready(done) => done,
        std::task::Poll::Pending => match tokio::time::timeout(SEND_TIMEOUT, send).await {
            Ok(done) => done,
            Err(_) => {
                metrics::counter!("board_slow_consumers_total", "transport" => Transport::Ws.as_str()).increment(1);
                return Some(Some((close_code::AGAIN, "too slow to keep up; reconnect and resume")));
            }
        },
    };
    done.err().map(|_| None)
}
