//! Brokers tell subscribers that a change committed. They only notify: delivery is at most
//! once (a lagging receiver, a restarted Redis, a disconnected replica all lose messages),
//! so nothing relies on them for completeness. Every subscriber checks `seq == last + 1`
//! and repairs gaps from the change log (see `stream`).
//!
//! * [`memory`]: in-process `tokio::sync::broadcast`, one channel per board (one replica).

pub mod memory;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::live::LiveChange;

#[async_trait::async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Announces a committed change to the board's subscribers on every replica.
    async fn publish(&self, change: Arc<LiveChange>);
    /// Follows one board's changes on this replica. The receiver is bounded: one that
    /// falls behind gets `RecvError::Lagged` and must backfill from the log.
    fn subscribe(&self, board: &str) -> broadcast::Receiver<Arc<LiveChange>>;
    /// Readiness: can this broker deliver right now?
    async fn ready(&self) -> Result<(), String>;
}

/// How many changes a board's channel holds for its slowest receiver before that receiver
/// lags. Small on purpose: a lagging subscriber is repaired from the log, not buffered.
pub const CHANNEL_CAPACITY: usize = 64;
