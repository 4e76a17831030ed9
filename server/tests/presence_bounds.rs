//! Presence bound to the connections that join, and bounded under a flood: a tab's id is
//! the connection's that first presents it (with its secret, or for a tool that gives none,
//! its address), and nobody else may reuse it, rename it, make it leave or signal in its
//! name; one client has at most `MAX_TABS_PER_IP` tabs; the list names at most 50 people;
//! a tab takes in a bounded number of signal bytes a second. (How much the floods of the
//! report cost before and after is measured by `cargo bench -p server --bench abuse --
//! presence` and `-- signals`.)

mod common;

use std::time::{Duration, Instant};

use board_core::patterns::Frame;
use common::{Backend, SseReader, TestServer};
use futures::StreamExt;
use serde_json::{json, Value};

const SECRET: &str = "the-victims-own-secret-1234";

/// An SSE tab: the stream, or the refusal's status.
async fn sse_tab(srv: &TestServer, board: &str, client: &str, secret: Option<&str>) -> Result<SseReader, u16> {
    let secret = secret.map(|s| format!("&secret={s}")).unwrap_or_default();
    let url = srv.url(&format!("/api/boards/{board}/sse?pattern=push-ops&client={client}&name=N{secret}"));
    let r = srv.http.get(url.clone()).send().await.unwrap();
    if r.status() != 200 {
        return Err(r.status().as_u16());
    }
    Ok(SseReader::open(srv.http.get(url)).await)
}

async fn post(srv: &TestServer, board: &str, path: &str, body: Value) -> (u16, Value) {
    let r = srv.http.post(srv.url(&format!("/api/boards/{board}/{path}"))).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The next presence list a stream gets within 5 s: (members' clients, more).
async fn next_list(stream: &mut SseReader) -> (Vec<String>, usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, frame) = tokio::time::timeout(left, stream.next_inner()).await.expect("a presence list within 5 s");
        if let Frame::Presence { members, more, .. } = frame {
            let mut clients: Vec<String> = members.into_iter().flat_map(|m| m.clients).collect();
            clients.sort();
            return (clients, more);
        }
    }
}

/// Waits until the stream's list satisfies `wanted`.
async fn list_until(stream: &mut SseReader, wanted: impl Fn(&[String], usize) -> bool) -> (Vec<String>, usize) {
    loop {
        let (clients, more) = next_list(stream).await;
        if wanted(&clients, more) {
            return (clients, more);
        }
    }
}

