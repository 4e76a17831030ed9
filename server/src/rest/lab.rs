//! `GET /api/lab[?board=B]` and `POST /api/lab?board=B`: the fault lab's server half (see
//! `lab`). Nothing unless the replica runs with `FAULTS=1`; then a board's faults (its
//! change notices lost or late) take the board's write key, as any administration of a
//! board does, and pausing the database, which stops every board here, takes the
//! replica's `LAB_TOKEN` in the `X-Lab-Token` header. Cross-site posts are refused before
//! any of this, as everywhere (`access::origin`).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;

use board_core::api::{ServerFaults, ServerLab};

use super::extract::JsonBody;
use crate::access::{self, Presented, Role};
use crate::error::AppError;
use crate::lab::Asker;
use crate::state::AppState;

/// The header that carries the lab token.
pub const LAB_TOKEN_HEADER: &str = "x-lab-token";

#[derive(Debug, Deserialize)]
pub struct LabQuery {
    /// The board whose faults to report or set (and whose replica nginx routes to).
    board: Option<String>,
}

/// This replica's faults, and the named board's. Always answers (`enabled: false` on a
/// replica without `FAULTS=1`), so that the page can show or hide its controls; reads no
/// database, so it answers while the database is paused. Faults say nothing secret.
pub async fn get(State(app): State<AppState>, Query(query): Query<LabQuery>) -> Json<ServerLab> {
    Json(app.lab.report(&app.replica, query.board.as_deref(), &app.store))
}

/// Sets the faults the body names, and answers with the faults now in force. A replica
/// without `FAULTS=1` answers `403` before it looks at the body or the board.
pub async fn post(
    State(app): State<AppState>,
    Query(query): Query<LabQuery>,
    headers: HeaderMap,
    body: Result<JsonBody<ServerFaults>, AppError>,
) -> Result<Json<ServerLab>, AppError> {
    let faults = match body {
        Ok(JsonBody(faults)) => faults,
        Err(refusal) if app.lab.enabled() => return Err(refusal),
        // Off: `apply` answers `403`, whatever the body was.
        Err(_) => ServerFaults::default(),
    };
    let on_notices = faults.drop_notices.is_some() || faults.delay_notices_ms.is_some();
    // A board's faults are its owner's: the gate says whether the request holds its write key.
    let owns = match (&query.board, on_notices && app.lab.enabled()) {
        (Some(board), true) => {
            Some(access::authorize(&app, board, &Presented::from_headers(&headers), Role::Admin).await?.board)
        }
        _ => None,
    };
    let token = headers.get(LAB_TOKEN_HEADER).and_then(|v| v.to_str().ok());
    app.lab.apply(&faults, &Asker { owns: owns.as_deref(), token }, &app.store)?;
    Ok(Json(app.lab.report(&app.replica, query.board.as_deref(), &app.store)))
}
