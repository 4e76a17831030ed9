//! `GET /api/boards/{board}/snapshots/{seq}[?epoch=E]`: the board at one seq, at a URL that
//! never changes meaning, so any cache may keep it for ever.
//!
//! Why: after one poke, every poke-pull client of a board asks for the same thing. At
//! `GET /api/boards/{board}` that thing changes with every commit, so a shared cache can
//! only revalidate; at `/snapshots/N` it is immutable, so a cache in front of the replicas
//! (nginx's `proxy_cache` with `proxy_cache_lock` in the cluster) lets one of a thousand
//! pulls through and answers the rest itself. Public boards say `public, max-age=31536000,
//! immutable`; private ones `private` (a browser may keep its own copy, no shared cache may).
//!
//! A replica holds the head only (older boards are not kept: a large board is hundreds of
//! kilobytes per seq). So: the head is `200`; an older seq is `410` (the client takes the
//! head instead, which is newer and therefore also fine); a seq beyond the head is `404`,
//! once the database confirms it (the poke may have come from a replica whose commit this
//! one has not heard of yet). The epoch, when given, makes the URL name one incarnation of
//! the board: another incarnation's seq is `410` too. Refusals say `no-store`, so no cache
//! keeps a `410` that another replica, or a moment later, would answer differently.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::access::{Grant, Reader};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::Visibility;

#[derive(Debug, Deserialize)]
pub struct SnapshotQuery {
    /// The incarnation the seq is from (`hello`'s `epoch`): part of what the URL names.
    pub epoch: Option<String>,
}

pub async fn get(
    State(app): State<AppState>,
    // Taken as a result so that the gate's refusal (no such board, no key) says
    // `no-store` like the others.
    reader: Result<Reader, AppError>,
    Path((_, seq)): Path<(String, String)>,
    query: Result<Query<SnapshotQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let answered = match reader {
        Ok(Reader(grant)) => answer(&app, &grant, &seq, query).await,
        Err(refused) => Err(refused),
    };
    match answered {
        Ok(response) => response,
        Err(err) => {
            let mut response = err.into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    }
}

async fn answer(
    app: &AppState,
    grant: &Grant,
    seq: &str,
    query: Result<Query<SnapshotQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    // Every pull that reached a replica, answered or refused: what a cache in front saves.
    metrics::counter!("board_snapshot_requests_total").increment(1);
    let Query(query) = query?;
    let seq: u64 = seq.parse().map_err(|_| AppError::BadRequest(format!("{seq:?} is not a seq")))?;
    let board = &grant.board;
    if query.epoch.as_deref().is_some_and(|epoch| epoch != grant.epoch) {
        return Err(AppError::Gone(format!(
            "seq {seq} is from another epoch of this board; fetch /api/boards/{board} for the current one"
        )));
    }
    let mut snapshot = app.snapshot(board).await?;
    if seq > snapshot.seq() {
        // Perhaps only this replica is behind: ask the database, then take the board anew.
        if app.head(board).await? >= seq {
            snapshot = app.snapshot(board).await?;
        }
    }
    if seq > snapshot.seq() {
        return Err(AppError::NotFound(format!("seq {seq} is beyond the head seq {}", snapshot.seq())));
    }
    if seq < snapshot.seq() {
        return Err(AppError::Gone(format!(
            "seq {seq} is no longer held (the head is {}); fetch /api/boards/{board}",
            snapshot.seq()
        )));
    }
    Ok(super::boards::board_response(&snapshot, grant, cache_control(grant)))
}

/// A seq's board never changes: kept for a year by anyone on a public board, by the
/// browser alone on a private one.
fn cache_control(grant: &Grant) -> &'static str {
    match grant.visibility {
        Visibility::Public => "public, max-age=31536000, immutable",
        Visibility::Private => "private, max-age=31536000, immutable",
    }
}
