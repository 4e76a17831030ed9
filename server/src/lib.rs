//! The board's server: one axum application that serves the REST API, the live streams
//! and the server-rendered Leptos pages.
//!
//! A map of the crate, in the order a request meets it:
//!
//! * [`config`]: settings from the environment or the command line.
//! * [`serve`]: the accept loop (connection limit under the open-file limit, peer address,
//!   drain, TLS when [`tls`] is set up); [`connection`]: one connection's time limits (a first request, no idle
//!   stretch), whatever its protocol; [`limits`]: per-client limits (streams, command and
//!   board-creation rates).
//! * [`router`]: every route; [`rest`] holds the REST handlers (the JSON shapes they speak
//!   are `board_core::api`), [`transports`] the stream endpoints (thin adapters), [`error`]
//!   the one error type every refusal becomes. Below both: [`service`], the operations
//!   every way in shares (the command service, board creation), and [`caching`], the
//!   board's HTTP validators (ETag, If-None-Match, the epoch header).
//! * [`store`]: the database: rows, the change log, the one write transaction.
//! * [`state`]: what handlers share; [`live`]: a committed change and a board at one seq,
//!   each encoded once; [`broker`]: who tells subscribers that something committed (it
//!   only carries notices); [`freshness`]: whether a replica's copy of a board is current
//!   (the snapshot cache, head reads, the sweep for lost notices).
//! * [`stream`]: the one subscription (catch-up from the log, then live, gap-repaired) that
//!   every transport adapts; [`recent`]: per-board values it re-reads (the head its
//!   heartbeats report, the key generation it watches), read once per board per interval.
//! * [`presence`]: ephemeral state beside the log: who is on each board, signals between
//!   tabs, relayed cursors (never stored, no seq; between replicas through the broker);
//!   [`turn`]: the short-lived TURN credentials the page's WebRTC mesh gets.
//! * [`access`]: the one gate every path goes through (board keys, roles, revocation).
//! * [`admin`]: the operator's console (`ADMIN_TOKEN`): this replica's open streams, and
//!   ending them.
//! * [`webhooks`]: other servers as subscribers of the log: a saved position, a lease per
//!   webhook, signed deliveries in order, retries, no SSRF.
//! * [`page_data`]: what the pages read while rendering; [`pages`]: what rendering one may
//!   cost (render slots per client and per replica); [`seed`]: the `demo` board.
//! * [`assets`]: the browser bundle: the fingerprinted names of the site's manifest (read
//!   once at startup), its files sent as the build compressed them, cached for good.
//! * [`shell`]: `/sw.js`, the service worker that keeps this build's app shell and the
//!   pages last seen, so a board opens with no network and renders the browser's copy.
//! * [`telemetry`]: traces: the spans of one change, from its command through the bus to
//!   every replica's fan-out, exported over OTLP when a collector is named.
//! * [`lab`]: the fault lab, server side (`FAULTS=1`): drop or delay this replica's change
//!   notices, pause its database, so that a learner can watch the protocol recover
//!   (`GET`/`POST /api/lab`, in [`rest`]).
//!
//! [`launch`] takes a bound listener, so tests bind port 0 and run many servers at once.
//! Every background task a server starts goes into its `TaskTracker`
//! ([`state::Shared::background`]) and ends on the shutdown signal; [`serve`] returns only
//! after they have, and the database is closed: nothing of a server outlives it
//! (`tests/lifetimes.rs`).

// The page's view types (monomorphised here for rendering) nest deeply.
#![recursion_limit = "256"]

