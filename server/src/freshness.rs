//! Freshness: how a replica knows that its copy of a board is current.
//!
//! The broker only carries notices, and notices can be lost (see `broker`). Everything
//! that keeps a replica honest in spite of that lives here, in one place:
//!
//! * the **snapshot cache**: the newest board this replica has seen, with the newest seq
//!   it knows the board reached; a snapshot behind that seq is stale and never served. It
//!   is bounded in bytes ([`CACHE_BYTES`]) and in boards ([`CACHED_BOARDS`]), the least
//!   recently used going first (a big board's snapshot, its JSON and its `push-state` frame
//!   are megabytes; bounded by count alone, 1,024 of them were gigabytes);
//! * **reading heads**: from the database on demand ([`Freshness::head`]), or at most once
//!   per board per heartbeat interval for the heartbeats every idle stream sends
//!   ([`Freshness::recent_head`]); each read marks older snapshots stale;
//! * **changes heard from other replicas**: the board after one is derived from the cached
//!   board before it, when that is held; otherwise the cache is marked stale
//!   ([`Freshness::heard`], what a cross-replica broker calls);
//! * **the sweep**: every [`SWEEP_EVERY`], and as soon as the broker reconnects, the head
//!   of each board followed here is read and told to its subscribers, so one whose last
//!   notice was lost repairs from the log without waiting for its heartbeat
//!   ([`Freshness::keep_sweeping`], which ends when the server closes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use board_core::domain::op;
use board_core::patterns::ChangeRecord;

use crate::broker::{Broker, Notice};
use crate::error::AppError;
use crate::live::{LiveChange, Snapshot};
use crate::recent::Recent;
use crate::store::{Committed, Store};

/// How often a replica that can lose notices (one of a Redis cluster) re-reads the heads of
/// the boards it serves.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3);

/// The snapshot cache holds about this many bytes at most (its boards, their JSON and
/// frames, estimated): it is a cache, and every entry can be rebuilt from the database.
pub const CACHE_BYTES: usize = 256 * 1024 * 1024;
/// ... and at most this many boards (a board's entry also keeps its head).
pub const CACHED_BOARDS: usize = 10_000;

pub struct Freshness {
    /// Where heads and boards are read when the cache cannot answer.
    store: Store,
    /// Per board: the newest snapshot and the newest seq known, and the whole cache's size.
    boards: Mutex<Cache>,
    /// The head as heartbeats report it: one database read per board per interval,
    /// however many streams ask (see `recent`).
    heads: Recent<u64>,
    /// Wakes the sweep early: the broker reconnected, and what was published meanwhile
    /// is gone.
    sweep_now: Notify,
}

#[derive(Default)]
struct Cached {
    /// Only moves forward: an older snapshot offered late (a slow read racing a commit)
    /// is ignored.
    snapshot: Option<Arc<Snapshot>>,
    /// The newest seq this replica knows the board reached.
    head: u64,
    /// What the entry is counted as in [`Cache::bytes`].
    weight: usize,
    /// When it was last used ([`Cache::clock`]): the least recently used goes first.
    used: u64,
}

/// The cache's entries, and what bounds them.
struct Cache {
    entries: HashMap<String, Cached>,
    /// The entries' weights, summed.
    bytes: usize,
    /// Counts uses: each use of an entry stamps it with the next value.
    clock: u64,
    /// [`CACHE_BYTES`] and [`CACHED_BOARDS`] (smaller in the tests).
    max_bytes: usize,
    max_boards: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Cache { entries: HashMap::new(), bytes: 0, clock: 0, max_bytes: CACHE_BYTES, max_boards: CACHED_BOARDS }
    }
}

impl Cache {
    /// The board's entry, made if missing (room is made first), stamped as used now.
    fn entry(&mut self, board: &str) -> &mut Cached {
        self.clock += 1;
        if !self.entries.contains_key(board) {
            self.evict(self.max_boards.saturating_sub(1), self.max_bytes);
        }
        let clock = self.clock;
        let cached = self.entries.entry(board.to_owned()).or_default();
        cached.used = clock;
        cached
    }

    /// Sets the board's snapshot, counting its weight.
    fn set(&mut self, board: &str, snapshot: Arc<Snapshot>) {
        let weight = weight_of(&snapshot);
        let cached = self.entry(board);
        let old = std::mem::replace(&mut cached.weight, weight);
        cached.snapshot = Some(snapshot);
        self.bytes = self.bytes + weight - old;
        if self.bytes > self.max_bytes {
            self.evict(self.max_boards, self.max_bytes);
        }
    }

