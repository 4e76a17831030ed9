//! Transports: thin adapters that carry the frames of [`crate::stream`] to a client. Each
//! only translates: query parameters in, its own framing out. None of them knows how a
//! frame is built or how gaps are repaired.
//!
//! * [`sse`]: `text/event-stream`, `id:` = seq, `Last-Event-ID` resumes.

pub mod sse;

use serde::Deserialize;

use app::patterns::PatternKind;

use crate::error::AppError;

/// The query every stream endpoint takes: `?pattern=P&since=N`.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    pub pattern: Option<String>,
    pub since: Option<u64>,
}

impl StreamQuery {
    /// The pattern asked for (default `event-diff`), or a `400` naming the valid ones.
    pub fn pattern(&self) -> Result<PatternKind, AppError> {
        match self.pattern.as_deref() {
            None => Ok(PatternKind::EventDiff),
            Some(name) => name.parse().map_err(AppError::BadRequest),
        }
    }
}