pub mod access;
pub mod admin;
pub mod assets;
pub mod broker;
pub mod caching;
pub mod config;
pub mod connection;
pub mod error;
pub mod freshness;
pub mod lab;
pub mod limits;
pub mod live;
pub mod page_data;
pub mod pages;
pub mod presence;
pub mod recent;
pub mod rest;
pub mod router;
pub mod seed;
pub mod serve;
pub mod service;
pub mod shell;
pub mod state;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod tls;
pub mod transports;
pub mod turn;
pub mod webhooks;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use leptos::config::LeptosOptions;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::broker::relay::Relay;
use crate::broker::Broker;
use crate::config::Config;
use crate::freshness::Freshness;
use crate::presence::Presence;
use crate::recent::Recent;
use crate::state::AppState;
use crate::store::Store;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Builds the application state: connects and migrates the database, picks the broker,
/// seeds the demo board.
pub async fn build_state(
    config: &Config,
    local: std::net::SocketAddr,
    closing: tokio::sync::watch::Receiver<bool>,
) -> Result<AppState, BoxError> {
    // First: a broken site stops the server before it touches the database.
    let assets = assets::Assets::open(&config.site_root)?;
    let store = Store::connect(&config.database_url, config.log_retain)
        .await?
        .with_idempotency_ttl(Duration::from_secs(config.idempotency_ttl))
        .with_log_retain_bytes(config.log_retain_kib.saturating_mul(1024))
        .with_snapshot_every(config.snapshot_every)
        .with_board_limits(board_core::domain::BoardLimits {
            max_todos: config.max_todos_per_board,
            max_sprints: config.max_sprints_per_board,
            max_text_bytes: config.max_board_text_kib.saturating_mul(1024),
        });
    let replica: Arc<str> = config.replica(local).into();
    // Every background task starts in here; `serve` waits for them all when it closes.
    let background = TaskTracker::new();
    let heartbeat = Duration::from_secs(config.heartbeat_secs.max(1));
    let freshness = Arc::new(Freshness::new(store.clone(), heartbeat));
    let presence = Arc::new(Presence::new(config.max_tabs_per_ip));
    // FAULTS=1 lets `POST /api/lab` break this replica on purpose; otherwise it never acts.
    let lab = Arc::new(lab::Lab::new(config.faults, config.lab_token()?.as_deref()));
    let system = telemetry::system(config.bus_url());
    let connections = Arc::new(admin::connections::Connections::default());
    let cluster = Arc::new(admin::cluster::Cluster::new(replica.clone(), system, connections.clone()));
    let telemetry = match &config.tracer {
        Some(make) => (make.0)(replica.clone(), system),
        None => telemetry::Telemetry::from_settings(&config.tracing(), replica.clone(), system)?,
    };
    // BROKER_URL makes this process one replica of a cluster; without it, one process.
    let broker: Arc<dyn Broker> = match config.bus_url() {
        Some(url) => {
            let bus = broker::connect(url).await?;
            let others = Arc::new(FromOthers {
                freshness: freshness.clone(),
                presence: presence.clone(),
                telemetry: telemetry.clone(),
                cluster: cluster.clone(),
            });
            let relay: Arc<dyn Broker> =
                Arc::new(Relay::start(bus, replica.clone(), others, lab.clone(), &background, closing.clone()));
            // A bus can lose notices: sweep the heads until the server closes.
            background.spawn(freshness.clone().keep_sweeping(relay.clone(), closing.clone()));
            relay
        }
        None => Arc::new(Relay::alone(lab.clone())),
    };
    presence.attach(broker.clone());
    // The hops this replica records go to the others, for their tabs' waterfalls.
    if config.bus_url().is_some() {
        background.spawn(share_hops(telemetry.recent().share(), broker.clone(), closing.clone()));
    }
    let webhooks = Arc::new(webhooks::Webhooks::new(
        store.clone(),
        replica.clone(),
        webhooks::Settings {
            timeout: Duration::from_secs(config.webhook_timeout.max(1)),
            backoff: Duration::from_millis(config.webhook_backoff_ms.max(1)),
            allow: config.webhook_allow.clone(),
        },
        Arc::new(webhooks::guard::SystemDns),
    ));
    background.spawn(presence.clone().keep_ticking(closing.clone()));
    background.spawn(telemetry.clone().keep_ending_batches(closing.clone()));
    // The hydration script loads `/pkg/{output_name}.js` and `/pkg/{output_name}_bg.wasm`:
    // the bundle's fingerprinted name, from the site's manifest.
    let leptos = LeptosOptions::builder()
        .output_name(assets.output_name.as_str())
        .site_root(assets.root.to_string_lossy().to_string())
        .site_pkg_dir(assets::PKG_DIR)
        .site_addr(local)
        .build();
    let app = AppState::new(state::Shared {
        store,
        background,
        broker,
        freshness,
        presence,
        webhooks,
        lab,
        telemetry,
        connections,
        cluster,
        admin_token: config.admin_token()?.as_deref().map(admin::token::Token::new),
        ice_servers: config.ice_servers.as_str().into(),
        turn: match (&config.turn_secret, config.turn_urls.is_empty()) {
            (Some(secret), false) => Some(turn::Turn::new(config.turn_urls.clone(), secret.clone(), config.turn_ttl)),
            _ => None,
        },
        replica,
        heartbeat,
        key_revs: Arc::new(Recent::new(access::CHECK_EVERY)),
        closing,
        origins: Arc::new(access::origin::Origins::new(
            config.public_origin.as_deref(),
            &config.allowed_origins,
            local,
            config.tls_cert.is_some(),
        )),
        limits: Arc::new(limits::Limits::new(config)),
        renders: pages::Renders::new(config.page_renders(), config.page_renders_per_ip),
        tls: match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            _ => None,
        },
        max_connections: serve::fit_connections(config.max_connections, webhooks::LEASED_AT_ONCE as usize),
        header_timeout: Duration::from_secs(config.header_timeout.max(1)),
        idempotency_ttl: Duration::from_secs(config.idempotency_ttl),
        outbox_max_age: Duration::from_secs(config.outbox_max_age.min(config.idempotency_ttl)),
        metrics: metrics_handle(),
        service_worker: shell::worker(&assets).into(),
        assets: Arc::new(assets),
        leptos,
    });
    seed::seed_demo(&app, config.demo_write_key()?.as_deref()).await?;
    Ok(app)
}

