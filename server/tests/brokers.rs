//! One table of broker behaviour, run against every broker (the shape of centrifuge's
//! broker tests): the in-process one, and two replicas relayed over each bus (Redis
//! pub/sub, NATS, Postgres LISTEN/NOTIFY). Whatever a stream
//! relies on from a broker is here; what it does *not* rely on (delivery of every notice)
//! is why the last case exists: a receiver that falls behind is told, so it can repair
//! from the log.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use board_core::domain::{execute, BoardState, Command};
use board_core::patterns::ChangeRecord;
use server::broker::relay::Relay;
use server::broker::{Broker, Listener, Notice, PassAll, Subscription, CHANNEL_CAPACITY};
use server::live::LiveChange;

use common::bus_server::BusServer;

/// Who publishes and who listens. In-process they are one broker; over a bus they are two
/// replicas, so every case crosses the network.
struct Pair {
    publisher: Arc<dyn Broker>,
    listener: Arc<dyn Broker>,
}

/// The relay with no bus: the in-process broker.
async fn memory() -> Pair {
    let broker: Arc<dyn Broker> = Arc::new(Relay::alone(Arc::new(PassAll)));
    Pair { publisher: broker.clone(), listener: broker }
}

/// What a relay reports to: here, changes as they came, a count of connections, the
/// ephemeral messages heard and the heads of changes too long for the bus.
#[derive(Default)]
struct Heard {
    connections: AtomicUsize,
    ephemeral: std::sync::Mutex<Vec<(String, String, serde_json::Value)>>,
    heads: std::sync::Mutex<Vec<(String, u64)>>,
}

impl Listener for Heard {
    fn heard(&self, board: String, record: ChangeRecord, _traceparent: Option<&str>) -> LiveChange {
        LiveChange::with_snapshot(board, record, None)
    }

    fn ephemeral(&self, board: &str, replica: &str, message: serde_json::Value) {
        self.ephemeral.lock().unwrap().push((board.into(), replica.into(), message));
    }

    fn reconnected(&self) {
        self.connections.fetch_add(1, Ordering::SeqCst);
    }

    fn head(&self, board: &str, head: u64) {
        self.heads.lock().unwrap().push((board.into(), head));
    }
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A `closing` signal that never turns true (a closed channel would read as closing).
fn open() -> tokio::sync::watch::Receiver<bool> {
    static NEVER: std::sync::OnceLock<tokio::sync::watch::Sender<bool>> = std::sync::OnceLock::new();
    NEVER.get_or_init(|| tokio::sync::watch::channel(false).0).subscribe()
}

fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A replica on the bus at `url`, once it listens, and what it reports to.
async fn replica_on(url: &str, name: &str) -> (Relay, Arc<Heard>) {
    let heard = Arc::new(Heard::default());
    // No server closes here: its tasks end when the broker is dropped.
    let tasks = tokio_util::task::TaskTracker::new();
    let bus = server::broker::connect(url).await.unwrap_or_else(|e| panic!("the bus must run at {url}: {e}"));
    let broker = Relay::start(bus, name.into(), heard.clone(), Arc::new(server::broker::PassAll), &tasks, open());
    for _ in 0..100 {
        if broker.ready().await.is_ok() {
            return (broker, heard);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the subscription to {url} did not come up");
}

async fn redis_replica(name: &str) -> (Relay, Arc<Heard>) {
    replica_on(&redis_url(), name).await
}

/// Two replicas on the bus at `url`.
async fn pair_on(url: &str) -> Pair {
    let (publisher, _) = replica_on(url, "broker-test-a").await;
    let (listener, _) = replica_on(url, "broker-test-b").await;
    Pair { publisher: Arc::new(publisher), listener: Arc::new(listener) }
}

async fn redis() -> Pair {
    pair_on(&redis_url()).await
}

async fn nats() -> Pair {
    pair_on(&nats_url()).await
}

async fn postgres() -> Pair {
    pair_on(&postgres_url()).await
}

/// How many Redis connections listen to `board`'s channel.
async fn listeners(board: &str) -> u64 {
    let mut redis = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let counts: Vec<(String, u64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(server::broker::redis::channel(board))
        .query_async(&mut redis)
        .await
        .unwrap();
    counts[0].1
}

/// A board name no other test (or earlier run) on the shared Redis uses.
fn board(case: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("broker-{case}-{}-{nanos}", std::process::id())
}

/// The change that takes `board` from seq `seq - 1` to `seq` (a real one, from the domain).
fn change(board: &str, seq: u64) -> Arc<LiveChange> {
    let mut before = BoardState::empty(board, "B");
    before.seq = seq - 1;
    let done = execute(&before, &Command::AddTodo { title: format!("t{seq}"), sprint_id: None }).unwrap();
    // Sent with a key, as a browser's command is: the key crosses the broker with the rest.
    let record = ChangeRecord::new(&done, 0).keyed(Some(&format!("key-{seq}")));
    // Brokers carry notices; no subscriber here reads push-state, so no snapshot is kept.
    Arc::new(LiveChange::with_snapshot(board.to_owned(), record, None))
}

async fn next_seq(rx: &mut Subscription) -> u64 {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a notice within 5 s") {
            Ok(Notice::Change(change)) => return change.seq(),
            // The Redis broker's head sweep may speak up; it is not a change.
            Ok(Notice::Head(_)) => continue,
            Err(err) => panic!("expected a change, got {err:?}"),
        }
    }
}

async fn publishes_arrive_in_order(pair: Pair) {
    let board = board("order");
    let mut rx = pair.listener.subscribe(&board).await;
    for seq in 1..=5 {
        pair.publisher.publish(change(&board, seq)).await;
    }
    for seq in 1..=5 {
        assert_eq!(next_seq(&mut rx).await, seq);
    }
}

async fn other_boards_are_not_heard(pair: Pair) {
    let (mine, other) = (board("mine"), board("other"));
    let mut rx = pair.listener.subscribe(&mine).await;
    pair.publisher.publish(change(&other, 1)).await;
    pair.publisher.publish(change(&mine, 1)).await;
    assert_eq!(next_seq(&mut rx).await, 1);
    let more = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Ok(Notice::Change(change)) = rx.recv().await {
                return change;
            }
        }
    })
    .await;
    assert!(more.is_err(), "a change of another board arrived");
}