/// A tab's id claimed with its secret: another connection presenting it without the
/// secret (or with another) is refused `409` on every transport, cannot make it leave, and
/// cannot signal or send cursors in its name (`403`), over HTTP or up its own WebSocket;
/// with the secret, the tab itself reconnects, signals and leaves. A tool that gives no
/// secret is its address: the same id from another address is refused too. (Any reader
/// could reuse another tab's id, rename it, remove it, and signal as it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tabs_id_is_the_connections_that_claimed_it() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("claims").await;
    let mut watcher = sse_tab(&srv, &board, "watcher", Some("the-watchers-secret-5678")).await.unwrap();
    let _victim = sse_tab(&srv, &board, "victim", Some(SECRET)).await.unwrap();
    list_until(&mut watcher, |clients, _| clients == ["victim", "watcher"]).await;

    // Another connection with the victim's id: refused, whatever it presents but the secret.
    for secret in [None, Some("not-the-victims-secret-00")] {
        assert_eq!(sse_tab(&srv, &board, "victim", secret).await.err(), Some(409), "{secret:?}");
        let suffix = secret.map(|s| format!("&secret={s}")).unwrap_or_default();
        for transport in ["poll", "long-poll"] {
            let url = format!(
                "/api/boards/{board}/{transport}?pattern=push-ops&since=0&timeout=1&client=victim&name=Evil{suffix}"
            );
            let r = srv.http.get(srv.url(&url)).send().await.unwrap();
            assert_eq!(r.status(), 409, "{transport} {secret:?}");
            assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("in use"));
        }
        let ws =
            format!("{}/api/boards/{board}/ws?pattern=push-ops&client=victim{suffix}", srv.base.replace("http", "ws"));
        let refused = tokio_tungstenite::connect_async(ws).await.expect_err("the upgrade is refused");
        assert!(refused.to_string().contains("409"), "{refused}");
    }
    // It cannot make the victim leave, nor signal or send cursors as the victim.
    let mut body = json!({"client": "victim"});
    for secret in [None, Some("not-the-victims-secret-00")] {
        if let Some(secret) = secret {
            body["secret"] = json!(secret);
        }
        assert_eq!(post(&srv, &board, "leave", body.clone()).await.0, 403, "{secret:?}");
        let mut signal = json!({"from": "victim", "to": "watcher", "data": {"type": "offer"}});
        let mut cursor = json!({"from": "victim", "to": "*", "cursor": {"x": 0.5, "y": 0.5}});
        if let Some(secret) = secret {
            signal["secret"] = json!(secret);
            cursor["secret"] = json!(secret);
        }
        assert_eq!(post(&srv, &board, "signal", signal).await.0, 403);
        assert_eq!(post(&srv, &board, "signal", cursor).await.0, 403);
    }
    // Up a WebSocket, a tab signs only as itself.
    let ws = format!(
        "{}/api/boards/{board}/ws?pattern=push-ops&client=mallory&secret=mallorys-own-secret-99",
        srv.base.replace("http", "ws")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(ws).await.unwrap();
    let forged = json!({"signal": {"from": "victim", "to": "watcher", "data": {}}}).to_string();
    futures::SinkExt::send(&mut socket, tokio_tungstenite::tungstenite::Message::Text(forged.into())).await.unwrap();
    let refusal = loop {
        let text = match socket.next().await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => text,
            // A ping, when the socket has been quiet: answered as it is read.
            Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_))) => continue,
            other => panic!("the socket ended: {other:?}"),
        };
        if let Ok(frame @ Frame::Error { .. }) = serde_json::from_str::<Frame>(&text) {
            break frame;
        }
    };
    assert!(matches!(refusal, Frame::Error { status: 403, .. }), "{refusal:?}");
    // The victim is still there, named as it named itself.
    let (clients, _) = list_until(&mut watcher, |clients, _| clients.contains(&"mallory".to_owned())).await;
    assert!(clients.contains(&"victim".to_owned()));

    // The victim itself: a second connection (a reconnect), a signal and a leave, with its secret.
    let again = sse_tab(&srv, &board, "victim", Some(SECRET)).await;
    assert!(again.is_ok(), "its own reconnect");
    let signal = json!({"from": "victim", "to": "watcher", "data": {"type": "offer"}, "secret": SECRET});
    assert_eq!(post(&srv, &board, "signal", signal).await.0, 202);
    assert_eq!(post(&srv, &board, "leave", json!({"client": "victim", "secret": SECRET})).await.0, 204);
    list_until(&mut watcher, |clients, _| !clients.contains(&"victim".to_owned())).await;

    // A tool without a secret is its address: from 127.0.0.2, its id is someone else's.
    let _tool = sse_tab(&srv, &board, "tool", None).await.unwrap();
    let elsewhere =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    // (To the server's 127.0.0.1 from the source address 127.0.0.2: both loopback.)
    let r =
        elsewhere.get(srv.url(&format!("/api/boards/{board}/sse?pattern=push-ops&client=tool"))).send().await.unwrap();
    assert_eq!(r.status(), 409, "the same id from another address");
    srv.stop().await;
}

