//! `push-events`: every change sends only the business event; the client runs the same
//! reducer as the server ([`evolve`]). Smallest meaningful frames; the client must hold
//! exactly seq N-1, and both sides must share the reducer (here they share the code).

use super::{wrong_kind, Applied, ApplyError, ChangeRecord, Frame, Pattern, PatternKind};
use crate::domain::evolve::evolve;
use crate::domain::BoardState;

pub struct PushEvents;

impl Pattern for PushEvents {
    const KIND: PatternKind = PatternKind::PushEvents;
    const SELF_CONTAINED: bool = false;

    fn encode(change: &ChangeRecord) -> Option<Frame> {
        Some(Frame::Event {
            seq: change.seq,
            at: change.at,
            event: change.event.clone(),
            key: change.key.clone(),
            trace: change.trace.clone(),
        })
    }

    fn snapshot_frame(_state: &BoardState, _at: i64) -> Option<Frame> {
        None
    }

    fn apply_data(state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError> {
        match frame {
            Frame::Event { event, .. } => {
                // `evolve` advances the seq by one; the frame's seq is set after, the truth.
                evolve(state, event);
                Ok(Applied::Applied)
            }
            other => Err(wrong_kind(Self::KIND, other)),
        }
    }
}
