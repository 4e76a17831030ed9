//! One accepted connection's life: it is served while it does something, and closed when it
//! does nothing.
//!
//! hyper times a client's request headers only once it knows the protocol, and only for
//! HTTP/1: a socket that sends nothing, or the first half of the HTTP/2 preface, or an
//! HTTP/2 preface and then no request, was held for ever, and 500 of them filled
//! `MAX_CONNECTIONS`. So each connection is driven by [`drive`], which watches what the
//! router sees of it ([`Activity`], kept by the [`Track`] layer) whatever the protocol:
//!
//! * **A first request within `HEADER_TIMEOUT`** of the accept (its headers complete: that
//!   is when the router is called), or the connection is dropped. Nothing was asked, so
//!   nothing is answered.
//! * **No request in flight for `HEADER_TIMEOUT`** (an idle HTTP/1 keep-alive, an idle
//!   HTTP/2 connection): the connection is shut down gracefully (HTTP/2 sends `GOAWAY`),
//!   and dropped if it has not ended [`GRACE`] later. A request in flight (a long-poll
//!   held, an SSE stream) is never idle; a WebSocket leaves this loop when it upgrades.
//! * **The server closing**: a graceful shutdown, then the drain `serve` allows.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Request, Response};
use tokio::time::Instant;

/// How long a connection told to shut down (idle) may take before it is dropped.
pub const GRACE: Duration = Duration::from_secs(1);

/// What the router has seen of one connection so far.
#[derive(Debug)]
pub struct Activity {
    /// When it was accepted: the other times are counted from here.
    born: Instant,
    /// A request has reached the router (its headers were complete).
    started: AtomicBool,
    /// Requests in flight: from the router's call until their response body is done or
    /// dropped (an SSE stream counts for its whole life).
    open: AtomicUsize,
    /// Milliseconds after `born` when the last request in flight ended.
    idle_since_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            born: Instant::now(),
            started: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// When the connection is due to be closed if nothing changes: `None` while a request
    /// is in flight.
    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.open.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        Some(self.born + since + timeout)
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.started.store(true, Ordering::SeqCst);
        self.open.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One request in flight; the connection is idle again when the last of these is dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let now = activity.born.elapsed().as_millis() as u64;
        activity.idle_since_ms.fetch_max(now, Ordering::SeqCst);
        activity.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The service of one connection, counting its requests in flight into its [`Activity`].
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Track<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Track { inner, activity }
    }
}

impl<S, B> tower::Service<Request<B>> for Track<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Held by the future until the response exists, then by its body: a handler that
        // is cancelled, or a body that ends or is dropped, ends the request.
        let in_flight = self.activity.begin();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Body::new(Tracked { body, _in_flight: in_flight })))
        })
    }
}

/// A response body that keeps its request in flight until it is done or dropped.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Why a connection was closed by this module: the `reason` label of
/// `board_connections_closed_total`.
fn closed(reason: &'static str) {
    metrics::counter!("board_connections_closed_total", "reason" => reason).increment(1);
}

/// Drives `connection` to its end, closing it as the module doc says. `shutdown` asks it
/// to end gracefully (hyper's `graceful_shutdown`); `closing` turns true when the server
/// shuts down.
pub async fn drive<C: Future>(
    connection: C,
    shutdown: impl Fn(Pin<&mut C>),
    activity: Arc<Activity>,
    timeout: Duration,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let mut connection = std::pin::pin!(connection);
    // Told to end (idle, or the server closing): then dropped at `gave_up` if still open.
    let mut ending = false;
    let mut gave_up: Option<Instant> = None;
    loop {
        let deadline = activity.deadline(timeout);
        // A request in flight: look again when it might have ended, not before.
        let wake = deadline.unwrap_or_else(|| Instant::now() + timeout);
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = closing.wait_for(|closing| *closing), if !ending => {
                shutdown(connection.as_mut());
                ending = true;
            }
            () = tokio::time::sleep_until(gave_up.unwrap_or(wake)), if gave_up.is_some() || !ending => {
                if gave_up.is_some_and(|at| Instant::now() >= at) {
                    return closed("idle");
                }
                // Still idle at its deadline? (A request may have begun meanwhile.)
                let Some(deadline) = activity.deadline(timeout) else { continue };
                if Instant::now() < deadline {
                    continue;
                }
                if !activity.started.load(Ordering::SeqCst) {
                    // Never asked anything: drop it, there is nobody to answer.
                    return closed("no_request");
                }
                shutdown(connection.as_mut());
                ending = true;
                gave_up = Some(Instant::now() + GRACE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_is_dropped_at_the_header_timeout() {
        let activity = Activity::new();
        let (_close, closing) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        drive(std::future::pending::<()>(), |_| {}, activity, Duration::from_secs(10), closing).await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_idle_and_idleness_counts_from_its_end() {
        let activity = Activity::new();
        let (_close, closing) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let request = activity.begin();
        let ends = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(request);
        });
        // Told to shut down once idle; the connection then ends at once.
        let told = Arc::new(AtomicBool::new(false));
        let connection = {
            let told = told.clone();
            std::future::poll_fn(move |cx| {
                if told.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                // Asked again by the driver's loop; the test's clock wakes it.
                let _ = cx;
                Poll::Pending
            })
        };
        drive(connection, |_| told.store(true, Ordering::SeqCst), activity, Duration::from_secs(10), closing).await;
        ends.await.unwrap();
        // Dropped GRACE after the idle deadline at the latest (the test's connection does
        // not wake itself when told).
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(70) && took <= Duration::from_secs(70) + GRACE, "{took:?}");
        assert!(told.load(Ordering::SeqCst));
    }
}