async fn every_subscriber_hears_each_change(pair: Pair) {
    let board = board("many");
    let mut receivers = Vec::new();
    for _ in 0..10 {
        receivers.push(pair.listener.subscribe(&board).await);
    }
    let sent = change(&board, 1);
    pair.publisher.publish(sent.clone()).await;
    for rx in &mut receivers {
        let heard = loop {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a notice within 5 s") {
                Ok(Notice::Change(change)) => break change,
                Ok(Notice::Head(_)) => continue,
                Err(err) => panic!("expected a change, got {err:?}"),
            }
        };
        // The whole record, the command's key included (a tab on another replica
        // recognises its own change by it).
        assert_eq!(heard.record, sent.record);
    }
}

async fn a_receiver_that_falls_behind_is_told(pair: Pair) {
    let board = board("lag");
    let mut idle = pair.listener.subscribe(&board).await;
    // A second receiver reads along, to know when the last change has crossed.
    let mut reader = pair.listener.subscribe(&board).await;
    let total = CHANNEL_CAPACITY as u64 + 10;
    let crossed = tokio::spawn(async move {
        loop {
            match reader.recv().await {
                Ok(Notice::Change(change)) if change.seq() == total => return,
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => panic!("the channel closed"),
            }
        }
    });
    for seq in 1..=total {
        pair.publisher.publish(change(&board, seq)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), crossed).await.expect("the last change crossed").unwrap();
    // The idle receiver never read: the oldest notices are gone, and it is told so.
    match idle.recv().await {
        Err(RecvError::Lagged(missed)) => assert!(missed >= 10, "missed {missed}"),
        other => panic!("expected Lagged, got {:?}", other.map(|_| "a notice")),
    }
}

async fn ready_when_connected(pair: Pair) {
    assert_eq!(pair.publisher.ready().await, Ok(()));
    assert_eq!(pair.listener.ready().await, Ok(()));
}

