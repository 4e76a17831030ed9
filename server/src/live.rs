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

/// The newest snapshot of each board this replica has seen, and the newest seq it knows
/// the board reached. A snapshot behind that seq is stale and never served: a replica that
/// read seq N from the log (or heard of it from a heartbeat or another replica) must not
/// answer `GET` with N-1, or a client holding N would see the board go back in time.
#[derive(Default)]
pub struct Snapshots {
    boards: Mutex<HashMap<String, Cached>>,
}

#[derive(Default)]
struct Cached {
    /// Only moves forward: an older snapshot offered late (a slow read racing a commit)
    /// is ignored.
    snapshot: Option<Arc<Snapshot>>,
    /// The newest seq this replica knows the board reached.
    head: u64,
}

/// Beyond this many boards the cache is cleared rather than grown: it is a cache, and
/// every entry can be rebuilt from the database.
const MAX_CACHED_BOARDS: usize = 1024;

impl Snapshots {
    /// The cached board, unless the board is known to have moved past it.
    pub fn get(&self, board: &str) -> Option<Arc<Snapshot>> {
        let boards = self.boards.lock().expect("snapshot lock");
        let cached = boards.get(board)?;
        cached.snapshot.clone().filter(|snapshot| snapshot.seq() >= cached.head)
    }

    /// Records that the board reached `head` (read from the log or the database, or heard
    /// from another replica): an older snapshot stops being served.
    pub fn saw_head(&self, board: &str, head: u64) {
        let mut boards = self.boards.lock().expect("snapshot lock");
        let cached = Self::entry(&mut boards, board);
        cached.head = cached.head.max(head);
    }

    /// Keeps `snapshot` if it is newer than what the cache holds; returns the newest.
    pub fn offer(&self, board: &str, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        let mut boards = self.boards.lock().expect("snapshot lock");
        let cached = Self::entry(&mut boards, board);
        cached.head = cached.head.max(snapshot.seq());
        match &cached.snapshot {
            Some(current) if current.seq() >= snapshot.seq() => current.clone(),
            _ => {
                cached.snapshot = Some(snapshot.clone());
                snapshot
            }
        }
    }

    fn entry<'a>(boards: &'a mut HashMap<String, Cached>, board: &str) -> &'a mut Cached {
        if boards.len() >= MAX_CACHED_BOARDS && !boards.contains_key(board) {
            boards.clear();
        }
        boards.entry(board.to_owned()).or_default()
    }
}
