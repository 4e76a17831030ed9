//! What a server leaves running when it stops: nothing. Its background work (presence
//! ticks, upkeep, webhook delivery, the metrics' upkeep and listener; with a bus between
//! replicas, its listening connection, the pruning of idle channels and the head sweep),
//! its connections and its streams have all ended when `launch` returns, and its database
//! is closed. With the in-process broker, Redis and Postgres NOTIFY.
//!
//! The clients here are a raw TCP request and a tungstenite socket, which start no tasks
//! of their own, so the runtime's count of live tasks is the server's alone.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

fn live_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

#[tokio::test]
async fn after_shutdown_nothing_of_the_server_still_runs() {
    launch_use_and_stop(|_| {}).await;
}

#[tokio::test]
async fn after_shutdown_nothing_of_a_redis_replica_still_runs() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // Through the older REDIS_URL, which still works.
    launch_use_and_stop(|config| config.redis_url = Some(url)).await;
}

#[tokio::test]
async fn after_shutdown_nothing_of_a_replica_on_nats_still_runs() {
    let url = std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    launch_use_and_stop(|config| config.broker_url = Some(url)).await;
}

#[tokio::test]
async fn after_shutdown_nothing_of_a_replica_on_postgres_notify_still_runs() {
    let url =
        std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    launch_use_and_stop(|config| config.broker_url = Some(url)).await;
}

/// Launches a server, opens a stream and a socket and sends a command, stops it, and
/// checks that the runtime runs exactly the tasks it ran before.
async fn launch_use_and_stop(tweak: impl FnOnce(&mut Config)) {
    let before = live_tasks();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_database(format!("sqlite://{}/board.db", dir.path().display()));
    config.site_root = dir.path().join("site");
    config.replica_id = Some("lifetimes".into());
    tweak(&mut config);
    // Its metrics on a listener of their own, as in production.
    config.metrics_bind = "127.0.0.1:0".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::launch(listener, config, async move {
        let _ = stopped.await;
    }));
    // Ready once it answers (migrations and the demo board come first); a server that
    // could not start (no Redis) says why.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(local).await.is_ok() {
            break;
        }
        if serving.is_finished() {
            panic!("the server did not start: {:?}", serving.await.unwrap().err());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // An SSE stream open (its first bytes read), a WebSocket open with a command sent up it.
    let mut sse = tokio::net::TcpStream::connect(local).await.unwrap();
    let request = format!("GET /api/boards/demo/sse?pattern=push-ops HTTP/1.1\r\nHost: {local}\r\n\r\n");
    sse.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(10), sse.read(&mut first)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"), "the stream opened");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{local}/api/boards/demo/ws?pattern=push-ops"))
        .await
        .expect("the socket opens");
    ws.send(Message::Text(r#"{"request_id":"r1","command":{"type":"add_sprint","name":"S"}}"#.into())).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                if text.contains("\"request_id\":\"r1\"") {
                    return text.to_string();
                }
            }
        }
        String::new()
    })
    .await
    .unwrap();
    assert!(answered.contains("\"kind\":\"error\"") || answered.contains("\"kind\":\"ack\""), "{answered}");
    let running = live_tasks() - before;
    assert!(running >= 6, "the server runs its background work and two connections: {running} tasks");

    // Shut down, and `launch` returns (streams told to go, requests drained).
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(40), serving)
        .await
        .expect("the server stops within its drain")
        .expect("the server task")
        .expect("the server ran");
    // At once: not after a moment in which what was left running might finish.
    assert_eq!(live_tasks(), before, "tasks of the server still run after it returned ({running} ran)");
    drop((sse, ws));
}
