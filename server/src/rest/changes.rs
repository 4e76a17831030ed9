//! `GET /api/boards/{board}/changes?since=N&pattern=P`: backfill. A client that noticed a
//! gap asks for the frames after its seq; `410` means the log no longer reaches that far
//! and the client must take a fresh snapshot. One answer is one page (at most 500 frames,
//! about 1 MiB): when its last seq is below `head`, the client asks again from there.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use board_core::api::{FramesPage, Position};
use board_core::patterns::{Frame, PatternKind};

use crate::access::Reader;
use crate::error::AppError;
use crate::state::AppState;
use crate::stream::catch_up;

#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    pub since: u64,
    /// The epoch the client's seq is from, if it says: another epoch's seq is `410`.
    pub epoch: Option<String>,
    pub pattern: Option<String>,
}

pub async fn get(
    State(app): State<AppState>,
    Reader(grant): Reader,
    query: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FramesPage>, AppError> {
    let Query(query) = query?;
    let pattern = PatternKind::from_param(query.pattern.as_deref()).map_err(AppError::BadRequest)?;
    let board = grant.board;
    let from = Position { seq: query.since, epoch: query.epoch };
    if from.is_foreign(&grant.epoch) {
        return Err(AppError::Gone(format!(
            "seq {} is from another epoch of this board; fetch /api/boards/{board} for a fresh snapshot",
            from.seq
        )));
    }
    let head = app.head(&board).await?;
    if query.since > head {
        return Err(AppError::BadRequest(format!("since {} is beyond the head seq {head}", query.since)));
    }
    // One page: a client behind by more asks again from the last seq it got.
    let (frames, _at_head) = catch_up(&app, &board, pattern, query.since).await?;
    let frames = frames
        .iter()
        .map(|f| serde_json::from_slice::<Frame>(&f.json).map_err(AppError::internal))
        .collect::<Result<Vec<_>, _>>()?;
    if frames.iter().any(|f| matches!(f, Frame::Reset { .. })) {
        return Err(AppError::Gone(format!(
            "changes after seq {} are no longer retained; fetch /api/boards/{board} for a fresh snapshot",
            query.since
        )));
    }
    let head = frames.last().and_then(Frame::seq).unwrap_or(head).max(head);
    Ok(Json(FramesPage { head, epoch: grant.epoch, frames }))
}
