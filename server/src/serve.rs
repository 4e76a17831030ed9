//! The accept loop: what happens to a connection before the router sees a request.
//!
//! axum's own `serve` is a fine default, but a public server needs things it does not
//! offer, so this loop drives hyper directly (as axum's `serve-with-hyper` example does):
//!
//! * **A connection limit** (`MAX_CONNECTIONS`): beyond it a new connection gets a `503`
//!   and is closed, instead of the replica running out of memory or file descriptors. The
//!   limit must fit under the process's open-file limit: [`fit_connections`] raises the
//!   soft limit to the hard one at start and lowers `MAX_CONNECTIONS` below it if needed,
//!   leaving room for the database, the broker and webhook deliveries.
//! * **Time limits per connection** (`HEADER_TIMEOUT`), whatever the protocol: a first
//!   request within it, and no idle stretch longer than it ([`crate::connection`]). A
//!   client that sends its request headers one byte every few seconds (slowloris), or
//!   nothing at all, or half an HTTP/2 preface, is disconnected, not given a task for
//!   ever. Request bodies get the same limit per read (in `router`).
//! * **TLS** when it is set up ([`crate::tls`]): the handshake runs in the connection's
//!   own task, within `HEADER_TIMEOUT`, and ALPN decides HTTP/2 or HTTP/1.1.
//! * **The peer address** on every request (`ConnectInfo`), for the per-client limits.
//! * **Dead peers found by the kernel** ([`find_dead_peers`]): a client whose network
//!   vanished (a laptop shut, a cable pulled, a phone out of range) sends no FIN, and an SSE
//!   stream never reads from it; TCP keepalive probes and a limit on unacknowledged data
//!   end such a connection within [`DEAD_PEER_WITHIN`], so its presence goes with it.
//!
//! Shutdown: when `closing` turns true the loop stops accepting, open streams end (they
//! watch the same signal), and connections get at most [`DRAIN`] to finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Extension;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::Layer;

use crate::connection::{self, Activity, Track};
use crate::BoxError;

/// How long a shutting-down replica waits for open requests.
pub const DRAIN: Duration = Duration::from_secs(30);

/// Silence before the kernel probes a connection, the gap between probes, and how many go
/// unanswered before it gives up: a silent peer is found after 4 + 3 × 1 = 7 s.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(4);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_PROBES: u32 = 3;
/// How long sent data may go unacknowledged before the connection is dropped (while data
/// is in flight keepalive does not probe). A client on a network that stalls longer is cut
/// off, reconnects and resumes from its seq.
const UNACKED_LIMIT: Duration = Duration::from_secs(7);
/// A peer whose network vanished is disconnected within this (plus a scheduling moment).
pub const DEAD_PEER_WITHIN: Duration = Duration::from_secs(8);

/// Asks the kernel to find a peer that went silent: keepalive probes when the connection
/// is idle, and a limit on unacknowledged data when it is not. Only a peer that answers
/// nothing at all is affected; an idle but reachable one answers the probes.
pub fn find_dead_peers(stream: &TcpStream) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(UNACKED_LIMIT))?;
    Ok(())
}

/// Files the process needs besides its connections: the database pool, the broker, the
/// listeners, logs and libraries, with room to spare.
pub const FILES_BESIDES_CONNECTIONS: u64 = 128;

