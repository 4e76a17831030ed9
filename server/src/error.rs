//! One error type for the whole HTTP surface, and it *is* the response: every refusal is
//! `{"error":"<in words>"}` with the contract's status. Internal failures are answered with
//! a bland message (database errors never reach clients) and logged with their cause once,
//! by [`report`](AppError::report): for HTTP the [`log_errors`] middleware calls it on the
//! way out, the WebSocket calls it when it sends an `error` frame. Building a response
//! logs nothing, so no path logs twice or not at all.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use board_core::domain::{DomainError, Todo};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed JSON, an unknown command `type`, a bad query parameter.
    #[error("{0}")]
    BadRequest(String),
    /// A route that exists, called with another method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A read key on a command, a cross-site `Origin`.
    #[error("{0}")]
    Forbidden(String),
    /// An unknown board, todo or route, and a private board without its key: the same
    /// answer, so that a board's existence is not revealed.
    #[error("{0}")]
    NotFound(String),
    /// The operator's console without its token (`admin`): answered with
    /// `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    /// `expected_version` did not match: the answer carries the todo as it is now.
    #[error("{message}")]
    Conflict { message: String, current: Box<Todo> },
    /// A tab's client id that another connection holds (presence).
    #[error("{0}")]
    InUse(String),
    /// `since` is older than the retained change log.
    #[error("{0}")]
    Gone(String),
    /// A seq older than the board's history reaches: the answer says where it starts, so a
    /// history slider can stop there.
    #[error("{message}")]
    BeforeHistory { message: String, floor: u64 },
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The request body did not arrive in time (`HEADER_TIMEOUT`).
    #[error("{0}")]
    RequestTimeout(String),
    /// The request's `Host` is not one of this server's names.
    #[error("{0}")]
    Misdirected(String),
    /// A command that is not `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A per-client limit: answered with `Retry-After` when waiting helps.
    #[error("{message}")]
    TooMany { message: String, retry_after: Option<std::time::Duration> },
    /// This replica is at its connection limit; another replica (or a later try) may serve.
    #[error("{0}")]
    Busy(String),
    /// A rule of the domain was broken.
    #[error("{0}")]
    Unprocessable(String),
    /// The database cannot be reached right now; the client should retry (with the same
    /// Idempotency-Key, so the retry applies at most once).
    #[error("the database is unavailable, retry shortly")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Conflict { .. } | AppError::InUse(_) => StatusCode::CONFLICT,
            AppError::Gone(_) | AppError::BeforeHistory { .. } => StatusCode::GONE,
            AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::Misdirected(_) => StatusCode::MISDIRECTED_REQUEST,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one answer for a board that does not exist, and for a private board that the
    /// request holds no working key for: the same words, so the answer reveals nothing.
    pub fn no_board(board: &str) -> Self {
        AppError::NotFound(format!("board `{board}` does not exist"))
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        AppError::Internal(Box::new(err))
    }

    /// Logs the cause of a failure that is ours (an internal error, an unreachable
    /// database); a refusal of the client's request is not logged.
    pub fn report(&self) {
        match self {
            AppError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            _ => {}
        }
    }

    /// When waiting helps, how long: a per-client limit's own wait, a busy replica's second.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            AppError::TooMany { retry_after, .. } => *retry_after,
            AppError::Busy(_) => Some(std::time::Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The JSON body of this refusal, also sent as a WebSocket `error` frame.
    pub fn body(&self) -> serde_json::Value {
        match self {
            AppError::Conflict { message, current } => json!({ "error": message, "current": current }),
            AppError::BeforeHistory { message, floor } => json!({ "error": message, "floor": floor }),
            other => json!({ "error": other.to_string() }),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Some(wait) = self.retry_after() {
            // Whole seconds, rounded up: `Retry-After: 0` would invite an immediate retry.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.max(1).into());
        }
        if matches!(self, AppError::Unauthorized(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"console\""),
            );
        }
        // For `log_errors`: the error travels with its response to the edge of the router.
        response.extensions_mut().insert(std::sync::Arc::new(self));
        response
    }
}

/// Middleware: logs (once) the error a response was built from, if any.
pub async fn log_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    if let Some(error) = response.extensions().get::<std::sync::Arc<AppError>>() {
        error.report();
    }
    response
}

impl From<DomainError> for AppError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::TodoNotFound(_) | DomainError::SprintNotFound(_) => AppError::NotFound(err.to_string()),
            DomainError::VersionMismatch { ref current, .. } => {
                AppError::Conflict { message: err.to_string(), current: current.clone() }
            }
            DomainError::Rule(message) => AppError::Unprocessable(message),
            // The command service re-spaces the column and decides again (`service::commands`);
            // meeting it here is a bug, logged like any internal error.
            DomainError::NoRoom { .. } => AppError::internal(err),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        // Failures to reach the database are the client's cue to retry; anything else is
        // a bug or a broken schema and stays internal.
        match err {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                AppError::Unavailable(err)
            }
            sqlx::Error::Database(ref db) if db.code().as_deref().is_some_and(is_unavailable_code) => {
                AppError::Unavailable(err)
            }
            other => AppError::internal(other),
        }
    }
}

/// Database error codes that mean "try again later": Postgres admin shutdown and
/// connection failures (class 08, 57P0x), SQLite busy/locked.
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P0") || code == "5" || code == "6"
}

impl From<axum::extract::rejection::QueryRejection> for AppError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        AppError::BadRequest(rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for AppError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        AppError::BadRequest(rejection.body_text())
    }
}