    /// Drops the least recently used entries until at most `boards` remain and they weigh
    /// at most `bytes` (the one used last stays, whatever it weighs).
    fn evict(&mut self, boards: usize, bytes: usize) {
        while self.entries.len() > boards.max(1) || (self.bytes > bytes && self.entries.len() > 1) {
            let Some(oldest) = self.entries.iter().min_by_key(|(_, c)| c.used).map(|(b, _)| b.clone()) else { return };
            if let Some(gone) = self.entries.remove(&oldest) {
                self.bytes -= gone.weight;
                metrics::counter!("board_snapshot_evictions_total").increment(1);
            }
        }
    }
}

/// About what a snapshot holds in memory: its board (every title, name and key, and a
/// little for each entity), and as much again for its JSON and again for a `push-state`
/// frame, which are built from it on demand.
fn weight_of(snapshot: &Snapshot) -> usize {
    let state = &snapshot.state;
    let todos: usize = state.todos.iter().map(|t| 96 + t.title.len() + t.position.as_str().len()).sum();
    let sprints: usize = state.sprints.iter().map(|s| 64 + s.name.len()).sum();
    3 * (256 + todos + sprints)
}

impl Freshness {
    /// `heartbeat` is how old a heartbeat's head may be.
    pub fn new(store: Store, heartbeat: Duration) -> Self {
        Freshness {
            store,
            boards: Mutex::new(Cache::default()),
            heads: Recent::new(heartbeat),
            sweep_now: Notify::new(),
        }
    }

    /// The board as it is now: from the cache, or read once and cached. `followed` says
    /// whether this replica hears every change of the board (`Broker::follows`): one that
    /// does not cannot know its cached copy is current, so one head read tells first.
    pub async fn snapshot(&self, board: &str, followed: bool) -> Result<Arc<Snapshot>, AppError> {
        if !followed {
            self.head(board).await?;
        }
        if let Some(snapshot) = self.cached(board) {
            return Ok(snapshot);
        }
        let loaded = self.store.load(board).await?.ok_or_else(|| AppError::no_board(board))?;
        Ok(self.offer(board, Arc::new(Snapshot::new(Arc::new(loaded.state), loaded.at, loaded.key))))
    }

    /// The cached board, unless the board is known to have moved past it.
    pub fn cached(&self, board: &str) -> Option<Arc<Snapshot>> {
        let mut boards = self.boards.lock().expect("snapshot lock");
        boards.clock += 1;
        let clock = boards.clock;
        let cached = boards.entries.get_mut(board)?;
        cached.used = clock;
        cached.snapshot.clone().filter(|snapshot| snapshot.seq() >= cached.head)
    }

    /// The board's head seq, read from the database; `404` when there is no such board.
    pub async fn head(&self, board: &str) -> Result<u64, AppError> {
        let head = self.store.head(board).await?.ok_or_else(|| AppError::no_board(board))?;
        self.saw_head(board, head);
        Ok(head)
    }

    /// The newest head this replica has seen for the board (committed here, heard from
    /// another replica, or read), if it has seen one. Current only while the replica
    /// follows the board: see [`crate::state::AppState::known_head`].
    pub fn seen_head(&self, board: &str) -> Option<u64> {
        self.boards.lock().expect("snapshot lock").entries.get(board).map(|cached| cached.head)
    }

    /// The head seq as heartbeats report it: at most one read per board per interval.
    pub async fn recent_head(&self, board: &str) -> Result<Option<u64>, AppError> {
        let head = self
            .heads
            .get(board, || async {
                metrics::counter!("board_heartbeat_head_reads_total").increment(1);
                Ok(self.store.head(board).await?)
            })
            .await?;
        if let Some(head) = head {
            self.saw_head(board, head);
        }
        Ok(head)
    }

    /// Records that the board reached `head` (read from the log or the database, or heard
    /// from another replica): an older snapshot stops being served.
    pub fn saw_head(&self, board: &str, head: u64) {
        let mut boards = self.boards.lock().expect("snapshot lock");
        let cached = boards.entry(board);
        cached.head = cached.head.max(head);
    }

    /// A commit on this replica: its board becomes the cached one (so a client poked about
    /// seq N can pull N), and the notice for its subscribers links to it.
    pub fn committed(&self, board: &str, committed: &Committed) -> LiveChange {
        let snapshot = Arc::new(Snapshot::after(committed.state.clone(), &committed.record));
        self.offer(board, snapshot.clone());
        LiveChange::new(board.to_owned(), committed.record.clone(), &snapshot)
    }

