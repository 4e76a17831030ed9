//! A real server on port 0 per test, on SQLite (a temp file) or Postgres (a fresh database
//! on the local server), plus a small SSE reader.
#![allow(dead_code)] // each test file uses a different part of this harness

pub mod lossy;

use std::time::Duration;

use app::patterns::Frame;
use futures::StreamExt;
use serde_json::Value;
use server::config::Config;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    /// The server's state, for tests that reach inside (metrics, the store).
    pub app: server::state::AppState,
    /// The server's broker, which loses the next notices when told to.
    pub lossy: std::sync::Arc<lossy::Lossy>,
    pub http: reqwest::Client,
    stop_signal: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// The Postgres server the tests use; each test gets its own database on it.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// This process's resident memory in KiB (the in-process server's, with the test's own).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The machine's Redis (`TEST_REDIS_URL`); tests that need it fail loudly without it.
pub fn redis_url() -> String {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("Redis must be running for these tests ({url}): {e}"));
    let _: String = redis::cmd("PING").query(&mut conn).unwrap();
    url
}

pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("Postgres must be running for these tests ({admin}): {e}"));
    let name = format!("board_test_{}_{}", std::process::id(), rand_suffix());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin);
    format!("{base}/{name}")
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    nanos * 1000 + N.fetch_add(1, Ordering::Relaxed)
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}/board.db", dir.path().display()),
            Backend::Postgres => fresh_postgres_database().await,
        };
        let mut config = Config::for_database(url);
        config.replica_id = Some("test-replica".into());
        config.site_root = dir.path().join("site");
        tweak(&mut config);
        Self::serve(config, dir).await
    }

    /// Two or more of these with the same database and REDIS_URL are replicas of one cluster.
    pub async fn replica(database_url: &str, redis_url: &str, name: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_database(database_url);
        config.redis_url = Some(redis_url.to_owned());
        config.replica_id = Some(name.to_owned());
        config.site_root = dir.path().join("site");
        Self::serve(config, dir).await
    }

    async fn serve(config: Config, dir: tempfile::TempDir) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let base = format!("http://{local}");
        let (close, closing) = tokio::sync::watch::channel(false);
        let mut app = server::build_state(&config, local, closing).await.expect("the server starts");
        let lossy = std::sync::Arc::new(lossy::Lossy::new(app.broker.clone()));
        app.broker = lossy.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, app.clone(), close, async move {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(async move {
            task.await.unwrap().expect("server runs");
        });
        // Idle connections are dropped before the server's header timeout (10 s) closes them
        // (hyper times the wait for the next request too), so none is closed under a request.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        // Ready once /healthz answers (migrations and seeding happen before serving).
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    return TestServer {
                        base,
                        http,
                        app,
                        lossy,
                        stop_signal: std::sync::Mutex::new(Some(stop)),
                        task: Some(task),
                        _dir: dir,
                    };
                }
            }
            if task.is_finished() {
                task.await.unwrap();
                unreachable!("launch returned early");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become healthy");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A public board: these tests are about delivery, not access (that is `access.rs`).
    pub async fn create_board(&self, name: &str) -> String {
        let body = serde_json::json!({ "name": name, "visibility": "public" });
        let r = self.http.post(self.url("/api/boards")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// Sends a command and returns (status, body).
    pub async fn command(&self, board: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(self.url(&format!("/api/boards/{board}/commands"))).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A command that must succeed; returns its seq.
    pub async fn ok(&self, board: &str, body: Value) -> u64 {
        let (status, answer) = self.command(board, body.clone()).await;
        assert_eq!(status, 200, "{body} answered {answer}");
        answer["seq"].as_u64().unwrap()
    }

    /// `GET path` that must answer `200` with a frames page (`/changes`, poll, long-poll).
    pub async fn frames(&self, path: &str) -> app::api::FramesPage {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn state(&self, board: &str) -> app::domain::BoardState {
        let r = self.http.get(self.url(&format!("/api/boards/{board}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn sse(&self, board: &str, query: &str, last_event_id: Option<u64>) -> SseReader {
        let mut req = self.http.get(self.url(&format!("/api/boards/{board}/sse?{query}")));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        SseReader { body: Box::pin(r.bytes_stream()), buf: String::new() }
    }

    /// Sends the shutdown signal (what SIGTERM does) without waiting for the drain.
    pub fn signal_shutdown(&self) {
        if let Some(stop) = self.stop_signal.lock().unwrap().take() {
            let _ = stop.send(());
        }
    }

    pub async fn stop(mut self) {
        self.signal_shutdown();
        if let Some(task) = self.task.take() {
            // Open streams would hold a graceful shutdown; the test is done with them.
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

type ByteStream = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Reads `text/event-stream` events: (id, frame). Comments (keep-alives) are skipped.
pub struct SseReader {
    body: ByteStream,
    buf: String,
}

impl SseReader {
    /// `true` once the server ends the stream (within 10 s), skipping frames before that.
    pub async fn ended(&mut self) -> bool {
        let end = async {
            while let Some(chunk) = self.body.next().await {
                if chunk.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), end).await.is_ok()
    }

    pub async fn next(&mut self) -> (Option<u64>, Frame) {
        tokio::time::timeout(Duration::from_secs(10), self.next_inner()).await.expect("an SSE event within 10 s")
    }

    /// The next data frame, skipping hello and heartbeat.
    pub async fn next_data(&mut self) -> (Option<u64>, Frame) {
        loop {
            let (id, frame) = self.next().await;
            if !matches!(frame, Frame::Hello { .. } | Frame::Heartbeat { .. }) {
                return (id, frame);
            }
        }
    }

    async fn next_inner(&mut self) -> (Option<u64>, Frame) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue; // a comment
                }
                return (id, serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad frame {data}: {e}")));
            }
            let chunk = self.body.next().await.expect("stream open").expect("stream chunk");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// Runs the same scenario on SQLite and on Postgres, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// A client of one transport, as a test sees it: batches of frames from `since` on.
pub struct Subscriber {
    pub transport: app::sync::Transport,
    pub pattern: app::patterns::PatternKind,
    board: String,
    base: String,
    http: reqwest::Client,
    sse: Option<SseReader>,
    ws: Option<WsStream>,
}

pub type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestServer {
    /// Connects a subscriber that holds seq `since`.
    pub async fn subscribe(
        &self,
        board: &str,
        transport: app::sync::Transport,
        pattern: app::patterns::PatternKind,
        since: u64,
    ) -> Subscriber {
        use app::sync::Transport;
        let mut sub = Subscriber {
            transport,
            pattern,
            board: board.to_owned(),
            base: self.base.clone(),
            http: self.http.clone(),
            sse: None,
            ws: None,
        };
        let query = format!("pattern={pattern}&since={since}");
        match transport {
            Transport::Sse => sub.sse = Some(self.sse(board, &query, None).await),
            Transport::Ws => {
                let url = format!("{}/api/boards/{board}/ws?{query}", self.base.replace("http://", "ws://"));
                let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
                sub.ws = Some(ws);
            }
            Transport::Poll | Transport::LongPoll => {}
        }
        sub
    }
}

impl Subscriber {
    /// The next frames for a client at `applied` (control frames included), waiting up to
    /// 10 s for at least one.
    pub async fn next_batch(&mut self, applied: u64) -> Vec<Frame> {
        let frames = self.batch_within(applied, Duration::from_secs(10)).await;
        assert!(!frames.is_empty(), "{} sent nothing within 10 s", self.transport);
        frames
    }

    /// Like `next_batch`, but an empty batch when nothing came within `wait`.
    pub async fn batch_within(&mut self, applied: u64, wait: Duration) -> Vec<Frame> {
        use app::sync::Transport;
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            let frames = match self.transport {
                Transport::Sse => match tokio::time::timeout(left, self.sse.as_mut().unwrap().next_inner()).await {
                    Ok((_, frame)) => vec![frame],
                    Err(_) => return Vec::new(),
                },
                Transport::Ws => {
                    let ws = self.ws.as_mut().unwrap();
                    let Ok(message) = tokio::time::timeout(left, ws.next()).await else { return Vec::new() };
                    match message.expect("socket open").expect("socket message") {
                        tokio_tungstenite::tungstenite::Message::Text(text) => {
                            vec![serde_json::from_str(&text).unwrap()]
                        }
                        _ => Vec::new(),
                    }
                }
                Transport::Poll | Transport::LongPoll => {
                    let path = if self.transport == Transport::Poll { "poll" } else { "long-poll" };
                    let hold = left.as_secs().clamp(0, 5);
                    let url = format!(
                        "{}/api/boards/{}/{path}?pattern={}&since={applied}&timeout={hold}",
                        self.base, self.board, self.pattern
                    );
                    let r = self.http.get(url).send().await.unwrap();
                    match r.status().as_u16() {
                        304 => {
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            Vec::new()
                        }
                        200 => r.json::<app::api::FramesPage>().await.unwrap().frames,
                        other => panic!("{path} answered {other}"),
                    }
                }
            };
            if !frames.is_empty() {
                return frames;
            }
        }
        Vec::new()
    }

    pub async fn close(self) {
        if let Some(mut ws) = self.ws {
            let _ = ws.close(None).await;
        }
    }
}

impl Subscriber {
    /// The raw socket of a WebSocket subscriber, for tests that speak the protocol.
    pub fn into_ws(self) -> WsStream {
        self.ws.expect("a websocket subscriber")
    }
}
