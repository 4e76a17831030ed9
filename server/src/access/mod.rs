//! The one gate: who may read or write a board. Every path that touches a board goes
//! through [`authorize`]: the pages, `GET` state, `changes`, the four transports (their
//! resume included: it is the same request), and commands over HTTP or up a WebSocket.
//! Handlers say what they need by the extractor they take, [`Reader`] or [`Writer`]; a
//! stream that is already open is re-checked by [`until_revoked`].
//!
//! * A **public** board (the seeded demo) may be read and written by anyone.
//! * A **private** board needs a key: its read key grants reading, its write key reading
//!   and writing ([`keys`] says how they are made and stored).
//! * **Administering** a board, public or private (its webhooks, its keys, the fault lab's
//!   faults on it), needs its write key: public boards get one at creation too, so that
//!   "anyone may edit the todos" never becomes "anyone may send every change to an address
//!   of their choosing".
//! * No key, or a wrong one, is answered exactly as an unknown board is (`404`): nobody
//!   learns that a private board exists without holding one of its keys. A read key on a
//!   command is `403`: its holder already knows the board exists.
//! * Keys arrive as `Authorization: Bearer <key>` (tools) or in a per-board cookie that a
//!   share link set ([`share`]). They never need to appear in an API or stream URL.
//!
//! A fork that has user accounts replaces where a [`Grant`] comes from (the keys presented
//! here), not the call sites: every handler already asks this module and nothing else.

pub mod keys;
pub mod origin;
pub mod share;

use std::time::Duration;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use futures::StreamExt;

use crate::error::AppError;
use crate::state::AppState;
use crate::store::Visibility;
use crate::stream::{Frames, Outgoing};

/// What a request may do with a board. Ordered: each includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Write,
    /// Holds the write key: may also administer the board.
    Admin,
}

/// The gate's answer: this request may do `role` to `board`.
#[derive(Clone, Debug)]
pub struct Grant {
    pub board: String,
    pub role: Role,
    pub visibility: Visibility,
    /// The board's key generation when the gate checked (private boards): a stream opened
    /// under it ends when the keys are rotated.
    pub keys_rev: u64,
    /// The write key the request presented, if it did: whoever holds it may see both
    /// share links, which the page then shows.
    pub write_key: Option<String>,
    /// The board's epoch, read with the rest of its row: streams check a client's
    /// position against it.
    pub epoch: String,
}

/// How often an open stream of a private board checks that its key still works. With the
/// per-board cache (`AppState::key_revs`, the same age) a rotation ends every stream on
/// every replica within about two of these.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// The name of the cookie that holds a browser's key for `board`.
pub fn cookie_name(board: &str) -> String {
    format!("{COOKIE_PREFIX}{board}")
}
const COOKIE_PREFIX: &str = "board_key.";

/// The keys a request presents: its bearer key, and the board keys its cookies hold.
#[derive(Clone, Debug, Default)]
pub struct Presented {
    bearer: Option<String>,
    /// `(board, key)` from the cookies share links set.
    cookies: Vec<(String, String)>,
}

/// More key cookies than this in one request are ignored: each is a lookup of its board
/// wherever the cookies are listed (`/` and `GET /api/boards` check every one).
pub const MAX_COOKIE_KEYS: usize = 16;

impl Presented {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty());
        let cookies = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter_map(|(name, key)| Some((name.strip_prefix(COOKIE_PREFIX)?.to_owned(), key.trim().to_owned())))
            .take(MAX_COOKIE_KEYS)
            .collect();
        Presented { bearer, cookies }
    }

    /// The keys presented for `board`: the bearer key, and its cookie.
    fn for_board<'a>(&'a self, board: &'a str) -> impl Iterator<Item = &'a str> {
        self.bearer
            .as_deref()
            .into_iter()
            .chain(self.cookies.iter().filter(move |(b, _)| b == board).map(|(_, k)| &**k))
    }

    /// The boards this browser holds a cookie for (unchecked: `/` asks the gate for each).
    pub fn cookie_boards(&self) -> impl Iterator<Item = &str> {
        self.cookies.iter().map(|(board, _)| &**board)
    }
}

