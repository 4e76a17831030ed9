//! Redis pub/sub between replicas. Each change is published on its board's channel
//! (`board:{id}`); each replica holds one pub/sub connection, subscribed to the channels of
//! the boards it serves, and hands what it hears to its local fan-out ([`MemoryBroker`]).
//!
//! Subscriptions follow the local subscribers: the first stream of a board on this replica
//! subscribes its channel and waits for Redis to confirm, so that whatever commits after
//! [`Broker::subscribe`] returns is heard; every [`HEAD_EVERY`] the replica unsubscribes the
//! boards nobody here follows any more. A replica thus hears only its own boards' traffic.
//! One lock orders every SUBSCRIBE and UNSUBSCRIBE, so a board cannot be unsubscribed under
//! a stream that has just joined it.
//!
//! Redis pub/sub is at most once: a message published while a replica is disconnected is
//! gone. So the log stays the truth:
//! * after every (re)subscribe, and every [`HEAD_EVERY`], the replica reads the head seq
//!   of each board it serves from the database and tells its subscribers ([`Notice::Head`]);
//!   a subscriber behind it repairs from the log;
//! * a change whose predecessor this replica never saw gets no state for `push-state`, and
//!   the snapshot cache stops serving the board, so the next read goes to the database.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionManager, PubSubSink};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use app::domain::op;
use app::patterns::ChangeRecord;

use super::memory::MemoryBroker;
use super::{Broker, Notice, Subscription};
use crate::live::{LiveChange, Snapshot, Snapshots};
use crate::store::Store;

/// How often each replica re-reads the heads of the boards it serves.
pub const HEAD_EVERY: Duration = Duration::from_secs(3);
/// How long a new stream waits for Redis to confirm its board's subscription before it
/// goes on without (the head sweep then covers it).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

fn channel(board: &str) -> String {
    format!("board:{board}")
}

/// This replica's Redis subscriptions. Behind one async lock held across each SUBSCRIBE
/// and UNSUBSCRIBE, so the set always says what Redis was last told.
#[derive(Default)]
struct Subscriptions {
    /// The live connection's command half; `None` while disconnected.
    sink: Option<PubSubSink>,
    /// The boards subscribed on that connection.
    boards: HashSet<String>,
}

/// What goes over Redis: the change, and who committed it (that replica already
/// delivered it locally).
#[derive(Serialize, Deserialize)]
struct Wire {
    replica: String,
    board: String,
    record: ChangeRecord,
}

pub struct RedisBroker {
    local: Arc<MemoryBroker>,
    publisher: ConnectionManager,
    replica: Arc<str>,
    /// `true` while the pub/sub connection is up (readiness).
    subscribed: Arc<AtomicBool>,
    /// Which boards' channels this replica listens to.
    subscriptions: Arc<Mutex<Subscriptions>>,
    /// Test hook: drop this many of the next publishes, as a lossy network would.
    drop_next: Arc<AtomicU64>,
}

impl RedisBroker {
    /// Connects the publisher and starts the subscriber and the head ticker.
    pub async fn start(
        url: &str,
        replica: Arc<str>,
        store: Store,
        snapshots: Arc<Snapshots>,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let publisher = ConnectionManager::new(client.clone()).await?;
        let broker = Arc::new(RedisBroker {
            local: Arc::new(MemoryBroker::default()),
            publisher,
            replica,
            subscribed: Arc::new(AtomicBool::new(false)),
            subscriptions: Arc::default(),
            drop_next: Arc::new(AtomicU64::new(0)),
        });
        tokio::spawn(subscribe_loop(
            client,
            broker.local.clone(),
            broker.replica.clone(),
            broker.subscribed.clone(),
            broker.subscriptions.clone(),
            store.clone(),
            snapshots.clone(),
        ));
        tokio::spawn(head_ticker(broker.local.clone(), broker.subscriptions.clone(), store, snapshots));
        Ok(broker)
    }

