//! Configuration: every setting is an environment variable with a command-line twin
//! (`--database-url` / `DATABASE_URL`, ...), as the contract lists them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Clone, Debug, Parser)]
#[command(name = "server", about = "The realtime todo and sprint board")]
pub struct Config {
    /// `sqlite://PATH` or `postgres://...`. Default: a SQLite file under `data/`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/board.db")]
    pub database_url: String,

    /// The bus between replicas: `redis://host:port` (Redis pub/sub), `nats://host:port`
    /// (NATS core subjects) or `postgres://…` (Postgres LISTEN/NOTIFY, the database's own). Unset, and `REDIS_URL` unset too: the
    /// in-process broker (one replica).
    #[arg(long, env = "BROKER_URL")]
    pub broker_url: Option<String>,

    /// The older name of a Redis `BROKER_URL`, still honoured (`BROKER_URL` wins).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// This replica's name in `X-Replica`, `hello` frames and the page. Default: host:port.
    #[arg(long, env = "REPLICA_ID")]
    pub replica_id: Option<String>,

    /// How many changes each board's log keeps. Older ones are pruned in the writing
    /// transaction; a client behind the retained log gets `reset` (or `410` on `/changes`).
    #[arg(long, env = "LOG_RETAIN", default_value_t = 10_000)]
    pub log_retain: u64,

    /// Where the built browser bundle (`pkg/`) and the stylesheet live: `scripts/build-site`
    /// makes it a link to its latest build, which the server resolves once, at startup, and
    /// whose `assets.json` names the fingerprinted files (`assets`).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Seconds between `heartbeat` frames (and SSE keep-alive comments) on idle streams.
    #[arg(long, env = "HEARTBEAT_SECS", default_value_t = 15)]
    pub heartbeat_secs: u64,

    /// The origin browsers reach this server at (`https://board.example.com`). Requests
    /// from other origins cannot post or open WebSockets; other `Host`s are refused.
    /// Default: the loopback names of the listening port (`http://127.0.0.1:3000`,
    /// `http://localhost:3000`).
    #[arg(long, env = "PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,

    /// More origins allowed to post and open WebSockets, comma-separated.
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Peers whose last `X-Forwarded-For` hop is the client's address (a load balancer),
    /// comma-separated addresses or networks (`10.0.0.2`, `172.16.0.0/12`). Default: none;
    /// the client is the socket peer.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Where `/metrics` is served (it answers 404 on the public listener). Port 0 picks a
    /// free one; `off` serves none.
    #[arg(long, env = "METRICS_BIND", default_value = "127.0.0.1:9100")]
    pub metrics_bind: String,

    /// Concurrent SSE, WebSocket and held long-poll streams per client IP.
    #[arg(long, env = "MAX_STREAMS_PER_IP", default_value_t = 200)]
    pub max_streams_per_ip: u32,

    /// Pages (the board page, the compare page, the home page) rendered at once for one
    /// client IP; a few more wait their turn, and beyond them `429` with `Retry-After`. A
    /// page of a big board costs the server milliseconds of CPU and megabytes of memory.
    #[arg(long, env = "PAGE_RENDERS_PER_IP", default_value_t = 2)]
    pub page_renders_per_ip: u32,

    /// Pages this replica renders at once, for everyone; beyond it a page waits (up to 5 s,
    /// then `503`). Default: half the CPU cores, at least one, so that rendering never takes
    /// every core from commands and streams.
    #[arg(long, env = "PAGE_RENDERS")]
    pub page_renders: Option<usize>,

    /// Tabs one client IP may have on a replica's presence lists at once (all boards);
    /// beyond it a stream or poll that names a new tab answers `429`.
    #[arg(long, env = "MAX_TABS_PER_IP", default_value_t = 100)]
    pub max_tabs_per_ip: usize,

    /// Commands per minute per client IP, HTTP and WebSocket together (a token bucket whose
    /// burst is a tenth of this, and at least 100 or the whole rate).
    #[arg(long, env = "COMMANDS_PER_MINUTE", default_value_t = 6000)]
    pub commands_per_minute: u32,

    /// History reads (`/history`, `/todos/{id}/history`) per minute per client IP (the
    /// same kind of bucket): each replays up to `SNAPSHOT_EVERY` events.
    #[arg(long, env = "HISTORY_PER_MINUTE", default_value_t = 600)]
    pub history_per_minute: u32,