/// What this replica does with what the other replicas say: changes go to `freshness`
/// (which may know the board after them), ephemeral messages to `presence`; a reconnect
/// concerns both, since whatever was said meanwhile is lost.
struct FromOthers {
    freshness: Arc<Freshness>,
    presence: Arc<Presence>,
    /// A traced change's receive and fan-out spans on this replica.
    telemetry: Arc<telemetry::Telemetry>,
    /// What the replicas say on the cluster's channel (the console's reports and actions).
    cluster: Arc<admin::cluster::Cluster>,
}

impl broker::Listener for FromOthers {
    fn heard(
        &self,
        board: String,
        record: board_core::patterns::ChangeRecord,
        traceparent: Option<&str>,
    ) -> live::LiveChange {
        let arrived = std::time::SystemTime::now();
        let traced = traceparent
            .and_then(telemetry::context::parse)
            .and_then(|publish| self.telemetry.received(&board, record.seq, publish, arrived));
        self.freshness.heard(board, record).traced(traced)
    }

    fn ephemeral(&self, board: &str, replica: &str, mut message: serde_json::Value) {
        if board == broker::CLUSTER {
            return self.cluster.heard(replica, message);
        }
        // A trace's hop (`share_hops`) is the waterfall's; everything else is presence's.
        match message.get_mut(TRACE_HOP).map(serde_json::Value::take).map(serde_json::from_value) {
            Some(Ok(hop)) => self.telemetry.recent().heard(board, hop),
            Some(Err(err)) => tracing::warn!(%replica, error = %err, "ignoring a trace hop that does not parse"),
            None => self.presence.heard(board, replica, message),
        }
    }

    fn reconnected(&self) {
        self.freshness.reconnected();
        self.presence.reconnected();
    }

    fn head(&self, board: &str, head: u64) {
        self.freshness.saw_head(board, head);
    }
}

/// The field of an ephemeral message between replicas that carries a trace's hop.
const TRACE_HOP: &str = "trace_hop";

/// Tells the other replicas each hop recorded here, until the server closes.
async fn share_hops(
    mut hops: tokio::sync::mpsc::Receiver<(String, telemetry::recent::SharedHop)>,
    broker: Arc<dyn Broker>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let hop = tokio::select! {
            hop = hops.recv() => hop,
            _ = closing.wait_for(|closing| *closing) => None,
        };
        let Some((board, hop)) = hop else { return };
        broker.publish_ephemeral(&board, serde_json::json!({ TRACE_HOP: hop })).await;
    }
}