    /// Test hook: the next `n` publishes are dropped instead of sent.
    pub fn drop_next_publishes(&self, n: u64) {
        self.drop_next.store(n, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Broker for RedisBroker {
    async fn publish(&self, change: Arc<LiveChange>) {
        // This replica's subscribers first: they need no round trip through Redis.
        self.local.publish(change.clone()).await;
        if self.drop_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            metrics::counter!("board_redis_publish_dropped_total").increment(1);
            return;
        }
        let payload = serde_json::to_string(&Wire {
            replica: self.replica.to_string(),
            board: change.board.clone(),
            record: change.record.clone(),
        })
        .expect("changes serialise");
        let mut publisher = self.publisher.clone();
        let published: Result<i64, _> = publisher.publish(format!("board:{}", change.board), payload).await;
        if let Err(err) = published {
            // Other replicas notice through their head ticker; nothing is lost.
            metrics::counter!("board_redis_publish_failed_total").increment(1);
            tracing::warn!(board = %change.board, error = %err, "redis publish failed");
        }
    }

    async fn subscribe(&self, board: &str) -> Subscription {
        // Locally first: from here on the board counts as served, so no prune drops it.
        let receiver = self.local.subscribe(board).await;
        let mut subscriptions = self.subscriptions.lock().await;
        if subscriptions.boards.contains(board) {
            return receiver;
        }
        // Disconnected: the resubscribe after the reconnect includes this board.
        let Some(mut sink) = subscriptions.sink.clone() else { return receiver };
        match tokio::time::timeout(SUBSCRIBE_WAIT, sink.subscribe(channel(board))).await {
            Ok(Ok(())) => {
                subscriptions.boards.insert(board.to_owned());
            }
            Ok(Err(err)) => tracing::warn!(%board, error = %err, "redis subscribe failed"),
            Err(_) => tracing::warn!(%board, "redis subscribe timed out"),
        }
        receiver
    }

    /// Subscribed to the board's channel on the live connection. While the set is being
    /// changed the answer is "no": the caller then asks the database, which is always safe.
    fn follows(&self, board: &str) -> bool {
        self.subscriptions.try_lock().is_ok_and(|subscriptions| subscriptions.boards.contains(board))
    }

    fn channels(&self) -> usize {
        self.local.channels()
    }

    async fn ready(&self) -> Result<(), String> {
        let mut publisher = self.publisher.clone();
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut publisher).await;
        match (pong, self.subscribed.load(Ordering::SeqCst)) {
            (Ok(_), true) => Ok(()),
            (Ok(_), false) => Err("redis subscription is down".into()),
            (Err(err), _) => Err(err.to_string()),
        }
    }
}

/// Holds the pub/sub connection, resubscribing with backoff whenever it drops.
async fn subscribe_loop(
    client: redis::Client,
    local: Arc<MemoryBroker>,
    replica: Arc<str>,
    subscribed: Arc<AtomicBool>,
    subscriptions: Arc<Mutex<Subscriptions>>,
    store: Store,
    snapshots: Arc<Snapshots>,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(pubsub) => {
                let (sink, mut messages) = pubsub.split();
                match resubscribe(&local, &subscriptions, sink).await {
                    Ok(()) => {
                        subscribed.store(true, Ordering::SeqCst);
                        delay = Duration::from_millis(100);
                        tracing::info!("subscribed to redis");
                        // Whatever was published while we were away is gone: check the log.
                        sweep_heads(&local, &store, &snapshots).await;
                        while let Some(message) = messages.next().await {
                            let Ok(payload) = message.get_payload::<String>() else { continue };
                            match serde_json::from_str::<Wire>(&payload) {
                                Ok(wire) if *wire.replica == *replica => {}
                                Ok(wire) => deliver_remote(&local, &snapshots, wire),
                                Err(err) => {
                                    tracing::warn!(error = %err, "ignoring a redis message that does not parse")
                                }
                            }
                        }
                        subscribed.store(false, Ordering::SeqCst);
                        *subscriptions.lock().await = Subscriptions::default();
                        metrics::counter!("board_redis_disconnects_total").increment(1);
                        tracing::warn!("redis subscription lost; reconnecting");
                    }
                    Err(err) => tracing::warn!(error = %err, "redis subscribe failed"),
                }
            }
            Err(err) => tracing::warn!(error = %err, "redis connect failed"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// A change committed on another replica: derive its state if we hold the one before it,
/// then hand it to the local subscribers.
fn deliver_remote(local: &MemoryBroker, snapshots: &Snapshots, wire: Wire) {
    let after = match snapshots.get(&wire.board) {
        Some(before) if before.seq() + 1 == wire.record.seq => {
            let mut state = (*before.state).clone();
            op::apply(&mut state, &wire.record.ops);
            state.seq = wire.record.seq;
            let newest = snapshots.offer(&wire.board, Arc::new(Snapshot::new(Arc::new(state), wire.record.at)));
            // A newer one may have won the race into the cache: it is not this change's.
            Some(newest).filter(|snapshot| snapshot.seq() == wire.record.seq)
        }
        Some(cached) if cached.seq() >= wire.record.seq => None,
        _ => {
            // We missed something before this change: the cached board is stale.
            snapshots.saw_head(&wire.board, wire.record.seq);
            None
        }
    };
    let board = wire.board.clone();
    local.deliver(&board, Notice::Change(Arc::new(LiveChange::with_snapshot(wire.board, wire.record, after.as_ref()))));
}

/// Reads each served board's head from the database and tells its subscribers.
async fn sweep_heads(local: &MemoryBroker, store: &Store, snapshots: &Snapshots) {
    for board in local.boards() {
        match store.head(&board).await {
            Ok(Some(head)) => {
                snapshots.saw_head(&board, head);
                local.deliver(&board, Notice::Head(head));
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%board, error = %err, "cannot read the head"),
        }
    }
}

/// On a new connection: subscribe every board this replica serves, in one command.
async fn resubscribe(
    local: &MemoryBroker,
    subscriptions: &Mutex<Subscriptions>,
    mut sink: PubSubSink,
) -> Result<(), redis::RedisError> {
    let mut subscriptions = subscriptions.lock().await;
    let boards: HashSet<String> = local.boards().into_iter().collect();
    if !boards.is_empty() {
        sink.subscribe(boards.iter().map(|board| channel(board)).collect::<Vec<_>>()).await?;
    }
    *subscriptions = Subscriptions { sink: Some(sink), boards };
    Ok(())
}

/// Unsubscribes the boards nobody on this replica follows any more.
async fn unsubscribe_idle(local: &MemoryBroker, subscriptions: &Mutex<Subscriptions>) {
    let mut subscriptions = subscriptions.lock().await;
    let served: HashSet<String> = local.boards().into_iter().collect();
    let idle: Vec<String> = subscriptions.boards.difference(&served).cloned().collect();
    let Some(mut sink) = subscriptions.sink.clone() else { return };
    if idle.is_empty() {
        return;
    }
    match sink.unsubscribe(idle.iter().map(|board| channel(board)).collect::<Vec<_>>()).await {
        Ok(()) => {
            for board in &idle {
                subscriptions.boards.remove(board);
            }
        }
        Err(err) => tracing::warn!(error = %err, "redis unsubscribe failed"),
    }
}

async fn head_ticker(
    local: Arc<MemoryBroker>,
    subscriptions: Arc<Mutex<Subscriptions>>,
    store: Store,
    snapshots: Arc<Snapshots>,
) {
    let mut tick = tokio::time::interval(HEAD_EVERY);
    loop {
        tick.tick().await;
        unsubscribe_idle(&local, &subscriptions).await;
        sweep_heads(&local, &store, &snapshots).await;
    }
}
