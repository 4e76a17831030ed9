//! The operator's console, server side: off (every route `404`) unless `ADMIN_TOKEN` is
//! set; then each request presents the token as a bearer, or the cookie the console's
//! sign-in form set. What it sees and does:
//!
//! * [`connections`]: this replica's open streams, by transport and pattern and by board;
//!   one ended, or every stream of a board.
//! * [`report`]: what this replica says about itself (streams, busiest boards, the
//!   counters of slow and cut consumers and of limits hit, recent errors), bounded to fit
//!   any bus.
//! * [`errors`]: the `tracing` layer that keeps the recent warnings and errors.
//! * [`cluster`]: every replica's report, heard on the bus's cluster channel; actions sent
//!   to the replica that must act.
//! * [`view`]: what a console is shown, built at most once a second for all of them.
//! * [`api`]: the routes (`/api/admin/...`), the live stream the page reads among them.
//! * [`session`]: the sign-in form's cookie (`/admin/login`, `/admin/logout`).
//! * [`token`]: `ADMIN_TOKEN`, kept as its digest.
//!
//! The page itself (`/admin`) is a Leptos page (`app::ui::console`); the server tells it
//! whether the console is on and the browser signed in (`page_data`).

pub mod api;
pub mod cluster;
pub mod connections;
pub mod errors;
pub mod report;
pub mod session;
pub mod token;
pub mod view;

pub use token::Token;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::AppError;
use crate::state::AppState;

/// An extractor: the request is the operator's (`Authorization: Bearer <ADMIN_TOKEN>`, or
/// the console's cookie). `404` when the console is off (as if it did not exist), `401`
/// for anyone else. (A cookie's `POST` is also same-origin: `access::origin` refuses any
/// other before it gets here.)
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, AppError> {
        let Some(token) = &app.admin_token else {
            return Err(AppError::NotFound("no such API route".into()));
        };
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let opens = match presented {
            Some(presented) => token.opens(presented.trim()),
            None => session::signed_in(token, &parts.headers),
        };
        match opens {
            true => Ok(Operator),
            false => Err(AppError::Unauthorized(
                "the console takes ADMIN_TOKEN as a bearer token, or its sign-in cookie".into(),
            )),
        }
    }
}
