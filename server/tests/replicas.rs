//! Several replicas of one cluster: one Postgres database, Redis pub/sub between them.
//! Clients on one replica see changes committed on another, on every pattern and transport;
//! a Redis message lost on purpose is noticed and repaired from the log, and never makes a
//! replica serve an older board than it streamed; a Redis restart costs a few seconds, not
//! a change.

mod common;

use std::time::{Duration, Instant};

use board_core::patterns::PatternKind;
use board_core::protocol::Transport;
use common::{Subscriber, TestClient, TestServer};
use serde_json::json;

/// Replicas `a` and `b` of one cluster: a fresh Postgres database, the given Redis.
async fn two_replicas(redis: &str) -> (TestServer, TestServer) {
    let database = common::fresh_postgres_database().await;
    (TestServer::replica(&database, redis, "replica-a").await, TestServer::replica(&database, redis, "replica-b").await)
}

/// Receives until the client reaches `target`, applying as the browser does.
async fn follow(sub: &mut Subscriber, client: &mut TestClient, target: u64) {
    while client.seq() < target {
        for frame in sub.next_batch(client.seq()).await {
            client.handle(&frame).await;
        }
    }
}

/// `board_boards_by_followers`: a board whose clients are on both replicas is followed by
/// two (no affinity), one whose clients are on one replica by one; the metric counts them
/// and never names a board (a private board's id is a secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_boards_by_how_many_replicas_follow_them() {
    let redis = common::redis_url();
    let (a, b) = two_replicas(&redis).await;
    let (spread, placed) = (a.create_board("spread").await, a.create_board("placed").await);
    let on_a = a.subscribe(&spread, Transport::Sse, PatternKind::PushOps, 0).await;
    let on_b = b.subscribe(&spread, Transport::Sse, PatternKind::PushOps, 0).await;
    let placed_on_a = a.subscribe(&placed, Transport::Sse, PatternKind::PushOps, 0).await;
    let scrape = |srv: &TestServer| {
        let broker = srv.app.broker.clone();
        async move { server::broker::followers_metric(&*broker).await }
    };
    let on_a_metrics = scrape(&a).await;
    assert!(on_a_metrics.contains("board_boards_by_followers{replicas=\"2\"} 1"), "{on_a_metrics}");
    assert!(on_a_metrics.contains("board_boards_by_followers{replicas=\"1\"} 1"), "{on_a_metrics}");
    let on_b_metrics = scrape(&b).await;
    assert!(on_b_metrics.contains("board_boards_by_followers{replicas=\"2\"} 1"), "{on_b_metrics}");
    assert!(!on_b_metrics.contains("replicas=\"1\""), "b follows no board alone: {on_b_metrics}");
    for metrics in [&on_a_metrics, &on_b_metrics] {
        assert!(!metrics.contains(&spread) && !metrics.contains(&placed), "no board is named: {metrics}");
    }
    drop((on_a, on_b, placed_on_a));
    a.stop().await;
    b.stop().await;
}

