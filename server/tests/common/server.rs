//! A real server on port 0 per test, on SQLite (a temp file) or Postgres (a fresh database
//! on the local server), with its broker wrapped in [`Lossy`](super::lossy::Lossy); and the
//! machine's Postgres and Redis, which the tests that need them fail loudly without.

use std::time::Duration;

use serde_json::Value;
use server::config::Config;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The seeded demo board's write key in every test server (`DEMO_WRITE_KEY`).
pub const DEMO_KEY: &str = "w_the-demo-board-key-of-the-tests";

pub struct TestServer {
    pub base: String,
    /// The server's state, for tests that reach inside (metrics, the store).
    pub app: server::state::AppState,
    /// The server's broker, which loses the next notices when told to.
    pub lossy: std::sync::Arc<super::lossy::Lossy>,
    pub http: reqwest::Client,
    /// The write key of each board `create_board` made (and the demo's): what administers it.
    keys: std::sync::Mutex<std::collections::HashMap<String, String>>,
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
        Self::start_with_state(backend, tweak, |_| {}).await
    }

    /// Like `start_with`, and `tweak_state` may replace a component of the built state
    /// before the server starts (a resolver that plays a DNS change, say).
    pub async fn start_with_state(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        tweak_state: impl FnOnce(&mut server::state::Shared),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}/board.db", dir.path().display()),
            Backend::Postgres => fresh_postgres_database().await,
        };
        let mut config = Config::for_database(url);
        config.replica_id = Some("test-replica".into());
        config.site_root = dir.path().join("site");
        config.demo_write_key = Some(DEMO_KEY.into());
        tweak(&mut config);
        Self::serve(config, dir, tweak_state).await
    }

    /// Two or more of these with the same database and bus (`BROKER_URL`) are replicas of one
    /// cluster.
    pub async fn replica(database_url: &str, bus_url: &str, name: &str) -> TestServer {
        Self::replica_with(database_url, bus_url, name, |_| {}).await
    }

    /// A replica with settings of its own.
    pub async fn replica_with(
        database_url: &str,
        bus_url: &str,
        name: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_database(database_url);
        config.broker_url = Some(bus_url.to_owned());
        config.replica_id = Some(name.to_owned());
        config.site_root = dir.path().join("site");
        config.demo_write_key = Some(DEMO_KEY.into());
        tweak(&mut config);
        Self::serve(config, dir, |_| {}).await
    }

    async fn serve(
        config: Config,
        dir: tempfile::TempDir,
        tweak_state: impl FnOnce(&mut server::state::Shared),
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        // A server speaking TLS (`TLS_CERT`) is reached by a name its certificate holds,
        // by a client that trusts that certificate.
        let base = match &config.tls_cert {
            Some(_) => format!("https://localhost:{}", local.port()),
            None => format!("http://{local}"),
        };
        let trusted = config
            .tls_cert
            .as_ref()
            .map(|path| reqwest::Certificate::from_pem(&std::fs::read(path).expect("the test certificate")).unwrap());
        let (close, closing) = tokio::sync::watch::channel(false);
        let mut app = server::build_state(&config, local, closing).await.expect("the server starts");
        let lossy = std::sync::Arc::new(super::lossy::Lossy::new(app.broker.clone()));
        app.configure().broker = lossy.clone();
        tweak_state(app.configure());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, app.clone(), close, async move {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(async move {
            task.await.unwrap().expect("server runs");
        });
        // Idle connections are dropped before the server's header timeout (10 s) closes them
        // (hyper times the wait for the next request too), so none is closed under a request.
        let mut http =
            reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_idle_timeout(Duration::from_secs(5));
        if let Some(trusted) = trusted {
            http = http.add_root_certificate(trusted);
        }
        let http = http.build().unwrap();
        // Ready once /healthz answers (migrations and seeding happen before serving).
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    let keys = std::collections::HashMap::from([("demo".to_owned(), DEMO_KEY.to_owned())]);
                    return TestServer {
                        base,
                        http,
                        keys: std::sync::Mutex::new(keys),
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
    /// Its write key is kept: [`TestServer::owner`].
    pub async fn create_board(&self, name: &str) -> String {
        let body = serde_json::json!({ "name": name, "visibility": "public" });
        let r = self.http.post(self.url("/api/boards")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let created = r.json::<Value>().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        let key = created["keys"]["write"].as_str().unwrap().to_owned();
        self.keys.lock().unwrap().insert(id.clone(), key);
        id
    }

    /// The write key of a board this server's `create_board` made (or the demo's): what
    /// administering it (webhooks, keys, the fault lab) takes.
    pub fn owner(&self, board: &str) -> String {
        self.keys.lock().unwrap().get(board).cloned().unwrap_or_else(|| panic!("no key kept for {board}"))
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
    pub async fn frames(&self, path: &str) -> board_core::api::FramesPage {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn state(&self, board: &str) -> board_core::domain::BoardState {
        let r = self.http.get(self.url(&format!("/api/boards/{board}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
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
