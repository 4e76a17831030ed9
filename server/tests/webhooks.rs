//! Webhooks, on SQLite and Postgres, with a receiver on a loopback port: every change
//! delivered once in order and signed; a failing receiver retried with backoff (and its
//! `Retry-After`) until nothing is missing; `410` disables; a hanging receiver delays no
//! other webhook, stream or command; no SSRF, also after a DNS change; replay; access; and
//! across two replicas, one delivering at a time and the other taking over from a killed one.

mod common;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::{Backend, TestServer};
use serde_json::{json, Value};

/// What the receiver does with the next request.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    RetryAfter(u16, u64),
    Hang(Duration),
    /// `302` to another URL, which must not be followed.
    Redirect(&'static str),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    id: String,
    seq: u64,
    replica: String,
    body: Vec<u8>,
    headers: HeaderMap,
    at: Instant,
}

#[derive(Default)]
struct Log {
    got: Mutex<Vec<Got>>,
    /// Scripted replies, then 200 for ever.
    script: Mutex<VecDeque<Reply>>,
    /// Each answer waits this long first (a slow receiver).
    delay: Mutex<Duration>,
}

/// A receiver on 127.0.0.1, port 0.
struct Receiver {
    url: String,
    allow: String,
    log: Arc<Log>,
}

impl Receiver {
    async fn start() -> Receiver {
        let log = Arc::new(Log::default());
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url: format!("http://{address}/hook"), allow: address.to_string(), log }
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.log.script.lock().unwrap().extend(replies);
    }

    fn got(&self) -> Vec<Got> {
        self.log.got.lock().unwrap().clone()
    }

    /// The seqs answered 2xx, in order, waiting up to `limit` until `count` of them came.
    async fn delivered(&self, count: usize, limit: Duration) -> Vec<u64> {
        let started = Instant::now();
        loop {
            let seqs = self.accepted();
            if seqs.len() >= count || started.elapsed() > limit {
                return seqs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `limit` until seq `seq` was accepted; the accepted seqs.
    async fn until_seq(&self, seq: u64, limit: Duration) -> Vec<u64> {
        let started = Instant::now();
        loop {
            let seqs = self.accepted();
            if seqs.contains(&seq) || started.elapsed() > limit {
                return seqs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Seqs of the requests that were answered 2xx (recorded after the answer was chosen).
    fn accepted(&self) -> Vec<u64> {
        self.got().iter().filter(|g| g.headers.get("x-test-answered").is_none()).map(|g| g.seq).collect()
    }
}

async fn receive(State(log): State<Arc<Log>>, headers: HeaderMap, body: axum::body::Bytes) -> impl IntoResponse {
    let reply = log.script.lock().unwrap().pop_front().unwrap_or(Reply::Status(200));
    let delay = *log.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut seen = headers.clone();
    let ok = matches!(reply, Reply::Status(200..=299));
    if !ok {
        // Marks a request that was not accepted.
        seen.insert("x-test-answered", "no".parse().unwrap());
    }
    log.got.lock().unwrap().push(Got {
        id: header(&headers, "webhook-id"),
        seq: value["frame"]["seq"].as_u64().unwrap_or(0),
        replica: header(&headers, "x-replica"),
        body: body.to_vec(),
        headers: seen,
        at: Instant::now(),
    });
    match reply {
        Reply::Status(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Reply::RetryAfter(status, secs) => {
            (StatusCode::from_u16(status).unwrap(), [("retry-after", secs.to_string())]).into_response()
        }
        Reply::Hang(time) => {
            tokio::time::sleep(time).await;
            StatusCode::OK.into_response()
        }
        Reply::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn server(backend: Backend, receivers: &[&Receiver]) -> TestServer {
    let allow: Vec<String> = receivers.iter().map(|r| r.allow.clone()).collect();
    TestServer::start_with(backend, move |c| {
        c.webhook_allow = allow;
        c.webhook_backoff_ms = 100;
        c.webhook_timeout = 2;
    })
    .await
}

/// Registers a webhook; returns (id, secret).
async fn register(srv: &TestServer, board: &str, url: &str, pattern: &str) -> (String, String) {
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/webhooks")))
        .bearer_auth(srv.owner(board))
        .json(&json!({"url": url, "pattern": pattern}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Decoded as the page decodes it: the shapes in `board_core::api`.
    let created: board_core::api::WebhookCreated = r.json().await.unwrap();
    assert_eq!(created.webhook.status, "active");
    (created.webhook.id, created.secret)
}

async fn add(srv: &TestServer, board: &str, n: u64) {
    for i in 0..n {
        srv.ok(board, json!({"type": "add_todo", "title": format!("todo {i}")})).await;
    }
}

async fn webhook(srv: &TestServer, board: &str, id: &str) -> Value {
    let list: Value = srv
        .http
        .get(srv.url(&format!("/api/boards/{board}/webhooks")))
        .bearer_auth(srv.owner(board))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array().unwrap().iter().find(|w| w["id"] == id).cloned().expect("the webhook is listed")
}

/// The webhook as listed once its `delivered_seq` reaches `seq` (within 10 s): a receiver
/// holds a delivery a moment before the server has read the answer and written it down.
async fn recorded(srv: &TestServer, board: &str, id: &str, seq: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = webhook(srv, board, id).await;
        if listed["delivered_seq"].as_u64() == Some(seq) {
            return listed;
        }
        assert!(Instant::now() < deadline, "delivered_seq never reached {seq}: {listed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deliveries(srv: &TestServer, board: &str, id: &str) -> Vec<Value> {
    let r = srv
        .http
        .get(srv.url(&format!("/api/boards/{board}/webhooks/{id}/deliveries")))
        .bearer_auth(srv.owner(board))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Vec<Value>>().await.unwrap()
}

async fn every_change_arrives_once_in_order_and_signed(backend: Backend) {
    let receiver = Receiver::start().await;
    let srv = server(backend, &[&receiver]).await;
    let board = srv.create_board("hooked").await;
    add(&srv, &board, 2).await;
    // Registered at seq 2: it gets what comes after.
    let (id, secret) = register(&srv, &board, &receiver.url, "event-diff").await;
    add(&srv, &board, 20).await;
    let seqs = receiver.delivered(20, Duration::from_secs(10)).await;
    assert_eq!(seqs, (3..=22).collect::<Vec<_>>());
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for got in receiver.got() {
        assert!(verifier.verify(&got.body, &got.headers).is_ok(), "seq {} is signed with the secret", got.seq);
        assert_eq!(got.id, format!("msg_{board}_{id}_{}", got.seq));
        let body: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(body["board"], board.as_str());
        assert_eq!(body["frame"]["kind"], "event-diff");
        assert_eq!(got.headers["content-type"], "application/json");
    }
    // The receiver has seq 22 before the server has read its answer and recorded it.
    let listed = recorded(&srv, &board, &id, 22).await;
    assert_eq!(listed["status"], "active");
    assert!(listed.get("secret").is_none(), "the secret is never listed");
    let log = deliveries(&srv, &board, &id).await;
    assert_eq!(log.len(), 20);
    assert!(log.iter().all(|d| d["status"] == 200 && d["attempt"] == 1));

    // A rotated secret: for a grace period both the new and the old one sign.
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/webhooks/{id}/secret")))
        .bearer_auth(srv.owner(&board))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rotated = r.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    assert_ne!(rotated, secret);
    add(&srv, &board, 1).await;
    receiver.delivered(21, Duration::from_secs(10)).await;
    let last = receiver.got().pop().unwrap();
    assert_eq!(last.seq, 23);
    for key in [&secret, &rotated] {
        let verifier = standardwebhooks::Webhook::new(key).unwrap();
        assert!(verifier.verify(&last.body, &last.headers).is_ok(), "signed with both during the grace period");
    }

    // The rate one replica sustains to one fast receiver: 500 changes in the log, then a
    // replay from before them, delivered one after another as fast as the receiver answers.
    add(&srv, &board, 500).await;
    receiver.until_seq(523, Duration::from_secs(60)).await;
    let before = receiver.got().len();
    let started = Instant::now();
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/webhooks/{id}/replay")))
        .bearer_auth(srv.owner(&board))
        .json(&json!({"since": 23}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    while receiver.got().len() < before + 500 {
        assert!(started.elapsed() < Duration::from_secs(60), "the replay did not finish in 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    println!(
        "{backend:?}: a replay of 500 changes delivered {:.0} a second to one receiver ({took:?})",
        500.0 / took.as_secs_f64()
    );
}

async fn a_failing_receiver_is_retried_until_nothing_is_missing(backend: Backend) {
    let receiver = Receiver::start().await;
    let srv = server(backend, &[&receiver]).await;
    let board = srv.create_board("retried").await;
    let (id, _) = register(&srv, &board, &receiver.url, "push-ops").await;
    receiver.script([Reply::Status(500), Reply::Status(502), Reply::Status(500)]);
    add(&srv, &board, 5).await;
    assert_eq!(receiver.delivered(5, Duration::from_secs(15)).await, vec![1, 2, 3, 4, 5]);
    let got = receiver.got();
    assert!(got[..4].iter().all(|g| g.seq == 1), "seq 2 is not sent before seq 1 was answered 2xx");
    // Backoff 100 ms doubling, jittered ±50 %: at least 50, 100, 200 ms apart.
    for (i, pair) in got[..4].windows(2).enumerate() {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(50 << i), "retry {} came after {gap:?}", i + 1);
    }
    // Every attempt carried the same webhook-id: a receiver can drop repeats.
    assert!(got[..4].iter().all(|g| g.id == got[0].id));
    let log = deliveries(&srv, &board, &id).await;
    let first: Vec<(u64, Option<u64>)> =
        log.iter().rev().take(4).map(|d| (d["attempt"].as_u64().unwrap(), d["status"].as_u64())).collect();
    assert_eq!(first, [(1, Some(500)), (2, Some(502)), (3, Some(500)), (4, Some(200))]);
    assert_eq!(webhook(&srv, &board, &id).await["status"], "active");
}

async fn retry_after_is_honoured_and_410_disables(backend: Backend) {
    let receiver = Receiver::start().await;
    let srv = server(backend, &[&receiver]).await;
    let board = srv.create_board("told").await;
    let (id, _) = register(&srv, &board, &receiver.url, "push-events").await;
    receiver.script([Reply::RetryAfter(503, 2)]);
    add(&srv, &board, 1).await;
    assert_eq!(receiver.delivered(1, Duration::from_secs(10)).await, vec![1]);
    let got = receiver.got();
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_secs(2), "Retry-After: 2 honoured, retried after {gap:?}");
    let failing = deliveries(&srv, &board, &id).await;
    assert_eq!(failing.last().unwrap()["status"], 503);

    receiver.script([Reply::Status(410)]);
    add(&srv, &board, 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listed = webhook(&srv, &board, &id).await;
    assert_eq!(listed["status"], "disabled", "{listed}");
    assert_eq!(listed["delivered_seq"], 1);
    assert_eq!(receiver.got().len(), 3, "nothing more after 410");
    // A replay turns it on again, from where it was.
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/webhooks/{id}/replay")))
        .bearer_auth(srv.owner(&board))
        .json(&json!({"since": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(receiver.delivered(4, Duration::from_secs(10)).await, vec![1, 2, 3, 4]);
}

async fn a_hanging_receiver_delays_no_one_else(backend: Backend) {
    let (hanging, fine) = (Receiver::start().await, Receiver::start().await);
    let srv = server(backend, &[&hanging, &fine]).await;
    let board = srv.create_board("hang").await;
    hanging.script([Reply::Hang(Duration::from_secs(30)); 10]);
    register(&srv, &board, &hanging.url, "event-diff").await;
    register(&srv, &board, &fine.url, "event-diff").await;
    let mut stream = srv.sse(&board, "pattern=push-ops&since=0", None).await;
    let started = Instant::now();
    for i in 0..5 {
        let sent = Instant::now();
        srv.ok(&board, json!({"type": "add_todo", "title": format!("t{i}")})).await;
        assert!(sent.elapsed() < Duration::from_millis(500), "a command took {:?}", sent.elapsed());
    }
    for seq in 1..=5 {
        let (id, _) = stream.next_data().await;
        assert_eq!(id, Some(seq));
    }
    assert_eq!(fine.delivered(5, Duration::from_secs(5)).await, vec![1, 2, 3, 4, 5]);
    println!("beside a hanging receiver, another got 5 changes within {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A redirect is an answer like any other that is not `2xx`: retried, never followed (it
/// could point anywhere, inside included).
async fn redirects_are_not_followed(backend: Backend) {
    let (receiver, elsewhere) = (Receiver::start().await, Receiver::start().await);
    let srv = server(backend, &[&receiver, &elsewhere]).await;
    let board = srv.create_board("redirected").await;
    let (id, _) = register(&srv, &board, &receiver.url, "event-diff").await;
    let target: &'static str = Box::leak(elsewhere.url.clone().into_boxed_str());
    receiver.script([Reply::Redirect(target)]);
    add(&srv, &board, 1).await;
    assert_eq!(receiver.delivered(1, Duration::from_secs(10)).await, vec![1]);
    assert!(elsewhere.got().is_empty(), "the redirect was not followed");
    let log = deliveries(&srv, &board, &id).await;
    assert_eq!(log.last().unwrap()["status"], 302);
}

/// A private board's webhooks belong to its write key.
async fn webhooks_need_the_write_key(backend: Backend) {
    let receiver = Receiver::start().await;
    let srv = server(backend, &[&receiver]).await;
    let r = srv.http.post(srv.url("/api/boards")).json(&json!({"name": "Secret"})).send().await.unwrap();
    let created: Value = r.json().await.unwrap();
    let board = created["id"].as_str().unwrap();
    let (read, write) = (created["keys"]["read"].as_str().unwrap(), created["keys"]["write"].as_str().unwrap());
    let url = srv.url(&format!("/api/boards/{board}/webhooks"));
    let body = json!({"url": receiver.url});
    assert_eq!(srv.http.post(&url).json(&body).send().await.unwrap().status(), 404);
    assert_eq!(srv.http.get(&url).send().await.unwrap().status(), 404);
    assert_eq!(srv.http.post(&url).bearer_auth(read).json(&body).send().await.unwrap().status(), 403);
    // A reader may see that there are webhooks, not what they carry.
    let r = srv.http.get(&url).bearer_auth(read).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    assert_eq!(srv.http.post(&url).bearer_auth(write).json(&body).send().await.unwrap().status(), 201);
    let bad = [
        (json!({"url": receiver.url, "pattern": "push-everything"}), 400),
        (json!({"url": receiver.url, "extra": true}), 400),
        (json!({"url": "ftp://example.org/"}), 422),
        (json!({"url": "http://10.0.0.1/hook"}), 422),
        (json!({"url": "http://169.254.169.254/latest/meta-data"}), 422),
        (json!({"url": "http://127.0.0.1:1/not-allowed"}), 422),
        (json!({"url": "not a url"}), 422),
    ];
    for (body, status) in bad {
        let r = srv.http.post(&url).bearer_auth(write).json(&body).send().await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    }
    let listed: Value = srv.http.get(&url).bearer_auth(write).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "refusals registered nothing");
    // A board's webhooks are bounded.
    for _ in 1..server::rest::webhooks::MAX_WEBHOOKS_PER_BOARD {
        let r = srv.http.post(&url).bearer_auth(write).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = srv.http.post(&url).bearer_auth(write).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 422, "one webhook too many");
}

/// A resolver the test controls: a DNS change between registration and delivery.
struct Switchable(Mutex<Vec<IpAddr>>);

#[async_trait::async_trait]
impl server::webhooks::guard::Lookup for Switchable {
    async fn lookup(&self, _host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(self.0.lock().unwrap().clone())
    }
}

/// A name that resolved to a public address at registration and to a private one at
/// delivery is refused at delivery, and no connection is made: the address is checked
/// each time, and the connection goes only where the check said.
async fn a_dns_change_to_a_private_address_is_refused_at_delivery(backend: Backend) {
    let dns = Arc::new(Switchable(Mutex::new(vec!["93.184.215.14".parse().unwrap()])));
    let lookup = dns.clone();
    let srv = TestServer::start_with_state(
        backend,
        |c| c.webhook_backoff_ms = 100,
        move |app| {
            app.webhooks = Arc::new(server::webhooks::Webhooks::new(
                app.store.clone(),
                app.replica.clone(),
                server::webhooks::Settings {
                    timeout: Duration::from_secs(2),
                    backoff: Duration::from_millis(100),
                    allow: Vec::new(),
                },
                lookup,
            ))
        },
    )
    .await;
    let board = srv.create_board("rebinding").await;
    let (id, _) = register(&srv, &board, "http://hooks.example/in", "event-diff").await;
    // Before anything is delivered (so nothing is ever sent to that public address), the
    // name moves inside.
    *dns.0.lock().unwrap() = vec!["10.0.0.7".parse().unwrap()];
    add(&srv, &board, 1).await;
    let started = Instant::now();
    let refused = loop {
        let log = deliveries(&srv, &board, &id).await;
        if let Some(first) = log.last() {
            break first.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no attempt within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(refused["status"].is_null(), "no connection was made: {refused}");
    // The owner is told it was refused, in words that say nothing of where the name points.
    let error = refused["error"].as_str().unwrap();
    assert_eq!(error, server::webhooks::guard::NOT_PUBLIC);
    let listed = webhook(&srv, &board, &id).await;
    assert_eq!((listed["status"].as_str(), listed["delivered_seq"].as_u64()), (Some("failing"), Some(0)));
}

async fn replay_delivers_again_with_the_same_ids(backend: Backend) {
    let receiver = Receiver::start().await;
    let srv = server(backend, &[&receiver]).await;
    let board = srv.create_board("replayed").await;
    let (id, _) = register(&srv, &board, &receiver.url, "poke-pull").await;
    add(&srv, &board, 3).await;
    // poke-pull is self-contained: one poke at the head stands for what it skipped.
    let first = receiver.until_seq(3, Duration::from_secs(10)).await;
    assert_eq!(first.last(), Some(&3));
    assert!(first.windows(2).all(|w| w[0] < w[1]), "in order: {first:?}");
    let ids_before: Vec<String> = receiver.got().iter().map(|g| g.id.clone()).collect();
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/webhooks/{id}/replay")))
        .bearer_auth(srv.owner(&board))
        .json(&json!({"since": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let again = receiver.delivered(first.len() + 1, Duration::from_secs(10)).await;
    assert_eq!(again.last(), Some(&3));
    assert_eq!(receiver.got().last().unwrap().id, *ids_before.last().unwrap(), "the same change, the same id");
    let beyond = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/webhooks/{id}/replay")))
        .bearer_auth(srv.owner(&board))
        .json(&json!({"since": 99}))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 422);
    let gone = srv
        .http
        .delete(srv.url(&format!("/api/boards/{board}/webhooks/{id}")))
        .bearer_auth(srv.owner(&board))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    let again = srv
        .http
        .delete(srv.url(&format!("/api/boards/{board}/webhooks/{id}")))
        .bearer_auth(srv.owner(&board))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

/// Two replicas: while one holds a webhook's lease the other delivers nothing; when the
/// deliverer is SIGKILLed mid-stream, the other takes over within the lease, and the
/// receiver ends with every seq in order, a repeat only under the same `webhook-id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_takes_over_from_a_killed_one() {
    let receiver = Receiver::start().await;
    // A receiver that takes 20 ms an answer, so the stream is still going when the kill comes.
    *receiver.log.delay.lock().unwrap() = Duration::from_millis(20);
    let redis = common::redis_url();
    let database = common::fresh_postgres_database().await;
    let settings = [("WEBHOOK_ALLOW", receiver.allow.as_str()), ("WEBHOOK_BACKOFF_MS", "100")];
    let mut doomed = common::Replica::spawn(&database, &redis, "replica-doomed", &settings).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/api/boards", doomed.base))
        .json(&json!({"name": "takeover", "visibility": "public"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let board = created["id"].as_str().unwrap().to_owned();
    let r = http
        .post(format!("{}/api/boards/{board}/webhooks", doomed.base))
        .bearer_auth(created["keys"]["write"].as_str().unwrap())
        .json(&json!({"url": receiver.url, "pattern": "event-diff"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    const CHANGES: u64 = 300;
    for i in 0..CHANGES {
        let r = http
            .post(format!("{}/api/boards/{board}/commands", doomed.base))
            .json(&json!({"type": "add_todo", "title": format!("t{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let _survivor = TestServer::replica_with(&database, &redis, "replica-survivor", |c| {
        c.webhook_allow = vec![receiver.allow.clone()];
        c.webhook_backoff_ms = 100;
    })
    .await;
    // Both run; the lease is the doomed one's.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = receiver.got();
    assert!(before.len() > 10 && before.len() < CHANGES as usize, "mid-stream: {} delivered", before.len());
    assert!(before.iter().all(|g| g.replica == "replica-doomed"), "one replica delivers at a time");
    doomed.kill();
    let killed = Instant::now();
    let seqs = receiver.until_seq(CHANGES, Duration::from_secs(30)).await;
    let got = receiver.got();
    let first = got.iter().find(|g| g.replica == "replica-survivor").expect("the survivor delivered");
    let takeover = first.at.saturating_duration_since(killed);
    println!(
        "the survivor took over {takeover:?} after the deliverer was killed ({} repeated)",
        seqs.len() as u64 - CHANGES
    );
    assert!(takeover < server::webhooks::LEASE + Duration::from_secs(2), "took over after {takeover:?}");
    // Every seq, in order; a repeat is the one in flight at the kill, under the same id.
    let mut unique: Vec<u64> = seqs.clone();
    unique.dedup();
    assert_eq!(unique, (1..=CHANGES).collect::<Vec<_>>());
    for pair in got.windows(2).filter(|w| w[0].seq == w[1].seq) {
        assert_eq!(pair[0].id, pair[1].id);
    }
    assert!(got.iter().skip_while(|g| g.replica == "replica-doomed").all(|g| g.replica == "replica-survivor"));
}

/// The receiver to copy (`examples/webhook_receiver.rs`) at work: it accepts the server's
/// signed deliveries, applies them and prints the board; it refuses a missing, empty or
/// stale signature with 401, and answers a repeated `webhook-id` without applying it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_receiver_verifies_deduplicates_and_applies() {
    use tokio::io::AsyncBufReadExt;
    // A port free on 127.0.0.2, a loopback address nothing else in the tests binds: one free
    // on 127.0.0.1 could be taken, between this check and the receiver's bind, by another
    // test's listener or by a connection's own port (it happened).
    let port = std::net::TcpListener::bind("127.0.0.2:0").unwrap().local_addr().unwrap().port();
    let allow = format!("127.0.0.2:{port}");
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.webhook_allow = vec![allow.clone()]).await;
    let board = srv.create_board("received").await;
    let (id, secret) = register(&srv, &board, &format!("http://{allow}/hook"), "event-diff").await;
    // `cargo test` builds the examples beside the test binaries.
    let example =
        std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("examples/webhook_receiver");
    let mut child = tokio::process::Command::new(&example)
        .args(["--secret", &secret, "--bind", &allow, "--server", &srv.base])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{} runs: {e}", example.display()));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(first.contains("receiving webhooks"), "{first}");

    srv.ok(&board, json!({"type": "add_todo", "title": "seen over there"})).await;
    srv.ok(&board, json!({"type": "add_todo", "title": "and this one"})).await;
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let shown = |printed: &[String]| {
        printed.iter().any(|l| l.contains("at seq 2"))
            && printed.iter().any(|l| l.contains("seen over there"))
            && printed.iter().any(|l| l.contains("and this one"))
    };
    while !shown(&printed) {
        assert!(Instant::now() < deadline, "the receiver printed {printed:?}");
        if let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(1), lines.next_line()).await {
            printed.push(line);
        }
    }
    recorded(&srv, &board, &id, 2).await;

    // Forged or stale deliveries are refused; a repeat is dropped.
    let hook = format!("http://{allow}/hook");
    let body = json!({"board": board, "frame": {"kind": "poke", "seq": 9, "at": 0}}).to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let key = secret.trim_start_matches("whsec_");
    let signed = |id: &str, at: i64| server::webhooks::sign::signature(&[key], id, at, body.as_bytes());
    let cases = [
        ("no signature", "msg_x_1", now, String::new(), 401),
        ("an empty signature", "msg_x_2", now, "v1,".to_owned(), 401),
        (
            "another secret's",
            "msg_x_3",
            now,
            server::webhooks::sign::signature(
                &[&server::webhooks::sign::new_secret().0],
                "msg_x_3",
                now,
                body.as_bytes(),
            ),
            401,
        ),
        ("a stale timestamp", "msg_x_4", now - 3600, signed("msg_x_4", now - 3600), 401),
        ("a repeat of seq 2", &format!("msg_{board}_{id}_2"), now, signed(&format!("msg_{board}_{id}_2"), now), 200),
    ];
    for (what, message, at, signature, status) in cases {
        let mut request = srv
            .http
            .post(&hook)
            .header("content-type", "application/json")
            .header("webhook-id", message)
            .header("webhook-timestamp", at.to_string());
        if !signature.is_empty() {
            request = request.header("webhook-signature", signature);
        }
        let r = request.body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), status, "{what}");
        if status == 200 {
            assert_eq!(r.text().await.unwrap(), "duplicate", "{what}");
        }
    }
}

/// A public board's todos are anyone's to edit; its webhooks are its owner's: without the
/// write key nobody may add one, remove one, replay, rotate a secret or read the delivery
/// log (`403`, nothing changed), and the listing shows where each points without the
/// query or userinfo its URL carries (a receiver's own token), never a secret or an error.
/// Its keys are the owner's too. (Anyone administered a public board's webhooks: listed
/// them with their tokens, deleted them, filled all 20 slots.)
async fn a_public_boards_webhooks_are_its_owners(backend: Backend) {
    let receiver = Receiver::start().await;
    let srv = server(backend, &[&receiver]).await;
    let board = srv.create_board("public").await;
    let secret_url = format!("{}?token=receivers-own-secret", receiver.url);
    let (id, _) = register(&srv, &board, &secret_url, "event-diff").await;
    let url = |path: &str| srv.url(&format!("/api/boards/{board}/webhooks{path}"));
    let anyone = reqwest::Client::new();
    let refused = [
        anyone.post(url("")).json(&json!({"url": receiver.url})).send().await.unwrap(),
        anyone.delete(url(&format!("/{id}"))).send().await.unwrap(),
        anyone.post(url(&format!("/{id}/replay"))).json(&json!({"since": 0})).send().await.unwrap(),
        anyone.post(url(&format!("/{id}/secret"))).send().await.unwrap(),
        anyone.get(url(&format!("/{id}/deliveries"))).send().await.unwrap(),
        anyone.post(srv.url(&format!("/api/boards/{board}/keys"))).send().await.unwrap(),
        // Someone else's key is no key to this board.
        anyone.post(url("")).bearer_auth(srv.owner("demo")).json(&json!({"url": receiver.url})).send().await.unwrap(),
    ];
    for r in refused {
        let what = r.url().path().to_owned();
        assert_eq!(r.status(), 403, "{what}");
        assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("write key"), "{what}");
    }
    // Still there, still one, still where it was.
    let listed: Value = anyone.get(url("")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["url"], json!(receiver.url), "no query for anyone but the owner");
    assert!(listed[0].get("secret").is_none());
    assert!(listed[0]["last_error"].is_null());
    let owned = webhook(&srv, &board, &id).await;
    assert_eq!(owned["url"], json!(secret_url), "the owner sees the whole URL");
    // The todos stay open to anyone.
    let r = anyone
        .post(srv.url(&format!("/api/boards/{board}/commands")))
        .json(&json!({"type": "add_todo", "title": "anyone may"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The owner rotates the keys of a public board: the old write key administers no more.
    let r =
        anyone.post(srv.url(&format!("/api/boards/{board}/keys"))).bearer_auth(srv.owner(&board)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = anyone.get(url(&format!("/{id}/deliveries"))).bearer_auth(srv.owner(&board)).send().await.unwrap();
    assert_eq!(r.status(), 403, "the old write key");
}

/// Receivers that accept and never answer: each holds requests open, per path (a board of
/// its own per path here), counting the most held at once.
struct BlackHole {
    allow: String,
    port: u16,
    /// Requests held now, and the most ever held at once, per path.
    held: Arc<Mutex<std::collections::HashMap<String, (usize, usize)>>>,
}

impl BlackHole {
    async fn start() -> BlackHole {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held: Arc<Mutex<std::collections::HashMap<String, (usize, usize)>>> = Arc::default();
        let counts = held.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counts = counts.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let path = String::from_utf8_lossy(&head).split_whitespace().nth(1).unwrap_or("").to_owned();
                    {
                        let mut counts = counts.lock().unwrap();
                        let (now, most) = counts.entry(path.clone()).or_default();
                        *now += 1;
                        *most = (*most).max(*now);
                    }
                    // Never answer; notice when the server gives up.
                    while !matches!(socket.read(&mut buffer).await, Ok(0) | Err(_)) {}
                    counts.lock().unwrap().get_mut(&path).unwrap().0 -= 1;
                });
            }
        });
        BlackHole { allow: format!("127.0.0.1:{port}"), port, held }
    }

    fn held_now(&self) -> usize {
        self.held.lock().unwrap().values().map(|(now, _)| now).sum()
    }
}

/// 100 webhooks on 5 boards whose receiver never answers hold at most 4 attempts per board
/// (20 in all), and another board's webhook is delivered while they all still hang: a
/// stuck receiver holds its own board's slots, not everyone's. (Delivery leased 64 at a
/// time and kept picking its own stuck ones: 300 of them delayed another board's delivery
/// by 41.6 s; the abuse benchmark measures it.)
async fn stuck_receivers_hold_their_own_boards_slots_only(backend: Backend) {
    let (hole, fine) = (BlackHole::start().await, Receiver::start().await);
    let allow = vec![hole.allow.clone(), fine.allow.clone()];
    let srv = TestServer::start_with(backend, move |c| {
        c.webhook_allow = allow;
        c.webhook_timeout = 60;
    })
    .await;
    let mut stuck = Vec::new();
    for b in 0..5 {
        let board = srv.create_board(&format!("stuck {b}")).await;
        for _ in 0..20 {
            register(&srv, &board, &format!("http://127.0.0.1:{}/hook/{b}", hole.port), "push-events").await;
        }
        stuck.push(board);
    }
    for board in &stuck {
        add(&srv, board, 1).await;
    }
    // Every stuck board fills its slots.
    let started = Instant::now();
    while hole.held_now() < 20 {
        assert!(started.elapsed() < Duration::from_secs(20), "only {} attempts hang", hole.held_now());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let board = srv.create_board("fine").await;
    register(&srv, &board, &fine.url, "push-events").await;
    add(&srv, &board, 1).await;
    assert_eq!(fine.delivered(1, Duration::from_secs(30)).await, vec![1]);
    // Delivered while every stuck attempt still hangs (none has reached its 60 s timeout).
    assert_eq!(hole.held_now(), 20, "the stuck attempts were still open");
    let most: Vec<usize> = hole.held.lock().unwrap().values().map(|(_, most)| *most).collect();
    assert_eq!(most, vec![server::webhooks::PER_BOARD_AT_ONCE as usize; 5], "attempts at once per stuck board");
    println!(
        "beside 100 webhooks hanging on 5 boards, another board's webhook delivered {:?} after they filled their slots",
        started.elapsed()
    );
    srv.stop().await;
}

on_both_backends!(
    every_change_arrives_once_in_order_and_signed,
    a_failing_receiver_is_retried_until_nothing_is_missing,
    retry_after_is_honoured_and_410_disables,
    a_hanging_receiver_delays_no_one_else,
    webhooks_need_the_write_key,
    redirects_are_not_followed,
    a_dns_change_to_a_private_address_is_refused_at_delivery,
    replay_delivers_again_with_the_same_ids,
    a_public_boards_webhooks_are_its_owners,
    stuck_receivers_hold_their_own_boards_slots_only,
);