    /// Boards created per minute per client IP (the same kind of bucket).
    #[arg(long, env = "BOARDS_PER_MINUTE", default_value_t = 120)]
    pub boards_per_minute: u32,

    /// A PEM certificate chain: with `TLS_KEY`, the server speaks TLS itself, offering
    /// HTTP/2 and HTTP/1.1 (ALPN), so a browser's streams to it share one connection.
    /// Unset: plain HTTP (a proxy in front may terminate TLS instead).
    #[arg(long, env = "TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of `TLS_CERT`.
    #[arg(long, env = "TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Open connections on this replica; beyond it new ones are answered `503`.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,

    /// Seconds a client has to send its request headers (and each body read) before it is
    /// disconnected.
    #[arg(long, env = "HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout: u64,

    /// Todos one board may hold; commands that would add more answer `422`.
    #[arg(long, env = "MAX_TODOS_PER_BOARD", default_value_t = 5000)]
    pub max_todos_per_board: usize,

    /// Sprints one board may hold.
    #[arg(long, env = "MAX_SPRINTS_PER_BOARD", default_value_t = 200)]
    pub max_sprints_per_board: usize,

    /// A board's storage quota: the kibibytes of text (titles and names) it may hold
    /// (commands past it answer `422`), and of history its change log keeps
    /// (`LOG_RETAIN_KIB`: older changes are pruned, as past `LOG_RETAIN`).
    #[arg(long, env = "MAX_BOARD_TEXT_KIB", default_value_t = 4096)]
    pub max_board_text_kib: usize,

    /// The kibibytes of change log a board keeps at most (besides `LOG_RETAIN` changes):
    /// a client behind what is kept gets `reset`, as for a change pruned by count.
    #[arg(long, env = "LOG_RETAIN_KIB", default_value_t = 32 * 1024)]
    pub log_retain_kib: u64,

    /// A snapshot of each board every this many seqs, kept as long as the log reaches past
    /// it: the board at any retained seq is the snapshot below it plus fewer than this many
    /// events (docs/history.md). Smaller: cheaper history reads, more stored boards.
    #[arg(long, env = "SNAPSHOT_EVERY", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_every: u64,

    /// Seconds a stored Idempotency-Key answer is kept.
    #[arg(long, env = "IDEMPOTENCY_TTL", default_value_t = 24 * 60 * 60)]
    pub idempotency_ttl: u64,

    /// Seconds a change queued in a browser (offline) may wait and still be sent by
    /// itself; an older one waits for the person to send or discard it
    /// (docs/local-first.md). Never more than IDEMPOTENCY_TTL is used: past it the
    /// server may have forgotten the command's key.
    #[arg(long, env = "OUTBOX_MAX_AGE", default_value_t = 24 * 60 * 60, value_parser = clap::value_parser!(u64).range(60..))]
    pub outbox_max_age: u64,

    /// Where spans go: an OTLP/HTTP collector's base URL (`/v1/traces` is appended;
    /// `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` sends JSON instead of protobuf). Unset: no
    /// exporter (docs/observability.md).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_exporter_otlp_endpoint: Option<String>,

    /// How spans are encoded for the collector: `http/protobuf` (the default) or `http/json`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", default_value = "http/protobuf", value_parser = ["http/protobuf", "http/json"])]
    pub otel_exporter_otlp_protocol: String,

    /// The fraction (0 to 1) of commands that come without a `traceparent` whose changes
    /// are traced. Default: 0.01 with an exporter, 0 without. A command that brings one
    /// follows its sampled flag.
    #[arg(long, env = "TRACE_SAMPLE", value_parser = parse_fraction)]
    pub trace_sample: Option<f64>,

    /// Boards whose every change is traced (comma-separated ids), whatever TRACE_SAMPLE says.
    #[arg(long, env = "TRACE_BOARDS", value_delimiter = ',')]
    pub trace_boards: Vec<String>,

    /// A tracer made in code rather than from the settings above (the tests' in-memory
    /// exporter); `None` in a served process.
    #[arg(skip)]
    pub tracer: Option<crate::telemetry::MakeTracer>,

