//! What every handler shares: [`AppState`], one pointer to the [`Shared`] components.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::broker::Broker;
use crate::error::AppError;
use crate::freshness::Freshness;
use crate::live::Snapshot;
use crate::recent::Recent;
use crate::store::{Committed, Store};

/// What every handler shares, behind one `Arc`: a clone is one pointer, not the ~400
/// bytes of the components. It matters because every open stream holds a clone in each of
/// its layers (the subscription, the WebSocket session), ten thousand times over. Fields
/// read through `Deref` (`app.store`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    /// Replaces components before the server starts (tests swap the broker or a resolver).
    ///
    /// # Panics
    /// Once the state is shared (the server holds a clone).
    pub fn configure(&mut self) -> &mut Shared {
        Arc::get_mut(&mut self.0).expect("configure the state before the server shares it")
    }
}

/// The components: each field is one concern of the server.
pub struct Shared {
    pub store: Store,
    /// Every background task of this server (presence ticks, the head sweep, upkeep,
    /// webhook delivery, the metrics' upkeep and listener), started here and waited for
    /// when it shuts down (`serve`): nothing of a server runs after it returned.
    pub background: tokio_util::task::TaskTracker,
    /// Notifies subscribers of commits (in-process, or Redis between replicas).
    pub broker: Arc<dyn Broker>,
    /// Whether this replica's copy of a board is current: the snapshot cache (so `GET`
    /// state and `push-state` cost no query per client), the heads read from the database.
    pub freshness: Arc<Freshness>,
    /// Who is on each board, and the messages between tabs: ephemeral, never in the log.
    pub presence: Arc<crate::presence::Presence>,
    /// This replica's tracer: the spans of traced changes (`telemetry`).
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// This replica's open streams, for the operator's console (`admin`).
    pub connections: Arc<crate::admin::connections::Connections>,
    /// The cluster as this replica hears it (every replica's report) and this replica's
    /// own next report, for the console (`admin::cluster`).
    pub cluster: Arc<crate::admin::cluster::Cluster>,
    /// `ADMIN_TOKEN`'s digest; `None`: the console is off.
    pub admin_token: Option<crate::admin::token::Token>,
    /// Delivers the log to webhooks (this replica's share of them).
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// The fault lab (`FAULTS=1`): what `/api/lab` reports and sets. The broker's local
    /// fan-out holds the same one, since that is where notices are dropped or delayed; the
    /// database's pause is the store's.
    pub lab: Arc<crate::lab::Lab>,
    /// `ICE_SERVERS`, the JSON the page's WebRTC mesh asks for (`GET /api/ice-servers`).
    pub ice_servers: Arc<str>,
    /// `TURN_URLS` and `TURN_SECRET`: a TURN server to make short-lived credentials for.
    pub turn: Option<crate::turn::Turn>,
    /// This replica's name: `X-Replica`, `hello` frames, the page footer.
    pub replica: Arc<str>,
    /// How often idle streams get a `heartbeat` frame carrying the head seq.
    pub heartbeat: Duration,
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
    /// Pages this replica renders at once (`PAGE_RENDERS`).
    pub renders: Arc<crate::pages::Renders>,
    /// TLS on the listener (`TLS_CERT`, `TLS_KEY`), with HTTP/2 by ALPN; `None`: plain HTTP.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Connections this replica accepts at once (`MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// How long a client may take to send its headers, or each read of its body.
    pub header_timeout: Duration,
    /// How long a stored Idempotency-Key answer is kept.
    pub idempotency_ttl: Duration,
    /// How long a change queued in a browser goes by itself (`OUTBOX_MAX_AGE`, at most
    /// `idempotency_ttl`): the pages say it to their engines.
    pub outbox_max_age: Duration,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The site's files and their fingerprinted names, as they were at startup.
    pub assets: Arc<crate::assets::Assets>,
    /// `/sw.js` for this build, made once (`shell::worker`).
    pub service_worker: Arc<str>,
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
        self.freshness.snapshot(board, self.broker.follows(board)).await
    }

    /// The board's head seq, read from the database; `404` when there is no such board.
    pub async fn head(&self, board: &str) -> Result<u64, AppError> {
        self.freshness.head(board).await
    }

    /// The head seq to start a stream or answer a poll from, without a database read when
    /// this replica can know it: it `followed` the board already (checked before the
    /// caller subscribed: it has heard every notice since it last read the head) and has
    /// seen a head at or past the client's `since`. Otherwise it reads. A notice still on
    /// its way is no loss: a stream is subscribed and gets it; a poll gets it next time.
    /// A client ahead of what this replica has seen (it committed on another replica a
    /// moment ago) makes it read, so it is never told `reset` for a seq that exists.
    /// With board affinity this is what saves the database a read per request.
    pub async fn known_head(&self, board: &str, followed: bool, since: u64) -> Result<u64, AppError> {
        match self.freshness.seen_head(board) {
            Some(head) if followed && since <= head => Ok(head),
            _ => self.head(board).await,
        }
    }

    /// After a commit: cache the new state first (so a client poked about seq N can pull
    /// N), then announce the change.
    pub async fn publish(&self, board: &str, committed: &Committed, trace: Option<&crate::telemetry::CommandTrace>) {
        // Under the publish span: this replica's delivery (its receive and fan-out) and the
        // bus's envelope descend from it.
        let publish = trace.map(|trace| trace.publish(board, committed.record.seq));
        let traced = publish.as_ref().and_then(|span| {
            use opentelemetry::trace::Span as _;
            let now = std::time::SystemTime::now();
            self.telemetry.received(board, committed.record.seq, span.span_context().clone(), now)
        });
        let change = self.freshness.committed(board, committed).traced(traced);
        self.broker.publish(Arc::new(change)).await;
        drop(publish);
        // The board's write rate, in this replica's next report to the console.
        self.cluster.wrote(board);
        // Webhooks delivered here need not wait for the next poll.
        self.webhooks.committed();
    }
}

/// What the per-client extractors (`limits::ClientIp`) take from the state.
impl axum::extract::FromRef<AppState> for Arc<crate::limits::Limits> {
    fn from_ref(app: &AppState) -> Self {
        app.limits.clone()
    }
}

/// The page routes' render slots (`pages::gate` takes only these, not the whole state).
impl axum::extract::FromRef<AppState> for Arc<crate::pages::Renders> {
    fn from_ref(app: &AppState) -> Self {
        app.renders.clone()
    }
}