/// The gate. `Ok` when the keys presented allow `need` on `board`; `404` when the board
/// does not exist or is private and no key presented opens it; `403` when they open it but
/// for less than `need` (a read key for a command; anything but the write key to
/// administer).
pub async fn authorize(app: &AppState, board: &str, presented: &Presented, need: Role) -> Result<Grant, AppError> {
    let not_found = || AppError::no_board(board);
    let access = app.store.board_access(board).await?.ok_or_else(not_found)?;
    let mut write_key = None;
    let mut held = None;
    for key in presented.for_board(board) {
        let hash = keys::hash(key);
        if access.write_hash.as_deref() == Some(&*hash) {
            write_key = Some(key.to_owned());
            held = Some(Role::Admin);
            break;
        }
        if access.read_hash.as_deref() == Some(&*hash) {
            held = Some(Role::Read);
        }
    }
    let role = match access.visibility {
        // Anyone edits a public board; its write key administers it.
        Visibility::Public => held.map_or(Role::Write, |held| held.max(Role::Write)),
        Visibility::Private => held.ok_or_else(not_found)?,
    };
    if role < need {
        return Err(AppError::Forbidden(match need {
            Role::Admin => "administering this board (its webhooks, keys and faults) needs its write key".into(),
            _ => "this key can read the board but not change it".into(),
        }));
    }
    Ok(Grant {
        board: board.to_owned(),
        role,
        visibility: access.visibility,
        keys_rev: access.keys_rev,
        write_key,
        epoch: access.epoch,
    })
}

/// Is `key` one of `board`'s keys (read or write)? For the share link, before it stores
/// the key in a cookie.
pub async fn key_opens(app: &AppState, board: &str, key: &str) -> Result<bool, AppError> {
    let Some(access) = app.store.board_access(board).await? else { return Ok(false) };
    let hash = keys::hash(key);
    Ok(access.write_hash.as_deref() == Some(&*hash) || access.read_hash.as_deref() == Some(&*hash))
}

/// Ends `frames` when the keys of the board they come from are rotated (or the board is
/// gone): the last item is then a `revoked` control frame, which each transport turns
/// into its own ending (SSE ends, WebSocket closes 4403, a held long-poll answers 404).
/// Public boards have nothing to revoke and pass straight through.
pub fn until_revoked(app: &AppState, grant: &Grant, mut frames: Frames) -> Frames {
    // A public board has no key to revoke: its stream is passed on as it is.
    if grant.visibility != Visibility::Private {
        return frames;
    }
    let (app, board, rev) = (app.clone(), grant.board.clone(), grant.keys_rev);
    Box::pin(async_stream::stream! {
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                frame = frames.next() => match frame {
                    Some(frame) => yield frame,
                    None => return,
                },
                _ = check.tick() => {
                    // Boxed: a database read's future is large, and only needed now and then.
                    let now = Box::pin(app.key_revs.get(&board, || async { Ok(app.store.keys_rev(&board).await?) })).await;
                    // A database that cannot answer right now is not a revocation: the stream
                    // goes on and asks again at the next check. Nor is an older generation
                    // than this stream's own: the cached value predates the rotation this
                    // stream's key came from (a page reopened with the new link at once).
                    if matches!(now, Ok(current) if current.is_none_or(|current| current > rev)) {
                        metrics::counter!("board_streams_revoked_total").increment(1);
                        yield Outgoing::revoked();
                        return;
                    }
                }
            }
        }
    })
}

/// The board's name in the route (`{board}`), as given.
async fn board_param(parts: &mut Parts, app: &AppState) -> Result<String, AppError> {
    let params = RawPathParams::from_request_parts(parts, app)
        .await
        .map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    params
        .iter()
        .find(|(name, _)| *name == "board")
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| AppError::internal(std::io::Error::other("a board route without {board}")))
}

/// An extractor: the request may read the board in its route.
pub struct Reader(pub Grant);

/// An extractor: the request may change the board in its route.
pub struct Writer(pub Grant);

/// An extractor: the request may administer the board in its route (it presented the
/// board's write key).
pub struct Admin(pub Grant);

impl FromRequestParts<AppState> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let board = board_param(parts, app).await?;
        authorize(app, &board, &Presented::from_headers(&parts.headers), Role::Read).await.map(Reader)
    }
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let board = board_param(parts, app).await?;
        authorize(app, &board, &Presented::from_headers(&parts.headers), Role::Write).await.map(Writer)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let board = board_param(parts, app).await?;
        authorize(app, &board, &Presented::from_headers(&parts.headers), Role::Admin).await.map(Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 64 key cookies cost 64 lookups wherever the cookies are listed: only the first
    /// [`MAX_COOKIE_KEYS`] count.
    #[test]
    fn a_request_presents_a_bounded_number_of_key_cookies() {
        let mut headers = HeaderMap::new();
        let cookies: Vec<String> = (0..64).map(|i| format!("{COOKIE_PREFIX}board{i}=w_key{i}")).collect();
        headers.insert(header::COOKIE, cookies.join("; ").parse().unwrap());
        let presented = Presented::from_headers(&headers);
        assert_eq!(presented.cookie_boards().count(), MAX_COOKIE_KEYS);
    }
}
