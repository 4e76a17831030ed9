//! Long-poll: `GET /api/boards/{board}/long-poll?pattern=P&since=N[&timeout=S]` answers the
//! moment something is newer than N, or after the timeout with no frames. The client asks
//! again at once. A held request is a parked future, not a thread.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::Response;

use super::{batch, frames_page, StreamParams};
use crate::error::AppError;
use crate::state::AppState;

/// The hold when the client names none (the contract's 25 s).
pub const DEFAULT_HOLD_SECS: u64 = 25;
/// The longest hold a client may ask for: below common proxy read timeouts (60 s).
pub const MAX_HOLD_SECS: u64 = 55;

pub async fn handler(
    State(app): State<AppState>,
    Path(board): Path<String>,
    params: StreamParams,
) -> Result<Response, AppError> {
    let pattern = params.pattern;
    let since = params.since.unwrap_or(0);
    let hold = Duration::from_secs(params.timeout.unwrap_or(DEFAULT_HOLD_SECS).min(MAX_HOLD_SECS));
    metrics::counter!("board_polls_total", "transport" => "long-poll", "pattern" => pattern.as_str()).increment(1);
    let (head, frames) = batch(&app, &board, pattern, since, hold).await?;
    Ok(frames_page(head, &frames))
}
