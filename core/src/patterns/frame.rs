//! The envelope of everything the server sends down a stream or returns from `/changes`,
//! `/poll` and `/long-poll`: data frames (one per pattern) and control frames.

use serde::{Deserialize, Serialize};

use crate::domain::{BoardState, Diff, Event, Op};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Frame {
    /// First frame of every stream: who serves it, the board's head seq and its epoch
    /// (the client sends that epoch back when it resumes: see `api::Position`).
    Hello {
        replica: String,
        head: u64,
        #[serde(default)]
        epoch: String,
    },
    /// Sent while idle; a head above the client's seq means it missed something.
    Heartbeat { head: u64 },
    /// The requested `since` is outside the retained log: take a fresh snapshot.
    Reset { head: u64 },
    /// The key this stream was opened with no longer opens the board (its keys were
    /// rotated): the stream ends after this frame. Reconnecting with the old key gets 404.
    Revoked {},
    /// WebSocket only: a command sent up the socket committed at `seq`.
    Ack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        seq: u64,
        /// The id the command created, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<crate::domain::Id>,
        /// What the change did to its todo, for the sender's undo (as in the HTTP answer).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<Box<crate::domain::undo::Step>>,
    },
    /// WebSocket only: a command sent up the socket was refused (`status` as over HTTP).
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        status: u16,
        error: String,
    },
    /// Ephemeral (no seq, never in the log): everyone on the board, the whole list, after
    /// `hello` and whenever it changes. `rev` names the list: equal lists have equal revs
    /// on every replica, so a client that holds `rev` needs nothing.
    /// At most [`crate::presence::MAX_LISTED`] people, those here longest first; `more`
    /// counts the others (absent when none).
    Presence {
        rev: u64,
        members: Vec<crate::presence::Member>,
        #[serde(default, skip_serializing_if = "is_zero")]
        more: usize,
    },
    /// Ephemeral: a message from another tab for this one (a WebRTC offer, answer or ICE
    /// candidate).
    Signal { from: String, data: serde_json::Value },
    /// Ephemeral: another tab's pointer, relayed by the server because no peer-to-peer
    /// channel carries it; fractions of the board's area.
    Cursor { from: String, x: f64, y: f64 },
    Poke {
        seq: u64,
        at: i64,
        /// The Idempotency-Key of the command that made this change, when it had one
        /// (see `ChangeRecord::key`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The trace id of the change (32 hex digits) when its command was traced (it came
        /// with a W3C `traceparent`, or the server sampled it): the tab can then find the
        /// change's spans and report when it applied it (see `ChangeRecord::trace`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<String>,
    },
    State {
        seq: u64,
        at: i64,
        state: BoardState,
        /// The Idempotency-Key of the command that made this change, when it had one
        /// (see `ChangeRecord::key`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The trace id of the change (32 hex digits) when its command was traced (it came
        /// with a W3C `traceparent`, or the server sampled it): the tab can then find the
        /// change's spans and report when it applied it (see `ChangeRecord::trace`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<String>,
    },
    Ops {
        seq: u64,
        at: i64,
        ops: Vec<Op>,
        /// The Idempotency-Key of the command that made this change, when it had one
        /// (see `ChangeRecord::key`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The trace id of the change (32 hex digits) when its command was traced (it came
        /// with a W3C `traceparent`, or the server sampled it): the tab can then find the
        /// change's spans and report when it applied it (see `ChangeRecord::trace`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<String>,
    },
    Event {
        seq: u64,
        at: i64,
        event: Event,
        /// The Idempotency-Key of the command that made this change, when it had one
        /// (see `ChangeRecord::key`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The trace id of the change (32 hex digits) when its command was traced (it came
        /// with a W3C `traceparent`, or the server sampled it): the tab can then find the
        /// change's spans and report when it applied it (see `ChangeRecord::trace`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<String>,
    },
    EventDiff {
        seq: u64,
        at: i64,
        event: Event,
        diff: Diff,
        /// The Idempotency-Key of the command that made this change, when it had one
        /// (see `ChangeRecord::key`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The trace id of the change (32 hex digits) when its command was traced (it came
        /// with a W3C `traceparent`, or the server sampled it): the tab can then find the
        /// change's spans and report when it applied it (see `ChangeRecord::trace`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<String>,
    },
}

