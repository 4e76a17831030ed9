//! Share links: `/boards/{board}?key=K` opens a private board in a browser.
//!
//! The browser gets the key in a cookie (`HttpOnly`: page scripts cannot read it;
//! `SameSite=Lax`: other sites' requests do not carry it; `Path=/`: the API and streams
//! get it) and is redirected to the same page without the key, so the key does not stay in
//! the address bar, the history or a `Referer`. From then on the page, a reload, the
//! compare page and all four transports work without the key in any URL.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use board_core::api::ShareLinks;

use super::keys::KeyPair;
use super::{cookie_name, Grant};
use crate::state::AppState;

/// A year: a share link is meant to keep working until its keys are rotated.
const COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 60 * 60;

/// Middleware for the board pages: a `key` in the query becomes a cookie and a redirect.
pub async fn key_to_cookie(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(query) = request.uri().query() else { return next.run(request).await };
    let mut key = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("key=") {
            Some(value) => key = Some(value.to_owned()),
            None => rest.push(pair),
        }
    }
    let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 200 && k.bytes().all(is_key_byte)) else {
        return next.run(request).await;
    };
    // `/boards/{board}` or `/boards/{board}/compare`: the board is the second segment, and
    // names a cookie only if it can be a board id (so `x;Domain=evil.example` cannot add
    // attributes to the cookie, nor 4,000 characters make one of 4 KB), and only if the key
    // opens it (a cookie a year long for nothing helps nobody).
    let mut segments = request.uri().path().split('/').skip(1);
    let (Some("boards"), Some(board)) = (segments.next(), segments.next().filter(|b| is_board_id(b))) else {
        return next.run(request).await;
    };
    let opens = matches!(super::key_opens(&app, board, &key).await, Ok(true));
    let mut location = request.uri().path().to_owned();
    if !rest.is_empty() {
        location.push('?');
        location.push_str(&rest.join("&"));
    }
    let Ok(location) = HeaderValue::from_str(&location) else { return next.run(request).await };
    if !opens {
        // The key leaves the address bar either way; the page then says what it says
        // without one (a private board: not found).
        return (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    }
    let secure = if app.origins.secure() { "; Secure" } else { "" };
    let cookie =
        format!("{}={key}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}", cookie_name(board));
    let Ok(cookie) = HeaderValue::from_str(&cookie) else { return next.run(request).await };
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, location)]).into_response()
}

/// Can this be a board id? 1 to 100 URL-safe characters, as `keys::board_id` makes them
/// (and `demo`).
pub fn is_board_id(board: &str) -> bool {
    !board.is_empty() && board.len() <= 100 && board.bytes().all(is_key_byte)
}

/// Keys are URL-safe base64 with a prefix; anything else cannot be one.
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The two share links of a private board, for a grant that holds its write key.
pub fn links(grant: &Grant) -> Option<ShareLinks> {
    let write = grant.write_key.as_deref()?;
    let pair = KeyPair::from_write(write);
    let board = &grant.board;
    Some(ShareLinks {
        read: format!("/boards/{board}?key={}", pair.read),
        write: format!("/boards/{board}?key={}", pair.write),
    })
}
