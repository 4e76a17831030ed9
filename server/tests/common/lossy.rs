//! A broker that loses notices on purpose, as a network does: the fault that the streams'
//! repair (gap check, head sweep, heartbeat) exists for. It lives with the tests, not in
//! the server, and loses a notice for every replica at once, at the publisher (the
//! server's own fault lab, `FAULTS=1`, drops at one replica's receiving end; `lab.rs`).
//! Every test server's broker is wrapped in one, losing nothing until told to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use server::broker::{Broker, Notice, Subscription};
use server::live::LiveChange;

pub struct Lossy {
    inner: Arc<dyn Broker>,
    /// How many of the next publishes are lost.
    drop_next: AtomicU64,
    /// How many were lost so far.
    dropped: AtomicU64,
}

impl Lossy {
    pub fn new(inner: Arc<dyn Broker>) -> Self {
        Lossy { inner, drop_next: AtomicU64::new(0), dropped: AtomicU64::new(0) }
    }

    /// The next `n` changes committed through this broker are announced to nobody, on this
    /// replica or any other.
    pub fn drop_next_publishes(&self, n: u64) {
        self.drop_next.store(n, Ordering::SeqCst);
    }

    /// How many publishes this broker lost.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Broker for Lossy {
    async fn publish(&self, change: Arc<LiveChange>) {
        if self.drop_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        } else {
            self.inner.publish(change).await;
        }
    }

    async fn subscribe(&self, board: &str) -> Subscription {
        self.inner.subscribe(board).await
    }

    fn follows(&self, board: &str) -> bool {
        self.inner.follows(board)
    }

    fn channels(&self) -> usize {
        self.inner.channels()
    }

    fn boards(&self) -> Vec<String> {
        self.inner.boards()
    }

    fn deliver_here(&self, board: &str, notice: Notice) {
        self.inner.deliver_here(board, notice)
    }

    async fn publish_ephemeral(&self, board: &str, message: serde_json::Value) {
        self.inner.publish_ephemeral(board, message).await
    }

    async fn ready(&self) -> Result<(), String> {
        self.inner.ready().await
    }

    async fn followers(&self) -> Vec<(String, usize)> {
        self.inner.followers().await
    }
}
