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
    /// No position key lies between the two neighbours a move asked for: they share one,
    /// which only a store written before keys were kept strictly increasing can hold. The
    /// server re-spaces the column (a change of its own) and decides the command again.
    #[error("the column needs re-spacing before a todo can be moved there")]
    NoRoom { sprint_id: Option<Id> },
}

impl DomainError {
    pub(crate) fn rule(msg: impl Into<String>) -> Self {
        DomainError::Rule(msg.into())
    }
}
