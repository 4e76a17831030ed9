//! The relay: the one [`Broker`], for a replica on its own ([`Relay::alone`]: the
//! in-process broker is the relay with no bus) or among others over any [`Bus`]
//! ([`Relay::start`]). Everything the server asks of a broker is here, once, whatever the
//! bus:
//!
//! * **the local fan-out**: this replica's subscribers hear its own changes at once from
//!   its [`Fanout`], with no round trip through the bus, and what the bus brings from the
//!   others through the same fan-out (where the fault lab's filter acts);
//! * **the envelope**: each message says which replica sent it and about which board, and
//!   carries a change record or an opaque ephemeral message ([`Envelope`]); a replica's
//!   own echoes are dropped. Nothing longer than the bus carries is sent: a record that
//!   does not fit goes as its seq alone, an ephemeral message that does not fit not at all;
//! * **following**: the first stream of a board here follows its channel and waits (up to
//!   [`FOLLOW_WAIT`]) for the bus to confirm, so whatever commits after
//!   [`Broker::subscribe`] returns is heard; every [`PRUNE_EVERY`] the channels of boards
//!   nobody here follows any more are unfollowed; the cluster's own channel
//!   ([`CLUSTER`]) is followed always. One lock orders every follow and
//!   unfollow, so a board cannot be unfollowed under a stream that has just joined it;
//! * **the link's life**: one listening connection, reopened with jittered backoff when it
//!   drops, following every board served here again; each reconnect is told to the
//!   [`Listener`], which sweeps the heads for what was lost meanwhile (a bus is at most
//!   once: the log is the truth, the bus only says where to look).
//!
//! Its two tasks (the listening connection, the pruning) are in the server's
//! `TaskTracker` and end when the server closes, the listening one after closing its
//! connection (up to [`CLOSE_WAIT`]); they are aborted, too, if the relay is dropped first.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};
use tokio::task::AbortHandle;
use tokio_util::task::TaskTracker;

use board_core::backoff::Backoff;
use board_core::patterns::ChangeRecord;

use super::bus::{Bus, Channels, Listening};
use super::fanout::Fanout;
use super::{Broker, Listener, Notice, NoticeFilter, Subscription, CLUSTER};
use crate::live::LiveChange;

/// How often each replica unfollows the channels of boards nobody here follows.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3);
/// How long a new stream waits for the bus to confirm its board's channel before it goes
/// on without (the head sweep then covers it).
const FOLLOW_WAIT: Duration = Duration::from_secs(2);
/// Reconnect delays: from 100-200 ms, doubling, up to 2-4 s (half fixed, half random, so
/// the replicas of a cluster do not all come back at the same instant).
const RECONNECT_BASE_MS: f64 = 200.0;
const RECONNECT_CAP_MS: f64 = 4_000.0;
/// How long the server's shutdown waits for the listening connection to close: a bus
/// that does not answer is then simply dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What goes over the bus: a change or an ephemeral message, and which replica sent it
/// (that replica already delivered it locally). The JSON is the wire format between
/// replicas: `{"replica":R,"board":B,"record":{...}}` or `{...,"ephemeral":{...}}`.
#[derive(Serialize, Deserialize)]
pub struct Envelope {
    pub replica: String,
    pub board: String,
    /// The W3C `traceparent` of a traced change's publish: the other replicas' spans of its
    /// delivery descend from it (`telemetry`). Opaque here, like ephemeral messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    Record(Box<ChangeRecord>),
    /// A change whose record is longer than the bus carries: its seq alone
    /// (`{...,"head":N}`). The others tell their subscribers the head, who read the change
    /// from the log, as after any lost notice.
    Head(u64),
    /// Opaque here (presence's own messages).
    Ephemeral(serde_json::Value),
}

/// The broker: the local fan-out, and a bus to the others when there are others.
pub struct Relay {
    /// This replica's subscribers.
    local: Arc<Fanout>,
    /// The link to the other replicas; `None` for a replica on its own.
    link: Option<Arc<Link>>,
    /// The listening task and the pruning task: they end on the server's `closing`, and
    /// are aborted if the relay is dropped before (a test's relay), so nothing of it runs,
    /// and no connection stays open, once it is gone.
    tasks: Vec<AbortHandle>,
}

