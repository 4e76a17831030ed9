//! Redis pub/sub between replicas. Each change is published on its board's channel
//! (`board:{id}`); each replica holds one pub/sub connection, subscribed to the channels of
//! the boards it serves, and hands what it hears to its local fan-out ([`MemoryBroker`]).
//!
//! Subscriptions follow the local subscribers: the first stream of a board on this replica
//! subscribes its channel and waits for Redis to confirm, so that whatever commits after
//! [`Broker::subscribe`] returns is heard; every [`PRUNE_EVERY`] the replica unsubscribes the
//! boards nobody here follows any more. A replica thus hears only its own boards' traffic.
//! One lock orders every SUBSCRIBE and UNSUBSCRIBE, so a board cannot be unsubscribed under
//! a stream that has just joined it.
//!
//! Redis pub/sub is at most once: a message published while a replica is disconnected is
//! gone. The broker does not repair that itself; it tells its [`Listener`] (the server's
//! `freshness`) what it heard and when it reconnected, and the listener sweeps the heads
//! from the database. So this module needs Redis and the broker's own types, nothing else.
//!
//! Its two background tasks (the pub/sub connection, the pruning of idle channels) go into
//! the server's `TaskTracker` and end when the server closes, so the server waits for them
//! like for the rest of its work; they are aborted, too, if the broker is dropped first.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionManager, PubSubSink};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};
use tokio::task::AbortHandle;
use tokio_util::task::TaskTracker;

use board_core::patterns::ChangeRecord;

use super::memory::MemoryBroker;
use super::{Broker, Listener, Notice, NoticeFilter, Subscription};
use crate::live::LiveChange;

/// How often each replica unsubscribes the channels of boards nobody here follows.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3);
/// How long a new stream waits for Redis to confirm its board's subscription before it
/// goes on without (the head sweep then covers it).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

