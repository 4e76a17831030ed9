//! History: `GET /api/boards/{board}/history?at=N&then=M`, the board as it was at seq N
//! (with the change at N and up to M changes after it), and
//! `GET /api/boards/{board}/todos/{id}/history`, every retained change to one todo. Both
//! are reads of the log and its snapshots (`store::history`; docs/history.md): a reader's
//! key opens them, each costs at most one snapshot and `SNAPSHOT_EVERY` events, and a
//! client makes at most `HISTORY_PER_MINUTE` of them (`429` past it).

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use board_core::api::{HistoryPage, TodoHistoryPage};
use board_core::domain::Id;

use crate::access::Reader;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::state::AppState;
use crate::store::{Outside, Past, Store};

/// The most changes after `at` one answer carries: a page steps through them without
/// asking again, and asks again past them.
pub const MAX_THEN: u64 = 500;

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    pub at: u64,
    #[serde(default)]
    pub then: u64,
}

pub async fn at(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    let Query(query) = query?;
    if query.then > MAX_THEN {
        return Err(AppError::BadRequest(format!("then must be at most {MAX_THEN}")));
    }
    app.limits.history(ip)?;
    let board = &grant.board;
    let past = app.store.history_at(board, query.at, query.then).await?.ok_or_else(|| AppError::no_board(board))?;
    let page = match past {
        Ok(Past { state, floor, head, change, then }) => {
            HistoryPage { at: query.at, floor, head, epoch: grant.epoch.clone(), state, change, then }
        }
        Err(Outside::BeyondHead { head }) => {
            return Err(AppError::NotFound(format!("seq {} is beyond the head seq {head}", query.at)))
        }
        Err(Outside::BeforeFloor { floor, .. }) => return Err(before_floor(&app.store, query.at, floor)),
    };
    // `floor` and `head` move with every change: no cache may keep the answer.
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(page)))
}

pub async fn todo(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    Path((_, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, AppError> {
    let id: Id = id.parse().map_err(|_| AppError::BadRequest(format!("{id:?} is not a todo id")))?;
    app.limits.history(ip)?;
    let board = &grant.board;
    let history =
        app.store.todo_history(board, id, TodoHistoryPage::LIMIT).await?.ok_or_else(|| AppError::no_board(board))?;
    let page = TodoHistoryPage {
        todo: id,
        floor: history.floor,
        head: history.head,
        changes: history.changes,
        more: history.more,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(page)))
}

/// `410`: the log no longer reaches seq `at`; says why, and where history starts
/// (`"floor"`).
fn before_floor(store: &Store, at: u64, floor: u64) -> AppError {
    let (changes, bytes, every) = store.retention();
    let message = format!(
        "seq {at} is older than this board's history, which starts at seq {floor}: the log keeps the newest \
         {changes} changes (LOG_RETAIN) and {} KiB (LOG_RETAIN_KIB), with a snapshot every {every} seqs \
         (SNAPSHOT_EVERY)",
        bytes / 1024
    );
    AppError::BeforeHistory { message, floor }
}
