//! The database: current rows of each board plus its change log, behind one `Store`.
//!
//! SQLite (the default, one file, WAL) and Postgres (for several replicas) are both reached
//! through sqlx's `Any` driver with runtime queries, so there is one implementation and one
//! dialect: the SQL here and in `migrations/` sticks to what both accept (`$1` parameters,
//! `ON CONFLICT`, `RETURNING`). What differs, connection set-up, lives in [`connect`].
//!
//! * [`reads`]: board list, state, head seq, changes since a seq.
//! * [`commit`]: the one write path: a command in one transaction.
//! * [`history`]: the board at an earlier seq (a snapshot plus replay), a todo's changes.
//! * [`webhooks`]: webhooks, their lease and their delivery log.
//! * `gate`: the pause the fault lab puts on the pool (no connection handed out).
//! * [`boards`]: creating a board, and what the access gate reads and rotates (visibility,
//!   key hashes, key generation).

mod boards;
mod commit;
mod gate;
mod history;
mod reads;
mod rows;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use gate::Gate;

pub use boards::{BoardAccess, NewBoard, Visibility};
pub use commit::{Cached, CommitError, Committed, Envelope, Outcome, Write};
pub use history::{Outside, Past, TodoHistory};
pub use reads::{ChangesSince, Loaded};

/// Which database is behind the pool; only connection set-up depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// How many changes each board's log keeps (see `Config::log_retain`).
    retain: u64,
    /// How many bytes of changes each board's log keeps (see `Config::log_retain_kib`).
    retain_bytes: u64,
    /// A board's snapshot is stored at every seq that is a multiple of this (see
    /// `Config::snapshot_every`): what bounds the replay behind a history read.
    snapshot_every: u64,
    /// How long a stored Idempotency-Key answer counts (see `Config::idempotency_ttl`).
    idempotency_ttl: Duration,
    /// How big a board may grow (see `Config::max_todos_per_board`).
    board_limits: board_core::domain::BoardLimits,
    /// Closed while the fault lab pauses the database (`lab`): the pool hands out no
    /// connection until it opens. Open unless a replica with `FAULTS=1` is told otherwise.
    gate: Arc<Gate>,
}

impl Store {
    /// Connects, creating the SQLite file (and its folder) if needed, and runs migrations.
    pub async fn connect(url: &str, retain: u64) -> Result<Store, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(sqlx::Error::Configuration(
                format!("DATABASE_URL must start with sqlite:// or postgres://, not `{url}`").into(),
            ));
        };
        let mut url = url.to_owned();
        if backend == Backend::Sqlite {
            ensure_sqlite_folder(&url)?;
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
            }
        }
        let options: AnyConnectOptions = url.parse()?;
        let gate = Arc::new(Gate::default());
        let (idle_gate, new_gate) = (gate.clone(), gate.clone());
        let pool = AnyPoolOptions::new()
            // SQLite has one writer at a time anyway; readers share the WAL.
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            // A down database should answer 503 quickly, not hold requests for 30 s.
            .acquire_timeout(Duration::from_secs(3))
            // The fault lab's pause: no connection leaves the pool while the gate is
            // closed, neither an idle one (here) nor a new one (below). sqlx runs both
            // hooks inside `acquire_timeout`, so a pause longer than 3 s turns into
            // `PoolTimedOut` (`503`), and the idle connection that waited is closed (the
            // pool opens another when asked after the pause).
            .before_acquire(move |_conn, _meta| {
                let gate = idle_gate.clone();
                Box::pin(async move {
                    gate.pass().await;
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| {
                let gate = new_gate.clone();
                Box::pin(async move {
                    gate.pass().await;
                    if backend == Backend::Sqlite {
                        // WAL lets readers (streams, GET state) proceed while a command
                        // writes; busy_timeout makes concurrent writers queue, not fail.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        migrations::MIGRATOR.run(&pool).await.map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        Ok(Store {
            pool,
            backend,
            retain,
            retain_bytes: u64::MAX,
            snapshot_every: 1000,
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            board_limits: Default::default(),
            gate,
        })
    }

    /// The same store, remembering Idempotency-Key answers for `ttl` (default 24 h).
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// The same store, keeping at most `bytes` of each board's change log.
    pub fn with_log_retain_bytes(mut self, bytes: u64) -> Self {
        self.retain_bytes = bytes.max(1);
        self
    }

    /// The same store, keeping a snapshot of each board every `seqs` seqs.
    pub fn with_snapshot_every(mut self, seqs: u64) -> Self {
        self.snapshot_every = seqs.max(1);
        self
    }

    /// The same store, refusing commands that would grow a board beyond `limits`.
    pub fn with_board_limits(mut self, limits: board_core::domain::BoardLimits) -> Self {
        self.board_limits = limits;
        self
    }

    /// What the log keeps: changes, bytes, and the seqs between snapshots.
    pub fn retention(&self) -> (u64, u64, u64) {
        (self.retain, self.retain_bytes, self.snapshot_every)
    }

    pub(crate) fn board_limits(&self) -> &board_core::domain::BoardLimits {
        &self.board_limits
    }

    pub(crate) fn idempotency_ttl_ms(&self) -> i64 {
        self.idempotency_ttl.as_millis() as i64
    }

    /// Closes the pool: its connections, and the pool's own upkeep task, end.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Readiness: can we run a query right now?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    /// The fault lab's pause: for `duration` from now the pool hands out no connection
    /// (requests that need one wait, and past the 3 s acquire timeout answer `503`); zero
    /// resumes at once. Connections already handed out finish what they do.
    pub fn pause_database(&self, duration: Duration) {
        self.gate.pause(duration);
    }

    /// How much longer the database stays paused (zero: it is not).
    pub fn database_paused_for(&self) -> Duration {
        self.gate.paused_for()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// `sqlite://data/board.db` needs `data/` to exist before SQLite can create the file.
fn ensure_sqlite_folder(url: &str) -> Result<(), sqlx::Error> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    Ok(())
}

/// Runs a transaction on a task of its own, so that it always runs to its end.
///
/// A request's future is dropped when its client goes away (a long-poll whose tab closed,
/// a command whose sender gave up). Dropped between sending `BEGIN` and reading its answer,
/// or between `COMMIT` and its answer, sqlx 0.9 can return the connection to the pool out
/// of step with the server: the next user's statements then run inside, or outside, a
/// transaction they did not expect (Postgres logs "there is already a transaction in
/// progress"). On its own task the transaction cannot be cancelled by the request; the
/// request only stops waiting for it. (`faults.rs` cancels hundreds of requests at random
/// points and checks the server's log.)
pub(crate) async fn detached<T, E>(
    work: impl std::future::Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<sqlx::Error> + Send + 'static,
{
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        // Only when the runtime itself shuts down.
        Err(_cancelled) => Err(sqlx::Error::WorkerCrashed.into()),
    }
}

/// Milliseconds since the Unix epoch: commit times in the log.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
