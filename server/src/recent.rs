//! A value per board read from the database at most once per interval, however many
//! streams ask: the head seq that `heartbeat` frames report, and the key generation that
//! streams of private boards watch for revocation.
//!
//! Every idle stream sends a heartbeat carrying the head read from the database, so that a
//! lost last notice is noticed (see `stream`); every stream of a private board checks that
//! its key still works (see `access`). Read per stream, ten thousand clients on one board
//! would cost ten thousand queries per interval; read through this cache they cost about
//! one. The price is staleness: a value may be up to `max_age` old, so a lost last notice
//! is repaired within two heartbeat intervals instead of one, and a rotated key reaches
//! open streams within two access checks. (On a cluster the Redis broker's head sweep
//! finds a lost notice sooner; see `freshness`.)

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Mutex as AsyncMutex;
use tokio::time::Instant;

use crate::error::AppError;

/// Beyond this many boards the cache is cleared rather than grown (every entry can be
/// read again; boards are created by anyone who can `POST /api/boards`).
const MAX_CACHED_BOARDS: usize = 4096;

pub struct Recent<T> {
    /// How old a cached value may be before the next caller reads the database again.
    max_age: Duration,
    /// Per board: when its value was read, and what it was. The async lock is held across
    /// the read, so streams that ask together (they all reconnected after a deploy) wait
    /// for one query instead of each sending their own.
    boards: Mutex<HashMap<String, Arc<Slot<T>>>>,
}

/// One board's last read: when, and what it found (`None`: not read yet, or gone).
type Slot<T> = AsyncMutex<Option<(Instant, T)>>;

impl<T: Clone> Recent<T> {
    pub fn new(max_age: Duration) -> Self {
        Recent { max_age, boards: Mutex::new(HashMap::new()) }
    }

    /// The board's value, at most `max_age` old, or what `read` finds now; `None` when
    /// the board does not exist.
    pub async fn get<F>(&self, board: &str, read: impl FnOnce() -> F) -> Result<Option<T>, AppError>
    where
        F: Future<Output = Result<Option<T>, AppError>>,
    {
        let slot = self.slot(board);
        let mut cached = slot.lock().await;
        if let Some((at, value)) = &*cached {
            if at.elapsed() < self.max_age {
                return Ok(Some(value.clone()));
            }
        }
        let value = read().await?;
        *cached = value.clone().map(|value| (Instant::now(), value));
        Ok(value)
    }

    fn slot(&self, board: &str) -> Arc<Slot<T>> {
        let mut boards = self.boards.lock().expect("recent values lock");
        if boards.len() >= MAX_CACHED_BOARDS && !boards.contains_key(board) {
            boards.clear();
        }
        boards.entry(board.to_owned()).or_default().clone()
    }
}
