//! Short poll: `GET /api/boards/{board}/poll?pattern=P&since=N` answers at once with the
//! frames after N, or `304` when nothing is newer (the ETag is the head seq) and the client
//! holds the current presence list (`presence=R`) with no letters waiting. The client asks
//! again on its own interval; each request keeps its tab on the presence list for a lease.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use board_core::protocol::Transport;

use super::{frames_page, StreamParams};
use crate::access::Reader;
use crate::caching;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::state::AppState;

/// A poll never holds; this only bounds the log read behind the answer.
const READ_LIMIT: Duration = Duration::from_secs(10);

pub async fn handler(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    params: StreamParams,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let pattern = params.pattern;
    let since = params.from.as_ref().map_or(0, |from| from.seq);
    let head = app.known_head(&grant.board, app.broker.follows(&grant.board), since).await?;
    let from = params.from.clone();
    // Each poll renews the tab's place on the presence list.
    let subscription = params.open(&app, &grant, Transport::Poll, ip).await?;
    metrics::counter!("board_polls_total", "transport" => Transport::Poll.as_str(), "pattern" => pattern.as_str())
        .increment(1);
    // Nothing newer: `304`, whether the client says so by its position (in this epoch) or
    // by `If-None-Match`.
    let current = match &from {
        Some(from) => from.seq == head && !from.is_foreign(&grant.epoch),
        None => caching::holds(&headers, head, &grant.epoch),
    };
    // ... and nothing ephemeral either (the client holds the presence list, no letters wait).
    if current && !subscription.has_news() {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, caching::etag(head))]).into_response());
    }
    let (head, frames) = subscription.batch(READ_LIMIT).await?;
    Ok(frames_page(head, &grant.epoch, &frames))
}
