//! WebSocket: `GET /api/boards/{board}/ws?pattern=P&since=N`. Frames go down as text
//! messages, one frame each; commands come up (`board_core::api::SocketCommand`) and are answered
//! with an `ack` or `error` frame; so do presence signals (`board_core::api::SocketSignal`),
//! answered only when refused. The session is one task and one loop over three things:
//! the board's frames, the peer's messages and a liveness timer. (axum's chat example reads
//! in a task of its own and forwards over a channel; that costs a task and a channel
//! block, about 2.3 KB, per idle socket. While the session runs a command or waits on a
//! slow send it does not read, and TCP holds the peer back meanwhile.)
//!
//! Liveness: a ping after 3 s without a word from the peer; a peer silent for 7 s is
//! dropped, so its tab leaves the presence list within the 10 s the protocol promises. The
//! kernel finds a vanished network by itself (`serve::find_dead_peers`), but not a peer
//! whose TCP connection is alive and whose socket is not: a proxy in front (nginx keeps its
//! own connection to the replica open), a frozen tab, a browser whose emulated network went
//! offline. Only an answer to a ping tells those apart.
//! Limits: messages and frames up to 64 KiB (larger: close 1009); a 1 KiB read buffer to start.
//! Close codes (RFC 6455): 1000 after the peer's close, 1002 protocol error, 1007 a text
//! message that is not UTF-8, 1009 message too big, 1011 the stream failed, 1012 the server is restarting (clients reconnect);
//! 4403 (application range) the key the socket was opened with was revoked.
//!
//! Access: the upgrade passes the gate like any request (`Reader`; a cross-site `Origin`
//! never gets here, see `access::origin`); commands up the socket go through the same
//! command service as HTTP, which refuses them (403) on a read-only grant.

use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::time::Instant;

use board_core::api::{SocketCommand, SocketSignal};
use board_core::patterns::Frame;
use board_core::protocol::Transport;

use super::{subscribe, StreamParams, SEND_TIMEOUT};
use crate::access::{Grant, Reader};
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::limits::MAX_BODY_BYTES;
use crate::presence::Proof;
use crate::service::{commands, signals};
use crate::state::AppState;
use crate::stream::{Frames, Outgoing};

/// The largest message a client may send (the same 64 KiB as an HTTP body).
pub const MAX_MESSAGE_BYTES: usize = MAX_BODY_BYTES;
/// The socket's read buffer as it starts (it grows for a larger message, up to
/// [`MAX_MESSAGE_BYTES`]): commands are a few hundred bytes, and an idle socket should cost
/// little, so 1 KiB rather than tungstenite's 128 KiB.
const READ_BUFFER_BYTES: usize = 1024;
/// How much the socket's writes collect before going out; each send flushes anyway.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// Quiet this long (nothing heard, nothing pinged), the peer gets a ping: an idle socket
/// costs a ping and a pong every 3 s; one whose peer talks, none.
const PING_WHEN_QUIET: Duration = Duration::from_secs(3);
/// Nothing heard for this long, pings included: the peer is gone.
pub const DEAD_AFTER: Duration = Duration::from_secs(7);
/// The close code when the socket's key is revoked (the 4000s are the application's).
pub const CLOSE_REVOKED: u16 = 4403;

pub async fn handler(
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    params: StreamParams,
) -> Result<Response, AppError> {
    let pattern = params.pattern;
    let ws = ws.map_err(|rejection| {
        AppError::BadRequest(format!("this endpoint speaks WebSocket only: {}", rejection.body_text()))
    })?;
    // Checked before the upgrade, so a bad board, pattern or key is a plain HTTP refusal.
    let slot = app.limits.open_stream(ip)?;
    let here = params.enter(&app, &grant.board, Transport::Ws, ip).await?;
    // The tab this socket is: what it may sign its signals as.
    let me = params.identity.as_ref().map(|identity| identity.client.clone());
    let (_head, frames) =
        subscribe(&app, &grant, Some(slot), pattern, params.from.clone(), here, params.wants(Transport::Ws)).await?;
    metrics::counter!("board_stream_opened_total", "transport" => Transport::Ws.as_str(), "pattern" => pattern.as_str()).increment(1);
    Ok(ws
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(app, grant, ip, me, socket, frames)))
}

