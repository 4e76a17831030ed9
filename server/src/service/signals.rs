//! Signals between tabs (WebRTC offers, answers, ICE candidates) and relayed cursors, as
//! a tab sends them over HTTP (`POST .../signal`) or up its WebSocket: the same limits and
//! the same proof that the sender is that tab, either way.

use std::net::IpAddr;

use board_core::presence::{check_id, Signal, EVERYONE};

use crate::error::AppError;
use crate::presence::Proof;
use crate::state::AppState;

/// Sends a signal or a relayed cursor for a tab, over HTTP or its WebSocket alike: the
/// tab's rate and its client's signal bytes first (`429`), then presence's checks (`404`
/// for a tab not on the board, `403` for a request that is not the sending tab's).
pub async fn send(app: &AppState, board: &str, signal: &Signal, ip: IpAddr, proof: Proof<'_>) -> Result<(), AppError> {
    check_id("from", &signal.from).map_err(AppError::BadRequest)?;
    app.limits.signal(board, &signal.from, signal.to == EVERYONE)?;
    if let Some(data) = &signal.data {
        app.limits.signal_bytes(ip, serde_json::to_vec(data).map_or(usize::MAX, |d| d.len()))?;
    }
    app.presence.signal(board, signal, proof).await
}
