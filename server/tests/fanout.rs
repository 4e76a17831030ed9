//! Fan-out: a subscriber that stops reading while many changes commit overflows its
//! bounded channel and is repaired from the change log (every change once, in order)
//! instead of buffering; a change is encoded once per pattern however many subscribers
//! there are; a hundred poke-pull clients pulling after each poke cost one snapshot build
//! per change; idle subscribers share one database read of the head per heartbeat, and a
//! change whose notice was lost still reaches them through it. (Its own test binary: it
//! reads the process-wide metrics.)

mod common;

use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt;
use serde_json::Value;

use board_core::domain::Command;
use board_core::patterns::{Frame, PatternKind};
use server::config::Config;
use server::service::commands;
use server::store::{NewBoard, Visibility};

async fn state() -> (server::state::AppState, tempfile::TempDir) {
    state_with(|_| {}).await
}

async fn state_with(tweak: impl FnOnce(&mut Config)) -> (server::state::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_database(format!("sqlite://{}/b.db", dir.path().display()));
    tweak(&mut config);
    let (_close, closing) = tokio::sync::watch::channel(false);
    let app = server::build_state(&config, "127.0.0.1:0".parse().unwrap(), closing).await.unwrap();
    let board = NewBoard { id: "b", name: "B", visibility: Visibility::Public, key_hashes: None };
    app.store.create_board(&board).await.unwrap();
    (app, dir)
}

fn add(i: usize) -> Command {
    Command::AddTodo { title: format!("t{i}"), sprint_id: None }
}

#[tokio::test]
async fn a_lagging_subscriber_is_repaired_from_the_log() {
    let (app, _dir) = state().await;
    let (_, stream) =
        server::stream::open(&app, "b", "", PatternKind::PushOps, Some(Default::default())).await.unwrap();
    let mut stream = Box::pin(stream);
    let hello: Frame = serde_json::from_slice(&stream.next().await.unwrap().json).unwrap();
    assert_eq!(hello.kind(), "hello");
    // Park the stream on its live channel, then overflow it (capacity 64) without reading.
    assert!(tokio::time::timeout(Duration::from_millis(100), stream.next()).await.is_err());
    let total = server::broker::CHANNEL_CAPACITY * 3;
    for i in 0..total {
        commands::run(&app, "b", &add(i), Default::default(), None).await.unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.len() < total {
        let out = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap();
        let frame: Frame = serde_json::from_slice(&out.json).unwrap();
        seqs.extend(frame.seq());
    }
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());
    let metrics = app.metrics.render();
    assert!(metrics.contains("board_stream_repairs_total{cause=\"lagged\"}"), "{metrics}");
}

