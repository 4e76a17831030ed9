//! `GET /api/boards`, `POST /api/boards`, `GET /api/boards/{board}`,
//! `GET /api/boards/{board}/access`, `POST /api/boards/{board}/keys`: the handlers; what
//! they share with the pages (the list, creation, the viewer) is `service::boards`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use board_core::api::{BoardCreated, BoardKeys, BoardSummary, CreateBoard, KeysRotated, Viewer};

use super::extract::{FormBody, JsonBody};
use crate::access::keys::{self, KeyPair};
use crate::access::{self, Admin, Presented, Reader};
use crate::caching;
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::service::boards;
use crate::state::AppState;
use crate::store::Visibility;

/// The boards this client may see, newest first: every public board, and the private
/// boards whose keys its cookies hold (each checked by the gate). Never the others.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<BoardSummary>>, AppError> {
    Ok(Json(boards::visible(&app, &Presented::from_headers(&headers)).await?))
}

/// Creates an empty board at seq 0: private unless asked otherwise, with an unguessable id
/// and two keys shown this once.
pub async fn create(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<CreateBoard>,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<BoardCreated>), AppError> {
    let created = boards::create(&app, ip, body).await?;
    let location = format!("/api/boards/{}", created.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(created)))
}

/// `POST /boards` from the home page's form when the page's script has not loaded (or
/// is off): the same creation, answered with a redirect to the new board's write link,
/// which stores the key in this browser.
pub async fn create_from_form(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    FormBody(body): FormBody<CreateBoard>,
) -> Result<axum::response::Redirect, AppError> {
    let created = boards::create(&app, ip, body).await?;
    Ok(axum::response::Redirect::to(&format!("/boards/{}?key={}", created.id, created.keys.write)))
}

/// The board at its newest seq. `ETag` is the seq, so a client that holds it gets `304`.
pub async fn state(
    State(app): State<AppState>,
    Reader(grant): Reader,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let snapshot = app.snapshot(&grant.board).await?;
    if caching::holds(&headers, snapshot.seq(), &grant.epoch) {
        let cache = (header::CACHE_CONTROL, HeaderValue::from_static(cache_control(&grant)));
        let validators = [(header::ETAG, caching::etag(snapshot.seq())), cache, caching::epoch_header(&grant.epoch)];
        return Ok((StatusCode::NOT_MODIFIED, validators).into_response());
    }
    metrics::counter!("board_state_reads_total").increment(1);
    Ok(board_response(&snapshot, &grant, cache_control(&grant)))
}

/// A board's JSON as both state reads send it (`GET` state and `/snapshots/{seq}`): `ETag`
/// its seq, the epoch header, and `cache` as its `Cache-Control`.
pub fn board_response(snapshot: &crate::live::Snapshot, grant: &access::Grant, cache: &'static str) -> Response {
    (
        [
            (header::ETAG, caching::etag(snapshot.seq())),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            caching::epoch_header(&grant.epoch),
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        ],
        snapshot.json(),
    )
        .into_response()
}

/// Shared caches may keep a public board's state; a private board's stays in the browser.
fn cache_control(grant: &access::Grant) -> &'static str {
    match grant.visibility {
        Visibility::Public => "no-cache",
        Visibility::Private => "private, no-cache",
    }
}

/// What this client may do with the board, and, for a holder of the write key, both share
/// links: the page reads it to show or hide its editing controls.
pub async fn viewer(Reader(grant): Reader) -> Json<Viewer> {
    Json(boards::viewer(&grant))
}

/// Rotates both keys (write key only, public boards too): the old ones stop working at
/// once, and every stream opened with them ends within seconds on every replica.
pub async fn rotate_keys(
    State(app): State<AppState>,
    Admin(grant): Admin,
    ClientIp(ip): ClientIp,
) -> Result<Json<KeysRotated>, AppError> {
    // A rotation is a write like a command, and counts against the same rate.
    app.limits.command(ip)?;
    let pair = KeyPair::generate();
    app.store
        .rotate_keys(&grant.board, grant.keys_rev, &keys::hash(&pair.read), &keys::hash(&pair.write))
        .await?
        // Rotated by another request since the gate checked: this request's key is an old
        // one now, and old keys open nothing.
        .ok_or_else(|| AppError::no_board(&grant.board))?;
    metrics::counter!("board_keys_rotated_total").increment(1);
    Ok(Json(KeysRotated { keys: BoardKeys { read: pair.read, write: pair.write } }))
}
