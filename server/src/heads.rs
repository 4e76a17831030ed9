//! The head seq that `heartbeat` frames report, read from the database at most once per
//! interval per board, however many streams ask.
//!
//! Every idle stream sends a heartbeat carrying the head read from the database, so that a
//! lost last notice is noticed (see `stream`). Read per stream, ten thousand idle clients
//! on one board would cost ten thousand queries per heartbeat interval; read through this
//! cache they cost about one. The price is staleness: a head may be up to `max_age` old,
//! so a lost last notice is repaired within two heartbeat intervals instead of one. (On a
//! cluster the Redis broker's head sweep finds it sooner; see `broker::redis`.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Mutex as AsyncMutex;
use tokio::time::Instant;

use crate::error::AppError;
use crate::store::Store;

/// Beyond this many boards the cache is cleared rather than grown (every entry can be
/// read again; boards are created by anyone who can `POST /api/boards`).
const MAX_CACHED_BOARDS: usize = 4096;

pub struct Heads {
    /// How old a cached head may be before the next heartbeat reads the database again.
    max_age: Duration,
    /// Per board: when its head was read, and what it was. The async lock is held across
    /// the read, so streams whose heartbeats tick together (they all reconnected after a
    /// deploy) wait for one query instead of each sending their own.
    boards: Mutex<HashMap<String, Arc<Slot>>>,
}

/// One board's last read: when, and the head it found (`None`: not read yet, or gone).
type Slot = AsyncMutex<Option<(Instant, u64)>>;

impl Heads {
    pub fn new(max_age: Duration) -> Self {
        Heads { max_age, boards: Mutex::new(HashMap::new()) }
    }

    /// The board's head, at most `max_age` old; `None` when the board does not exist.
    pub async fn get(&self, store: &Store, board: &str) -> Result<Option<u64>, AppError> {
        let slot = self.slot(board);
        let mut cached = slot.lock().await;
        if let Some((at, head)) = *cached {
            if at.elapsed() < self.max_age {
                return Ok(Some(head));
            }
        }
        let head = store.head(board).await?;
        metrics::counter!("board_heartbeat_head_reads_total").increment(1);
        *cached = head.map(|head| (Instant::now(), head));
        Ok(head)
    }

    fn slot(&self, board: &str) -> Arc<Slot> {
        let mut boards = self.boards.lock().expect("heads lock");
        if boards.len() >= MAX_CACHED_BOARDS && !boards.contains_key(board) {
            boards.clear();
        }
        boards.entry(board.to_owned()).or_default().clone()
    }
}
