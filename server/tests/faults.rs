//! Database outages: with Postgres unreachable (a fault proxy cuts every connection and
//! refuses new ones) writes answer 503 and change nothing; once it is back, a retry with
//! the same Idempotency-Key applies exactly once, and nothing acknowledged is lost.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy that can cut the line: `cut()` drops every open connection and refuses new
/// ones until `restore()`.
struct FaultProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FaultProxy {
    async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (cut2, links2) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if cut2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        FaultProxy { addr, cut, links }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_answers_503_and_loses_nothing() {
    // The database is reached through the proxy.
    let direct = common::fresh_postgres_database().await;
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = FaultProxy::start(upstream).await;
    let through_proxy = direct.replace("127.0.0.1:5432", &proxy.addr.to_string());
    assert_ne!(through_proxy, direct, "the test database is on 127.0.0.1:5432");
    let srv = TestServer::start_with(common::Backend::Sqlite, |c| c.database_url = through_proxy.clone()).await;
    let board = srv.create_board("outage").await;
    let mut acked = Vec::new();
    for i in 0..5 {
        acked.push(srv.ok(&board, json!({"type": "add_todo", "title": format!("before {i}")})).await);
    }

    proxy.cut();
    let post = |key: &'static str| {
        srv.http
            .post(srv.url(&format!("/api/boards/{board}/commands")))
            .header("Idempotency-Key", key)
            .json(&json!({"type": "add_todo", "title": "during the outage"}))
            .send()
    };
    let refused = post("outage-1").await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("unavailable"), "{body}");
    assert_eq!(srv.http.get(srv.url("/readyz")).send().await.unwrap().status(), 503);

    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    // The client retries with the same key until the database answers.
    let mut answer = None;
    for _ in 0..40 {
        let r = post("outage-1").await.unwrap();
        if r.status() == 200 {
            answer = Some(r.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(r.status(), 503);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let answer = answer.expect("the write commits once the database is back");
    let again: Value = post("outage-1").await.unwrap().json().await.unwrap();
    assert_eq!(again, answer, "a second retry gets the first answer");

    let state = srv.state(&board).await;
    let during = state.todos.iter().filter(|t| t.title == "during the outage").count();
    assert_eq!(during, 1, "applied exactly once");
    for i in 0..5 {
        assert!(state.todos.iter().any(|t| t.title == format!("before {i}")), "acknowledged write {i} survived");
    }
    assert_eq!(state.seq, 6, "seqs stay contiguous: the refused attempts took none");
    assert_eq!(srv.http.get(srv.url("/readyz")).send().await.unwrap().status(), 200);
    srv.stop().await;
}
