//! Bounded under abuse: a board's broker channel goes when its last stream does, and a long
//! log is caught up a page at a time. (Requests for boards that do not exist, measured by
//! resident memory, have a test process of their own: `unknown_boards.rs`.)

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use futures::StreamExt;

/// A server with a public board of `todos` todos whose titles are about 490 characters,
/// added as fast as they go (above one address's default command rate, on purpose).
async fn server_with_long_todos(name: &str, todos: u64) -> (TestServer, String) {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.commands_per_minute = 1_000_000).await;
    let board = srv.create_board(name).await;
    let title = "x".repeat(480);
    futures::stream::iter(0..todos)
        .map(|i| {
            let (srv, board) = (&srv, board.clone());
            let body = serde_json::json!({"type": "add_todo", "title": format!("{i} {title}")});
            async move { srv.ok(&board, body).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    (srv, board)
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

/// A long log is caught up a page at a time on every path: `/changes`, poll and long-poll
/// answer at most one page (500 frames, about 1 MiB) and say where they stopped (`head`
/// beyond their last frame), so the client asks again from there; SSE and WebSocket stream
/// the whole log in order, reading the next page only once the last is sent. Ten
/// concurrent catch-ups from seq 0 hold a page each, not the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_log_is_caught_up_in_pages_on_every_path() {
    use board_core::patterns::Frame;
    use common::Subscriber;

    // 1,200 changes with long titles: megabytes of log in every delta pattern.
    let (srv, board) = server_with_long_todos("long", 1200).await;
    let total = 1200u64;

    // `/changes`, poll and long-poll: capped pages, followed to the head.
    for path in ["changes", "poll", "long-poll"] {
        let (mut since, mut pages) = (0, 0);
        while since < total {
            let page =
                srv.frames(&format!("/api/boards/{board}/{path}?since={since}&pattern=event-diff&timeout=1")).await;
            let bytes: usize = page.frames.iter().map(|f| f.to_json().len()).sum();
            assert!(page.frames.len() <= 500, "{path}: {} frames in one answer", page.frames.len());
            assert!(bytes <= 1024 * 1024 + 4096, "{path}: {bytes} bytes in one answer");
            assert_eq!(page.head, total, "{path}: the answer says where the head is");
            let seqs: Vec<u64> = page.frames.iter().filter_map(Frame::seq).collect();
            assert_eq!(seqs, (since + 1..=since + seqs.len() as u64).collect::<Vec<_>>(), "{path}: in order");
            since += seqs.len() as u64;
            pages += 1;
        }
        assert!(pages >= 3, "{path}: {total} long changes came in {pages} answers");
    }

    // SSE and WebSocket: everything, in order; ten at once.
    let before = common::rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(common::rss_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let readers = (0..10).map(|i| {
        let transport =
            if i % 2 == 0 { board_core::protocol::Transport::Sse } else { board_core::protocol::Transport::Ws };
        let srv = &srv;
        let board = board.clone();
        async move {
            let mut sub: Subscriber =
                srv.subscribe(&board, transport, board_core::patterns::PatternKind::PushOps, 0).await;
            let mut applied = 0;
            while applied < total {
                for frame in sub.next_batch(applied).await {
                    if let Some(seq) = frame.seq() {
                        assert_eq!(seq, applied + 1, "{transport}: in order, once");
                        applied = seq;
                    }
                }
            }
            sub.close().await;
        }
    });
    futures::future::join_all(readers).await;
    sampler.abort();
    let grown = peak.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(before);
    println!("ten catch-ups of {total} long changes from seq 0: resident memory peaked {grown} KiB above where it was");
    assert!(grown < 50 * 1024, "peak growth {grown} KiB");
    srv.stop().await;
}

/// A WebSocket client and an SSE client that stop reading while 200 large changes commit
/// are cut off, and their subscriptions go with them: nothing of the server waits on them
/// any more. Two layers may do it, whichever comes first: the kernel, once data has waited
/// 7 s on a closed window (`TCP_USER_TIMEOUT`, set by `serve::find_dead_peers`), or the
/// server, once a frame has waited 10 s for the client's queue (`SEND_TIMEOUT`, counted in
/// `board_slow_consumers_total`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_are_cut_off() {
    // A board whose every push-state frame is about 100 KB.
    let (srv, board) = server_with_long_todos("heavy", 200).await;
    let title = "y".repeat(480);
    let cut = |transport: &str| {
        let metrics = srv.app.metrics.render();
        metrics
            .lines()
            .find(|l| l.starts_with("board_slow_consumers_total") && l.contains(&format!("transport=\"{transport}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.parse::<f64>().unwrap())
            .unwrap_or(0.0)
    };

    // Both connect and read their first frames, then never read again.
    let sse = srv.http.get(srv.url(&format!("/api/boards/{board}/sse?pattern=push-state"))).send().await.unwrap();
    assert_eq!(sse.status(), 200);
    let url = format!("{}/api/boards/{board}/ws?pattern=push-state&since=200", srv.base.replace("http", "ws"));
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(srv.app.broker.channels(), 1);

    let started = std::time::Instant::now();
    for i in 0..200 {
        srv.ok(
            &board,
            serde_json::json!({"type": "rename_todo", "id": 1 + (i % 200), "title": format!("{i} {title}")}),
        )
        .await;
    }
    let mut gone = None;
    while started.elapsed() < Duration::from_secs(45) {
        // Both streams were the board's only subscribers: no channel, no stream.
        if srv.app.broker.channels() == 0 {
            gone = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone = gone.unwrap_or_else(|| panic!("still held after 45 s: channels {}", srv.app.broker.channels()));
    println!(
        "an SSE and a WebSocket client that stopped reading were cut off {gone:?} after 200 changes of 100 KB began \
         (by the server's send timeout: sse {}, ws {}; the rest by the kernel)",
        cut("sse"),
        cut("ws")
    );
    assert!(gone < Duration::from_secs(30), "{gone:?}");
    drop((sse, ws));
    srv.stop().await;
}

/// A client that keeps reading, but far too slowly for what the board sends, looks alive to
/// the kernel (every byte it takes is acknowledged), so the server's own send timeout must
/// cut it off: a frame that waits 10 s for its queue ends the stream, counted in
/// `board_slow_consumers_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_too_slowly_is_cut_off_by_the_send_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (srv, board) = server_with_long_todos("trickle", 200).await;
    let title = "z".repeat(480);
    let address = srv.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!("GET /api/boards/{board}/sse?pattern=push-state HTTP/1.1\r\nHost: {address}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    // About 40 KB a second, for as long as the server sends: often enough that the kernel
    // sees the window open again within its 7 s, far too slowly for 100 KB frames.
    let reader = tokio::spawn(async move {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = tcp.read(&mut buffer).await {
            if n == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let cut = || {
        srv.app
            .metrics
            .render()
            .lines()
            .find(|l| l.starts_with("board_slow_consumers_total") && l.contains("transport=\"sse\""))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse::<f64>().unwrap())
    };
    let before = cut();
    let started = std::time::Instant::now();
    for i in 0..200 {
        let body = serde_json::json!({"type": "rename_todo", "id": 1 + (i % 200), "title": format!("{i} {title}")});
        srv.ok(&board, body).await;
    }
    while cut() < before + 1.0 {
        assert!(started.elapsed() < Duration::from_secs(45), "a trickling reader still held after 45 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "a client reading 40 KB a second was cut off by the send timeout {:?} after the changes began",
        started.elapsed()
    );
    reader.abort();
    srv.stop().await;
}

/// A subscriber that stops reading holds its board's ring of notices, and the ring holds
/// changes, not boards: once newer changes replaced them in the snapshot cache, the boards
/// (and their push-state frames) are freed, whoever still holds the notice.
#[tokio::test]
async fn a_stuck_subscriber_pins_notices_not_boards() {
    use server::broker::Notice;

    let (srv, board) = server_with_long_todos("pinned", 1000).await;
    // Subscribed and never read while 64 changes commit: the ring's whole capacity.
    let mut stuck = srv.app.broker.subscribe(&board).await;
    let before = common::rss_kib();
    for i in 0..64 {
        srv.ok(&board, serde_json::json!({"type": "rename_todo", "id": 1 + i, "title": format!("renamed {i}")})).await;
    }
    let grown = common::rss_kib().saturating_sub(before);
    let mut held = Vec::new();
    while let Ok(Ok(Notice::Change(change))) = tokio::time::timeout(Duration::from_millis(200), stuck.recv()).await {
        held.push(change);
    }
    assert_eq!(held.len(), 64, "the ring held every notice");
    let (newest, older) = held.split_last().unwrap();
    let push_state = board_core::patterns::PatternKind::PushState;
    assert!(newest.frame(push_state).is_some(), "the newest board is cached");
    let frame_bytes = newest.frame(push_state).unwrap().len();
    assert!(older.iter().all(|c| c.frame(push_state).is_none()), "an older board outlived its turn in the cache");
    let notice_bytes: usize =
        held.iter().map(|c| c.frame(board_core::patterns::PatternKind::EventDiff).unwrap().len()).sum();
    println!(
        "one stuck subscriber on a 1000-todo board ({frame_bytes} B per push-state frame): the ring holds \
         64 notices of {notice_bytes} B in all; resident memory grew {grown} KiB over the 64 changes"
    );
    srv.stop().await;
}

/// Readers that keep reading, slowly, a `push-state` board whose every frame is about half
/// a megabyte, changed every second: the queue of frames waiting for each is bounded in
/// bytes (one big frame, or 256 KiB), so a frame that finds no room within the send timeout
/// cuts the stream: every reader is cut within the timeout and a few seconds. (Bounded by a
/// count of 32 frames alone, such a queue filled only after 32 changes: 100 readers at
/// 100 KB/s held 300 MB and none was cut in 40 s. The memory is measured by
/// `cargo bench -p server --bench abuse -- slow-sse`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sse_readers_are_cut_and_hold_little() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (srv, board) = server_with_long_todos("slow readers", 1000).await;
    let address: std::net::SocketAddr = srv.base.trim_start_matches("http://").parse().unwrap();
    let mut readers = Vec::new();
    for _ in 0..10 {
        // A small receive buffer, as a slow link has: the kernel holds little for the reader.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        let mut tcp = socket.connect(address).await.unwrap();
        let request = format!("GET /api/boards/{board}/sse?pattern=push-state HTTP/1.1\r\nHost: {address}\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        // 20 KB a second, steadily: alive to the kernel, far too slow for the board.
        readers.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut buffer = [0u8; 2048];
            loop {
                match tcp.read(&mut buffer).await {
                    Ok(0) | Err(_) => return started.elapsed(),
                    Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }));
    }
    let title = "w".repeat(480);
    let started = Instant::now();
    let writer = {
        let (http, url) = (srv.http.clone(), srv.url(&format!("/api/boards/{board}/commands")));
        tokio::spawn(async move {
            for i in 0..40 {
                let body =
                    serde_json::json!({"type": "rename_todo", "id": 1 + (i % 1000), "title": format!("{i} {title}")});
                let _ = http.post(&url).json(&body).send().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut cut = Vec::new();
    for reader in readers {
        let after = tokio::time::timeout(Duration::from_secs(40), reader).await.expect("a reader was not cut in 40 s");
        cut.push(after.unwrap());
    }
    writer.abort();
    let last = cut.iter().max().unwrap();
    println!("10 SSE readers at 20 KB/s of a board with half-megabyte frames, changed every second: all cut, the last {last:?} in ({:?} since the changes began)", started.elapsed());
    assert!(*last < Duration::from_secs(25), "the last reader was cut after {last:?}");
    srv.stop().await;
}

/// A board's storage is bounded: the text it holds (a command past `MAX_BOARD_TEXT_KIB`
/// answers `422` and changes nothing), and its change log in bytes (`LOG_RETAIN_KIB`: the
/// oldest changes go, and a client behind what is kept is told to take a snapshot: `410`
/// on `/changes`), on SQLite and Postgres. (Each command stored about 7 KB with no bound
/// but the count of changes: 40 MB a minute for one client.)
async fn a_boards_storage_is_bounded(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| {
        c.commands_per_minute = 1_000_000;
        c.max_board_text_kib = 100;
        c.log_retain_kib = 64;
    })
    .await;
    let board = srv.create_board("quota").await;
    let title = "q".repeat(480);
    let mut refused = None;
    for i in 0..400 {
        let (status, answer) =
            srv.command(&board, serde_json::json!({"type": "add_todo", "title": format!("{i:03} {title}")})).await;
        if status != 200 {
            refused = Some((i, status, answer));
            break;
        }
    }
    let (accepted, status, answer) = refused.expect("the text quota was reached");
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("KiB of text"), "{answer}");
    // 100 KiB of text holds about 210 titles of 484 bytes.
    assert!((200..=212).contains(&accepted), "{accepted} todos fit");
    let state = srv.state(&board).await;
    assert_eq!((state.seq, state.todos.len()), (accepted as u64, accepted), "the refusal changed nothing");

    // The log keeps its newest 64 KiB: the first changes are gone, the last are there.
    let r = srv
        .http
        .get(srv.url(&format!("/api/boards/{board}/changes?since=0&pattern=push-events")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410, "the start of the log was pruned for its size");
    let recent = state.seq - 10;
    let page = srv.frames(&format!("/api/boards/{board}/changes?since={recent}&pattern=push-events")).await;
    assert_eq!(page.frames.len(), 10);
    let kept = srv.app.store.log_bytes(&board).await.unwrap().unwrap();
    assert!(kept <= 64 * 1024 && kept > 32 * 1024, "the log keeps {kept} bytes");
    srv.stop().await;
}

on_both_backends!(a_boards_storage_is_bounded);
