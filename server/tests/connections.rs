//! Connections that do nothing are closed, whatever their protocol, so they cannot hold a
//! replica's connection slots or its files: a socket that sends nothing, half of the HTTP/2
//! preface, an HTTP/2 connection with no request, an idle keep-alive. And the connection
//! limit fits under the open-file limit, so a full replica answers `503` instead of
//! leaving every request to time out. (A test binary of its own: thousands of sockets.)

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Replica, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first half of the HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`).
const HALF_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Waits for the server to close `socket`; how long after `opened` it did, or `None` if it
/// was still open `within` after it.
async fn closed_after(mut socket: TcpStream, opened: Instant, within: Duration) -> Option<Duration> {
    let mut buffer = [0u8; 256];
    let deadline = tokio::time::Instant::from_std(opened + within);
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(opened.elapsed()),
            // HTTP/2's GOAWAY or SETTINGS, say: read on until the end.
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

/// A request on a connection of its own: the status, or the error.
async fn fresh_get(url: &str) -> Result<u16, String> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(3)).build().unwrap();
    client.get(url).send().await.map(|r| r.status().as_u16()).map_err(|e| e.to_string())
}

/// 2,000 silent sockets, 200 half-prefaces and 50 HTTP/2 connections that never ask are
/// each closed within HEADER_TIMEOUT + 1 s of opening, while every normal request meanwhile
/// is answered. (Before: held for as long as the client liked.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_ask_nothing_are_closed_within_the_header_timeout() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.header_timeout = 2;
        c.max_connections = 5000;
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let (silent, half, h2) = (2000, 200, 50);
    let mut waiting = Vec::new();
    for i in 0..silent + half + h2 {
        let mut socket = TcpStream::connect(&addr).await.unwrap();
        let opened = Instant::now();
        if i >= silent + half {
            // A whole preface and an empty SETTINGS frame: an HTTP/2 connection, no request.
            socket.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
        } else if i >= silent {
            socket.write_all(HALF_PREFACE).await.unwrap();
        }
        waiting.push(tokio::spawn(closed_after(socket, opened, Duration::from_secs(10))));
    }
    // Normal requests are answered all along.
    let mut answered = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(fresh_get(&srv.url("/healthz")).await, Ok(200));
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut slowest = Duration::ZERO;
    for (i, waiting) in waiting.into_iter().enumerate() {
        let after = waiting.await.unwrap().unwrap_or_else(|| panic!("socket {i} was still open after 10 s"));
        slowest = slowest.max(after);
    }
    println!(
        "{silent} silent sockets, {half} half-prefaces and {h2} HTTP/2 connections without a request: \
         the last closed {slowest:?} after it opened (HEADER_TIMEOUT 2 s); {answered} requests answered meanwhile"
    );
    assert!(slowest <= Duration::from_secs(3), "closed {slowest:?} after opening; at most HEADER_TIMEOUT + 1 s");
    srv.stop().await;
}

/// Idle connections cannot hold the connection limit: with MAX_CONNECTIONS=500 taken by 500
/// silent sockets a request is refused (`503`) at first, and answered again once the
/// header timeout has closed them. (Before: `503` for as long as the sockets were held.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_cannot_hold_the_connection_limit() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.header_timeout = 2;
        c.max_connections = 500;
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..500 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fresh_get(&srv.url("/healthz")).await, Ok(503), "the limit is full");
    let started = Instant::now();
    let mut status = Ok(503);
    while started.elapsed() < Duration::from_secs(5) {
        status = fresh_get(&srv.url("/healthz")).await;
        if status == Ok(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("500 idle sockets filled MAX_CONNECTIONS=500; requests were answered again after {:?}", started.elapsed());
    assert_eq!(status, Ok(200), "still refused after 5 s while 500 silent sockets are held");
    drop(held);
    srv.stop().await;
}

/// An idle HTTP/1.1 keep-alive connection and an idle HTTP/2 connection, each after one
/// answered request, are closed within HEADER_TIMEOUT + 1 s of the answer; HTTP/2 gets a
/// `GOAWAY` first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_and_idle_http2_connections_are_closed() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.header_timeout = 2).await;
    let addr = srv.base.trim_start_matches("http://").to_owned();

    // HTTP/1.1: a request, its whole answer, then nothing.
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 1024];
    let n = socket.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    let h1 = closed_after(socket, answered, Duration::from_secs(10)).await.expect("the idle keep-alive stayed open");

    // HTTP/2 (prior knowledge, as tools speak it): a request, its answer, then nothing.
    let socket = TcpStream::connect(&addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(socket).await.unwrap();
    let driven = tokio::spawn(connection);
    let request = http::Request::get(srv.url("/healthz")).body(()).unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    let answered = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), driven).await;
    let h2 = answered.elapsed();
    assert!(ended.is_ok(), "the idle HTTP/2 connection stayed open");
    println!("idle after an answer: HTTP/1.1 closed after {h1:?}, HTTP/2 after {h2:?} (HEADER_TIMEOUT 2 s)");
    assert!(h1 <= Duration::from_secs(3), "HTTP/1.1 keep-alive closed after {h1:?}");
    assert!(h2 <= Duration::from_secs(3), "HTTP/2 closed after {h2:?}");
    srv.stop().await;
}

/// Under an open-file limit of 1,100, MAX_CONNECTIONS (20,000 by default) is lowered to
/// what fits with room for the database and webhooks, so 1,100 idle sockets get `503`s
/// beyond it and a request meanwhile is answered (`503` at once), not left to time out;
/// once the idle ones are closed, requests are served again. (Before: every request timed
/// out for as long as the sockets were held.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_fits_under_the_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/board.db", dir.path().display());
    let files = 1100u64;
    // Long enough that the sockets are all open and counted before the first is closed.
    let server = Replica::spawn_with_open_files(&database, files, &[("HEADER_TIMEOUT", "8")]).await;
    let fits = files - server::serve::FILES_BESIDES_CONNECTIONS - server::webhooks::LEASED_AT_ONCE as u64;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut sockets = Vec::new();
    for _ in 0..files {
        sockets.push(TcpStream::connect(&addr).await.unwrap());
    }
    // A request now is refused at once, not left hanging.
    let asked = Instant::now();
    let status = fresh_get(&format!("{}/healthz", server.base)).await;
    assert_eq!(status, Ok(503), "a request while the limit is full");
    assert!(asked.elapsed() < Duration::from_secs(2), "answered after {:?}", asked.elapsed());
    // Those beyond the limit were answered 503 (after the half second the server gives a
    // refused client to send its request) and closed; those within it are held.
    let outcomes = futures::future::join_all(sockets.into_iter().map(|mut socket| async move {
        let mut answer = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(1500), socket.read(&mut answer)).await {
            Ok(Ok(n)) => (answer[..n].starts_with(b"HTTP/1.1 503"), None),
            Ok(Err(_)) => (false, None),
            Err(_) => (false, Some(socket)),
        }
    }))
    .await;
    let refused = outcomes.iter().filter(|(refused, _)| *refused).count();
    let sockets: Vec<TcpStream> = outcomes.into_iter().filter_map(|(_, held)| held).collect();
    println!(
        "open-file limit {files}: {} connections held, {refused} of {files} idle sockets refused with 503",
        sockets.len()
    );
    assert_eq!(sockets.len() as u64, fits, "connections held under the open-file limit");
    // Once the held ones reach the header timeout, requests are served again.
    let started = Instant::now();
    let mut status = Ok(503);
    while started.elapsed() < Duration::from_secs(12) && status != Ok(200) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = fresh_get(&format!("{}/healthz", server.base)).await;
    }
    assert_eq!(status, Ok(200));
}
