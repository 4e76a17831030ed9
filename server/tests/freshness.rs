//! Freshness: a replica's copy of a board is current, or known not to be. The sweep finds a
//! change whose notice was lost (at once after a reconnect, without waiting for its period)
//! and ends when the server closes; a change heard from another replica updates the cached
//! board when the one before it is held, and marks it stale when not.

use std::sync::Arc;
use std::time::Duration;

use board_core::domain::Command;
use board_core::patterns::{ChangeRecord, PatternKind};
use server::broker::relay::Relay;
use server::broker::{Broker, Notice, PassAll};
use server::freshness::{Freshness, SWEEP_EVERY};
use server::store::{Cached, NewBoard, Outcome, Store, Visibility, Write};

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/f.db", dir.path().display()), 100).await.unwrap();
    let board = NewBoard { id: "b", name: "B", visibility: Visibility::Public, key_hashes: None };
    assert!(store.create_board(&board).await.unwrap());
    (store, dir)
}

/// Commits a todo straight into the store: a change nobody announces (its notice is lost).
async fn commit_unannounced(store: &Store, title: &str) -> ChangeRecord {
    let none: Cached = Box::new(|_| None);
    let command = Command::AddTodo { title: title.into(), sprint_id: None };
    match store.commit("b", Write::Command(command), Default::default(), none).await.unwrap() {
        Outcome::Committed(committed) => committed.record,
        Outcome::Replayed(_) => unreachable!("no key, no replay"),
    }
}

async fn next_head(rx: &mut server::broker::Subscription, within: Duration) -> u64 {
    match tokio::time::timeout(within, rx.recv()).await.expect("a head notice in time") {
        Ok(Notice::Head(head)) => head,
        other => panic!("expected a head notice, got {:?}", other.map(|_| "a change")),
    }
}

#[tokio::test]
async fn a_reconnect_sweeps_at_once_and_closing_ends_the_sweep() {
    let (store, _dir) = store().await;
    let freshness = Arc::new(Freshness::new(store.clone(), Duration::from_secs(1)));
    let broker: Arc<dyn Broker> = Arc::new(Relay::alone(Arc::new(PassAll)));
    let mut rx = broker.subscribe("b").await;
    let (close, closing) = tokio::sync::watch::channel(false);
    let sweeping = tokio::spawn(freshness.clone().keep_sweeping(broker.clone(), closing));
    // The first sweep runs at start: the board is at 0.
    assert_eq!(next_head(&mut rx, Duration::from_secs(1)).await, 0);

    // A change commits and its notice is lost; the broker reconnects: the subscribers hear
    // the new head well before the next periodic sweep.
    commit_unannounced(&store, "lost").await;
    freshness.reconnected();
    assert_eq!(next_head(&mut rx, SWEEP_EVERY / 2).await, 1);

    close.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(1), sweeping)
        .await
        .expect("the sweep ends when the server closes")
        .unwrap();
}

#[tokio::test]
async fn a_heard_change_advances_the_cached_board_or_marks_it_stale() {
    let (store, _dir) = store().await;
    let freshness = Freshness::new(store.clone(), Duration::from_secs(1));
    assert_eq!(freshness.snapshot("b", true).await.unwrap().seq(), 0, "cached at 0");

    // Another replica commits seq 1: the board after it is derived from the cached one.
    let one = commit_unannounced(&store, "one").await;
    let change = freshness.heard("b".into(), one);
    let cached = freshness.cached("b").expect("the derived board is cached");
    assert_eq!(cached.seq(), 1);
    assert_eq!(cached.state.todos.len(), 1);
    assert!(change.frame(PatternKind::PushState).is_some(), "push-state gets the derived board");

    // Seq 2's notice never arrives; seq 3's does: the cache cannot derive it, and stops
    // serving seq 1.
    commit_unannounced(&store, "two, lost").await;
    let three = commit_unannounced(&store, "three").await;
    let change = freshness.heard("b".into(), three);
    assert!(freshness.cached("b").is_none(), "a board behind a heard change is not served");
    assert!(change.frame(PatternKind::PushState).is_none(), "push-state takes a fresh snapshot instead");
    let fresh = freshness.snapshot("b", true).await.unwrap();
    assert_eq!(fresh.seq(), 3, "the next read goes to the database");

    let titles: Vec<&str> = fresh.state.todos.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
}
