//! TLS on the server's own listener (`TLS_CERT`, `TLS_KEY`): HTTP/2 by ALPN, so that all
//! of a client's streams share one connection (a browser's tabs then never run out of
//! its six HTTP/1.1 connections); HTTP/1.1 clients are served as before; a client that
//! never finishes its handshake is dropped as one that never sends its headers is; bad
//! files stop the server at start with a message that names them.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use board_core::patterns::Frame;
use common::{Backend, SseReader, TestServer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed certificate for `localhost`, as PEM files in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

/// A server speaking TLS itself, with a 2 s header (and handshake) timeout.
async fn tls_server(dir: &Path) -> TestServer {
    let (cert, key) = certificate(dir);
    TestServer::start_with(Backend::Sqlite, |config| {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
        config.header_timeout = 2;
    })
    .await
}

fn port(srv: &TestServer) -> u16 {
    srv.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// The server's established TCP connections on `port` (the kernel's table: exact, and
/// apart from every other test's server, which has a port of its own).
fn established(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap() + &std::fs::read_to_string("/proc/net/tcp6").unwrap();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // `01`: ESTABLISHED; the local address is the server's side.
            fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "01"
        })
        .count()
}

#[tokio::test]
async fn twelve_streams_of_one_client_share_one_http2_connection_and_all_stay_live() {
    let dir = tempfile::tempdir().unwrap();
    let srv = tls_server(dir.path()).await;
    let board = srv.create_board("over TLS").await;
    let answer = srv.http.get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(answer.version(), reqwest::Version::HTTP_2, "ALPN chose HTTP/2");

    let mut streams = Vec::new();
    for _ in 0..12 {
        let answer = srv.http.get(srv.url(&format!("/api/boards/{board}/sse?pattern=push-ops"))).send().await.unwrap();
        assert_eq!((answer.status(), answer.version()), (reqwest::StatusCode::OK, reqwest::Version::HTTP_2));
        streams.push(SseReader::from_response(answer));
    }
    for stream in &mut streams {
        assert!(matches!(stream.next().await.1, Frame::Hello { .. }));
    }
    assert_eq!(established(port(&srv)), 1, "twelve streams and every request on one connection");

    let (status, _) = srv.command(&board, json!({"type": "add_todo", "title": "to all twelve"})).await;
    assert_eq!(status, 200);
    for stream in &mut streams {
        assert_eq!(stream.next_data().await.1.seq(), Some(1), "every stream is live");
    }
}

#[tokio::test]
async fn an_http1_client_is_served_over_tls_too() {
    let dir = tempfile::tempdir().unwrap();
    let srv = tls_server(dir.path()).await;
    let cert = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let http1 = reqwest::Client::builder()
        .http1_only()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap();
    let answer = http1.get(srv.url("/api/boards/demo/sse?pattern=event-diff")).send().await.unwrap();
    assert_eq!((answer.status(), answer.version()), (reqwest::StatusCode::OK, reqwest::Version::HTTP_11));
    let mut stream = SseReader::from_response(answer);
    assert!(matches!(stream.next().await.1, Frame::Hello { .. }));
    // The page's origin is https now: a cross-origin post is refused, its own is not.
    let create_from = |scheme: &str| {
        let origin = format!("{scheme}://localhost:{}", port(&srv));
        http1.post(srv.url("/api/boards")).header("origin", origin).json(&json!({"name": "x"})).send()
    };
    assert_eq!(create_from("http").await.unwrap().status(), 403, "plain http is another origin");
    assert_eq!(create_from("https").await.unwrap().status(), 201);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_is_dropped_within_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let srv = tls_server(dir.path()).await;
    let started = std::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port(&srv))).await.unwrap();
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed, not left waiting: {read:?}");
    assert!(started.elapsed() < Duration::from_secs(6), "within the 2 s timeout: {:?}", started.elapsed());

    // Plain HTTP to the TLS port gets no page: the handshake fails and the connection closes.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port(&srv))).await.unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await.expect("closed");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    // And the server still serves.
    assert_eq!(srv.http.get(srv.url("/healthz")).send().await.unwrap().status(), 200);
}

#[test]
fn bad_certificate_files_stop_the_server_with_a_message_that_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let missing = dir.path().join("missing.pem");
    let err = server::tls::acceptor(&missing, &key).err().expect("a missing certificate is an error");
    assert!(err.contains("TLS_CERT") && err.contains("missing.pem"), "{err}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = server::tls::acceptor(&empty, &key).err().expect("an empty certificate file is an error");
    assert!(err.contains("no certificate"), "{err}");
    let err = server::tls::acceptor(&cert, &cert).err().expect("a certificate is not a key");
    assert!(err.contains("TLS_KEY"), "{err}");
    assert!(server::tls::acceptor(&cert, &key).is_ok());
}
