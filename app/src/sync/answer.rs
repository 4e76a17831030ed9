//! What the server answers the engine's requests: a command's [`Answered`], or why there
//! is no such answer ([`HttpError`]). Tabs tell each other the answers (`outbox::Shared`),
//! hence serde.

/// A command's answer, as far as the engine cares: the seq it committed at, and what it
/// did to its todo (for undo).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Answered {
    pub seq: u64,
    pub step: Option<board_core::domain::undo::Step>,
}

/// Why a request has no answer to use: none came, or the server refused it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum HttpError {
    /// No answer at all: offline, DNS, connection refused.
    Network(String),
    Status {
        status: u16,
        message: String,
    },
}

impl HttpError {
    /// Worth retrying with the same request (and Idempotency-Key)?
    pub fn retryable(&self) -> bool {
        match self {
            HttpError::Network(_) => true,
            HttpError::Status { status, .. } => matches!(status, 502..=504),
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Network(_) => None,
            HttpError::Status { status, .. } => Some(*status),
        }
    }

    pub fn message(&self) -> String {
        match self {
            HttpError::Network(_) => "the server cannot be reached".into(),
            HttpError::Status { message, .. } => message.clone(),
        }
    }
}
