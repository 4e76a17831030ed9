//! WebSocket: `GET /api/boards/{board}/ws?pattern=P&since=N`. Frames go down as text
//! messages, one frame each; commands come up (`board_core::api::SocketCommand`) and are answered
//! with an `ack` or `error` frame; so do presence signals (`board_core::api::SocketSignal`),
//! answered only when refused.
//!
//! * this module: the upgrade (the gate, the stream slot, presence, the socket's limits);
//! * [`session`]: the one loop that moves frames down and messages up, the liveness
//!   pings and the close codes, generic over its socket and tested over channels;
//! * [`answers`]: what the server answers to a message (the command service, presence).
//!
//! Limits: messages and frames up to 64 KiB (larger: close 1009); a 1 KiB read buffer to start.
//!
//! Access: the upgrade passes the gate like any request (`Reader`; a cross-site `Origin`
//! never gets here, see `access::origin`); commands up the socket go through the same
//! command service as HTTP, which refuses them (403) on a read-only grant.

pub mod answers;
pub mod session;

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;

use board_core::protocol::Transport;

pub use answers::Peer;
pub use session::{CLOSE_REVOKED, DEAD_AFTER, PING_WHEN_QUIET};

use super::StreamParams;
use crate::access::Reader;
use crate::error::AppError;
use crate::limits::{ClientIp, MAX_BODY_BYTES};
use crate::state::AppState;

/// The largest message a client may send (the same 64 KiB as an HTTP body).
pub const MAX_MESSAGE_BYTES: usize = MAX_BODY_BYTES;
/// The socket's read buffer as it starts (it grows for a larger message, up to
/// [`MAX_MESSAGE_BYTES`]): commands are a few hundred bytes, and an idle socket should cost
/// little, so 1 KiB rather than tungstenite's 128 KiB.
const READ_BUFFER_BYTES: usize = 1024;
/// How much the socket's writes collect before going out; each send flushes anyway.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;

pub async fn handler(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    params: StreamParams,
) -> Result<Response, AppError> {
    let pattern = params.pattern;
    let ws = ws.map_err(|rejection| {
        AppError::BadRequest(format!("this endpoint speaks WebSocket only: {}", rejection.body_text()))
    })?;
    // Opened before the upgrade, so a bad board, pattern or key is a plain HTTP refusal.
    let subscription = params.open(&app, &grant, Transport::Ws, ip).await?;
    let me = subscription.client().map(str::to_owned);
    let (_head, frames, ended) = subscription.frames().await?;
    metrics::counter!("board_stream_opened_total", "transport" => Transport::Ws.as_str(), "pattern" => pattern.as_str()).increment(1);
    let peer = Peer { app, grant, ip, me, ended };
    Ok(ws
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session::run(socket, frames, peer)))
}

#[cfg(test)]
mod tests;
