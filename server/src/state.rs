//! What every handler shares. Cheap to clone: everything is behind an `Arc`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::broker::Broker;
use crate::error::AppError;
use crate::live::{LiveChange, Snapshot, Snapshots};
use crate::recent::Recent;
use crate::store::{Committed, Store};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Notifies subscribers of commits (in-process, or Redis between replicas).
    pub broker: Arc<dyn Broker>,
    /// The same broker when it is Redis: for its fault-injection hook in tests.
    pub redis: Option<Arc<crate::broker::redis::RedisBroker>>,
    /// The newest board per id, so `GET` state and `push-state` cost no query per client.
    pub snapshots: Arc<Snapshots>,
    /// This replica's name: `X-Replica`, `hello` frames, the page footer.
    pub replica: Arc<str>,
    /// How often idle streams get a `heartbeat` frame carrying the head seq.
    pub heartbeat: Duration,
    /// The heads those heartbeats report: one database read per board per interval.
    pub heads: Arc<Recent<u64>>,
    /// The key generation of private boards, which their streams watch so that a rotation
    /// ends them: one database read per board per `access::CHECK_EVERY`.
    pub key_revs: Arc<Recent<u64>>,
    /// Turns `true` when the server begins to shut down: open streams end, so the
    /// graceful shutdown is not held open by clients that never hang up.
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// This server's own origin and names: cross-site requests and foreign hosts are refused.
    pub origins: Arc<crate::access::origin::Origins>,
    /// Per-client limits: streams, commands, board creation.
    pub limits: Arc<crate::limits::Limits>,
    /// Connections this replica accepts at once (`MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// How long a client may take to send its headers, or each read of its body.
    pub header_timeout: Duration,
    /// How long a stored Idempotency-Key answer is kept.
    pub idempotency_ttl: Duration,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl AppState {
    /// The board as it is now: from the cache, or read once and cached.
    pub async fn snapshot(&self, board: &str) -> Result<Arc<Snapshot>, AppError> {
        // A replica that hears nothing of this board (no stream of it here, so no Redis
        // subscription) cannot know its cached copy is current: one head read tells.
        if !self.broker.follows(board) {
            self.head(board).await?;
        }
        if let Some(snapshot) = self.snapshots.get(board) {
            return Ok(snapshot);
        }
        let (state, at) = self.store.load(board).await?.ok_or_else(|| AppError::no_board(board))?;
        Ok(self.snapshots.offer(board, Arc::new(Snapshot::new(Arc::new(state), at))))
    }

    /// The board's head seq, read from the database; `404` when there is no such board.
    /// A snapshot older than what was read stops being served (see `Snapshots`).
    pub async fn head(&self, board: &str) -> Result<u64, AppError> {
        let head = self.store.head(board).await?.ok_or_else(|| AppError::no_board(board))?;
        self.snapshots.saw_head(board, head);
        Ok(head)
    }

    /// The head seq as heartbeats report it: at most one read per board per interval.
    pub async fn recent_head(&self, board: &str) -> Result<Option<u64>, AppError> {
        self.heads
            .get(board, || async {
                metrics::counter!("board_heartbeat_head_reads_total").increment(1);
                Ok(self.store.head(board).await?)
            })
            .await
    }

    /// After a commit: cache the new state first (so a client poked about seq N can pull
    /// N), then announce the change.
    pub async fn publish(&self, board: &str, committed: &Committed) {
        let snapshot = Arc::new(Snapshot::new(committed.state.clone(), committed.record.at));
        self.snapshots.offer(board, snapshot.clone());
        let change = LiveChange::new(board.to_owned(), committed.record.clone(), &snapshot);
        self.broker.publish(Arc::new(change)).await;
    }
}

/// What the per-client extractors (`limits::ClientIp`) take from the state.
impl axum::extract::FromRef<AppState> for Arc<crate::limits::Limits> {
    fn from_ref(app: &AppState) -> Self {
        app.limits.clone()
    }
}