/// The Redis channel of a board's changes: the one place its name is made.
pub fn channel(board: &str) -> String {
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

/// What goes over Redis: a change or an ephemeral message, and which replica sent it
/// (that replica already delivered it locally).
#[derive(Serialize, Deserialize)]
struct Message {
    replica: String,
    board: String,
    #[serde(flatten)]
    body: Body,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Body {
    Record(ChangeRecord),
    /// Opaque here (presence's own messages).
    Ephemeral(serde_json::Value),
}

pub struct RedisBroker {
    local: Arc<MemoryBroker>,
    publisher: ConnectionManager,
    replica: Arc<str>,
    /// `true` while the pub/sub connection is up (readiness).
    subscribed: Arc<AtomicBool>,
    /// Which boards' channels this replica listens to.
    subscriptions: Arc<Mutex<Subscriptions>>,
    /// The pub/sub connection's task and the pruning task: they end on the server's
    /// `closing`, and are aborted if the broker is dropped before (a test's broker), so
    /// nothing of it runs, and no connection stays open, once it is gone.
    tasks: [AbortHandle; 2],
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl RedisBroker {
    /// Publishes on the board's channel, at most once.
    async fn send(&self, board: &str, body: Body) {
        let message = Message { replica: self.replica.to_string(), board: board.to_owned(), body };
        let payload = serde_json::to_string(&message).expect("messages serialise");
        let mut publisher = self.publisher.clone();
        let published: Result<i64, _> = publisher.publish(channel(board), payload).await;
        if let Err(err) = published {
            metrics::counter!("board_redis_publish_failed_total").increment(1);
            tracing::warn!(%board, error = %err, "redis publish failed");
        }
    }

    /// Connects the publisher and starts the subscriber and the pruning of idle channels,
    /// in `tasks`, until `closing` turns true. What other replicas publish goes to
    /// `listener`, and so does each reconnect. `filter` (this replica's fault lab) decides
    /// what becomes of each change notice in its local fan-out, which this replica's own
    /// changes and those heard from the others both pass.
    pub async fn start(
        url: &str,
        replica: Arc<str>,
        listener: Arc<dyn Listener>,
        filter: Arc<dyn NoticeFilter>,
        tasks: &TaskTracker,
        closing: watch::Receiver<bool>,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let publisher = ConnectionManager::new(client.clone()).await?;
        let local = Arc::new(MemoryBroker::with_filter(filter));
        let subscribed = Arc::new(AtomicBool::new(false));
        let subscriptions: Arc<Mutex<Subscriptions>> = Arc::default();
        let connection = tasks.spawn(until_closing(
            closing.clone(),
            subscribe_loop(client, local.clone(), replica.clone(), subscribed.clone(), subscriptions.clone(), listener),
        ));
        let pruning = tasks.spawn(until_closing(closing, prune_idle(local.clone(), subscriptions.clone())));
        Ok(RedisBroker {
            local,
            publisher,
            replica,
            subscribed,
            subscriptions,
            tasks: [connection.abort_handle(), pruning.abort_handle()],
        })
    }
}

#[async_trait::async_trait]
impl Broker for RedisBroker {
    async fn publish(&self, change: Arc<LiveChange>) {
        // This replica's subscribers first: they need no round trip through Redis.
        self.local.publish(change.clone()).await;
        // If this fails, other replicas notice through their head sweep; nothing is lost.
        self.send(&change.board, Body::Record(change.record.clone())).await;
    }

    async fn publish_ephemeral(&self, board: &str, message: serde_json::Value) {
        self.send(board, Body::Ephemeral(message)).await;
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

    fn boards(&self) -> Vec<String> {
        self.local.boards()
    }

    fn deliver_here(&self, board: &str, notice: Notice) {
        self.local.deliver(board, notice);
    }

    /// `PUBSUB NUMSUB` of this replica's channels: each replica holds one subscription
    /// per board it follows, so the count is the replicas. Empty when Redis cannot answer.
    async fn followers(&self) -> Vec<(String, usize)> {
        let boards = self.local.boards();
        if boards.is_empty() {
            return Vec::new();
        }
        let mut command = redis::cmd("PUBSUB");
        command.arg("NUMSUB");
        for board in &boards {
            command.arg(channel(board));
        }
        let mut publisher = self.publisher.clone();
        match command.query_async::<Vec<(String, usize)>>(&mut publisher).await {
            // Answered in the order asked: channel, count, channel, count...
            Ok(counts) => boards.into_iter().zip(counts).map(|(board, (_, count))| (board, count)).collect(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot count a board's followers");
                Vec::new()
            }
        }
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

/// Runs `task` until the server closes. (Both tasks loop for ever otherwise.)
async fn until_closing(mut closing: watch::Receiver<bool>, task: impl std::future::Future<Output = ()>) {
    tokio::select! {
        () = task => {}
        _ = closing.wait_for(|closing| *closing) => {}
    }
}

/// Holds the pub/sub connection, resubscribing with backoff whenever it drops.
async fn subscribe_loop(
    client: redis::Client,
    local: Arc<MemoryBroker>,
    replica: Arc<str>,
    subscribed: Arc<AtomicBool>,
    subscriptions: Arc<Mutex<Subscriptions>>,
    listener: Arc<dyn Listener>,
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
                        // Whatever was published while we were away is gone: the listener
                        // checks the log.
                        listener.reconnected();
                        while let Some(message) = messages.next().await {
                            let Ok(payload) = message.get_payload::<String>() else { continue };
                            let parsed = serde_json::from_str::<Message>(&payload);
                            // Every message Redis hands this replica, its own echoes too:
                            // what a commit costs in Redis traffic (followers of its board).
                            let kind = match &parsed {
                                Ok(Message { body: Body::Record(_), .. }) => "change",
                                Ok(Message { body: Body::Ephemeral(_), .. }) => "ephemeral",
                                Err(_) => "unreadable",
                            };
                            metrics::counter!("board_redis_messages_received_total", "kind" => kind).increment(1);
                            match parsed {
                                Ok(message) if *message.replica == *replica => {}
                                Ok(Message { board, body: Body::Record(record), .. }) => {
                                    let change = listener.heard(board.clone(), record);
                                    local.deliver(&board, Notice::Change(Arc::new(change)));
                                }
                                Ok(Message { board, replica, body: Body::Ephemeral(message) }) => {
                                    listener.ephemeral(&board, &replica, message);
                                }
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

/// Every [`PRUNE_EVERY`]: unsubscribes the boards nobody here follows any more.
async fn prune_idle(local: Arc<MemoryBroker>, subscriptions: Arc<Mutex<Subscriptions>>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        unsubscribe_idle(&local, &subscriptions).await;
    }
}