/// Raises the process's open-file soft limit to its hard limit, and returns how many
/// connections fit under it: `configured` (`MAX_CONNECTIONS`), or fewer when the limit
/// leaves less room once [`FILES_BESIDES_CONNECTIONS`] and `webhook_sockets` (outgoing
/// deliveries at once) are set aside. Says what it did in the log. A connection refused
/// for the limit gets a `503`; one refused by the kernel for want of a file would only
/// time out, and every other request with it.
pub fn fit_connections(configured: usize, webhook_sockets: usize) -> usize {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(1024);
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(err) => {
            tracing::warn!(error = %err, "could not raise the open-file limit");
            before
        }
    };
    let room = soft.saturating_sub(FILES_BESIDES_CONNECTIONS + webhook_sockets as u64).max(1);
    let fitted = (configured as u64).min(room) as usize;
    if fitted < configured {
        tracing::warn!(
            open_files = soft,
            configured,
            max_connections = fitted,
            "MAX_CONNECTIONS lowered to fit the open-file limit (raise the hard limit with `ulimit -Hn` to allow more)"
        );
    } else {
        tracing::info!(open_files = soft, raised_from = before, max_connections = fitted, "connection limit");
    }
    fitted
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `closing` turns
/// true, then drains.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    header_timeout: Duration,
    closing: tokio::sync::watch::Receiver<bool>,
) -> Result<(), BoxError> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    // Shared by every connection's task, which borrows it for as long as it runs.
    let builder = Arc::new(builder);
    let max_connections = max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let connections = Arc::new(Semaphore::new(max_connections));
    let mut stop = closing.clone();
    let closed = async move {
        let _ = stop.wait_for(|closing| *closing).await;
    };
    let mut closed = std::pin::pin!(closed);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a moment instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut closed => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            metrics::counter!("board_connections_refused_total").increment(1);
            // Over TLS a plain-text 503 would be garbage to the client: closing says as much.
            if tls.is_none() {
                tokio::spawn(refuse(stream));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        if let Err(err) = find_dead_peers(&stream) {
            tracing::debug!(error = %err, "could not set TCP keepalive");
        }
        let (builder, router, tls, closing) = (builder.clone(), router.clone(), tls.clone(), closing.clone());
        tokio::spawn(async move {
            metrics::gauge!("board_connections").increment(1.0);
            match tls {
                None => drive(&builder, stream, router, peer, header_timeout, closing).await,
                // A client that does not finish its handshake in time is dropped, as one
                // that does not send its headers is.
                Some(tls) => match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
                    Ok(Ok(stream)) => drive(&builder, stream, router, peer, header_timeout, closing).await,
                    Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
            metrics::gauge!("board_connections").decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    // Every connection holds a permit until it ends: all of them back means all ended.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, connections.acquire_many(all)).await.is_err() {
        tracing::warn!("requests still open after {DRAIN:?}; exiting anyway");
    }
    Ok(())
}

/// Serves one connection (plain or TLS) until it ends, within its time limits.
async fn drive<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    router: axum::Router,
    peer: SocketAddr,
    header_timeout: Duration,
    closing: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let service = Track::new(Extension(ConnectInfo(peer)).layer(router), activity.clone());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    connection::drive(connection, |c| c.graceful_shutdown(), activity, header_timeout, closing).await;
}

/// A connection beyond the limit: read what the client sent (briefly, so that closing does
/// not reset the connection under its request), answer `503`, close.
async fn refuse(mut stream: TcpStream) {
    let mut buffer = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buffer)).await;
    let body = r#"{"error":"this server is at its connection limit; retry shortly"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Serves `/metrics` on its own listener (`METRICS_BIND`, loopback by default), so the
/// public one never shows it. A metrics address that is taken is logged, not fatal.
pub async fn metrics_listener(
    bind: &str,
    handle: metrics_exporter_prometheus::PrometheusHandle,
    broker: std::sync::Arc<dyn crate::broker::Broker>,
    background: &tokio_util::task::TaskTracker,
    mut closing: tokio::sync::watch::Receiver<bool>,
) -> Option<SocketAddr> {
    if bind == "off" {
        return None;
    }
    let listener = match TcpListener::bind(bind).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(%bind, error = %err, "metrics are not served");
            return None;
        }
    };
    let local = listener.local_addr().ok()?;
    let render = move || {
        let (handle, broker) = (handle.clone(), broker.clone());
        async move { handle.render() + &crate::broker::followers_metric(&*broker).await }
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(render));
    background.spawn(async move {
        let closed = async move {
            let _ = closing.wait_for(|closing| *closing).await;
        };
        let _ = axum::serve(listener, app).with_graceful_shutdown(closed).await;
    });
    tracing::info!(addr = %local, "metrics");
    Some(local)
}
