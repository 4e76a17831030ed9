//! Presence's requests: `POST /api/boards/{board}/signal` hands a small message from
//! one tab to another (WebRTC offers, answers and ICE candidates), or a relayed cursor to
//! every tab (`"to":"*"`); `POST /api/boards/{board}/leave` is a tab saying it is going, so
//! it leaves the list at once. None touches the change log. `GET /api/ice-servers` tells
//! the page's WebRTC mesh which STUN/TURN servers to use (`ICE_SERVERS`).
//!
//! Being on a board is reading it: a read key is enough, and a private board without its
//! key is a `404` here as everywhere (the gate, `Reader`). A request in a tab's name must
//! be that tab's: its secret (`"secret"`), or, for a tab that gave none, its address
//! (`presence::Proof`); otherwise `403`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;

use board_core::presence::{check_id, Leave, Signal};

use super::extract::JsonBody;
use crate::access::Reader;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::presence::Proof;
use crate::service::signals;
use crate::state::AppState;

/// `202`: handed to the addressee's stream (or its replica), which may still lose it.
pub async fn signal(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    JsonBody(signal): JsonBody<Signal>,
) -> Result<StatusCode, AppError> {
    let proof = Proof::Request { ip, secret: signal.secret.as_deref() };
    signals::send(&app, &grant.board, &signal, ip, proof).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `204`, whether or not the tab was on the board (leaving twice is leaving); `403` for
/// another connection's tab.
pub async fn leave(
    State(app): State<AppState>,
    Reader(grant): Reader,
    ClientIp(ip): ClientIp,
    JsonBody(leave): JsonBody<Leave>,
) -> Result<StatusCode, AppError> {
    check_id("client", &leave.client).map_err(AppError::BadRequest)?;
    app.presence.leave(&grant.board, &leave.client, Proof::Request { ip, secret: leave.secret.as_deref() })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/ice-servers`: the `iceServers` JSON array: `ICE_SERVERS` (STUN, `[]` unless
/// configured) and, with `TURN_URLS` and `TURN_SECRET`, a TURN server with a credential of
/// this request's own that expires (`turn`). Not cached; limited per client like board
/// creation (each answer is a credential).
pub async fn ice_servers(State(app): State<AppState>, ClientIp(ip): ClientIp) -> Result<impl IntoResponse, AppError> {
    app.limits.ice_servers(ip)?;
    let mut servers: Vec<serde_json::Value> = serde_json::from_str(&app.ice_servers).map_err(AppError::internal)?;
    if let Some(turn) = &app.turn {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        servers.push(turn.credentials(now));
    }
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        serde_json::Value::Array(servers).to_string(),
    ))
}
