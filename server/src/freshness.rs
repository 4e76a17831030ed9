//! Freshness: how a replica knows that its copy of a board is current.
//!
//! The broker only carries notices, and notices can be lost (see `broker`). Everything
//! that keeps a replica honest in spite of that lives here, in one place:
//!
//! * the **snapshot cache**: the newest board this replica has seen, with the newest seq
//!   it knows the board reached; a snapshot behind that seq is stale and never served;
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

use app::domain::op;
use app::patterns::ChangeRecord;

use crate::broker::{Broker, Notice};
use crate::error::AppError;
use crate::live::{LiveChange, Snapshot};
use crate::recent::Recent;
use crate::store::{Committed, Store};

/// How often a replica that can lose notices (one of a Redis cluster) re-reads the heads of
/// the boards it serves.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3);

/// Beyond this many boards the snapshot cache is cleared rather than grown: it is a cache,
/// and every entry can be rebuilt from the database.
const MAX_CACHED_BOARDS: usize = 1024;

pub struct Freshness {
    /// Where heads and boards are read when the cache cannot answer.
    store: Store,
    /// Per board: the newest snapshot and the newest seq known.
    boards: Mutex<HashMap<String, Cached>>,
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
}

impl Freshness {
    /// `heartbeat` is how old a heartbeat's head may be.
    pub fn new(store: Store, heartbeat: Duration) -> Self {
        Freshness { store, boards: Mutex::default(), heads: Recent::new(heartbeat), sweep_now: Notify::new() }
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
        let boards = self.boards.lock().expect("snapshot lock");
        let cached = boards.get(board)?;
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
        self.boards.lock().expect("snapshot lock").get(board).map(|cached| cached.head)
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
        let cached = Self::entry(&mut boards, board);
        cached.head = cached.head.max(head);
    }

    /// A commit on this replica: its board becomes the cached one (so a client poked about
    /// seq N can pull N), and the notice for its subscribers links to it.
    pub fn committed(&self, board: &str, committed: &Committed) -> LiveChange {
        let snapshot =
            Arc::new(Snapshot::new(committed.state.clone(), committed.record.at, committed.record.key.clone()));
        self.offer(board, snapshot.clone());
        LiveChange::new(board.to_owned(), committed.record.clone(), &snapshot)
    }

    /// Keeps `snapshot` if it is newer than what the cache holds; returns the newest.
    fn offer(&self, board: &str, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
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
                let snapshot = Snapshot::new(Arc::new(state), record.at, record.key.clone());
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
