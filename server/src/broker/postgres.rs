//! Postgres `LISTEN`/`NOTIFY` as a [`Bus`]: a deployment on Postgres has a bus between its
//! replicas already, with no broker to run. One channel per board (`board:{id}`),
//! `pg_notify` to send, one `LISTEN`ing session per replica (sqlx's `PgListener`).
//!
//! What is different from the other buses:
//!
//! * **Delivery on commit.** A notification sent inside a transaction goes out when it
//!   commits, and never if it rolls back: sent from the transaction that writes the
//!   change, it would be a transactional outbox for free. (The relay sends after the
//!   commit, as it does over every bus, so here it is one more short statement.)
//! * **8000 bytes at most** per payload (`MAX_PAYLOAD_BYTES`). Most change records are
//!   far smaller, but not all (a long title, a column's keys respaced): the relay sends a
//!   record that does not fit as its seq alone, and the other replicas read the change
//!   from the log. A larger ephemeral message (a presence list, a signal) is not sent:
//!   the other replicas do not hear that one, and the next one replaces it.
//! * **No follower counts**: Postgres tells a session only its own channels, so the
//!   affinity metric stays empty on this bus.
//! * Channel names are identifiers of at most 63 bytes; a longer board id is hashed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{Mutex, Notify};

use super::bus::{Bus, Channels, Listening};
use crate::BoxError;

/// The most a `NOTIFY` payload may hold (Postgres' limit in its default build).
pub const MAX_PAYLOAD_BYTES: usize = 8000;
/// The longest identifier Postgres keeps (`NAMEDATALEN - 1`).
const MAX_CHANNEL_BYTES: usize = 63;

/// The Postgres channel of a board: `board:{id}`, or a hash of the id when that is too long.
pub fn channel(board: &str) -> String {
    let name = format!("board:{board}");
    if name.len() <= MAX_CHANNEL_BYTES {
        return name;
    }
    let digest = Sha256::digest(board.as_bytes());
    let hex: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    format!("board#{hex}")
}

pub struct PostgresBus {
    url: String,
    /// Sends (`pg_notify`) and answers readiness: two connections are plenty.
    pool: PgPool,
}

impl PostgresBus {
    /// Connects to the Postgres at `url`: an error when it does not answer.
    pub async fn connect(url: &str) -> Result<PostgresBus, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        Ok(PostgresBus { url: url.to_owned(), pool })
    }
}

#[async_trait::async_trait]
impl Bus for PostgresBus {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn publish(&self, board: &str, text: String) -> Result<(), BoxError> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(channel(board)).bind(text).execute(&self.pool).await?;
        Ok(())
    }

    /// A session of its own that `LISTEN`s. It both follows channels and reads
    /// notifications, and sqlx's `PgListener` does both through `&mut`, so it is shared
    /// behind a lock: the reading loop holds it while it waits for a notification and
    /// gives it up whenever a follow or unfollow asks for it (`PgListener::try_recv` may
    /// be cancelled: sqlx 0.8.1 made it so). The stream ends when the session is lost or
    /// closed.
    async fn listen(&self) -> Result<Listening, BoxError> {
        // The session's own pool of one: closing it is how `close` knows the session has
        // ended (see there).
        let pool =
            PgPoolOptions::new().max_connections(1).max_lifetime(None).idle_timeout(None).connect(&self.url).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // Lost means lost: the relay opens a new session and follows its boards again.
        listener.eager_reconnect(false);
        let session = Arc::new(Session {
            listener: Mutex::new(Some(listener)),
            pool,
            wanting: AtomicUsize::new(0),
            wanted: Notify::new(),
        });
        let reading = session.clone();
        let messages: BoxStream<'static, String> = Box::pin(async_stream::stream! {
            loop {
                let mut guard = reading.listener.lock().await;
                // A follow that asked before this lock was taken goes first.
                if reading.wanting.load(Ordering::SeqCst) > 0 {
                    drop(guard);
                    tokio::task::yield_now().await;
                    continue;
                }
                // Closed.
                let Some(listener) = guard.as_mut() else { return };
                let payload = tokio::select! {
                    biased;
                    () = reading.wanted.notified() => None,
                    notification = listener.try_recv() => match notification {
                        Ok(Some(notification)) => Some(notification.payload().to_owned()),
                        Ok(None) | Err(_) => return,
                    },
                };
                // Unlocked before yielding: the relay may follow a board meanwhile.
                drop(guard);
                match payload {
                    Some(payload) => yield payload,
                    // A follow or unfollow waits for the lock (the mutex is fair: it is next).
                    None => tokio::task::yield_now().await,
                }
            }
        });
        Ok(Listening { channels: Box::new(Follows(session)), messages })
    }

    async fn ready(&self) -> Result<(), BoxError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The relay sends nothing longer (and Postgres would refuse it).
    fn max_message_bytes(&self) -> usize {
        MAX_PAYLOAD_BYTES
    }
}

/// The listening session, shared by its reading loop and its channels.
struct Session {
    /// `None` once closed.
    listener: Mutex<Option<PgListener>>,
    /// The listener's pool (of one connection), closed with it.
    pool: PgPool,
    /// Follows and unfollows waiting for the listener: the reading loop does not take it
    /// back while there are any.
    wanting: AtomicUsize,
    /// Rung by a follow or unfollow that wants the listener while the reading loop waits
    /// for a notification with it.
    wanted: Notify,
}

const CLOSED: &str = "the listening session is closed";

/// The listening session's channels.
struct Follows(Arc<Session>);

impl Follows {
    async fn listener(&self) -> tokio::sync::MutexGuard<'_, Option<PgListener>> {
        self.0.wanting.fetch_add(1, Ordering::SeqCst);
        self.0.wanted.notify_one();
        let listener = self.0.listener.lock().await;
        self.0.wanting.fetch_sub(1, Ordering::SeqCst);
        listener
    }
}

#[async_trait::async_trait]
impl Channels for Follows {
    async fn follow(&mut self, boards: &[String]) -> Result<(), BoxError> {
        let channels: Vec<String> = boards.iter().map(|board| channel(board)).collect();
        let mut listener = self.listener().await;
        let listener = listener.as_mut().ok_or(CLOSED)?;
        Ok(listener.listen_all(channels.iter().map(String::as_str)).await?)
    }

    async fn unfollow(&mut self, boards: &[String]) -> Result<(), BoxError> {
        let mut listener = self.listener().await;
        let listener = listener.as_mut().ok_or(CLOSED)?;
        for board in boards {
            listener.unlisten(&channel(board)).await?;
        }
        Ok(())
    }

    /// sqlx's `PgListener`, dropped, says `UNLISTEN *` and gives its connection back to
    /// its pool in a task of its own; closing that pool waits until the connection is back
    /// and closed, so once this returns nothing of the session runs. (Just dropping it
    /// would leave that task running after the server stopped.)
    async fn close(&mut self) {
        drop(self.listener().await.take());
        self.0.pool.close().await;
    }
}
