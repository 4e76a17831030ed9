//! The five delivery patterns, one file each behind one trait.
//!
//! Every pattern answers two questions about a committed change: what does the server put
//! on the wire ([`Pattern::encode`], run once per change on the server), and how does a
//! client that holds seq N-1 reach seq N ([`Pattern::apply`], run in the browser). All of
//! them use the shared [`domain`](crate::domain), so none can drift from the server.
//!
//! | pattern | frame | client work |
//! | --- | --- | --- |
//! | `poke-pull` | `{"kind":"poke","seq":N}` | pulls `GET /api/boards/{board}` |
//! | `push-state` | `{"kind":"state","seq":N,"state":{..}}` | replaces its state |
//! | `push-ops` | `{"kind":"ops","seq":N,"ops":[..]}` | puts/deletes entities |
//! | `push-events` | `{"kind":"event","seq":N,"event":{..}}` | runs the reducer |
//! | `event-diff` | `{"kind":"event-diff","seq":N,"event":{..},"diff":{..}}` | sets fields |

mod event_diff;
mod frame;
mod poke_pull;
mod push_events;
mod push_ops;
mod push_state;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::{BoardState, Diff, Event, Op};

pub use event_diff::EventDiff;
pub use frame::Frame;
pub use poke_pull::PokePull;
pub use push_events::PushEvents;
pub use push_ops::PushOps;
pub use push_state::PushState;

/// One entry of a board's change log: everything needed to encode the change in any
/// pattern except `push-state`, which also needs the state after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub seq: u64,
    /// Commit time, Unix milliseconds: lets a client measure commit-to-receipt latency.
    pub at: i64,
    pub event: Event,
    pub ops: Vec<Op>,
    pub diff: Diff,
}

/// What applying a frame did to the client's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The state is now at the frame's seq.
    Applied,
    /// The frame carried no data (a poke): the client must pull the state itself.
    NeedsPull,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApplyError {
    #[error("a {pattern} client cannot apply a `{kind}` frame")]
    WrongKind { pattern: PatternKind, kind: &'static str },
    #[error("the diff does not fit the state: {0}")]
    BadDiff(String),
}

/// The contract of a pattern: encode on the server, apply on the client.
pub trait Pattern {
    const KIND: PatternKind;
    /// `true` when a frame stands alone (a poke or a whole state), so a client may skip
    /// seqs; `false` when frames are deltas that must be applied at exactly seq N-1.
    const SELF_CONTAINED: bool;
    /// The frame the server sends for `change`; `state` is the board right after it.
    fn encode(change: &ChangeRecord, state: &BoardState) -> Frame;
    /// Applies a data frame to a state at `frame.seq() - 1` (or older, if self-contained).
    fn apply(state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError>;
}

/// The pattern names of the contract (`pattern=` in every URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatternKind {
    PokePull,
    PushState,
    PushOps,
    PushEvents,
    EventDiff,
}

impl PatternKind {
    /// In order of difficulty, as the docs present them.
    pub const ALL: [PatternKind; 5] = [
        PatternKind::PokePull,
        PatternKind::PushState,
        PatternKind::PushOps,
        PatternKind::PushEvents,
        PatternKind::EventDiff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PatternKind::PokePull => "poke-pull",
            PatternKind::PushState => "push-state",
            PatternKind::PushOps => "push-ops",
            PatternKind::PushEvents => "push-events",
            PatternKind::EventDiff => "event-diff",
        }
    }

    /// Index into per-pattern tables (such as a change's encoded frames).
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn self_contained(self) -> bool {
        match self {
            PatternKind::PokePull => PokePull::SELF_CONTAINED,
            PatternKind::PushState => PushState::SELF_CONTAINED,
            PatternKind::PushOps => PushOps::SELF_CONTAINED,
            PatternKind::PushEvents => PushEvents::SELF_CONTAINED,
            PatternKind::EventDiff => EventDiff::SELF_CONTAINED,
        }
    }

    pub fn encode(self, change: &ChangeRecord, state: &BoardState) -> Frame {
        match self {
            PatternKind::PokePull => PokePull::encode(change, state),
            PatternKind::PushState => PushState::encode(change, state),
            PatternKind::PushOps => PushOps::encode(change, state),
            PatternKind::PushEvents => PushEvents::encode(change, state),
            PatternKind::EventDiff => EventDiff::encode(change, state),
        }
    }

    pub fn apply(self, state: &mut BoardState, frame: &Frame) -> Result<Applied, ApplyError> {
        match self {
            PatternKind::PokePull => PokePull::apply(state, frame),
            PatternKind::PushState => PushState::apply(state, frame),
            PatternKind::PushOps => PushOps::apply(state, frame),
            PatternKind::PushEvents => PushEvents::apply(state, frame),
            PatternKind::EventDiff => EventDiff::apply(state, frame),
        }
    }

    /// The error text for a bad `pattern=`: it names the valid ones.
    pub fn unknown(name: &str) -> String {
        let valid: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
        format!("unknown pattern `{name}`; valid patterns: {}", valid.join(", "))
    }
}

impl fmt::Display for PatternKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PatternKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| Self::unknown(s))
    }
}

/// The refusal every pattern gives a frame that is not its own.
pub(crate) fn wrong_kind(pattern: PatternKind, frame: &Frame) -> ApplyError {
    ApplyError::WrongKind { pattern, kind: frame.kind() }
}
