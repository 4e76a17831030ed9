//! `push-state`: every change sends the whole board. Simplest client (replace the state),
//! largest frames: the cost grows with the board, not with the change.

use super::{wrong_kind, Applied, ApplyError, ChangeRecord, Frame, Pattern, PatternKind};
use crate::domain::BoardState;

pub struct PushState;

impl Pattern for PushState {
    const KIND: PatternKind = PatternKind::PushState;
    const SELF_CONTAINED: bool = true;

    fn encode(change: &ChangeRecord, state: &BoardState) -> Frame {
        Frame::State { seq: change.seq, at: change.at, state: state.clone() }
    }

    fn apply(state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError> {
        match frame {
            Frame::State { state: next, .. } => {
                *state = next.clone();
                Ok(Applied::Applied)
            }
            other => Err(wrong_kind(Self::KIND, other)),
        }
    }
}
