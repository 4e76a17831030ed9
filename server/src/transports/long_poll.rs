//! Long-poll: `GET /api/boards/{board}/long-poll?pattern=P&since=N[&timeout=S]` answers the
//! moment something is newer than N, or after the timeout with no frames. The client asks
//! again at once. A held request is a parked future, not a thread.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;

use board_core::protocol::Transport;

use super::{frames_page, StreamParams};
use crate::access::Reader;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::state::AppState;

/// The hold when the client names none (the contract's 25 s).
pub const DEFAULT_HOLD_SECS: u64 = 25;
/// The longest hold a client may ask for: below common proxy read timeouts (60 s).
pub const MAX_HOLD_SECS: u64 = 55;

pub async fn handler(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    params: StreamParams,
) -> Result<Response, AppError> {
    let pattern = params.pattern;
    let hold = Duration::from_secs(params.timeout.unwrap_or(DEFAULT_HOLD_SECS).min(MAX_HOLD_SECS));
    metrics::counter!("board_polls_total", "transport" => Transport::LongPoll.as_str(), "pattern" => pattern.as_str())
        .increment(1);
    // A held request is a stream while it waits: it takes one of the client's slots.
    let (head, frames) = params.open(&app, &grant, Transport::LongPoll, ip).await?.batch(hold).await?;
    Ok(frames_page(head, &grant.epoch, &frames))
}
