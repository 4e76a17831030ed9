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

/// Requests cancelled at random points (their clients give up after a few milliseconds,
/// as a long-poll whose tab closed does) must never leave a pooled connection inside an
/// open transaction, and never lose an acknowledged write. Hundreds of cancelled commands,
/// reads and long-polls on Postgres; then no connection of the database is `idle in
/// transaction`, later commands all commit with contiguous seqs, and after a restart of the
/// server every acknowledged write is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_leave_no_transaction_open_and_lose_nothing() {
    use futures::StreamExt;
    use rand::Rng;
    use sqlx::Connection;

    let database = common::fresh_postgres_database().await;
    let db_name = database.rsplit('/').next().unwrap().to_owned();
    let srv = TestServer::start_with(common::Backend::Sqlite, |c| c.database_url = database.clone()).await;
    let board = srv.create_board("impatient").await;
    let impatient = reqwest::Client::builder().build().unwrap();
    let urls: Vec<(u8, String, u64)> = (0..600)
        .map(|i| {
            let mut rng = rand::rng();
            let kind = rng.random_range(0..4u8);
            let path = match kind {
                0 | 1 => format!("/api/boards/{board}/commands"),
                2 => format!("/api/boards/{board}/changes?since=0"),
                _ => format!("/api/boards/{board}/long-poll?since={i}&timeout=2"),
            };
            (kind, srv.url(&path), rng.random_range(1..120u64))
        })
        .collect();
    let acked: Vec<String> = futures::stream::iter(urls.into_iter().enumerate())
        .map(|(i, (kind, url, give_up_ms))| {
            let http = impatient.clone();
            async move {
                let title = format!("cancelled {i}");
                let request = if kind <= 1 {
                    http.post(url).json(&json!({"type": "add_todo", "title": title}))
                } else {
                    http.get(url)
                };
                let answer = request.timeout(Duration::from_millis(give_up_ms)).send().await;
                // A command whose answer arrived in time was acknowledged: it must be kept.
                match answer {
                    Ok(r) if kind <= 1 && r.status() == 200 => Some(title),
                    _ => None,
                }
            }
        })
        .buffer_unordered(24)
        .filter_map(|acked| async move { acked })
        .collect()
        .await;

    // Give the server a moment to finish whatever the cancelled requests started.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut admin = sqlx::PgConnection::connect(&common::postgres_admin_url()).await.unwrap();
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'",
    )
    .bind(&db_name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(stuck, 0, "connections left idle in a transaction");
    // What the server said about this database: a connection that left a transaction open
    // shows as "there is already a transaction in progress" on its next BEGIN, or "there is
    // no transaction in progress" on a COMMIT that lost its BEGIN.
    let warnings = postgres_log_lines(&db_name, "transaction in progress");
    assert!(warnings.is_empty(), "Postgres warned {} times, e.g. {}", warnings.len(), warnings[0]);

    // Every pooled connection still works: a burst of commands all commit, in order.
    // (A cancelled command may still commit in between: its client left, its work did not.)
    let mut last = 0;
    for i in 0..40 {
        let seq = srv.ok(&board, json!({"type": "add_todo", "title": format!("after {i}")})).await;
        assert!(seq > last);
        last = seq;
    }
    srv.stop().await;

    // A fresh server on the same database: every acknowledged write is in it.
    let again = TestServer::start_with(common::Backend::Sqlite, |c| c.database_url = database.clone()).await;
    let state = again.state(&board).await;
    for title in &acked {
        assert!(state.todos.iter().any(|t| &t.title == title), "acknowledged `{title}` was lost");
    }
    let page = again.frames(&format!("/api/boards/{board}/changes?since=0")).await;
    let seqs: Vec<u64> = page.frames.iter().filter_map(|f| f.seq()).collect();
    assert_eq!(seqs, (1..=state.seq).collect::<Vec<_>>(), "the log has no gap");
    println!("{} of the cancelled commands had been acknowledged; all are there", acked.len());
    again.stop().await;
}

/// The lines of the local Postgres server's log about `database` that contain `needle`.
/// The tests run against the machine's own server, whose log Debian keeps in
/// /var/log/postgresql; without it this check cannot be made, and says so.
fn postgres_log_lines(database: &str, needle: &str) -> Vec<String> {
    let logs: Vec<_> = std::fs::read_dir("/var/log/postgresql")
        .expect("the local Postgres server's log folder, /var/log/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    assert!(!logs.is_empty(), "no Postgres log in /var/log/postgresql");
    let tag = format!("@{database} ");
    logs.iter()
        .flat_map(|p| std::fs::read_to_string(p).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| l.contains(&tag) && l.contains(needle))
        .collect()
}
