//! The tests' harness, one job per file:
//!
//! * [`server`]: a real server on port 0 per test (SQLite or Postgres), and the machine's
//!   Postgres and Redis;
//! * [`sse`]: reading an SSE stream frame by frame;
//! * [`subscriber`]: a connection of any transport, as batches of frames;
//! * [`client`]: the one test client, which applies frames as the browser does;
//! * [`lossy`]: the broker wrapper that loses notices on purpose;
//! * [`child`]: a replica as its own process, to SIGKILL;
//! * [`bus_server`]: a Redis or NATS server of the test's own, to kill and restart.
#![allow(dead_code)] // each test file uses a different part of this harness

pub mod bus_server;
pub mod child;
pub mod client;
pub mod lossy;
pub mod server;
pub mod sse;
pub mod subscriber;

// Each test file uses some of these.
#[allow(unused_imports)]
pub use child::Replica;
#[allow(unused_imports)]
pub use client::TestClient;
#[allow(unused_imports)]
pub use server::{fresh_postgres_database, postgres_admin_url, redis_url, rss_kib, Backend, TestServer, DEMO_KEY};
#[allow(unused_imports)]
pub use sse::SseReader;
#[allow(unused_imports)]
pub use subscriber::{Subscriber, WsStream};

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
