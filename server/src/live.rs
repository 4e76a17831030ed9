//! A committed change as it travels inside a replica, and a board at one seq: each encoded
//! once, whatever the number of subscribers.
//!
//! Principle: encode once, fan out bytes. A [`LiveChange`] encodes its frame for a pattern
//! the first time a subscriber of that pattern asks, and every other subscriber gets the
//! same `Bytes` (a reference count, not a copy). A [`Snapshot`] does the same for the whole
//! board (its JSON and its `push-state` frame), so a thousand pulls after one poke cost one
//! encoding. Only the snapshot cache (`freshness`) holds boards strongly; the broadcast
//! ring holds changes (see [`LiveChange`]).

use std::sync::{Arc, OnceLock, Weak};

use bytes::Bytes;

use board_core::domain::BoardState;
use board_core::patterns::{ChangeRecord, PatternKind};

/// What a board's broadcast ring carries: one per committed change, shared by every
/// subscriber on this replica.
///
/// It holds the change (small: a move or a rename is a few hundred bytes in any pattern)
/// and only a *weak* link to the board after it. The board itself, and its `push-state`
/// frame, live in the snapshot cache while they are the newest, and in whatever send is
/// using them; a subscriber that stopped reading therefore pins at most the ring's
/// notices, never 64 copies of a large board.
pub struct LiveChange {
    pub board: String,
    pub record: ChangeRecord,
    /// The board right after this change. Dead once a newer snapshot replaced it (or
    /// never set, when another replica made the change and this one did not hold the
    /// state before it): a `push-state` subscriber then takes the current snapshot.
    after: Weak<Snapshot>,
    /// The encoded frame of each delta pattern, filled on first use.
    frames: [OnceLock<Bytes>; PatternKind::ALL.len()],
    /// The change's spans on this replica, when its trace is recorded (`telemetry`): the
    /// fan-out counts the subscribers it hands the change to, each counts itself as it
    /// takes it, and the batch's span ends with the last.
    pub traced: Option<crate::telemetry::Traced>,
}

impl LiveChange {
    pub fn new(board: String, record: ChangeRecord, after: &Arc<Snapshot>) -> Self {
        Self::with_snapshot(board, record, Some(after))
    }

    pub fn with_snapshot(board: String, record: ChangeRecord, after: Option<&Arc<Snapshot>>) -> Self {
        let after = after.map(Arc::downgrade).unwrap_or_default();
        LiveChange { board, record, after, frames: Default::default(), traced: None }
    }

    pub fn seq(&self) -> u64 {
        self.record.seq
    }

    /// The same change, delivered under `traced`'s spans.
    pub fn traced(self, traced: Option<crate::telemetry::Traced>) -> Self {
        LiveChange { traced, ..self }
    }

    /// This change's frame in `pattern`, encoded at most once. A pattern whose frame is
    /// the board after the change (`push-state`) gets it from that board's snapshot;
    /// `None` when the snapshot is no longer (or never was) held here: the subscriber then
    /// takes the current one instead.
    pub fn frame(&self, pattern: PatternKind) -> Option<Bytes> {
        let bytes = self.frames[pattern.index()].get_or_init(|| match pattern.encode(&self.record) {
            Some(frame) => {
                metrics::counter!("board_frames_encoded_total", "pattern" => pattern.as_str()).increment(1);
                Bytes::from(frame.to_json())
            }
            None => Bytes::new(),
        });
        if bytes.is_empty() {
            return self.after.upgrade().map(|snapshot| snapshot.frame(pattern));
        }
        Some(bytes.clone())
    }
}

/// A board at one seq, with its JSON and each self-contained pattern's frame for it
/// encoded at most once.
pub struct Snapshot {
    pub state: Arc<BoardState>,
    /// Commit time of `state.seq`, Unix ms (0 at seq 0).
    pub at: i64,
    /// The Idempotency-Key of the command that made `state.seq`, when known: the frames
    /// that bring a client here carry it, as the change's own frames do.
    key: Option<String>,
    /// The trace id of that command, when it was traced (see `ChangeRecord::trace`).
    trace: Option<String>,
    json: OnceLock<Bytes>,
    frames: [OnceLock<Bytes>; PatternKind::ALL.len()],
}

impl Snapshot {
    pub fn new(state: Arc<BoardState>, at: i64, key: Option<String>) -> Self {
        Snapshot { state, at, key, trace: None, json: OnceLock::new(), frames: Default::default() }
    }

    /// The board right after `change`: its frames carry the change's key and trace id.
    pub fn after(state: Arc<BoardState>, change: &ChangeRecord) -> Self {
        Snapshot { trace: change.trace.clone(), ..Snapshot::new(state, change.at, change.key.clone()) }
    }

    pub fn seq(&self) -> u64 {
        self.state.seq
    }

    /// The `GET /api/boards/{board}` body.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                metrics::counter!("board_snapshot_builds_total").increment(1);
                Bytes::from(serde_json::to_vec(&*self.state).expect("boards serialise"))
            })
            .clone()
    }

    /// The one frame a self-contained pattern needs to reach this board (the pattern says
    /// what it is), encoded once and shared by every subscriber.
    ///
    /// # Panics
    /// For a delta pattern, which has no such frame: its clients catch up from the log.
    pub fn frame(&self, pattern: PatternKind) -> Bytes {
        self.frames[pattern.index()]
            .get_or_init(|| {
                metrics::counter!("board_frames_encoded_total", "pattern" => pattern.as_str()).increment(1);
                let frame = pattern.snapshot_frame(&self.state, self.at).expect("a self-contained pattern");
                let frame = frame.tagged(self.key.clone(), self.trace.clone());
                Bytes::from(frame.to_json())
            })
            .clone()
    }
}