    /// STUN and TURN servers for the page's WebRTC cursors: the `iceServers` of an
    /// `RTCConfiguration`, as JSON (`[{"urls":"stun:stun.example.org:3478"}]`). Browsers on
    /// one machine or network need none; across NATs they need STUN, and TURN where
    /// peer-to-peer fails (else their cursors go through the server's relay).
    #[arg(long, env = "ICE_SERVERS", default_value = "[]", value_parser = parse_ice_servers)]
    pub ice_servers: String,

    /// TURN servers (`turn:host:3478`, comma-separated) that share `TURN_SECRET` with this
    /// server: each page gets a credential of its own that expires after `TURN_TTL`
    /// (the TURN REST API convention, `turn`), never a standing password.
    #[arg(long, env = "TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// The secret this server and the TURN servers share (coturn's `static-auth-secret`).
    #[arg(long, env = "TURN_SECRET")]
    pub turn_secret: Option<String>,

    /// Seconds a TURN credential works.
    #[arg(long, env = "TURN_TTL", default_value_t = 3600)]
    pub turn_ttl: u64,

    /// Seconds a webhook receiver has to answer one delivery.
    #[arg(long, env = "WEBHOOK_TIMEOUT", default_value_t = 10)]
    pub webhook_timeout: u64,

    /// The first retry's delay in milliseconds; each failure in a row doubles it (jittered,
    /// capped at 5 minutes).
    #[arg(long, env = "WEBHOOK_BACKOFF_MS", default_value_t = 1000)]
    pub webhook_backoff_ms: u64,

    /// `host:port`s that webhooks may reach although they resolve to loopback, private or
    /// link-local addresses (a receiver on this machine or network), comma-separated.
    #[arg(long, env = "WEBHOOK_ALLOW", value_delimiter = ',')]
    pub webhook_allow: Vec<String>,

    /// The seeded `demo` board's write key, which administers it (its webhooks, its keys, the
    /// fault lab's faults on it): 20 to 200 URL-safe characters. Unset: a key is made when
    /// the board is first seeded and printed once in the log.
    #[arg(long, env = "DEMO_WRITE_KEY", value_parser = parse_key)]
    pub demo_write_key: Option<String>,

    /// The fault lab (`POST /api/lab`): this replica may be told to drop or delay its
    /// change notices and to pause its database, for the cluster demo. `FAULTS=1` (or
    /// `--faults`); off by default, and then `POST /api/lab` answers `403`.
    #[arg(long, env = "FAULTS", value_parser = clap::builder::BoolishValueParser::new())]
    pub faults: bool,

    /// With `FAULTS=1`: the token that replica-wide faults (pausing the database, which
    /// stops every board here) take in the `X-Lab-Token` header, at least 16 characters.
    /// Unset: nobody may pause the database.
    #[arg(long, env = "LAB_TOKEN", value_parser = parse_token)]
    pub lab_token: Option<String>,

    /// The operator's console (`/api/admin/...`): the token it takes as a bearer, at least
    /// 16 characters. Unset: the console does not exist (`404`).
    #[arg(long, env = "ADMIN_TOKEN", value_parser = parse_token)]
    pub admin_token: Option<String>,

    /// A file that holds `ADMIN_TOKEN`, read at start.
    #[arg(long, env = "ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// A file that holds `LAB_TOKEN` (a Docker secret, say), read at start.
    #[arg(long, env = "LAB_TOKEN_FILE")]
    pub lab_token_file: Option<PathBuf>,

    /// A file that holds `DEMO_WRITE_KEY`, read at start.
    #[arg(long, env = "DEMO_WRITE_KEY_FILE")]
    pub demo_write_key_file: Option<PathBuf>,
}

/// `ICE_SERVERS` must be a JSON array (of `RTCIceServer` objects) without credentials: it
/// goes to every page as it is, so a TURN password in it would be everyone's for ever
/// (`TURN_URLS` and `TURN_SECRET` make short-lived ones). Kept as given.
fn parse_ice_servers(value: &str) -> Result<String, String> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Array(servers)) => {
            if servers.iter().any(|s| s.get("credential").is_some() || s.get("username").is_some()) {
                return Err("ICE_SERVERS must carry no credentials (every page gets them): set TURN_URLS and TURN_SECRET for short-lived TURN credentials".into());
            }
            Ok(value.to_owned())
        }
        _ => Err("ICE_SERVERS must be a JSON array such as [{\"urls\":\"stun:stun.example.org:3478\"}]".into()),
    }
}