#[tokio::test]
async fn a_change_is_encoded_once_for_all_subscribers() {
    let (app, _dir) = state().await;
    let mut streams = Vec::new();
    for _ in 0..50 {
        let mut s = Box::pin(
            server::stream::open(&app, "b", "", PatternKind::PushEvents, Some(Default::default())).await.unwrap().1,
        );
        s.next().await.unwrap(); // hello
        assert!(tokio::time::timeout(Duration::from_millis(20), s.next()).await.is_err());
        streams.push(s);
    }
    let encoded = || {
        let text = app.metrics.render();
        text.lines()
            .find(|l| l.starts_with("board_frames_encoded_total{pattern=\"push-events\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.parse::<f64>().unwrap())
            .unwrap_or(0.0)
    };
    let before = encoded();
    commands::run(&app, "b", &add(0), Default::default(), None).await.unwrap();
    let mut payloads = Vec::new();
    for s in &mut streams {
        payloads.push(s.next().await.unwrap().json);
    }
    assert_eq!(encoded() - before, 1.0, "one encoding for 50 subscribers");
    // Every subscriber got the very same bytes (one allocation, shared).
    assert!(payloads.windows(2).all(|w| w[0].as_ptr() == w[1].as_ptr()));
    let frame: Value = serde_json::from_slice(&payloads[0]).unwrap();
    assert_eq!(frame["kind"], "event");
}

#[tokio::test]
async fn idle_subscribers_share_the_heartbeat_head_read_and_still_notice_a_lost_change() {
    let (app, _dir) = state_with(|c| c.heartbeat_secs = 1).await;
    let reads = || counter(&app.metrics.render(), "board_heartbeat_head_reads_total");
    let before = reads();
    let mut streams = Vec::new();
    for _ in 0..40 {
        let mut s = Box::pin(
            server::stream::open(&app, "b", "", PatternKind::EventDiff, Some(Default::default())).await.unwrap().1,
        );
        s.next().await.unwrap(); // hello
        streams.push(s);
    }
    // Every stream is read at once, as each connection's task reads its own. Idle for two
    // heartbeat intervals: eighty heartbeats.
    let idle = join_all(streams.iter_mut().map(|s| frames_until(s, counting(2)))).await;
    assert!(idle.iter().flatten().all(|f| *f == Frame::Heartbeat { head: 0 }));
    let read = reads() - before;
    assert!((1.0..=4.0).contains(&read), "80 heartbeats cost {read} head reads");

    // A commit whose notice never went out (what a lost Redis message looks like to a
    // replica): the heartbeats report the new head and every stream repairs from the log.
    app.store.commit("b", server::store::Write::Command(add(0)), Default::default(), Box::new(|_| None)).await.unwrap();
    let after = join_all(streams.iter_mut().map(|s| frames_until(s, |f: &Frame| f.kind() != "heartbeat"))).await;
    for frames in after {
        let (data, heartbeats) = frames.split_last().unwrap();
        assert_eq!((data.kind(), data.seq()), ("event-diff", Some(1)));
        assert!(heartbeats.iter().all(|f| matches!(f, Frame::Heartbeat { head: 0 | 1 })));
    }
}

/// The frames a stream sends up to and including the first for which `until` is true.
async fn frames_until<S>(stream: &mut S, mut until: impl FnMut(&Frame) -> bool) -> Vec<Frame>
where
    S: futures::Stream<Item = server::stream::Outgoing> + Unpin,
{
    let mut seen = Vec::new();
    loop {
        let out =
            tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("a frame within 5 s").unwrap();
        let frame: Frame = serde_json::from_slice(&out.json).unwrap();
        let done = until(&frame);
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

/// An `until` that is true on the `n`th frame.
fn counting(n: usize) -> impl FnMut(&Frame) -> bool {
    let mut seen = 0;
    move |_| {
        seen += 1;
        seen == n
    }
}

/// The value of a counter in the Prometheus text, 0 when absent.
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_poke_pull_clients_cost_one_snapshot_build_per_change() {
    let srv = common::TestServer::start(common::Backend::Sqlite).await;
    let board = srv.create_board("pullers").await;
    let metrics = || async { srv.app.metrics.render() };
    let builds_before = counter(&metrics().await, "board_snapshot_builds_total");
    let changes = 5u64;
    let mut pullers = Vec::new();
    for _ in 0..100 {
        let mut sse = srv.sse(&board, "pattern=poke-pull&since=0", None).await;
        let http = srv.http.clone();
        let url = srv.url(&format!("/api/boards/{board}"));
        pullers.push(tokio::spawn(async move {
            let (mut have, mut pulls) = (0u64, 0u32);
            while have < changes {
                let (_, frame) = sse.next_data().await;
                assert_eq!(frame.kind(), "poke");
                if frame.seq().unwrap() <= have {
                    continue;
                }
                let r = http.get(&url).header("If-None-Match", format!("\"{have}\"")).send().await.unwrap();
                pulls += 1;
                if r.status() == 200 {
                    have = r.json::<board_core::domain::BoardState>().await.unwrap().seq;
                }
            }
            pulls
        }));
    }
    for i in 0..changes {
        srv.ok(&board, serde_json::json!({"type": "add_todo", "title": format!("t{i}")})).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut pulls = 0;
    for puller in pullers {
        pulls += tokio::time::timeout(Duration::from_secs(30), puller).await.unwrap().unwrap();
    }
    let builds = counter(&metrics().await, "board_snapshot_builds_total") - builds_before;
    println!("{pulls} pulls by 100 poke-pull clients over {changes} changes cost {builds} snapshot builds");
    assert!(pulls >= 100, "every client pulled");
    assert!(builds >= 1.0 && builds <= changes as f64, "at most one build per change, got {builds}");
    srv.stop().await;
}
