//! Why the domain refuses a command. The server maps each kind to an HTTP status
//! (not found → 404, stale version → 409, broken rule → 422); the message is for people.

use super::model::{Id, Todo};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("todo {0} does not exist")]
    TodoNotFound(Id),
    #[error("sprint {0} does not exist")]
    SprintNotFound(Id),
    /// Carries the todo as it is now, so the client can show it and retry.
    #[error("todo {} is at version {}, not the expected {expected}", current.id, current.version)]
    VersionMismatch { expected: u64, current: Box<Todo> },
    #[error("{0}")]
    Rule(String),
}

impl DomainError {
    pub(crate) fn rule(msg: impl Into<String>) -> Self {
        DomainError::Rule(msg.into())
    }
}
