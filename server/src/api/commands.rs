//! `POST /api/boards/{board}/commands`: the one way to change a board.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;

use app::api::CommandAnswer;
use app::domain::Command;

use super::extract::JsonBody;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{CommitError, Outcome};

/// Idempotency keys longer than this are refused: they are stored per board.
const MAX_KEY_LEN: usize = 200;

pub async fn post(
    State(app): State<AppState>,
    Path(board): Path<String>,
    headers: HeaderMap,
    JsonBody(command): JsonBody<Command>,
) -> Result<Json<CommandAnswer>, AppError> {
    let key = idempotency_key(&headers)?;
    run(&app, &board, &command, key.as_deref()).await.map(Json)
}

/// Commits a command and announces it; shared by this endpoint and the WebSocket.
pub async fn run(app: &AppState, board: &str, command: &Command, key: Option<&str>) -> Result<CommandAnswer, AppError> {
    let started = std::time::Instant::now();
    let cached = app.snapshots.get(board);
    let outcome = app.store.commit(board, command, key, cached.as_ref().map(|s| &*s.state)).await;
    let label = match &outcome {
        Ok(Outcome::Committed(_)) => "committed",
        Ok(Outcome::Replayed(_)) => "replayed",
        Err(_) => "refused",
    };
    metrics::counter!("board_commands_total", "type" => command.kind(), "outcome" => label).increment(1);
    metrics::histogram!("board_command_seconds").record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(Outcome::Committed(committed)) => {
            app.publish(board, &committed).await;
            Ok(committed.answer)
        }
        Ok(Outcome::Replayed(answer)) => Ok(answer),
        Err(CommitError::NoBoard(board)) => Err(AppError::NotFound(format!("board `{board}` does not exist"))),
        Err(CommitError::Domain(err)) => Err(err.into()),
        Err(err @ CommitError::KeyReused(_)) => Err(AppError::Unprocessable(err.to_string())),
        Err(CommitError::Db(err)) => Err(err.into()),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key =
        value.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN).ok_or_else(|| {
            AppError::BadRequest(format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible characters"))
        })?;
    Ok(Some(key.to_owned()))
}
