//! `GET /api/boards`, `POST /api/boards`, `GET /api/boards/{board}`,
//! `GET /api/boards/{board}/access`, `POST /api/boards/{board}/keys`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use board_core::api::{BoardCreated, BoardKeys, BoardSummary, CreateBoard, KeysRotated, Viewer};
use board_core::domain::decide::valid_name;

use super::extract::{FormBody, JsonBody};
use crate::access::keys::{self, KeyPair};
use crate::access::{self, share, Admin, Presented, Reader, Role};
use crate::error::AppError;
use crate::limits::ClientIp;
use crate::state::AppState;
use crate::store::{NewBoard, Visibility};
use crate::transports;

/// The boards this client may see, newest first: every public board, and the private
/// boards whose keys its cookies hold (each checked by the gate). Never the others.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<BoardSummary>>, AppError> {
    Ok(Json(visible_boards(&app, &Presented::from_headers(&headers)).await?))
}

/// The list `/` shows (also rendered into the home page).
pub async fn visible_boards(app: &AppState, presented: &Presented) -> Result<Vec<BoardSummary>, AppError> {
    let mut private = Vec::new();
    for board in presented.cookie_boards() {
        match access::authorize(app, board, presented, Role::Read).await {
            Ok(grant) if grant.visibility == Visibility::Private => private.push(grant.board),
            Ok(_) | Err(AppError::NotFound(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(app.store.list_boards(&private, 200).await?)
}

/// Creates an empty board at seq 0: private unless asked otherwise, with an unguessable id
/// and two keys shown this once.
pub async fn create(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<CreateBoard>,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<BoardCreated>), AppError> {
    let created = create_board(&app, ip, body).await?;
    let location = format!("/api/boards/{}", created.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(created)))
}

/// Board creation, for the API and the home page's form alike.
pub async fn create_board(app: &AppState, ip: std::net::IpAddr, body: CreateBoard) -> Result<BoardCreated, AppError> {
    let name = valid_name(&body.name)?;
    let visibility = match body.visibility.as_deref() {
        None | Some("private") => Visibility::Private,
        Some("public") => Visibility::Public,
        Some(other) => {
            return Err(AppError::BadRequest(format!("unknown visibility `{other}`; valid: private, public")))
        }
    };
    app.limits.create_board(ip)?;
    let pair = KeyPair::generate();
    // A collision of 128 random bits does not happen; the loop says what would be done.
    for _ in 0..3 {
        let id = keys::board_id(&name);
        let new = NewBoard {
            id: &id,
            name: &name,
            visibility,
            key_hashes: Some((keys::hash(&pair.read), keys::hash(&pair.write))),
        };
        if app.store.create_board(&new).await? {
            metrics::counter!("board_boards_created_total").increment(1);
            return Ok(BoardCreated {
                id,
                name,
                visibility: format!("{visibility:?}").to_lowercase(),
                keys: BoardKeys { read: pair.read, write: pair.write },
            });
        }
    }
    Err(AppError::internal(std::io::Error::other("could not find a free board id")))
}

/// `POST /boards` from the home page's form when the page's script has not loaded (or
/// is off): the same creation, answered with a redirect to the new board's write link,
/// which stores the key in this browser.
pub async fn create_from_form(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    FormBody(body): FormBody<CreateBoard>,
) -> Result<axum::response::Redirect, AppError> {
    let created = create_board(&app, ip, body).await?;
    Ok(axum::response::Redirect::to(&format!("/boards/{}?key={}", created.id, created.keys.write)))
}

/// The board at its newest seq. `ETag` is the seq, so a client that holds it gets `304`.
pub async fn state(
    State(app): State<AppState>,
    Reader(grant): Reader,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let snapshot = app.snapshot(&grant.board).await?;
    let etag = format!("\"{}\"", snapshot.seq());
    let etag_value = HeaderValue::from_str(&etag).expect("a quoted number is a valid header");
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static(cache_control(&grant)));
    let epoch = (HeaderName::from_static(board_core::api::EPOCH_HEADER), transports::epoch_value(&grant.epoch));
    // A seq from another epoch (a board wiped and regrown to the same seq) matches nothing.
    if if_none_match(&headers, &etag) && !transports::foreign_epoch(&headers, &grant.epoch) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value), cache, epoch]).into_response());
    }
    metrics::counter!("board_state_reads_total").increment(1);
    Ok(board_response(&snapshot, &grant, cache_control(&grant)))
}

/// A board's JSON as both state reads send it (`GET` state and `/snapshots/{seq}`): `ETag`
/// its seq, the epoch header, and `cache` as its `Cache-Control`.
pub fn board_response(snapshot: &crate::live::Snapshot, grant: &access::Grant, cache: &'static str) -> Response {
    (
        [
            (header::ETAG, transports::etag(snapshot.seq())),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (HeaderName::from_static(board_core::api::EPOCH_HEADER), transports::epoch_value(&grant.epoch)),
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
    Json(viewer_of(&grant))
}

pub fn viewer_of(grant: &access::Grant) -> Viewer {
    Viewer {
        can_write: grant.role >= Role::Write,
        admin: grant.role >= Role::Admin,
        private: grant.visibility == Visibility::Private,
        share: share::links(grant),
    }
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

/// Does `If-None-Match` list this ETag (or `*`)? Weak validators compare equal too.
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*"))
}
