//! `push-state`: every change sends the whole board. Simplest client (replace the state),
//! largest frames: the cost grows with the board, not with the change.

use super::{wrong_kind, Applied, ApplyError, ChangeRecord, Frame, Pattern, PatternKind};
use crate::domain::BoardState;

pub struct PushState;

impl Pattern for PushState {
    const KIND: PatternKind = PatternKind::PushState;
    const SELF_CONTAINED: bool = true;

    /// The frame is the board after the change, not the change: see `snapshot_frame`.
    fn encode(_change: &ChangeRecord) -> Option<Frame> {
        None
    }

    fn snapshot_frame(state: &BoardState, at: i64) -> Option<Frame> {
        Some(Frame::State { seq: state.seq, at, state: state.clone(), key: None, trace: None })
    }

    fn apply_data(state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError> {
        match frame {
            Frame::State { state: next, .. } => {
                *state = next.clone();
                Ok(Applied::Applied)
            }
            other => Err(wrong_kind(Self::KIND, other)),
        }
    }
}