/// Redis only: a replica listens to the channels of the boards it serves, and lets go of a
/// board once its last stream there has gone (so replicas do not hear every board's traffic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_listens_only_to_the_boards_it_serves() {
    let pair = redis().await;
    let (served, other) = (board("served"), board("unserved"));
    let rx = pair.listener.subscribe(&served).await;
    assert_eq!(listeners(&served).await, 1, "subscribed before subscribe() returned");
    assert_eq!(listeners(&other).await, 0, "no replica listens to a board nobody follows");
    let also = pair.publisher.subscribe(&served).await;
    assert_eq!(pair.listener.followers().await, vec![(served.clone(), 2)], "both replicas follow it");
    drop(also);
    drop(rx);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while listeners(&served).await > 0 {
        assert!(std::time::Instant::now() < deadline, "still subscribed 10 s after its last stream left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The bus goes away under two replicas and comes back: the listening replica says it
/// reconnected (so its head sweep looks for what was lost) and hears the next change.
async fn a_relay_listens_again_after_its_bus_restarts(url: &str, restart: impl AsyncFnOnce()) {
    let (a, _) = replica_on(url, "restart-a").await;
    let (b, heard_b) = replica_on(url, "restart-b").await;
    let board = board("restart");
    let mut rx = b.subscribe(&board).await;
    a.publish(change(&board, 1)).await;
    assert_eq!(next_seq(&mut rx).await, 1);
    assert_eq!(heard_b.connections.load(Ordering::SeqCst), 1);

    restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while heard_b.connections.load(Ordering::SeqCst) < 2 || b.ready().await.is_err() || a.ready().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "not listening again 20 s after the bus came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(b.follows(&board), "the board followed before is followed again");
    a.publish(change(&board, 2)).await;
    assert_eq!(next_seq(&mut rx).await, 2, "heard over the new connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_restarts_a_relay_listens_again() {
    let mut redis = BusServer::redis();
    let url = redis.url();
    a_relay_listens_again_after_its_bus_restarts(&url, async || redis.restart()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_nats_restarts_a_relay_listens_again() {
    let mut nats = BusServer::nats();
    let url = nats.url();
    a_relay_listens_again_after_its_bus_restarts(&url, async || nats.restart()).await;
}

/// Postgres is not restarted (other tests use it): the listening sessions of this test's
/// replicas, and only those (their application name), are ended by the server, as a
/// restart or a failover would end them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_postgres_session_ends_a_relay_listens_again() {
    let name = format!("board-bus-restart-{}", std::process::id());
    let url = format!("{}?application_name={name}", postgres_url());
    a_relay_listens_again_after_its_bus_restarts(&url, async || {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_url()).await.unwrap();
        let ended: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
        )
        .bind(&name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(!ended.is_empty(), "the listening sessions were found");
    })
    .await;
}

/// Postgres only (the one bus whose limit a change can reach): a change whose record is
/// longer than `NOTIFY` carries reaches the other replica as its head, so its subscribers
/// read it from the log at once; a shorter one still comes whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_too_long_for_notify_arrives_as_its_head() {
    let (a, _) = replica_on(&postgres_url(), "broker-test-long-a").await;
    let (b, heard_b) = replica_on(&postgres_url(), "broker-test-long-b").await;
    let board = board("long");
    let mut rx = b.subscribe(&board).await;
    // A column of 300 todos gets fresh order keys: one change that moves them all.
    let mut state = BoardState::empty(&board, "B");
    for i in 0..300 {
        state = execute(&state, &Command::AddTodo { title: format!("todo {i}"), sprint_id: None }).unwrap().state;
    }
    let done = board_core::domain::apply(&state, board_core::domain::Event::ColumnRespaced { sprint_id: None });
    let record = ChangeRecord::new(&done, 0);
    let seq = record.seq;
    let bytes = serde_json::to_string(&record).unwrap().len();
    assert!(bytes > server::broker::postgres::MAX_PAYLOAD_BYTES, "a respace of 300 todos is {bytes} bytes");
    a.publish(Arc::new(LiveChange::with_snapshot(board.clone(), record, None))).await;
    match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a notice within 5 s") {
        Ok(Notice::Head(head)) if head == seq => {}
        Ok(Notice::Head(other)) => panic!("the head of another change: {other}"),
        Ok(Notice::Change(_)) => panic!("a change of {bytes} bytes crossed NOTIFY"),
        Err(err) => panic!("{err:?}"),
    }
    assert_eq!(*heard_b.heads.lock().unwrap(), vec![(board.clone(), seq)], "the listener knows the head moved");
    a.publish(change(&board, seq + 1)).await;
    assert_eq!(next_seq(&mut rx).await, seq + 1, "a short one comes whole");
}

/// Redis only: a broker's background tasks end with it. Dropped while a subscriber still
/// holds a board (a server shutting down), it closes its pub/sub connection at once instead
/// of listening, and reconnecting, forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_broker_lets_go_of_redis() {
    let (broker, heard) = redis_replica("broker-test-dropped").await;
    assert_eq!(heard.connections.load(Ordering::SeqCst), 1, "the listener hears of the connection");
    let board = board("dropped");
    let _still_held = broker.subscribe(&board).await;
    assert_eq!(listeners(&board).await, 1);
    drop(broker);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while listeners(&board).await > 0 {
        assert!(std::time::Instant::now() < deadline, "a dropped broker still listens to Redis after 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Between replicas only (one replica has nobody to tell): an ephemeral message reaches
/// the other replicas that follow its board, opaque and with its sender's name, and not its
/// sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_messages_reach_the_other_replicas_that_follow_the_board() {
    for url in [redis_url(), nats_url(), postgres_url()] {
        ephemeral_messages_reach_the_other_replicas_on(&url).await;
    }
}

async fn ephemeral_messages_reach_the_other_replicas_on(url: &str) {
    let (a, heard_a) = replica_on(url, "broker-test-eph-a").await;
    let (b, heard_b) = replica_on(url, "broker-test-eph-b").await;
    let (followed, other) = (board("eph"), board("eph-unfollowed"));
    let _a_follows = a.subscribe(&followed).await;
    let _b_follows = b.subscribe(&followed).await;
    a.publish_ephemeral(&other, serde_json::json!({"n": 0})).await;
    a.publish_ephemeral(&followed, serde_json::json!({"n": 1})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while heard_b.ephemeral.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the other replica heard nothing within 5 s on {url}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The bus keeps the order of one publisher's messages: had the first come, it came first.
    let heard = heard_b.ephemeral.lock().unwrap().clone();
    assert_eq!(heard, vec![(followed.clone(), "broker-test-eph-a".to_owned(), serde_json::json!({"n": 1}))]);
    assert!(heard_a.ephemeral.lock().unwrap().is_empty(), "the sender does not hear itself");
    // In-process there is nobody else: publishing is a no-op, not an error.
    Relay::alone(Arc::new(PassAll)).publish_ephemeral(&followed, serde_json::json!({})).await;
}

macro_rules! on_every_broker {
    ($($name:ident),* $(,)?) => {
        // No network in-process: time is paused, and the waits for what must not arrive
        // cost nothing.
        mod in_process {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() {
                    super::$name(super::memory().await).await;
                }
            )*
        }
        mod redis_between_replicas {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::redis().await).await;
                }
            )*
        }
        mod nats_between_replicas {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::nats().await).await;
                }
            )*
        }
        mod postgres_between_replicas {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::postgres().await).await;
                }
            )*
        }
    };
}

on_every_broker!(
    publishes_arrive_in_order,
    other_boards_are_not_heard,
    every_subscriber_hears_each_change,
    a_receiver_that_falls_behind_is_told,
    ready_when_connected,
);

/// A board's channel lives exactly as long as it has subscribers on this replica: the last
/// one to leave removes it, so boards nobody follows cost nothing (the relay's local
/// fan-out, the same alone and over any bus).
#[tokio::test]
async fn the_last_subscriber_to_leave_removes_the_boards_channel() {
    let broker = Relay::alone(Arc::new(PassAll));
    let a1 = broker.subscribe("a").await;
    let a2 = broker.subscribe("a").await;
    let b = broker.subscribe("b").await;
    assert_eq!(broker.channels(), 2);
    drop(a1);
    assert_eq!(broker.channels(), 2, "a still has a subscriber");
    drop(a2);
    assert_eq!(broker.channels(), 1);
    drop(b);
    assert_eq!(broker.channels(), 0);
    // Publishing to a board nobody follows creates nothing.
    broker.publish(change("c", 1)).await;
    assert_eq!(broker.channels(), 0);
}