/// A message from the peer, sorted.
enum Inbound {
    Command(Utf8Bytes),
    Binary,
    /// Any message (pongs included): the peer is alive.
    Heard,
    /// The peer closed, or the connection is gone.
    Gone,
    /// The peer broke the rules: close with this code.
    Violation(u16, &'static str),
}

async fn session(
    app: AppState,
    grant: Grant,
    ip: std::net::IpAddr,
    me: Option<String>,
    mut socket: WebSocket,
    mut frames: Frames,
) {
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
                None if *app.closing.borrow() => break Some((close_code::RESTART, "server restarting")),
                None => break Some((close_code::ERROR, "stream failed")),
            },
            heard = socket.next() => {
                last_heard = Instant::now();
                pinged = false;
                match inbound(heard) {
                    Inbound::Command(text) => {
                        // Boxed: a command's future (its transaction) is large and only
                        // lives while it runs, not in every idle session.
                        let Some(reply) = Box::pin(message(&app, &grant, ip, me.as_deref(), &text)).await else { continue };
                        if let Some(close) = send(&mut socket, Message::Text(reply.to_json().into())).await {
                            break close;
                        }
                    }
                    Inbound::Binary => {
                        let reply = Frame::Error { request_id: None, status: 400, error: "send commands as text messages".into() };
                        if let Some(close) = send(&mut socket, Message::Text(reply.to_json().into())).await {
                            break close;
                        }
                    }
                    Inbound::Heard => {}
                    Inbound::Violation(code, reason) => break Some((code, reason)),
                    Inbound::Gone => break None,
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if last_heard.elapsed() >= DEAD_AFTER {
                    metrics::counter!("board_ws_dead_peers_total").increment(1);
                    tracing::debug!(client = me.as_deref(), "websocket peer silent for 7 s: dropped");
                    break None;
                }
                pinged = true;
                if let Some(close) = send(&mut socket, Message::Ping(Default::default())).await {
                    break close;
                }
            }
        }
    };
    tracing::debug!(client = me.as_deref(), close = ?close, "websocket session ends");
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
        Some(Ok(Message::Text(text))) => Inbound::Command(text),
        Some(Ok(Message::Binary(_))) => Inbound::Binary,
        Some(Ok(Message::Close(_))) | None => Inbound::Gone,
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Inbound::Heard,
        Some(Err(err)) => violation(err),
    }
}

/// What a send came to. `None`: sent. `Some(None)`: the connection is gone.
/// `Some(Some(close))`: the client reads too slowly (its socket's buffers are full); close
/// with 1013, and it resumes from its seq when it reconnects.
type Sent = Option<Option<(u16, &'static str)>>;

/// At most this many bytes of frames share one write.
const BATCH_BYTES: usize = 64 * 1024;

/// Sends one message (and flushes it) within [`SEND_TIMEOUT`].
async fn send(socket: &mut WebSocket, message: Message) -> Sent {
    within_send_timeout(socket.send(message)).await
}

/// Sends `first` and every frame already waiting behind it (a burst of changes, a
/// catch-up page), up to [`BATCH_BYTES`], with one flush: one `write` for all of them
/// instead of one each. A `revoked` frame met on the way is left for the session
/// (`revoked` turns true).
async fn send_batch(socket: &mut WebSocket, first: Outgoing, frames: &mut Frames, revoked: &mut bool) -> Sent {
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

/// Handles one text message from the peer: a signal (`{"signal":{...}}`, answered only
/// when refused; only in the name of the tab the socket is, `me`) or a command.
async fn message(app: &AppState, grant: &Grant, ip: std::net::IpAddr, me: Option<&str>, text: &str) -> Option<Frame> {
    let is_signal = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
        .is_ok_and(|message| message.contains_key("signal"));
    if !is_signal {
        return Some(command(app, grant, ip, text).await);
    }
    let refused = match serde_json::from_str::<SocketSignal>(text) {
        Ok(SocketSignal { signal }) => signals::send(app, &grant.board, &signal, ip, Proof::Socket(me)).await.err()?,
        Err(err) => AppError::BadRequest(format!("invalid signal message: {err}")),
    };
    let error = refused.body()["error"].as_str().unwrap_or_default().to_owned();
    Some(Frame::Error { request_id: None, status: refused.status().as_u16(), error })
}

/// Runs one command sent up the socket, answering as `POST /commands` would.
async fn command(app: &AppState, grant: &Grant, ip: std::net::IpAddr, text: &str) -> Frame {
    let message: SocketCommand = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(err) => {
            // Still echo the request id if the envelope had one.
            let request_id = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("request_id").and_then(|id| id.as_str()).map(str::to_owned));
            return Frame::Error { request_id, status: 400, error: format!("invalid command message: {err}") };
        }
    };
    let request_id = message.request_id.clone();
    match commands::execute(app, grant, ip, &message.command, message.idempotency_key.as_deref()).await {
        Ok(answer) => Frame::Ack { request_id, seq: answer.seq, id: answer.id },
        Err(err) => {
            // The one log line an HTTP error gets from `log_errors`.
            err.report();
            let status = err.status().as_u16();
            let error = err.body()["error"].as_str().unwrap_or_default().to_owned();
            Frame::Error { request_id, status, error }
        }
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
