//! `POST /api/boards/{board}/commands`: the one way to change a board over HTTP. The
//! command service it calls (`service::commands`) is the one the WebSocket, the server
//! functions and the seeding call too.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use board_core::api::CommandAnswer;
use board_core::domain::Command;

use super::extract::JsonBody;
use crate::access::Writer;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::service::commands::{self, bad_key};
use crate::state::AppState;

pub async fn post(
    State(app): State<AppState>,
    Writer(grant): Writer,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(command): JsonBody<Command>,
) -> Result<Json<CommandAnswer>, AppError> {
    let key = match headers.get("idempotency-key") {
        Some(value) => Some(value.to_str().map_err(|_| bad_key())?),
        None => None,
    };
    commands::execute(&app, &grant, ip, &command, key).await.map(Json)
}