/// One client (address) has at most MAX_TABS_PER_IP tabs: 300 polls with made-up tab ids
/// put 120 on the board and get `429` for the rest; and a crowd is counted, not listed: a
/// viewer's list names 50 people, the first here, and says how many more, in a frame of a
/// few kilobytes. (20,000 fake tabs registered by plain polling made a 3.8 MB list sent to
/// every viewer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_has_a_bounded_number_of_tabs_and_a_crowd_is_counted() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.max_tabs_per_ip = 120).await;
    let board = srv.create_board("crowd").await;
    let mut viewer = sse_tab(&srv, &board, "viewer", Some("the-viewers-own-secret-1")).await.unwrap();
    let statuses: Vec<u16> = futures::stream::iter(0..300)
        .map(|i| {
            let url =
                srv.url(&format!("/api/boards/{board}/poll?pattern=push-ops&since=0&client=fake{i:04}&every=60000"));
            let http = srv.http.clone();
            async move { http.get(url).send().await.unwrap().status().as_u16() }
        })
        .buffered(8)
        .collect()
        .await;
    let accepted = statuses.iter().filter(|s| **s == 200 || **s == 304).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    // The viewer is one of the address's 120 tabs.
    assert_eq!((accepted, refused), (119, 181), "{statuses:?}");
    let (clients, more) = list_until(&mut viewer, |clients, more| clients.len() + more >= 120).await;
    assert_eq!(clients.len(), 50, "listed");
    assert_eq!(more, 70, "counted");
    assert!(clients.contains(&"viewer".to_owned()), "the first here is listed");
    let frame = board_core::patterns::Frame::Presence {
        rev: 0,
        members: vec![board_core::presence::Member {
            person: "p".repeat(64),
            name: "n".repeat(40),
            tabs: 1,
            clients: vec!["c".repeat(64)],
            via: Vec::new(),
        }],
        more: 0,
    };
    println!(
        "300 made-up poll tabs from one address: {accepted} on the board, {refused} refused 429; the list names {} and counts {more} more (each member at most about {} bytes)",
        clients.len(),
        frame.to_json().len()
    );
    srv.stop().await;
}

/// Fifty tabs of one client pouring 60 KiB signals into one viewer for three seconds: the
/// viewer takes in its burst and then its rate, a few hundred kilobytes, and the rest is
/// dropped (the peers fall back to the relay). (50 self-made tab ids pushed 811 MB of
/// signals into one viewer in 8 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_takes_in_a_bounded_number_of_signal_bytes() {
    use server::presence::mailbox::{SIGNAL_BURST_BYTES, SIGNAL_BYTES_PER_SECOND};
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("signals").await;
    let mut viewer = sse_tab(&srv, &board, "viewer", Some("the-viewers-own-secret-1")).await.unwrap();
    for i in 0..50 {
        let url = srv.url(&format!("/api/boards/{board}/poll?pattern=push-ops&since=0&client=sender{i}&every=60000"));
        assert_eq!(srv.http.get(url).send().await.unwrap().status(), 200);
    }
    let payload = "x".repeat(60 * 1024);
    let run = Duration::from_secs(3);
    let started = Instant::now();
    let received = tokio::spawn(async move {
        let mut bytes = 0usize;
        while started.elapsed() < run + Duration::from_secs(1) {
            let next = tokio::time::timeout(Duration::from_millis(200), viewer.next_inner()).await;
            if let Ok((_, Frame::Signal { data, .. })) = next {
                bytes += data.to_string().len();
            }
        }
        bytes
    });
    let mut sent = 0usize;
    while started.elapsed() < run {
        let posts = (0..50).map(|i| {
            let body = json!({"from": format!("sender{i}"), "to": "viewer", "data": payload});
            let (http, url) = (srv.http.clone(), srv.url(&format!("/api/boards/{board}/signal")));
            async move { http.post(url).json(&body).send().await.unwrap().status().as_u16() }
        });
        sent += futures::future::join_all(posts).await.iter().filter(|s| **s == 202).count() * payload.len();
    }
    let received = received.await.unwrap();
    let bound = SIGNAL_BURST_BYTES + 4 * SIGNAL_BYTES_PER_SECOND;
    println!("50 tabs sent {} KiB of signals to one viewer in 3 s; it took in {} KiB", sent / 1024, received / 1024);
    assert!(received <= bound, "the viewer took in {received} bytes; at most {bound}");
    assert!(received > 0, "the viewer still gets signals");
    srv.stop().await;
}