    /// Keeps `snapshot` if it is newer than what the cache holds; returns the newest.
    fn offer(&self, board: &str, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        let mut boards = self.boards.lock().expect("snapshot lock");
        let cached = boards.entry(board);
        cached.head = cached.head.max(snapshot.seq());
        match &cached.snapshot {
            Some(current) if current.seq() >= snapshot.seq() => current.clone(),
            _ => {
                boards.set(board, snapshot.clone());
                snapshot
            }
        }
    }

    /// The cache's size now: (boards, estimated bytes).
    pub fn cache_size(&self) -> (usize, usize) {
        let boards = self.boards.lock().expect("snapshot lock");
        (boards.entries.len(), boards.bytes)
    }

    /// Reads the head of every board followed here and tells its subscribers: one behind
    /// it missed a notice and repairs from the log.
    pub async fn sweep(&self, broker: &dyn Broker) {
        for board in broker.boards() {
            match self.store.head(&board).await {
                Ok(Some(head)) => {
                    self.saw_head(&board, head);
                    broker.deliver_here(&board, Notice::Head(head));
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(%board, error = %err, "cannot read the head"),
            }
        }
    }

    /// Sweeps every [`SWEEP_EVERY`], and at once when the broker reconnects, until
    /// `closing` says the server is shutting down (or its sender is gone).
    pub async fn keep_sweeping(
        self: Arc<Self>,
        broker: Arc<dyn Broker>,
        mut closing: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = self.sweep_now.notified() => {}
                _ = closing.wait_for(|closing| *closing) => return,
            }
            self.sweep(&*broker).await;
        }
    }
}

/// What a broker between replicas hands over (through the server's `broker::Listener`):
/// the board after a remote change when this replica held the one before it, and an early
/// sweep after a reconnect.
impl Freshness {
    /// A change committed on another replica: its notice, with the board after it when
    /// this replica held the one before.
    pub fn heard(&self, board: String, record: ChangeRecord) -> LiveChange {
        let after = match self.cached(&board) {
            Some(before) if before.seq() + 1 == record.seq => {
                let mut state = (*before.state).clone();
                op::apply(&mut state, &record.ops);
                state.seq = record.seq;
                let snapshot = Snapshot::after(Arc::new(state), &record);
                let newest = self.offer(&board, Arc::new(snapshot));
                // A newer one may have won the race into the cache: it is not this change's.
                Some(newest).filter(|snapshot| snapshot.seq() == record.seq)
            }
            Some(cached) if cached.seq() >= record.seq => None,
            _ => {
                // Something before this change never reached us: the cached board is stale.
                self.saw_head(&board, record.seq);
                None
            }
        };
        LiveChange::with_snapshot(board, record, after.as_ref())
    }

    /// The connection to the other replicas is back: sweep now, not at the next turn.
    pub fn reconnected(&self) {
        self.sweep_now.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use board_core::domain::{execute, BoardState, Command};

    fn board_of(todos: usize, title: usize) -> Arc<Snapshot> {
        let mut state = BoardState::empty("b", "B");
        for _ in 0..todos {
            state = execute(&state, &Command::AddTodo { title: "x".repeat(title), sprint_id: None }).unwrap().state;
        }
        Arc::new(Snapshot::new(Arc::new(state), 0, None))
    }

    /// Bounded in bytes, the least recently used first; a board just used stays.
    #[test]
    fn the_snapshot_cache_is_bounded_in_bytes_least_recently_used_first() {
        let big = board_of(100, 480);
        let weight = weight_of(&big);
        let mut cache = Cache { max_bytes: 3 * weight, max_boards: 1000, ..Cache::default() };
        for i in 0..10 {
            cache.set(&format!("board{i}"), big.clone());
            assert!(cache.bytes <= 3 * weight, "{} bytes after {i}", cache.bytes);
            // board0 is used each time: it stays.
            cache.entry("board0");
        }
        let mut kept: Vec<&String> = cache.entries.keys().collect();
        kept.sort();
        assert_eq!(kept, ["board0", "board8", "board9"]);
        assert_eq!(cache.bytes, 3 * weight);
        // A board's weight follows what it holds.
        assert!(weight > 3 * 100 * 480, "{weight}");
        assert!(weight_of(&board_of(1, 1)) < 2000);
    }

    /// Bounded in boards too (heads alone weigh little), without clearing the rest.
    #[test]
    fn the_snapshot_cache_is_bounded_in_boards() {
        let mut cache = Cache { max_boards: 100, ..Cache::default() };
        for i in 0..1000 {
            cache.entry(&format!("board{i}")).head = 1;
        }
        assert_eq!(cache.entries.len(), 100);
        assert!(cache.entries.contains_key("board999") && !cache.entries.contains_key("board0"));
    }
}
