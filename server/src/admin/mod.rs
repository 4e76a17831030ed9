//! The operator's console, server side: off (every route `404`) unless `ADMIN_TOKEN` is
//! set; then each request presents the token as a bearer. What it sees and does:
//!
//! * [`connections`]: this replica's open streams, by transport and pattern and by board;
//!   one ended, or every stream of a board.
//! * [`api`]: the routes (`/api/admin/...`).
//! * [`token`]: `ADMIN_TOKEN`, kept as its digest.
//!
//! The token is compared as a SHA-256 digest (the time a comparison takes says nothing
//! about the token), and must be at least 16 characters (`config`).

pub mod api;
pub mod connections;
pub mod token;

pub use token::Token;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::AppError;
use crate::state::AppState;

/// An extractor: the request is the operator's (`Authorization: Bearer <ADMIN_TOKEN>`).
/// `404` when the console is off (as if it did not exist), `401` for anyone else.
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
        match presented {
            Some(presented) if token.opens(presented.trim()) => Ok(Operator),
            _ => Err(AppError::Unauthorized("the console takes ADMIN_TOKEN as a bearer token".into())),
        }
    }
}