/// A board key given in the configuration: long enough to be unguessable, and only the
/// characters a share link's `?key=` carries.
fn parse_key(value: &str) -> Result<String, String> {
    let url_safe = value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(20..=200).contains(&value.len()) || !url_safe {
        return Err("a key is 20 to 200 URL-safe characters (A-Z, a-z, 0-9, - and _)".into());
    }
    Ok(value.to_owned())
}

/// `LAB_TOKEN`: long enough not to be guessed.
fn parse_token(value: &str) -> Result<String, String> {
    if value.len() < 16 || value.len() > 200 || value.chars().any(char::is_control) {
        return Err("LAB_TOKEN is 16 to 200 characters".into());
    }
    Ok(value.to_owned())
}

/// A secret from its file: trimmed of the line break an editor or `echo` leaves.
fn read_secret(path: &std::path::Path, parse: fn(&str) -> Result<String, String>) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(text.trim()).map_err(|e| format!("{}: {e}", path.display()))
}

/// `10.0.0.2` (one address) or `10.0.0.0/8` (a network).
fn parse_network(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{value}` is not an IP address or network"))
}

impl Config {
    /// The bus between replicas: `BROKER_URL`, or else `REDIS_URL`; `None`: one replica.
    pub fn bus_url(&self) -> Option<&str> {
        self.broker_url.as_deref().or(self.redis_url.as_deref()).filter(|url| !url.trim().is_empty())
    }

    /// `ADMIN_TOKEN`, or what `ADMIN_TOKEN_FILE` holds.
    pub fn admin_token(&self) -> Result<Option<String>, String> {
        match (&self.admin_token, &self.admin_token_file) {
            (Some(token), _) => Ok(Some(token.clone())),
            (None, Some(path)) => read_secret(path, parse_token).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// `LAB_TOKEN`, or what `LAB_TOKEN_FILE` holds.
    pub fn lab_token(&self) -> Result<Option<String>, String> {
        match (&self.lab_token, &self.lab_token_file) {
            (Some(token), _) => Ok(Some(token.clone())),
            (None, Some(path)) => read_secret(path, parse_token).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// `DEMO_WRITE_KEY`, or what `DEMO_WRITE_KEY_FILE` holds.
    pub fn demo_write_key(&self) -> Result<Option<String>, String> {
        match (&self.demo_write_key, &self.demo_write_key_file) {
            (Some(key), _) => Ok(Some(key.clone())),
            (None, Some(path)) => read_secret(path, parse_key).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// `PAGE_RENDERS`, or half the cores (at least one).
    pub fn page_renders(&self) -> usize {
        self.page_renders.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() / 2)).max(1)
    }

    /// What the tracing settings say.
    pub fn tracing(&self) -> crate::telemetry::Settings {
        crate::telemetry::Settings {
            sample: self.trace_sample,
            boards: self.trace_boards.iter().map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()).collect(),
            otlp_endpoint: self.otel_exporter_otlp_endpoint.clone().filter(|url| !url.trim().is_empty()),
            otlp_json: self.otel_exporter_otlp_protocol == "http/json",
        }
    }

    /// The replica id: the configured one, or one derived from host and port.
    pub fn replica(&self, local: SocketAddr) -> String {
        self.replica_id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "local".into());
            format!("{host}:{}", local.port())
        })
    }

    /// Defaults for tests and embedding: everything as the binary's defaults, with the
    /// given database.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Config::parse_from(["server"]);
        config.database_url = database_url.into();
        // Many servers share a test process: each gets its own metrics port.
        config.metrics_bind = "127.0.0.1:0".into();
        config
    }
}

/// A fraction from 0 to 1 (`TRACE_SAMPLE`).
fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("`{text}` is not a fraction from 0 to 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--faults` turns the lab on (`FAULTS=1` does too: `tests/lab.rs` starts a replica so).
    #[test]
    fn the_fault_lab_is_a_flag() {
        assert!(Config::try_parse_from(["server", "--faults"]).unwrap().faults);
    }
}
