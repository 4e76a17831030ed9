//! One table of broker behaviour, run against both brokers (the shape of centrifuge's
//! broker tests): the in-process one, and Redis between two replicas. Whatever a stream
//! relies on from a broker is here; what it does *not* rely on (delivery of every notice)
//! is why the last case exists: a receiver that falls behind is told, so it can repair
//! from the log.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use app::domain::{execute, BoardState, Command};
use app::patterns::ChangeRecord;
use server::broker::memory::MemoryBroker;
use server::broker::redis::RedisBroker;
use server::broker::{Broker, Notice, Subscription, CHANNEL_CAPACITY};
use server::live::{LiveChange, Snapshots};
use server::store::Store;

/// Who publishes and who listens. In-process they are one broker; over Redis they are two
/// replicas, so every case crosses the network.
struct Pair {
    publisher: Arc<dyn Broker>,
    listener: Arc<dyn Broker>,
    _dir: tempfile::TempDir,
}

async fn memory() -> Pair {
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::default());
    Pair { publisher: broker.clone(), listener: broker, _dir: tempfile::tempdir().unwrap() }
}

async fn redis() -> Pair {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/b.db", dir.path().display()), 100).await.unwrap();
    let replica = |name: &str| RedisBroker::start(&url, name.into(), store.clone(), Arc::new(Snapshots::default()));
    let publisher = replica("broker-test-a").await.unwrap_or_else(|e| panic!("Redis must run at {url}: {e}"));
    let listener = replica("broker-test-b").await.unwrap();
    // The listener's subscription is up before anything is published.
    for _ in 0..100 {
        if listener.ready().await.is_ok() {
            return Pair { publisher, listener, _dir: dir };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Redis subscription did not come up");
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
    let record = ChangeRecord::new(&done, 0);
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
    pair.publisher.publish(change(&board, 1)).await;
    for rx in &mut receivers {
        assert_eq!(next_seq(rx).await, 1);
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
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let (served, other) = (board("served"), board("unserved"));
    let listeners = |board: String| {
        let mut redis = redis.clone();
        async move {
            let counts: Vec<(String, u64)> =
                redis::cmd("PUBSUB").arg("NUMSUB").arg(format!("board:{board}")).query_async(&mut redis).await.unwrap();
            counts[0].1
        }
    };
    let rx = pair.listener.subscribe(&served).await;
    assert_eq!(listeners(served.clone()).await, 1, "subscribed before subscribe() returned");
    assert_eq!(listeners(other.clone()).await, 0, "no replica listens to a board nobody follows");
    drop(rx);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while listeners(served.clone()).await > 0 {
        assert!(std::time::Instant::now() < deadline, "still subscribed 10 s after its last stream left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

macro_rules! on_both_brokers {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    };
}

on_both_brokers!(
    publishes_arrive_in_order,
    other_boards_are_not_heard,
    every_subscriber_hears_each_change,
    a_receiver_that_falls_behind_is_told,
    ready_when_connected,
);

/// A board's channel lives exactly as long as it has subscribers on this replica: the last
/// one to leave removes it, so boards nobody follows cost nothing (in-process and under
/// Redis, whose local fan-out is the same).
#[tokio::test]
async fn the_last_subscriber_to_leave_removes_the_boards_channel() {
    let broker = MemoryBroker::default();
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