/// What the relay and its two tasks share.
struct Link {
    bus: Arc<dyn Bus>,
    /// This replica's subscribers (the relay's own).
    local: Arc<Fanout>,
    /// This replica's name, in every envelope it sends: how it knows its own echoes.
    replica: Arc<str>,
    /// `true` while the listening connection is up (readiness).
    listening: AtomicBool,
    /// Which boards' channels this replica listens to.
    following: Mutex<Following>,
}

/// This replica's channels on the bus. Behind one async lock held across each follow and
/// unfollow, so the set always says what the bus was last told.
#[derive(Default)]
struct Following {
    /// The live connection's channels; `None` while disconnected.
    channels: Option<Box<dyn Channels>>,
    /// The boards followed on that connection.
    boards: HashSet<String>,
}

impl Relay {
    /// The broker of a replica on its own: the local fan-out, whose change notices pass
    /// `filter` (its fault lab), and nobody else to tell.
    pub fn alone(filter: Arc<dyn NoticeFilter>) -> Relay {
        Relay { local: Arc::new(Fanout::with_filter(filter)), link: None, tasks: Vec::new() }
    }

    /// Starts listening on `bus` (in `tasks`, until `closing` turns true) and pruning idle
    /// channels. What other replicas publish goes to `listener`, and so does each
    /// reconnect; `filter` (this replica's fault lab) decides what becomes of each change
    /// notice in the local fan-out, which this replica's own changes and those heard from
    /// the others both pass.
    pub fn start(
        bus: Arc<dyn Bus>,
        replica: Arc<str>,
        listener: Arc<dyn Listener>,
        filter: Arc<dyn NoticeFilter>,
        tasks: &TaskTracker,
        closing: watch::Receiver<bool>,
    ) -> Relay {
        let local = Arc::new(Fanout::with_filter(filter));
        let link = Arc::new(Link {
            bus,
            local: local.clone(),
            replica,
            listening: AtomicBool::new(false),
            following: Mutex::default(),
        });
        let listening = tasks.spawn({
            let link = link.clone();
            let closing = closing.clone();
            async move {
                until_closing(closing, link.clone().keep_listening(listener)).await;
                link.close().await;
            }
        });
        let pruning = tasks.spawn(until_closing(closing, link.clone().keep_pruning()));
        Relay { local, link: Some(link), tasks: vec![listening.abort_handle(), pruning.abort_handle()] }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[async_trait::async_trait]
impl Broker for Relay {
    async fn publish(&self, change: Arc<LiveChange>) {
        // This replica's subscribers first: they need no round trip through the bus.
        self.local.deliver(&change.board, Notice::Change(change.clone()));
        // If this fails, other replicas notice through their head sweep; nothing is lost.
        if let Some(link) = &self.link {
            let traceparent = change.traced.as_ref().map(|traced| traced.traceparent());
            link.send(&change.board, Body::Record(Box::new(change.record.clone())), traceparent).await;
        }
    }

    /// A replica on its own has nobody to tell.
    async fn publish_ephemeral(&self, board: &str, message: serde_json::Value) {
        if let Some(link) = &self.link {
            link.send(board, Body::Ephemeral(message), None).await;
        }
    }

    async fn subscribe(&self, board: &str) -> Subscription {
        // Locally first: from here on the board counts as served, so no prune drops it.
        let receiver = self.local.subscribe(board);
        let Some(link) = &self.link else { return receiver };
        let mut following = link.following.lock().await;
        if following.boards.contains(board) {
            return receiver;
        }
        // Disconnected: the connection that comes next follows every board served here.
        let Some(channels) = following.channels.as_mut() else { return receiver };
        let boards = [board.to_owned()];
        match tokio::time::timeout(FOLLOW_WAIT, channels.follow(&boards)).await {
            Ok(Ok(())) => {
                following.boards.insert(board.to_owned());
            }
            Ok(Err(err)) => tracing::warn!(%board, error = %err, "follow failed"),
            Err(_) => tracing::warn!(%board, "follow timed out"),
        }
        receiver
    }

    /// On its own, a replica commits every change itself. Among others, it follows the
    /// board's channel on the live connection; while the set is being changed the answer
    /// is "no": the caller then asks the database, which is always safe.
    fn follows(&self, board: &str) -> bool {
        let Some(link) = &self.link else { return true };
        link.following.try_lock().is_ok_and(|following| following.boards.contains(board))
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

    /// What the bus says of this replica's boards; empty when it cannot tell. On its own,
    /// every board here is followed by this replica alone.
    async fn followers(&self) -> Vec<(String, usize)> {
        let boards = self.local.boards();
        let Some(link) = &self.link else { return boards.into_iter().map(|board| (board, 1)).collect() };
        if boards.is_empty() {
            return Vec::new();
        }
        match link.bus.followers(&boards).await {
            Some(counts) => boards.into_iter().zip(counts).collect(),
            None => Vec::new(),
        }
    }

    async fn ready(&self) -> Result<(), String> {
        let Some(link) = &self.link else { return Ok(()) };
        link.bus.ready().await.map_err(|err| err.to_string())?;
        if !link.listening.load(Ordering::SeqCst) {
            return Err(format!("{} subscription is down", link.bus.name()));
        }
        Ok(())
    }
}

impl Link {
    /// Publishes on the board's channel, at most once; what is too long for the bus goes
    /// shorter (a record as its seq) or not at all (an ephemeral message), counted.
    async fn send(&self, board: &str, body: Body, traceparent: Option<String>) {
        let seq = match &body {
            Body::Record(record) => Some(record.seq),
            _ => None,
        };
        let envelope = Envelope { replica: self.replica.to_string(), board: board.to_owned(), traceparent, body };
        let mut text = serde_json::to_string(&envelope).expect("envelopes serialise");
        if text.len() > self.bus.max_message_bytes() {
            let kind = if seq.is_some() { "change" } else { "ephemeral" };
            metrics::counter!("board_bus_oversize_total", "kind" => kind).increment(1);
            let Some(seq) = seq else {
                tracing::warn!(%board, bytes = text.len(), bus = self.bus.name(), "an ephemeral message too long for the bus is not sent");
                return;
            };
            let head = Envelope { body: Body::Head(seq), traceparent: None, ..envelope };
            text = serde_json::to_string(&head).expect("envelopes serialise");
        }
        if let Err(err) = self.bus.publish(board, text).await {
            metrics::counter!("board_bus_publish_failed_total").increment(1);
            tracing::warn!(%board, bus = self.bus.name(), error = %err, "publish failed");
        }
    }

    /// Holds the listening connection, reopening it with backoff whenever it drops.
    async fn keep_listening(self: Arc<Self>, listener: Arc<dyn Listener>) {
        let mut backoff = Backoff::new(RECONNECT_BASE_MS, RECONNECT_CAP_MS);
        loop {
            match self.connect().await {
                Ok(messages) => {
                    backoff.reset();
                    tracing::info!(bus = self.bus.name(), "listening to the other replicas");
                    // Whatever was published while we were away is gone: the listener
                    // checks the log.
                    listener.reconnected();
                    let mut messages = std::pin::pin!(messages);
                    while let Some(text) = messages.next().await {
                        self.hear(&text, listener.as_ref());
                    }
                    self.listening.store(false, Ordering::SeqCst);
                    *self.following.lock().await = Following::default();
                    metrics::counter!("board_bus_disconnects_total").increment(1);
                    tracing::warn!(bus = self.bus.name(), "connection to the other replicas lost; reconnecting");
                }
                Err(err) => tracing::warn!(bus = self.bus.name(), error = %err, "cannot listen to the other replicas"),
            }
            let delay = backoff.next_delay_ms(rand::random::<f64>());
            tokio::time::sleep(Duration::from_millis(delay.into())).await;
        }
    }

    /// Opens a listening connection and follows every board served here on it, in one
    /// call. (The connection is opened before the lock is taken: while the bus is away,
    /// new streams go on without waiting for it.)
    async fn connect(&self) -> Result<futures::stream::BoxStream<'static, String>, crate::BoxError> {
        let Listening { mut channels, messages } = self.bus.listen().await?;
        let mut following = self.following.lock().await;
        // The cluster's own channel too, always (see `CLUSTER`).
        let mut boards: Vec<String> = self.local.boards();
        boards.push(CLUSTER.to_owned());
        channels.follow(&boards).await?;
        *following = Following { channels: Some(channels), boards: boards.into_iter().collect() };
        self.listening.store(true, Ordering::SeqCst);
        Ok(messages)
    }

    /// One message from the bus: another replica's change goes to the listener, then to
    /// the subscribers here; an ephemeral message to the listener; an echo nowhere.
    fn hear(&self, text: &str, listener: &dyn Listener) {
        let parsed = serde_json::from_str::<Envelope>(text);
        // Every message the bus hands this replica, its own echoes too: what a commit
        // costs in bus traffic (followers of its board).
        let kind = match &parsed {
            Ok(Envelope { body: Body::Record(_) | Body::Head(_), .. }) => "change",
            Ok(Envelope { body: Body::Ephemeral(_), .. }) => "ephemeral",
            Err(_) => "unreadable",
        };
        metrics::counter!("board_bus_messages_received_total", "kind" => kind).increment(1);
        match parsed {
            Ok(envelope) if *envelope.replica == *self.replica => {}
            Ok(Envelope { board, body: Body::Record(record), traceparent, .. }) => {
                let change = listener.heard(board.clone(), *record, traceparent.as_deref());
                self.local.deliver(&board, Notice::Change(Arc::new(change)));
            }
            Ok(Envelope { board, body: Body::Head(head), .. }) => {
                listener.head(&board, head);
                self.local.deliver(&board, Notice::Head(head));
            }
            Ok(Envelope { board, replica, body: Body::Ephemeral(message), .. }) => {
                listener.ephemeral(&board, &replica, message);
            }
            Err(err) => tracing::warn!(error = %err, "ignoring a message that does not parse"),
        }
    }

    /// Closes the listening connection, waiting up to [`CLOSE_WAIT`] for it.
    async fn close(&self) {
        self.listening.store(false, Ordering::SeqCst);
        let channels = self.following.lock().await.channels.take();
        if let Some(mut channels) = channels {
            if tokio::time::timeout(CLOSE_WAIT, channels.close()).await.is_err() {
                tracing::warn!(bus = self.bus.name(), "the listening connection did not close in time");
            }
        }
    }

    /// Every [`PRUNE_EVERY`]: unfollows the boards nobody here follows any more.
    async fn keep_pruning(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tick.tick().await;
            self.unfollow_idle().await;
        }
    }

    /// Unfollows the boards nobody on this replica follows any more.
    async fn unfollow_idle(&self) {
        let mut following = self.following.lock().await;
        let served: HashSet<String> = self.local.boards().into_iter().chain([CLUSTER.to_owned()]).collect();
        let idle: Vec<String> = following.boards.difference(&served).cloned().collect();
        if idle.is_empty() {
            return;
        }
        let Some(channels) = following.channels.as_mut() else { return };
        match channels.unfollow(&idle).await {
            Ok(()) => {
                for board in &idle {
                    following.boards.remove(board);
                }
            }
            Err(err) => tracing::warn!(error = %err, "unfollow failed"),
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

#[cfg(test)]
mod tests {
    //! The relay over a bus that lives in memory: what is the relay's whatever the bus
    //! (echoes, reconnects, following again, pruning), with no server to run.
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;

    use futures::channel::mpsc;

    use board_core::domain::{execute, BoardState, Command};

    use super::*;
    use crate::broker::PassAll;
    use crate::BoxError;

    /// The bus: its listening connections, each with the boards it follows. A clone is
    /// the same bus.
    #[derive(Clone, Default)]
    struct MemoryBus(Arc<std::sync::Mutex<Connections>>);

    #[derive(Default)]
    struct Connections {
        open: HashMap<usize, (HashSet<String>, mpsc::UnboundedSender<String>)>,
        opened: usize,
        /// The longest message it carries; `None`: no limit.
        limit: Option<usize>,
    }

    impl MemoryBus {
        /// The bus restarts: every listening connection drops.
        fn restart(&self) {
            self.0.lock().unwrap().open.clear();
        }

        /// How many connections follow `board`.
        fn followers_of(&self, board: &str) -> usize {
            self.0.lock().unwrap().open.values().filter(|(boards, _)| boards.contains(board)).count()
        }
    }

    #[async_trait::async_trait]
    impl Bus for MemoryBus {
        fn name(&self) -> &'static str {
            "memory"
        }

        async fn publish(&self, board: &str, text: String) -> Result<(), BoxError> {
            let connections = self.0.lock().unwrap();
            if connections.limit.is_some_and(|limit| text.len() > limit) {
                return Err("too long for this bus".into());
            }
            for (boards, sender) in connections.open.values() {
                if boards.contains(board) {
                    let _ = sender.unbounded_send(text.clone());
                }
            }
            Ok(())
        }

        async fn listen(&self) -> Result<Listening, BoxError> {
            let (sender, messages) = mpsc::unbounded();
            let mut connections = self.0.lock().unwrap();
            let id = connections.opened;
            connections.opened += 1;
            connections.open.insert(id, (HashSet::new(), sender));
            Ok(Listening { channels: Box::new(Follows { bus: self.clone(), id }), messages: messages.boxed() })
        }

        async fn ready(&self) -> Result<(), BoxError> {
            Ok(())
        }

        fn max_message_bytes(&self) -> usize {
            self.0.lock().unwrap().limit.unwrap_or(usize::MAX)
        }
    }

    /// One connection's channels.
    struct Follows {
        bus: MemoryBus,
        id: usize,
    }

    impl Follows {
        fn set(&self, boards: &[String], follow: bool) -> Result<(), BoxError> {
            let mut connections = self.bus.0.lock().unwrap();
            let (followed, _) = connections.open.get_mut(&self.id).ok_or("the connection dropped")?;
            for board in boards {
                if follow {
                    followed.insert(board.clone());
                } else {
                    followed.remove(board);
                }
            }
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl Channels for Follows {
        async fn follow(&mut self, boards: &[String]) -> Result<(), BoxError> {
            self.set(boards, true)
        }

        async fn unfollow(&mut self, boards: &[String]) -> Result<(), BoxError> {
            self.set(boards, false)
        }
    }

    /// What a relay reports: its reconnects, the changes it heard from others, and the
    /// heads of those too long for the bus.
    #[derive(Default)]
    struct Heard {
        reconnects: AtomicUsize,
        changes: AtomicUsize,
        ephemeral: AtomicUsize,
        heads: std::sync::Mutex<Vec<u64>>,
    }

    impl Listener for Heard {
        fn heard(&self, board: String, record: ChangeRecord, _traceparent: Option<&str>) -> LiveChange {
            self.changes.fetch_add(1, Ordering::SeqCst);
            LiveChange::with_snapshot(board, record, None)
        }

        fn ephemeral(&self, _board: &str, _replica: &str, _message: serde_json::Value) {
            self.ephemeral.fetch_add(1, Ordering::SeqCst);
        }

        fn reconnected(&self) {
            self.reconnects.fetch_add(1, Ordering::SeqCst);
        }

        fn head(&self, _board: &str, head: u64) {
            self.heads.lock().unwrap().push(head);
        }
    }

    /// A relay on `bus` named `name`, once its first connection is up. (No server closes
    /// here: its tasks end when the relay is dropped.)
    async fn relay(bus: &MemoryBus, name: &str) -> (Relay, Arc<Heard>) {
        static OPEN: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();
        let closing = OPEN.get_or_init(|| watch::channel(false).0).subscribe();
        let heard = Arc::new(Heard::default());
        let bus = Arc::new(bus.clone());
        let relay = Relay::start(bus, name.into(), heard.clone(), Arc::new(PassAll), &TaskTracker::new(), closing);
        while relay.ready().await.is_err() {
            tokio::task::yield_now().await;
        }
        (relay, heard)
    }

    fn change(board: &str, seq: u64) -> Arc<LiveChange> {
        let mut before = BoardState::empty(board, "B");
        before.seq = seq - 1;
        let done = execute(&before, &Command::AddTodo { title: format!("t{seq}"), sprint_id: None }).unwrap();
        Arc::new(LiveChange::with_snapshot(board.to_owned(), ChangeRecord::new(&done, 0), None))
    }

    async fn next_change(rx: &mut Subscription) -> u64 {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a notice").unwrap() {
                Notice::Change(change) => return change.seq(),
                Notice::Head(_) => continue,
            }
        }
    }

    #[tokio::test]
    async fn another_replicas_change_arrives_once_and_its_own_echo_is_dropped() {
        let bus = MemoryBus::default();
        let (a, heard_a) = relay(&bus, "a").await;
        let (b, heard_b) = relay(&bus, "b").await;
        let (mut at_a, mut at_b) = (a.subscribe("x").await, b.subscribe("x").await);
        a.publish(change("x", 1)).await;
        a.publish(change("x", 2)).await;
        assert_eq!((next_change(&mut at_b).await, next_change(&mut at_b).await), (1, 2));
        assert_eq!((next_change(&mut at_a).await, next_change(&mut at_a).await), (1, 2));
        // The echo of a's own changes came back over the bus and went nowhere.
        assert!(tokio::time::timeout(Duration::from_millis(100), at_a.recv()).await.is_err(), "no change twice");
        assert_eq!(heard_a.changes.load(Ordering::SeqCst), 0, "a heard only its own echoes");
        assert_eq!(heard_b.changes.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn after_the_bus_restarts_a_relay_says_so_and_follows_its_boards_again() {
        let bus = MemoryBus::default();
        let (a, _) = relay(&bus, "a").await;
        let (b, heard_b) = relay(&bus, "b").await;
        let mut at_b = b.subscribe("x").await;
        assert_eq!(heard_b.reconnects.load(Ordering::SeqCst), 1);

        bus.restart();
        // Back within the backoff's first delays, following "x" again.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while heard_b.reconnects.load(Ordering::SeqCst) < 2 || bus.followers_of("x") == 0 {
            assert!(tokio::time::Instant::now() < deadline, "b did not come back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(b.follows("x"), "the board a stream here follows is followed again");
        a.publish(change("x", 1)).await;
        assert_eq!(next_change(&mut at_b).await, 1, "heard over the new connection");
    }

    #[tokio::test(start_paused = true)]
    async fn a_board_nobody_here_follows_is_unfollowed_within_a_prune() {
        let bus = MemoryBus::default();
        let (b, _) = relay(&bus, "b").await;
        let at_b = b.subscribe("x").await;
        assert_eq!(bus.followers_of("x"), 1);
        tokio::time::sleep(PRUNE_EVERY * 2).await;
        assert_eq!(bus.followers_of("x"), 1, "followed while a stream here follows it");
        drop(at_b);
        tokio::time::sleep(PRUNE_EVERY + Duration::from_millis(10)).await;
        assert_eq!(bus.followers_of("x"), 0, "unfollowed after the last stream left");
        assert!(!b.follows("x"));
    }

    #[tokio::test]
    async fn what_is_too_long_for_the_bus_goes_shorter_or_not_at_all() {
        let bus = MemoryBus::default();
        bus.0.lock().unwrap().limit = Some(400);
        let (a, _) = relay(&bus, "a").await;
        let (b, heard_b) = relay(&bus, "b").await;
        let (mut at_a, mut at_b) = (a.subscribe("x").await, b.subscribe("x").await);
        let mut before = BoardState::empty("x", "B");
        before.seq = 0;
        let long = execute(&before, &Command::AddTodo { title: "t".repeat(500), sprint_id: None }).unwrap();
        a.publish(Arc::new(LiveChange::with_snapshot("x".into(), ChangeRecord::new(&long, 0), None))).await;
        assert_eq!(next_change(&mut at_a).await, 1, "here, the change itself");
        match tokio::time::timeout(Duration::from_secs(5), at_b.recv()).await.expect("a notice").unwrap() {
            Notice::Head(1) => {}
            _ => panic!("there, its head alone"),
        }
        assert_eq!(*heard_b.heads.lock().unwrap(), vec![1], "and the listener is told");
        // An ephemeral message too long is not sent (the bus would have refused it).
        a.publish_ephemeral("x", serde_json::json!({"tabs": "t".repeat(500)})).await;
        a.publish(change("x", 2)).await;
        assert_eq!(next_change(&mut at_b).await, 2, "a short change comes whole, and nothing before it");
        assert_eq!(heard_b.changes.load(Ordering::SeqCst), 1);
        assert_eq!(heard_b.ephemeral.load(Ordering::SeqCst), 0, "the long ephemeral message never went");
        a.publish_ephemeral("x", serde_json::json!({"tabs": 1})).await;
        a.publish(change("x", 3)).await;
        assert_eq!(next_change(&mut at_b).await, 3);
        assert_eq!(heard_b.ephemeral.load(Ordering::SeqCst), 1, "a short one does");
    }
}