impl Frame {
    /// What a data frame says of its change: the seq it brings the client to, its commit
    /// time and the Idempotency-Key of the command behind it. `None` for a control frame.
    ///
    /// The match lists every kind, with no `_` arm, on purpose: a new kind of frame does not
    /// compile until it is put on one side, and on the data side it must carry all three.
    /// (Without its key, the tab that sent the command could not recognise its own change,
    /// and an optimistic page would show it twice.)
    pub fn header(&self) -> Option<DataHeader<'_>> {
        match self {
            Frame::Poke { seq, at, key, trace }
            | Frame::State { seq, at, key, trace, .. }
            | Frame::Ops { seq, at, key, trace, .. }
            | Frame::Event { seq, at, key, trace, .. }
            | Frame::EventDiff { seq, at, key, trace, .. } => {
                Some(DataHeader { seq: *seq, at: *at, key: key.as_deref(), trace: trace.as_deref() })
            }
            Frame::Hello { .. }
            | Frame::Heartbeat { .. }
            | Frame::Reset { .. }
            | Frame::Revoked {}
            | Frame::Ack { .. }
            | Frame::Error { .. }
            | Frame::Presence { .. }
            | Frame::Signal { .. }
            | Frame::Cursor { .. } => None,
        }
    }

    /// The seq a data frame brings the client to; `None` for control frames.
    pub fn seq(&self) -> Option<u64> {
        self.header().map(|h| h.seq)
    }

    /// Commit time of a data frame, Unix milliseconds.
    pub fn at(&self) -> Option<i64> {
        self.header().map(|h| h.at)
    }

    /// The Idempotency-Key of the command behind a data frame, when the frame carries it.
    pub fn key(&self) -> Option<&str> {
        self.header().and_then(|h| h.key)
    }

    /// The trace id of the change behind a data frame, when it was traced.
    pub fn trace(&self) -> Option<&str> {
        self.header().and_then(|h| h.trace)
    }

    /// The same frame carrying `key` (a data frame; any other is returned as it is).
    /// Exhaustive for the same reason as [`Frame::header`].
    pub fn keyed(self, new: Option<String>) -> Frame {
        let trace = self.trace().map(str::to_owned);
        self.tagged(new, trace)
    }

    /// The same frame carrying the key and the trace id of the command behind it (a data
    /// frame; any other is returned as it is).
    pub fn tagged(mut self, new_key: Option<String>, new_trace: Option<String>) -> Frame {
        match &mut self {
            Frame::Poke { key, trace, .. }
            | Frame::State { key, trace, .. }
            | Frame::Ops { key, trace, .. }
            | Frame::Event { key, trace, .. }
            | Frame::EventDiff { key, trace, .. } => (*key, *trace) = (new_key, new_trace),
            Frame::Hello { .. }
            | Frame::Heartbeat { .. }
            | Frame::Reset { .. }
            | Frame::Revoked {}
            | Frame::Ack { .. }
            | Frame::Error { .. }
            | Frame::Presence { .. }
            | Frame::Signal { .. }
            | Frame::Cursor { .. } => {}
        }
        self
    }

    /// The `kind` tag as it appears on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::Heartbeat { .. } => "heartbeat",
            Frame::Reset { .. } => "reset",
            Frame::Revoked {} => "revoked",
            Frame::Ack { .. } => "ack",
            Frame::Error { .. } => "error",
            Frame::Presence { .. } => "presence",
            Frame::Signal { .. } => "signal",
            Frame::Cursor { .. } => "cursor",
            Frame::Poke { .. } => "poke",
            Frame::State { .. } => "state",
            Frame::Ops { .. } => "ops",
            Frame::Event { .. } => "event",
            Frame::EventDiff { .. } => "event-diff",
        }
    }

    /// Ephemeral state (presence, signals, cursors): never in the change log, no seq, and
    /// a client that misses one is repaired by the next, not by a backfill.
    pub fn is_ephemeral(&self) -> bool {
        matches!(self, Frame::Presence { .. } | Frame::Signal { .. } | Frame::Cursor { .. })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames always serialise")
    }
}

/// What every data frame carries besides its pattern's payload ([`Frame::header`]). On the
/// wire these are fields of the frame itself (`"seq"`, `"at"`, `"key"`, `"trace"`), where
/// they always were; this is how the code reads them, whatever the pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataHeader<'a> {
    pub seq: u64,
    /// Commit time, Unix milliseconds.
    pub at: i64,
    pub key: Option<&'a str>,
    /// The change's trace id, when its command was traced.
    pub trace: Option<&'a str>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