/// Reports this replica to the console (and the other replicas) every
/// `admin::cluster::REPORT_EVERY` until the server closes, the first at once.
async fn keep_reporting(app: AppState) {
    let mut closing = app.closing.clone();
    let mut tick = tokio::time::interval(admin::cluster::REPORT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = closing.wait_for(|closing| *closing) => return,
        }
        app.cluster.report(app.broker.as_ref(), &app.metrics.render()).await;
    }
}

/// Serves on `listener` until `shutdown` completes, then drains open requests.
pub async fn launch(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    let local = listener.local_addr()?;
    let (close, closing) = tokio::sync::watch::channel(false);
    let app = build_state(&config, local, closing).await?;
    serve::metrics_listener(
        &config.metrics_bind,
        app.metrics.clone(),
        app.broker.clone(),
        &app.background,
        app.closing.clone(),
    )
    .await;
    tracing::info!(addr = %local, replica = %app.replica, database = ?app.store.backend(), "serving");
    serve(listener, app, close, shutdown).await
}

/// Serves a built state. When `shutdown` completes, `close` tells the open streams to end
/// (WebSockets close with 1012, SSE ends, held long-polls answer), then the server waits
/// for the requests still running, for at most [`serve::DRAIN`]; then for its background
/// tasks, which end on the same signal, and closes the database. When this returns, nothing
/// of the server runs.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    close: tokio::sync::watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    let background = app.background.clone();
    let closing = app.closing.clone();
    // Shutdown, or the server ending otherwise (its listener failed), closes everything.
    let (ended, ends) = tokio::sync::oneshot::channel::<()>();
    background.spawn(async move {
        tokio::select! {
            () = shutdown => {}
            _ = ends => {}
        }
        let _ = close.send(true);
    });
    let (max_connections, header_timeout, tls) = (app.max_connections, app.header_timeout, app.tls.clone());
    // Limits and idempotency keys are swept in the background while the server runs.
    background.spawn(upkeep(app.clone()));
    // Webhooks are delivered while it runs (here, not in `build_state`, so that a test may
    // give the state another resolver first).
    background.spawn(app.webhooks.clone().keep_delivering(app.closing.clone()));
    background.spawn(metrics_upkeep(app.metrics.clone(), app.closing.clone()));
    // This replica's report to the console, every few seconds (and to the others, over the bus).
    background.spawn(keep_reporting(app.clone()));
    let (store, app_telemetry) = (app.store.clone(), app.telemetry.clone());
    let served = serve::serve(listener, router::router(app), tls, max_connections, header_timeout, closing).await;
    drop(ended);
    background.close();
    if tokio::time::timeout(serve::DRAIN, background.wait()).await.is_err() {
        tracing::warn!(running = background.len(), "background tasks still running after the drain");
    }
    store.close().await;
    // The exporter sends what it still holds (a blocking call: off the runtime's threads).
    let telemetry = app_telemetry;
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    served
}

/// How many stored Idempotency-Key answers a board keeps at most (the newest): a client
/// retries a command within seconds, and the command rate bounds how many a minute adds.
pub const KEYS_PER_BOARD: u64 = 10_000;

/// Every minute: forget rate-limit buckets that are full again, and stored
/// Idempotency-Key answers older than `IDEMPOTENCY_TTL` or beyond [`KEYS_PER_BOARD`].
/// Ends when the server closes.
async fn upkeep(app: AppState) {
    let mut closing = app.closing.clone();
    let closed = async move {
        let _ = closing.wait_for(|closing| *closing).await;
    };
    let mut closed = std::pin::pin!(closed);
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = &mut closed => return,
        }
        app.limits.sweep();
        match app.store.forget_idempotency_keys(app.idempotency_ttl, KEYS_PER_BOARD).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(keys = n, "forgot expired idempotency keys"),
            Err(err) => tracing::warn!(error = %err, "could not sweep idempotency keys"),
        }
    }
}

/// The process-wide Prometheus recorder (a recorder is global, tests start many servers).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Histograms need periodic upkeep or they grow between scrapes: every 5 s while the
/// server runs. (The recorder is the process's; with several servers in one process, as in
/// the tests, each keeps it, which does no harm.)
async fn metrics_upkeep(handle: PrometheusHandle, mut closing: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = every.tick() => handle.run_upkeep(),
            _ = closing.wait_for(|closing| *closing) => return,
        }
    }
}
