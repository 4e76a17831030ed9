//! `poke-pull`: the frame says only "seq N exists". The client pulls the state itself
//! (`GET /api/boards/{board}` with `If-None-Match`), so the wire cost of a change is tiny
//! and the pull is served from a snapshot cached per (board, seq).

use super::{wrong_kind, Applied, ApplyError, ChangeRecord, Frame, Pattern, PatternKind};
use crate::domain::BoardState;

pub struct PokePull;

impl Pattern for PokePull {
    const KIND: PatternKind = PatternKind::PokePull;
    const SELF_CONTAINED: bool = true;

    fn encode(change: &ChangeRecord) -> Option<Frame> {
        Some(Frame::Poke { seq: change.seq, at: change.at, key: change.key.clone(), trace: change.trace.clone() })
    }

    fn snapshot_frame(state: &BoardState, at: i64) -> Option<Frame> {
        Some(Frame::Poke { seq: state.seq, at, key: None, trace: None })
    }

    fn apply_data(_state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError> {
        match frame {
            Frame::Poke { .. } => Ok(Applied::NeedsPull),
            other => Err(wrong_kind(Self::KIND, other)),
        }
    }
}
