//! What a server-rendered page may cost. Rendering is the dearest thing a `GET` can ask of
//! this server: the board is read, turned into HTML for each view of it (five on the
//! compare page) and compressed, on the runtime's worker threads that commands and
//! streams share. Three bounds keep it from becoming a cheap denial of service:
//!
//! * **Each view renders a bounded part of the board** (`app::ui::board::Budget`: the
//!   first columns and cards, the rest behind "show more"), whatever the board's size; the
//!   compare page shares one budget between at most six panes, which share one copy of the
//!   board.
//! * **A client renders at most `PAGE_RENDERS_PER_IP` pages at once**; a few more wait
//!   their turn (a class behind one address opening the demo together is served one after
//!   another, quickly), and beyond [`WAITING_PER_CLIENT`] waiting, or after [`QUEUE_WAIT`],
//!   the answer is `429` with `Retry-After`.
//! * **The replica renders at most `PAGE_RENDERS` pages at once** (half the cores by
//!   default), so renders never take every worker from commands and streams; a page waits
//!   its turn for up to [`QUEUE_WAIT`], then gets `503` with `Retry-After`.
//!
//! The gate is [`gate`], a middleware on the page routes. Server functions share those
//! routes but run a command, not a render: they pass, bounded by the command rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::AppError;
use crate::limits::ClientIp;

/// How long a page waits for a render slot (the client's, then the replica's).
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// How many pages of one client may wait for its render slots; more are refused at once.
pub const WAITING_PER_CLIENT: usize = 8;

/// The render slots: the replica's, and each client's.
#[derive(Debug)]
pub struct Renders {
    replica: Semaphore,
    per_client: usize,
    /// The clients with a page rendering or waiting; an entry goes with its last page.
    clients: Mutex<HashMap<IpAddr, Arc<Client>>>,
}

/// One client's render slots, and how many of its pages wait for one.
#[derive(Debug)]
struct Client {
    slots: Semaphore,
    /// Pages rendering or waiting.
    pages: AtomicUsize,
}

impl Renders {
    pub fn new(at_once: usize, per_client: u32) -> Arc<Renders> {
        Arc::new(Renders {
            replica: Semaphore::new(at_once.max(1)),
            per_client: per_client.max(1) as usize,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The client's entry, counted as one more page.
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Result<Entered, AppError> {
        let mut clients = self.clients.lock().expect("renders lock");
        let client = clients
            .entry(ip)
            .or_insert_with(|| Arc::new(Client { slots: Semaphore::new(self.per_client), pages: AtomicUsize::new(0) }))
            .clone();
        if client.pages.load(Ordering::SeqCst) >= self.per_client + WAITING_PER_CLIENT {
            return Err(too_many());
        }
        client.pages.fetch_add(1, Ordering::SeqCst);
        Ok(Entered { renders: self.clone(), ip, client })
    }

    /// Pages rendering or waiting now, by client: for tests and `/metrics`.
    pub fn clients(&self) -> usize {
        self.clients.lock().expect("renders lock").len()
    }
}

/// A page of one client, rendering or waiting; the client's entry goes with its last page.
struct Entered {
    renders: Arc<Renders>,
    ip: IpAddr,
    client: Arc<Client>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut clients = self.renders.clients.lock().expect("renders lock");
        if self.client.pages.fetch_sub(1, Ordering::SeqCst) == 1 {
            clients.remove(&self.ip);
        }
    }
}

fn too_many() -> AppError {
    metrics::counter!("board_limited_total", "limit" => "pages").increment(1);
    AppError::TooMany {
        message: "too many pages at once from this address; retry shortly".into(),
        retry_after: Some(Duration::from_secs(1)),
    }
}

/// Middleware for the page routes: one of the client's render slots, then one of the
/// replica's, held while the page renders.
pub async fn gate(
    State(renders): State<Arc<Renders>>,
    ClientIp(ip): ClientIp,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let entered = match renders.enter(ip) {
        Ok(entered) => entered,
        Err(refused) => return refused.into_response(),
    };
    let Ok(Ok(client)) = tokio::time::timeout(QUEUE_WAIT, entered.client.slots.acquire()).await else {
        return too_many().into_response();
    };
    let Ok(Ok(replica)) = tokio::time::timeout(QUEUE_WAIT, renders.replica.acquire()).await else {
        metrics::counter!("board_limited_total", "limit" => "page_queue").increment(1);
        return AppError::Busy("this server is rendering as many pages as it can; retry shortly".into())
            .into_response();
    };
    metrics::counter!("board_pages_rendered_total").increment(1);
    // Pages render before their answer starts (`SsrMode::Async`): the slots (dropped here,
    // the replica's first) are free once the response exists.
    let _held = (replica, client);
    next.run(request).await
}
