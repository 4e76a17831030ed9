//! A traced change's hops, for the inspector's waterfall: `GET
//! /api/boards/{board}/traces/{trace}` (what this replica recorded and the others shared),
//! and `POST /api/boards/{board}/traces/{trace}/apply` (a tab saying when it applied the
//! change: the trace's last hop). A reader's key opens both, as it opens the frames that
//! carry the trace id. Both are memory only and bounded (`telemetry::recent`: so many
//! traces, so many hops, so many applies each); a report counts against the client's
//! command rate, so a flood of them is refused (`429`) like a flood of commands.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use board_core::api::{Applied, TraceHops};

use super::extract::JsonBody;
use crate::access::Reader;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::state::AppState;
use crate::telemetry::change::Unrecorded;

pub async fn get(
    State(app): State<AppState>,
    Reader(grant): Reader,
    Path((_, trace)): Path<(String, String)>,
) -> Result<Json<TraceHops>, AppError> {
    let trace = trace_id(&trace)?;
    let hops = app.telemetry.recent().hops(&grant.board, trace);
    if hops.is_empty() {
        return Err(AppError::NotFound("no recent trace of this board has that id".into()));
    }
    Ok(Json(TraceHops { trace: trace.to_owned(), hops }))
}

pub async fn apply(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    Path((_, trace)): Path<(String, String)>,
    JsonBody(report): JsonBody<Applied>,
) -> Result<StatusCode, AppError> {
    let trace = trace_id(&trace)?;
    app.limits.command(ip)?;
    match app.telemetry.applied(&grant.board, trace, &report) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(err @ Unrecorded::Unknown) => Err(AppError::NotFound(err.to_string())),
        Err(err @ Unrecorded::Full) => Err(AppError::TooMany { message: err.to_string(), retry_after: None }),
        Err(err @ Unrecorded::Times) => Err(AppError::Unprocessable(err.to_string())),
    }
}

/// A trace id as frames carry it: 32 lowercase hex digits.
fn trace_id(text: &str) -> Result<&str, AppError> {
    let hex = text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex || text.bytes().all(|b| b == b'0') {
        return Err(AppError::BadRequest("a trace id is 32 lowercase hex digits, not all zero".into()));
    }
    Ok(text)
}