/// A replica that follows a board answers from the head it has seen, without a database
/// read; but a client that has just committed on another replica may be ahead of that
/// head (the notice is late, or lost). It must be told it is current, not `reset`; and a
/// client behind gets the change once the sweep has read the head, not never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_ahead_of_what_a_replica_has_heard_is_not_reset() {
    let redis = common::redis_url();
    let (a, b) = two_replicas(&redis).await;
    let board = a.create_board("ahead").await;
    let _b_follows = b.subscribe(&board, Transport::Sse, PatternKind::PushEvents, 0).await;
    let seen = a.ok(&board, json!({"type": "add_todo", "title": "heard"})).await;
    let poll = |since: u64| {
        let (http, url) =
            (b.http.clone(), b.url(&format!("/api/boards/{board}/poll?pattern=push-events&since={since}")));
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // b hears of `seen`, then never of the next change (its notice is dropped).
    let deadline = Instant::now() + Duration::from_secs(5);
    while poll(seen).await.0 != 304 {
        assert!(Instant::now() < deadline, "b never heard of seq {seen}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.lossy.drop_next_publishes(1);
    let ahead = a.ok(&board, json!({"type": "add_todo", "title": "unheard"})).await;
    let (status, body) = poll(ahead).await;
    assert_eq!(status, 304, "the client holds the head (seq {ahead}); b answered {body}");
    let started = Instant::now();
    loop {
        let (status, body) = poll(seen).await;
        if status == 200 {
            let page: board_core::api::FramesPage = serde_json::from_str(&body).unwrap();
            assert_eq!(page.frames.iter().filter_map(|f| f.seq()).collect::<Vec<_>>(), vec![ahead], "{body}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "a client behind b never got seq {ahead}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("a poller behind b got the change whose notice was lost after {:?}", started.elapsed());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_one_replica_see_commits_on_another() {
    let redis = common::redis_url();
    let (a, b) = two_replicas(&redis).await;
    for pattern in PatternKind::ALL {
        for transport in Transport::ALL {
            let board = a.create_board(&format!("{pattern} {transport}")).await;
            let mut client = b.client(&board, pattern).await;
            let mut sub = b.subscribe(&board, transport, pattern, client.seq()).await;
            let mut head = 0;
            for command in [
                json!({"type": "add_sprint", "name": "S"}),
                json!({"type": "add_todo", "title": "on a", "sprint_id": 1}),
                json!({"type": "start_sprint", "id": 1}),
                json!({"type": "complete_sprint", "id": 1}),
            ] {
                head = a.ok(&board, command).await;
            }
            follow(&mut sub, &mut client, head).await;
            assert_eq!(client.state, a.state(&board).await, "{pattern} / {transport} on b equals a's board");
            assert_eq!(client.state, b.state(&board).await, "and b's own GET state");
            sub.close().await;
        }
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_redis_message_is_noticed_and_repaired() {
    let redis = common::redis_url();
    let (a, b) = two_replicas(&redis).await;
    let board = a.create_board("lossy").await;
    let mut client = b.client(&board, PatternKind::PushOps).await;
    let mut ops = b.subscribe(&board, Transport::Sse, PatternKind::PushOps, 0).await;
    let mut state_client = b.client(&board, PatternKind::PushState).await;
    let mut states = b.subscribe(&board, Transport::Ws, PatternKind::PushState, 0).await;
    a.ok(&board, json!({"type": "add_todo", "title": "1"})).await;
    follow(&mut ops, &mut client, 1).await;

    // The last change's notice is lost: only the head sweep can tell.
    a.lossy.drop_next_publishes(1);
    let started = Instant::now();
    a.ok(&board, json!({"type": "add_todo", "title": "2, lost"})).await;
    follow(&mut ops, &mut client, 2).await;
    println!("a lost last notice was repaired after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10));

    // A lost notice followed by another: the gap shows at once.
    a.lossy.drop_next_publishes(1);
    a.ok(&board, json!({"type": "add_todo", "title": "3, lost"})).await;
    a.ok(&board, json!({"type": "add_todo", "title": "4"})).await;
    follow(&mut ops, &mut client, 4).await;
    follow(&mut states, &mut state_client, 4).await;
    assert_eq!(client.state, a.state(&board).await);
    assert_eq!(state_client.state, client.state);
    assert_eq!(b.state(&board).await, client.state, "b's GET state is not stale either");
    a.stop().await;
    b.stop().await;
}

/// A replica with no stream of a board does not listen to its channel, so it cannot trust
/// a cached copy: its `GET` asks the database and answers the current board at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_follows_nothing_of_a_board_still_serves_it_current() {
    let redis = common::redis_url();
    let (a, b) = two_replicas(&redis).await;
    let board = a.create_board("unfollowed").await;
    assert_eq!(b.state(&board).await.seq, 0, "b caches the board at 0");
    a.ok(&board, json!({"type": "add_todo", "title": "1"})).await;
    let head = a.ok(&board, json!({"type": "add_todo", "title": "2"})).await;
    assert_eq!(b.state(&board).await, a.state(&board).await, "b's GET is at seq {head} too");
    a.stop().await;
    b.stop().await;
}

/// A replica that has just served seq N from the log must not answer `GET` state with
/// N-1 from its cache, even before its head sweep notices the lost notice: a poke-pull or
/// push-ops client holding N would otherwise see the board go back in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_never_serves_an_older_board_than_it_has_streamed() {
    let redis = common::redis_url();
    let (a, b) = two_replicas(&redis).await;
    let board = a.create_board("fresh").await;
    a.ok(&board, json!({"type": "add_todo", "title": "1"})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state(&board).await.seq < 1 {
        assert!(Instant::now() < deadline, "b never heard of seq 1");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (round, query) in ["poll?pattern=push-ops&since=", "changes?pattern=event-diff&since="].iter().enumerate() {
        let seq = 2 + round as u64;
        // The notice is lost: b's cached board stays at seq - 1 until its head sweep.
        a.lossy.drop_next_publishes(1);
        a.ok(&board, json!({"type": "add_todo", "title": format!("{seq}, lost")})).await;
        let page = b.frames(&format!("/api/boards/{board}/{query}{}", seq - 1)).await;
        assert_eq!(page.frames.last().and_then(|f| f.seq()), Some(seq), "{query}: read from the log");
        assert_eq!(b.state(&board).await.seq, seq, "{query}: GET state after the client got seq {seq}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_costs_seconds_not_changes() {
    let mut redis = common::bus_server::BusServer::redis();
    let (a, b) = two_replicas(&redis.url()).await;
    let board = a.create_board("restart").await;
    let mut client = b.client(&board, PatternKind::EventDiff).await;
    let mut sub = b.subscribe(&board, Transport::Sse, PatternKind::EventDiff, 0).await;
    a.ok(&board, json!({"type": "add_todo", "title": "before"})).await;
    follow(&mut sub, &mut client, 1).await;

    redis.kill();
    // Commits go on while Redis is down (the publish fails; the log has them).
    a.ok(&board, json!({"type": "add_todo", "title": "during 1"})).await;
    a.ok(&board, json!({"type": "add_todo", "title": "during 2"})).await;
    redis.restart();
    let started = Instant::now();
    a.ok(&board, json!({"type": "add_todo", "title": "after"})).await;
    follow(&mut sub, &mut client, 4).await;
    println!("clients converged {:?} after Redis came back", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(client.state, a.state(&board).await);
    // And the replicas are subscribed again: a new change arrives through Redis.
    for _ in 0..50 {
        if b.http.get(b.url("/readyz")).send().await.unwrap().status() == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = Instant::now();
    a.ok(&board, json!({"type": "add_todo", "title": "live again"})).await;
    follow(&mut sub, &mut client, 5).await;
    println!("a change after the restart arrived in {:?}", live.elapsed());
    a.stop().await;
    b.stop().await;
}
