//! The operator's console, server side: off without `ADMIN_TOKEN` (its routes are `404`),
//! the token as a bearer or `401`; it lists this replica's open streams by transport,
//! pattern and board, with each tab's presence id; it ends one stream, or every stream
//! of a board, and those clients may come straight back.

mod common;

use std::time::Duration;

use common::{Backend, TestServer};
use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "the-operators-token-of-the-tests";

async fn listing(srv: &TestServer) -> Value {
    let r = srv.http.get(srv.url("/api/admin/connections")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits until the listing has `n` open streams.
async fn until_listed(srv: &TestServer, n: u64) -> Value {
    for _ in 0..200 {
        let now = listing(srv).await;
        if now["total"] == n {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never {n} open: {}", listing(srv).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_console_does_not_exist() {
    let srv = TestServer::start(Backend::Sqlite).await;
    for (method, path) in [
        ("GET", "/api/admin/connections"),
        ("POST", "/api/admin/connections/1/disconnect"),
        ("POST", "/api/admin/boards/demo/end"),
    ] {
        let request = srv.http.request(method.parse().unwrap(), srv.url(path)).bearer_auth(TOKEN);
        assert_eq!(request.send().await.unwrap().status(), 404, "{method} {path}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sees_every_open_stream_and_ends_one_or_a_boards() {
    let srv = TestServer::start_with(Backend::Sqlite, |config| config.admin_token = Some(TOKEN.into())).await;
    let url = srv.url("/api/admin/connections");
    let r = srv.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"console\"");
    assert_eq!(srv.http.get(&url).bearer_auth("not-the-operators-token").send().await.unwrap().status(), 401);
    let board = srv.create_board("watched").await;
    let other = srv.create_board("other").await;

    // A tab over SSE with a presence id, one over a socket, a poll (which holds nothing).
    let sse = srv
        .http
        .get(srv.url(&format!("/api/boards/{board}/sse?pattern=push-ops&client=tab-1&person=p-1&name=Ada")))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let mut sse = sse.bytes_stream();
    let ws_url = format!("{}/api/boards/{other}/ws?pattern=event-diff", srv.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let r = srv.http.get(srv.url(&format!("/api/boards/{board}/poll?since=0"))).send().await.unwrap();
    assert_eq!(r.status(), 304, "a poll at the head: nothing new, and nothing held open");
    let now = until_listed(&srv, 2).await;
    assert_eq!(now["replica"], "test-replica");
    assert_eq!(now["by_way"]["sse/push-ops"], 1);
    assert_eq!(now["by_way"]["ws/event-diff"], 1);
    assert_eq!(now["by_board"][&board], 1);
    let tab = now["connections"].as_array().unwrap().iter().find(|c| c["client"] == "tab-1").expect("the tab").clone();
    assert_eq!(
        (tab["board"].as_str(), tab["transport"].as_str(), tab["name"].as_str()),
        (Some(board.as_str()), Some("sse"), Some("Ada"))
    );

    // Disconnect the tab: its stream ends; the others go on.
    let disconnect =
        |id: &str| srv.http.post(srv.url(&format!("/api/admin/connections/{id}/disconnect"))).bearer_auth(TOKEN).send();
    assert_eq!(disconnect("nonsense").await.unwrap().status(), 400);
    assert_eq!(disconnect("999999").await.unwrap().status(), 404);
    let r = srv.http.post(srv.url(&format!("/api/admin/connections/{}/disconnect", tab["id"]))).send().await.unwrap();
    assert_eq!(r.status(), 401, "only the operator");
    assert_eq!(disconnect(&tab["id"].to_string()).await.unwrap().status(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = sse.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the tab's stream ended");
    until_listed(&srv, 1).await;

    // End every stream of the other board: the socket closes.
    let r = srv.http.post(srv.url(&format!("/api/admin/boards/{other}/end"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["ended"], 1);
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the socket closed");
    until_listed(&srv, 0).await;

    // They may come straight back: ending is not banning.
    let again = srv
        .http
        .get(srv.url(&format!("/api/boards/{board}/sse?pattern=push-ops&client=tab-1&person=p-1&name=Ada")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    until_listed(&srv, 1).await;
    srv.stop().await;
}
