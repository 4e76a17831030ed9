//! `GET /api/lab` and `POST /api/lab`: the fault lab's server half (see `lab`). Replica-wide,
//! not per board, so no board key: what guards it is `FAULTS=1` (without it `POST` is `403`)
//! and the same-origin check every cross-site `POST` meets.

use axum::extract::State;
use axum::Json;

use app::api::{ServerFaults, ServerLab};

use super::extract::JsonBody;
use crate::error::AppError;
use crate::state::AppState;

/// This replica's faults. Always answers (`enabled: false` on a replica without
/// `FAULTS=1`), so that the page can show or hide the server's controls; reads no database.
pub async fn get(State(app): State<AppState>) -> Json<ServerLab> {
    Json(app.lab.report(&app.replica, &app.store))
}

/// Sets the faults the body names, and answers with the faults now in force. A replica
/// without `FAULTS=1` answers `403` before it looks at the body.
pub async fn post(
    State(app): State<AppState>,
    body: Result<JsonBody<ServerFaults>, AppError>,
) -> Result<Json<ServerLab>, AppError> {
    let faults = match body {
        Ok(JsonBody(faults)) => faults,
        Err(refusal) if app.lab.enabled() => return Err(refusal),
        // Off: `apply` answers `403`, whatever the body was.
        Err(_) => ServerFaults::default(),
    };
    app.lab.apply(&faults, &app.store)?;
    Ok(Json(app.lab.report(&app.replica, &app.store)))
}
