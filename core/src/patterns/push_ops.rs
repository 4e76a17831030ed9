//! `push-ops`: every change sends the entities it put or deleted. The client needs a
//! starting state (the server-rendered page, or `GET` state after a `reset`) and then
//! applies ops in strict seq order.

use super::{wrong_kind, Applied, ApplyError, ChangeRecord, Frame, Pattern, PatternKind};
use crate::domain::{op, BoardState};

pub struct PushOps;

impl Pattern for PushOps {
    const KIND: PatternKind = PatternKind::PushOps;
    const SELF_CONTAINED: bool = false;

    fn encode(change: &ChangeRecord) -> Option<Frame> {
        Some(Frame::Ops {
            seq: change.seq,
            at: change.at,
            ops: change.ops.clone(),
            key: change.key.clone(),
            trace: change.trace.clone(),
        })
    }

    fn snapshot_frame(_state: &BoardState, _at: i64) -> Option<Frame> {
        None
    }

    fn apply_data(state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError> {
        match frame {
            Frame::Ops { ops, .. } => {
                op::apply(state, ops);
                Ok(Applied::Applied)
            }
            other => Err(wrong_kind(Self::KIND, other)),
        }
    }
}
