//! Bounded under abuse: requests for boards that do not exist leave nothing behind, and a
//! board's broker channel goes when its last stream does.

mod common;

use std::time::Duration;

use common::{Backend, TestServer};
use futures::StreamExt;

/// The server's resident memory (this test process), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Thousands of requests for distinct unknown boards, on every transport, with long names:
/// each is refused by the gate before anything is registered, so no broker channel, cache
/// entry or subscription is left, and memory stays where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_unknown_boards_leave_nothing_behind() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let long = "x".repeat(2000);
    let paths = ["sse?since=0", "long-poll?since=0&timeout=5", "poll?since=0", "changes?since=0"];
    let round = |round: usize| {
        let urls: Vec<String> = (0..4000)
            .map(|i| srv.url(&format!("/api/boards/nope-{round}-{i}-{long}/{}", paths[i % paths.len()])))
            .collect();
        let http = srv.http.clone();
        async move {
            let statuses: Vec<u16> = futures::stream::iter(urls)
                .map(|url| {
                    let http = http.clone();
                    async move { http.get(url).send().await.unwrap().status().as_u16() }
                })
                .buffer_unordered(16)
                .collect()
                .await;
            assert!(statuses.iter().all(|s| *s == 404));
        }
    };
    // The first round warms the allocator, the pools and the client; what a leak would
    // show is growth that goes on, round after round.
    round(0).await;
    let before = rss_kib();
    for r in 1..=4 {
        round(r).await;
    }
    let grown = rss_kib().saturating_sub(before);
    println!("16,000 more requests for distinct unknown boards (2 KB names): resident memory grew {grown} KiB");
    assert_eq!(srv.app.broker.channels(), 0, "no broker channel for a board that does not exist");
    assert!(grown < 4 * 1024, "resident memory grew {grown} KiB");
    srv.stop().await;
}

/// Streams of a real board hold its channel; when the last one ends, it is gone.
#[tokio::test]
async fn a_boards_channel_goes_with_its_last_stream() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("comings and goings").await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut sse = srv.sse(&board, "since=0", None).await;
        sse.next().await; // hello: the stream has subscribed
        streams.push(sse);
    }
    assert_eq!(srv.app.broker.channels(), 1);
    drop(streams);
    let mut left = 1;
    for _ in 0..50 {
        left = srv.app.broker.channels();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0, "the channel outlived its streams");
    srv.stop().await;
}
