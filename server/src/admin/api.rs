//! The console's routes, every one behind [`Operator`]:
//!
//! * `GET /api/admin/connections`: this replica's open streams ([`Listing`]).
//! * `POST /api/admin/connections/{id}/disconnect`: ends one (`204`; `404` when it is not
//!   open here). The tab's engine reconnects, as after any dropped connection.
//! * `POST /api/admin/boards/{board}/end`: ends every stream of a board here
//!   (`{"ended":N}`); they reconnect too (pair it with a key rotation to keep a reader out).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::connections::Listing;
use super::Operator;
use crate::error::AppError;
use crate::state::AppState;

pub async fn connections(State(app): State<AppState>, _: Operator) -> Json<Value> {
    let Listing { by_way, by_board, connections, total } = app.connections.list();
    Json(json!({
        "replica": app.replica.to_string(),
        "total": total,
        "by_way": by_way,
        "by_board": by_board,
        "connections": connections,
    }))
}

pub async fn disconnect(
    State(app): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = id.parse::<u64>().map_err(|_| AppError::BadRequest("a connection id is a whole number".into()))?;
    if !app.connections.disconnect(id) {
        return Err(AppError::NotFound("no such connection is open on this replica".into()));
    }
    metrics::counter!("board_streams_ended_total", "by" => "operator").increment(1);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn end_board(State(app): State<AppState>, _: Operator, Path(board): Path<String>) -> Json<Value> {
    let ended = app.connections.end_board(&board);
    metrics::counter!("board_streams_ended_total", "by" => "operator").increment(ended as u64);
    Json(json!({ "ended": ended }))
}
