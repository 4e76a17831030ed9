//! What one received frame means for the client's state. The engine acts on the answer;
//! keeping the decision pure lets it be tested without a browser.

use crate::domain::BoardState;
use crate::patterns::{Applied, ApplyError, Frame, PatternKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The state is now at the frame's seq.
    Applied,
    /// Nothing to do: a control frame that needs no action, or a seq already applied.
    Skip,
    /// Frames are missing between the state and this one: backfill from `since`, then
    /// this frame is covered too.
    Backfill { since: u64 },
    /// A poke (or a heartbeat ahead of us on a self-contained pattern): pull the state
    /// (`GET` with `If-None-Match`).
    Pull,
    /// The server cannot catch us up from our seq: take a fresh snapshot.
    Snapshot,
}

pub fn step(state: &mut BoardState, pattern: PatternKind, frame: &Frame) -> Result<Step, ApplyError> {
    match frame {
        // Control frames the engine handles itself (ack/error of WebSocket commands, the
        // end of a revoked stream).
        Frame::Hello { .. } | Frame::Ack { .. } | Frame::Error { .. } | Frame::Revoked {} => Ok(Step::Skip),
        // Ephemeral state never touches the board.
        ephemeral if ephemeral.is_ephemeral() => Ok(Step::Skip),
        // An idle stream whose head is ahead of us lost a notice (or its last frame).
        Frame::Heartbeat { head } if *head > state.seq => {
            Ok(if pattern.self_contained() { Step::Pull } else { Step::Backfill { since: state.seq } })
        }
        Frame::Heartbeat { .. } => Ok(Step::Skip),
        Frame::Reset { .. } => Ok(Step::Snapshot),
        data => {
            let seq = data.seq().expect("data frames carry a seq");
            if seq <= state.seq {
                return Ok(Step::Skip);
            }
            if seq > state.seq + 1 && !pattern.self_contained() {
                return Ok(Step::Backfill { since: state.seq });
            }
            Ok(match pattern.apply(state, data)? {
                Applied::Applied => Step::Applied,
                Applied::NeedsPull => Step::Pull,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{execute, Command};
    use crate::patterns::ChangeRecord;

    fn frames(pattern: PatternKind, n: usize) -> (BoardState, Vec<Frame>) {
        let start = BoardState::empty("b", "B");
        let mut state = start.clone();
        let mut out = Vec::new();
        for i in 0..n {
            let done = execute(&state, &Command::AddTodo { title: format!("t{i}"), sprint_id: None }).unwrap();
            out.push(pattern.frame_for(&ChangeRecord::new(&done, 0), &done.state));
            state = done.state;
        }
        (start, out)
    }

    #[test]
    fn in_order_frames_apply_and_repeats_are_skipped() {
        let (mut state, frames) = frames(PatternKind::PushOps, 3);
        assert_eq!(step(&mut state, PatternKind::PushOps, &frames[0]), Ok(Step::Applied));
        assert_eq!(step(&mut state, PatternKind::PushOps, &frames[0]), Ok(Step::Skip));
        assert_eq!(step(&mut state, PatternKind::PushOps, &frames[2]), Ok(Step::Backfill { since: 1 }));
        assert_eq!(state.seq, 1, "a gap applies nothing");
        assert_eq!(
            step(&mut state, PatternKind::PushOps, &Frame::Heartbeat { head: 3 }),
            Ok(Step::Backfill { since: 1 })
        );
        assert_eq!(step(&mut state, PatternKind::PushOps, &Frame::Reset { head: 3 }), Ok(Step::Snapshot));
    }

    #[test]
    fn self_contained_patterns_may_skip_seqs() {
        let (mut state, frames) = frames(PatternKind::PushState, 3);
        assert_eq!(step(&mut state, PatternKind::PushState, &frames[2]), Ok(Step::Applied));
        assert_eq!(state.seq, 3);
        let (mut state, frames) = frames_poke();
        assert_eq!(step(&mut state, PatternKind::PokePull, &frames[1]), Ok(Step::Pull));
    }

    fn frames_poke() -> (BoardState, Vec<Frame>) {
        frames(PatternKind::PokePull, 2)
    }
}
