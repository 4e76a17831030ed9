//! `GET /api/boards`, `POST /api/boards`, `GET /api/boards/{board}`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use app::api::{BoardCreated, BoardSummary, CreateBoard};
use app::domain::decide::valid_name;

use super::extract::JsonBody;
use crate::error::AppError;
use crate::state::AppState;

/// The newest boards first; the page lists them.
pub async fn list(State(app): State<AppState>) -> Result<Json<Vec<BoardSummary>>, AppError> {
    Ok(Json(app.store.list_boards(200).await?))
}

/// Creates an empty board at seq 0 with an id made from its name plus a random suffix.
pub async fn create(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<CreateBoard>,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<BoardCreated>), AppError> {
    let name = valid_name(&body.name)?;
    // A few tries in case the random suffix collides (about one in 2 billion each).
    for _ in 0..3 {
        let id = board_id(&name);
        if app.store.create_board(&id, &name).await? {
            metrics::counter!("board_boards_created_total").increment(1);
            let location = format!("/api/boards/{id}");
            return Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(BoardCreated { id, name })));
        }
    }
    Err(AppError::internal(std::io::Error::other("could not find a free board id")))
}

/// `POST /boards` from the home page's form when the page's script has not loaded (or
/// is off): the same creation, answered with a redirect to the new board.
pub async fn create_from_form(
    State(app): State<AppState>,
    form: Result<axum::Form<CreateBoard>, axum::extract::rejection::FormRejection>,
) -> Result<axum::response::Redirect, AppError> {
    let axum::Form(body) = form.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    let (_, _, Json(created)) = create(State(app), JsonBody(body)).await?;
    Ok(axum::response::Redirect::to(&format!("/boards/{}", created.id)))
}

/// The board at its newest seq. `ETag` is the seq, so a client that holds it gets `304`.
pub async fn state(
    State(app): State<AppState>,
    Path(board): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let snapshot = app.snapshot(&board).await?;
    let etag = format!("\"{}\"", snapshot.seq());
    let etag_value = HeaderValue::from_str(&etag).expect("a quoted number is a valid header");
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if if_none_match(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value), cache]).into_response());
    }
    metrics::counter!("board_state_reads_total").increment(1);
    Ok((
        [(header::ETAG, etag_value), cache, (header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        snapshot.json(),
    )
        .into_response())
}

/// Does `If-None-Match` list this ETag (or `*`)? Weak validators compare equal too.
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*"))
}

/// `Sprint planning!` → `sprint-planning-k3x9q2`: readable in a URL, unique by the suffix.
fn board_id(name: &str) -> String {
    use rand::Rng;
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let suffix: String = (0..6).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    if slug.is_empty() {
        format!("board-{suffix}")
    } else {
        format!("{slug}-{suffix}")
    }
}
