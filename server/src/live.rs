//! A committed change as it travels inside a replica, and the snapshot cache.
//!
//! Principle: encode once, fan out bytes. A [`LiveChange`] encodes its frame for a pattern
//! the first time a subscriber of that pattern asks, and every other subscriber gets the
//! same `Bytes` (a reference count, not a copy). A [`Snapshot`] does the same for the whole
//! board, so a thousand pulls after one poke cost one JSON encoding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use app::domain::BoardState;
use app::patterns::{ChangeRecord, PatternKind};

pub struct LiveChange {
    pub board: String,
    pub record: ChangeRecord,
    /// The board right after this change: `push-state` sends it. `None` when this replica
    /// heard of the change from another one without holding the state before it.
    pub state: Option<Arc<BoardState>>,
    /// The encoded frame per pattern, filled on first use.
    frames: [OnceLock<Bytes>; PatternKind::ALL.len()],
}

impl LiveChange {
    pub fn new(board: String, record: ChangeRecord, state: Arc<BoardState>) -> Self {
        Self::with_state(board, record, Some(state))
    }

    pub fn with_state(board: String, record: ChangeRecord, state: Option<Arc<BoardState>>) -> Self {
        LiveChange { board, record, state, frames: Default::default() }
    }

    pub fn seq(&self) -> u64 {
        self.record.seq
    }

    /// This change's frame in `pattern`, encoded at most once. `None` for `push-state`
    /// when the state after the change is unknown here (the subscriber then takes the
    /// current snapshot instead).
    pub fn frame(&self, pattern: PatternKind) -> Option<Bytes> {
        static NO_STATE: std::sync::LazyLock<BoardState> = std::sync::LazyLock::new(|| BoardState::empty("", ""));
        let state = match (&self.state, pattern) {
            (Some(state), _) => state.as_ref(),
            (None, PatternKind::PushState) => return None,
            // The other patterns never read the state.
            (None, _) => &NO_STATE,
        };
        let bytes = self.frames[pattern.index()].get_or_init(|| {
            metrics::counter!("board_frames_encoded_total", "pattern" => pattern.as_str()).increment(1);
            Bytes::from(pattern.encode(&self.record, state).to_json())
        });
        Some(bytes.clone())
    }
}

/// A board at one seq, with its JSON encoded at most once.
pub struct Snapshot {
    pub state: Arc<BoardState>,
    /// Commit time of `state.seq`, Unix ms (0 at seq 0).
    pub at: i64,
    json: OnceLock<Bytes>,
}

impl Snapshot {
    pub fn new(state: Arc<BoardState>, at: i64) -> Self {
        Snapshot { state, at, json: OnceLock::new() }
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
}

/// The newest snapshot of each board this replica has seen. It only moves forward: an
/// older snapshot offered late (a slow read racing a commit) is ignored.
#[derive(Default)]
pub struct Snapshots {
    boards: Mutex<HashMap<String, Arc<Snapshot>>>,
}

/// Beyond this many boards the cache is cleared rather than grown: it is a cache, and
/// every entry can be rebuilt from the database.
const MAX_CACHED_BOARDS: usize = 1024;

impl Snapshots {
    pub fn get(&self, board: &str) -> Option<Arc<Snapshot>> {
        self.boards.lock().expect("snapshot lock").get(board).cloned()
    }

    /// Drops a board known to be stale; the next read goes to the database.
    pub fn forget(&self, board: &str) {
        self.boards.lock().expect("snapshot lock").remove(board);
    }

    /// Keeps `snapshot` if it is newer than what the cache holds; returns the newest.
    pub fn offer(&self, board: &str, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        let mut boards = self.boards.lock().expect("snapshot lock");
        if let Some(current) = boards.get(board) {
            if current.seq() >= snapshot.seq() {
                return current.clone();
            }
        } else if boards.len() >= MAX_CACHED_BOARDS {
            boards.clear();
        }
        boards.insert(board.to_owned(), snapshot.clone());
        snapshot
    }
}
