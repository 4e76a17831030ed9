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

    /// Unset: the in-process broker (one replica). Set: Redis pub/sub between replicas.
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

    /// Where the built browser bundle (`pkg/`) and static files live.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Seconds between `heartbeat` frames (and SSE keep-alive comments) on idle streams.
    #[arg(long, env = "HEARTBEAT_SECS", default_value_t = 15)]
    pub heartbeat_secs: u64,
}

impl Config {
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
        config
    }
}
