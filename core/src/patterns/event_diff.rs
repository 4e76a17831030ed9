//! `event-diff`: the business event (why) plus the field-level diff it caused (what).
//! The client applies the diff, so it needs no reducer, and can still show the event.

use super::{wrong_kind, Applied, ApplyError, ChangeRecord, Frame, Pattern, PatternKind};
use crate::domain::{diff, BoardState};

pub struct EventDiff;

impl Pattern for EventDiff {
    const KIND: PatternKind = PatternKind::EventDiff;
    const SELF_CONTAINED: bool = false;

    fn encode(change: &ChangeRecord) -> Option<Frame> {
        Some(Frame::EventDiff {
            seq: change.seq,
            at: change.at,
            event: change.event.clone(),
            diff: change.diff.clone(),
            key: change.key.clone(),
            trace: change.trace.clone(),
        })
    }

    fn snapshot_frame(_state: &BoardState, _at: i64) -> Option<Frame> {
        None
    }

    fn apply_data(state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError> {
        match frame {
            Frame::EventDiff { diff: d, .. } => {
                diff::apply(state, d).map_err(|e| ApplyError::BadDiff(e.to_string()))?;
                Ok(Applied::Applied)
            }
            other => Err(wrong_kind(Self::KIND, other)),
        }
    }
}
