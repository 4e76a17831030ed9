//! The access gate, on SQLite and Postgres: one table of every path that touches a board ×
//! every kind of key (none, wrong, read, write, rotated away), and what each must answer;
//! then revocation of open streams (on one replica and across two), same-origin and Host
//! checks, and the limits (429 with Retry-After, stream slots, slow clients, connections).

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// A private board with two changes, its keys, and the write key of before a rotation.
struct Private {
    id: String,
    read: String,
    write: String,
    rotated: String,
}

async fn private_board(srv: &TestServer) -> Private {
    let r = srv.http.post(srv.url("/api/boards")).json(&json!({"name": "Secret plans"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["visibility"], "private");
    let secret = id.strip_prefix("secret-plans-").expect("a readable slug, then the secret");
    assert_eq!(secret.len(), 22, "128 random bits, URL-safe base64");
    let first_write = created["keys"]["write"].as_str().unwrap().to_owned();
    // Rotate once, so that a key that used to work is among the cases.
    let r = srv.http.post(srv.url(&format!("/api/boards/{id}/keys"))).bearer_auth(&first_write).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let keys: Value = r.json().await.unwrap();
    let board = Private {
        id,
        read: keys["keys"]["read"].as_str().unwrap().to_owned(),
        write: keys["keys"]["write"].as_str().unwrap().to_owned(),
        rotated: first_write,
    };
    for title in ["one", "two"] {
        let r = srv
            .http
            .post(srv.url(&format!("/api/boards/{}/commands", board.id)))
            .bearer_auth(&board.write)
            .json(&json!({"type": "add_todo", "title": title}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    board
}

#[derive(Clone, Copy, Debug)]
enum Key {
    None,
    Wrong,
    Read,
    Write,
    Rotated,
}

impl Key {
    fn of(self, board: &Private) -> Option<String> {
        match self {
            Key::None => None,
            Key::Wrong => Some("w_not-a-key-of-this-board".into()),
            Key::Read => Some(board.read.clone()),
            Key::Write => Some(board.write.clone()),
            Key::Rotated => Some(board.rotated.clone()),
        }
    }
}

/// How a key is presented: as a bearer token (tools) or in the cookie a share link sets.
#[derive(Clone, Copy, Debug)]
enum Via {
    Bearer,
    Cookie,
}

/// One request on one path; returns its status.
async fn status(srv: &TestServer, board: &Private, path: &str, key: Option<&str>, via: Via) -> u16 {
    let b = &board.id;
    let with = |r: reqwest::RequestBuilder| match (key, via) {
        (None, _) => r,
        (Some(k), Via::Bearer) => r.bearer_auth(k),
        (Some(k), Via::Cookie) => r.header("cookie", format!("board_key.{b}={k}")),
    };
    let get = |p: String| with(srv.http.get(srv.url(&p)));
    let response = match path {
        "page" => get(format!("/boards/{b}")),
        "compare" => get(format!("/boards/{b}/compare")),
        "state" => get(format!("/api/boards/{b}")),
        "access" => get(format!("/api/boards/{b}/access")),
        "changes" => get(format!("/api/boards/{b}/changes?since=0")),
        "history" => get(format!("/api/boards/{b}/history?at=1")),
        "todo history" => get(format!("/api/boards/{b}/todos/1/history")),
        "poll" => get(format!("/api/boards/{b}/poll?since=0")),
        "long-poll" => get(format!("/api/boards/{b}/long-poll?since=0&timeout=1")),
        "sse" => get(format!("/api/boards/{b}/sse?since=0")),
        // A reconnecting EventSource: the same URL with Last-Event-ID.
        "sse resume" => get(format!("/api/boards/{b}/sse")).header("last-event-id", "1"),
        "ws" => return ws_status(srv, board, key, via, "since=0").await,
        // Presence: being on a board is reading it.
        "leave" => with(srv.http.post(srv.url(&format!("/api/boards/{b}/leave")))).json(&json!({"client": "c-1"})),
        "command" => with(srv.http.post(srv.url(&format!("/api/boards/{b}/commands"))))
            .json(&json!({"type": "add_todo", "title": "from the table"})),
        other => panic!("no path {other}"),
    };
    response.send().await.unwrap().status().as_u16()
}

/// A WebSocket upgrade's status: 101 when it opens.
async fn ws_status(srv: &TestServer, board: &Private, key: Option<&str>, via: Via, query: &str) -> u16 {
    let url = format!("{}/api/boards/{}/ws?{query}", srv.base.replace("http", "ws"), board.id);
    let mut request = url.into_client_request().unwrap();
    match (key, via) {
        (None, _) => {}
        (Some(k), Via::Bearer) => {
            request.headers_mut().insert("authorization", format!("Bearer {k}").parse().unwrap());
        }
        (Some(k), Via::Cookie) => {
            request.headers_mut().insert("cookie", format!("board_key.{}={k}", board.id).parse().unwrap());
        }
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("websocket upgrade failed oddly: {err}"),
    }
}

/// The answer to a command sent up a socket: the next `ack` or `error` frame.
async fn answer(ws: &mut common::WsStream) -> Value {
    loop {
        let Message::Text(text) = ws.next().await.unwrap().unwrap() else { continue };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["kind"] == "error" || frame["kind"] == "ack" {
            return frame;
        }
    }
}

/// Every path × every key, with the status each must answer. A private board without a
/// working key is exactly as absent as a board that does not exist (404); a read key may
/// read everything and change nothing (403).
async fn every_path_checks_the_key(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = private_board(&srv).await;
    let reads = [
        "page",
        "compare",
        "state",
        "access",
        "changes",
        "history",
        "todo history",
        "poll",
        "long-poll",
        "sse",
        "sse resume",
        "ws",
        "leave",
    ];
    let mut table = Vec::new();
    for path in reads {
        let ok = match path {
            "ws" => 101,
            "leave" => 204,
            _ => 200,
        };
        table.extend([
            (path, Key::None, 404),
            (path, Key::Wrong, 404),
            (path, Key::Rotated, 404),
            (path, Key::Read, ok),
            (path, Key::Write, ok),
        ]);
    }
    table.extend([
        ("command", Key::None, 404),
        ("command", Key::Wrong, 404),
        ("command", Key::Rotated, 404),
        ("command", Key::Read, 403),
        ("command", Key::Write, 200),
    ]);
    let mut wrong = Vec::new();
    for (path, key, expected) in table {
        for via in [Via::Bearer, Via::Cookie] {
            let got = status(&srv, &board, path, key.of(&board).as_deref(), via).await;
            if got != expected {
                wrong.push(format!("{path} with {key:?} key by {via:?}: {got}, expected {expected}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Nothing refused changed the board: two seed changes and the two write-key commands.
    let r = srv.http.get(srv.url(&format!("/api/boards/{}", board.id))).bearer_auth(&board.read).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "private, no-cache");
    let state: Value = r.json().await.unwrap();
    assert_eq!(state["seq"], 4);
    // An unknown board answers the same words as a private one without its key.
    let unknown: Value = srv.http.get(srv.url("/api/boards/nope")).send().await.unwrap().json().await.unwrap();
    let hidden: Value =
        srv.http.get(srv.url(&format!("/api/boards/{}", board.id))).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        unknown["error"].as_str().unwrap().replace("nope", "X"),
        hidden["error"].as_str().unwrap().replace(&board.id, "X")
    );
    srv.stop().await;
}

/// What a read key and a write key may see about the board, and the list of boards.
async fn share_links_and_the_board_list(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = private_board(&srv).await;
    let access = |key: &str| {
        srv.http.get(srv.url(&format!("/api/boards/{}/access", board.id))).bearer_auth(key.to_owned()).send()
    };
    let reader: Value = access(&board.read).await.unwrap().json().await.unwrap();
    assert_eq!(reader, json!({"can_write": false, "admin": false, "private": true}), "a reader sees no keys");
    let writer: Value = access(&board.write).await.unwrap().json().await.unwrap();
    assert_eq!((&writer["can_write"], &writer["admin"]), (&json!(true), &json!(true)));
    assert_eq!(writer["share"]["read"], format!("/boards/{}?key={}", board.id, board.read));
    assert_eq!(writer["share"]["write"], format!("/boards/{}?key={}", board.id, board.write));
    // Only the write key rotates.
    let r = srv.http.post(srv.url(&format!("/api/boards/{}/keys", board.id))).bearer_auth(&board.read).send().await;
    assert_eq!(r.unwrap().status(), 403);

    // A share link stores the key in an HttpOnly, SameSite=Lax cookie and drops it from the URL.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = no_redirects
        .get(srv.url(&format!("/boards/{}?key={}&pattern=push-ops", board.id, board.read)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/boards/{}?pattern=push-ops", board.id));
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with(&format!("board_key.{}={};", board.id, board.read)), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");

    // `/` and `GET /api/boards` list public boards and the ones whose keys the browser holds.
    let public = srv.create_board("Open").await;
    let list = |cookie: Option<String>| {
        let mut r = srv.http.get(srv.url("/api/boards"));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        async move { r.send().await.unwrap().json::<Vec<Value>>().await.unwrap() }
    };
    let ids = |list: Vec<Value>| list.iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let anonymous = ids(list(None).await);
    assert!(anonymous.contains(&public) && anonymous.contains(&"demo".to_owned()));
    assert!(!anonymous.contains(&board.id), "a private board is not listed to strangers");
    let holder = ids(list(Some(format!("board_key.{}={}", board.id, board.read))).await);
    assert!(holder.contains(&board.id) && holder.contains(&public));
    let stale = ids(list(Some(format!("board_key.{}={}", board.id, board.rotated))).await);
    assert!(!stale.contains(&board.id), "a rotated key lists nothing");
    let page = srv
        .http
        .get(srv.url("/"))
        .header("cookie", format!("board_key.{}={}", board.id, board.read))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&board.id), "the home page lists it for the key holder");
    let page = srv.http.get(srv.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(&board.id) && !page.contains("Secret plans"), "and to nobody else");
    srv.stop().await;
}

/// Streams opened with a key end within 5 s of its rotation, each the way its transport
/// can say so: SSE sends `revoked` and ends, a WebSocket closes with 4403, a held
/// long-poll answers 404. Measured, and checked on two replicas of one cluster.
#[tokio::test]
async fn rotation_ends_every_open_stream_on_every_replica_within_5_seconds() {
    let redis = common::redis_url();
    let database = common::fresh_postgres_database().await;
    let one = TestServer::replica(&database, &redis, "one").await;
    let two = TestServer::replica(&database, &redis, "two").await;
    let board = private_board(&one).await;

    let mut streams = Vec::new();
    for srv in [&one, &two] {
        let sse = srv
            .http
            .get(srv.url(&format!("/api/boards/{}/sse?since=0", board.id)))
            .bearer_auth(&board.read)
            .send()
            .await
            .unwrap();
        assert_eq!(sse.status(), 200);
        let url = format!("{}/api/boards/{}/ws?since=0", srv.base.replace("http", "ws"), board.id);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {}", board.write).parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let held = tokio::spawn(
            srv.http
                .get(srv.url(&format!("/api/boards/{}/long-poll?since=2&timeout=30", board.id)))
                .bearer_auth(&board.read)
                .send(),
        );
        streams.push((srv.app.replica.to_string(), sse, ws, held));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let rotated_at = Instant::now();
    let r = one.http.post(one.url(&format!("/api/boards/{}/keys", board.id))).bearer_auth(&board.write).send().await;
    assert_eq!(r.unwrap().status(), 200);

    for (replica, sse, mut ws, held) in streams {
        // SSE: the `revoked` frame, then the end of the body.
        let mut body = sse.bytes_stream();
        let mut text = String::new();
        let ended = tokio::time::timeout(Duration::from_secs(6), async {
            while let Some(chunk) = body.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            }
        })
        .await;
        let sse_ms = rotated_at.elapsed().as_millis();
        assert!(ended.is_ok(), "{replica}: the SSE stream still open after 6 s");
        assert!(text.contains(r#"{"kind":"revoked"}"#), "{replica}: {text}");
        // WebSocket: closed with 4403.
        let close = tokio::time::timeout(Duration::from_secs(6), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                    Some(Ok(_)) => continue,
                    _ => return None,
                }
            }
        })
        .await
        .expect("the socket closes");
        let ws_ms = rotated_at.elapsed().as_millis();
        assert_eq!(close, Some(CloseCode::Library(4403)), "{replica}");
        // Long-poll: the held request answers 404.
        let answer = tokio::time::timeout(Duration::from_secs(6), held).await.expect("the long-poll answers");
        let lp_ms = rotated_at.elapsed().as_millis();
        assert_eq!(answer.unwrap().unwrap().status(), 404, "{replica}");
        println!("{replica}: after the rotation SSE ended at {sse_ms} ms, WebSocket closed at {ws_ms} ms, long-poll answered 404 at {lp_ms} ms");
        assert!(lp_ms.max(ws_ms).max(sse_ms) <= 5000, "{replica}: a stream outlived its key by more than 5 s");
    }
    // The old key opens nothing, on either replica; the board is untouched.
    for srv in [&one, &two] {
        let r = srv.http.get(srv.url(&format!("/api/boards/{}", board.id))).bearer_auth(&board.read).send().await;
        assert_eq!(r.unwrap().status(), 404);
    }
    one.stop().await;
    two.stop().await;
}

/// Commands up a WebSocket pass the same gate as over HTTP: a socket opened with a read key
/// can follow the board but its commands are refused with 403 and change nothing.
#[tokio::test]
async fn a_read_only_websocket_cannot_send_commands() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = private_board(&srv).await;
    let url = format!("{}/api/boards/{}/ws?since=2", srv.base.replace("http", "ws"), board.id);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {}", board.read).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let command = json!({"request_id": "r1", "command": {"type": "add_todo", "title": "sneaky"}});
    ws.send(Message::Text(command.to_string().into())).await.unwrap();
    let answer = answer(&mut ws).await;
    assert_eq!(answer["kind"], "error");
    assert_eq!(answer["status"], 403);
    assert_eq!(answer["request_id"], "r1");
    let r = srv.http.get(srv.url(&format!("/api/boards/{}", board.id))).bearer_auth(&board.read).send().await;
    assert_eq!(r.unwrap().json::<Value>().await.unwrap()["seq"], 2);
    srv.stop().await;
}

/// Browsers from other sites cannot post or open WebSockets; foreign Host names are
/// refused; commands must be JSON. Tools (no Origin) and the server's own pages pass.
#[tokio::test]
async fn cross_site_requests_and_foreign_hosts_are_refused() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let own = srv.base.clone();
    let commands = srv.url("/api/boards/demo/commands");
    let before = srv.state("demo").await.seq;
    let add = json!({"type": "add_todo", "title": "x"});

    let evil = srv.http.post(&commands).header("origin", "https://evil.example").json(&add).send().await.unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("evil.example"));
    // A cross-site HTML form: a urlencoded post to the home page's form endpoint.
    let form = srv.http.post(srv.url("/boards")).header("origin", "https://evil.example").form(&[("name", "x")]);
    assert_eq!(form.send().await.unwrap().status(), 403);
    // The same form from the server's own page works (and redirects to the new board).
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let own_form = no_redirects.post(srv.url("/boards")).header("origin", &own).form(&[("name", "x")]);
    assert_eq!(own_form.send().await.unwrap().status(), 303);
    // A command that is not JSON (what a form could send) is 415.
    let text = srv.http.post(&commands).header("content-type", "text/plain").body(add.to_string()).send().await;
    assert_eq!(text.unwrap().status(), 415);
    let ok = srv.http.post(&commands).header("origin", &own).json(&add).send().await.unwrap();
    assert_eq!(ok.status(), 200, "the page's own origin posts");
    assert_eq!(srv.http.post(&commands).json(&add).send().await.unwrap().status(), 200, "tools send no Origin");

    // A WebSocket from another site.
    let url = format!("{}/api/boards/demo/ws?since=0", own.replace("http", "ws"));
    let mut request = url.clone().into_client_request().unwrap();
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a cross-site WebSocket opened: {:?}", other.map(|(_, r)| r.status())),
    }
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("origin", own.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_ok(), "the page's own WebSocket opens");

    // DNS rebinding: a name that is not the server's.
    let rebound = srv.http.get(srv.url("/api/boards/demo")).header("host", "rebound.attacker.example").send().await;
    assert_eq!(rebound.unwrap().status(), 421);
    assert_eq!(srv.state("demo").await.seq, before + 2, "only the two allowed commands applied");

    // Two Host headers: this check would read one and a proxy perhaps the other.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = own.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /api/boards/demo/commands HTTP/1.1\r\nHost: {address}\r\nHost: rebound.attacker.example\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{add}",
        add.to_string().len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(srv.state("demo").await.seq, before + 2, "refused before any handler");
    srv.stop().await;
}

/// A share link stores its key in a cookie named after the board, but only for what can be
/// a board id and a key that opens it: a path segment cannot add attributes to the cookie
/// (`x;Domain=evil.example`) or make it huge, and a wrong key stores nothing; the key leaves
/// the address bar either way. (The raw segment was copied into the cookie's name.)
#[tokio::test]
async fn a_share_link_names_its_cookie_after_a_real_board_only() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = private_board(&srv).await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let open = |path: String| {
        let request = no_redirects.get(srv.url(&path));
        async move { request.send().await.unwrap() }
    };
    // The real thing: a cookie, and the key gone from the URL.
    let r = open(format!("/boards/{}?key={}", board.id, board.write)).await;
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with(&format!("board_key.{}={}", board.id, board.write)), "{cookie}");
    // An injected attribute, a huge name, a key that opens nothing: no cookie.
    let long = "b".repeat(4000);
    for path in [
        format!("/boards/x;Domain=evil.example?key={}", board.write),
        format!("/boards/{long}?key={}", board.write),
        format!("/boards/{}?key=w_not-this-boards-key-0000000000000000000000", board.id),
        format!("/boards/demo?key={}", board.write),
    ] {
        let r = open(path.clone()).await;
        assert!(
            r.headers().get("set-cookie").is_none(),
            "{}: {:?}",
            &path[..40.min(path.len())],
            r.headers().get("set-cookie")
        );
        if r.status() == 303 {
            assert!(!r.headers()["location"].to_str().unwrap().contains("key="), "the key leaves the URL");
        }
    }
    srv.stop().await;
}

/// Pages carry the security headers; the CSP names the nonce the hydration script carries.
#[tokio::test]
async fn pages_carry_a_content_security_policy_with_the_scripts_nonce() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let r = srv.http.get(srv.url("/boards/demo")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("a nonce").to_owned();
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the nonce");
    let other = srv.http.get(srv.url("/boards/demo")).send().await.unwrap();
    assert!(!other.headers()["content-security-policy"].to_str().unwrap().contains(&nonce), "a fresh nonce per page");
    srv.stop().await;
}

/// Each limit answers with its status and changes nothing: commands and board creation
/// beyond their buckets get 429 with Retry-After (a WebSocket command an error frame with
/// 429), streams beyond the per-address count 429.
#[tokio::test]
async fn limits_answer_429_and_change_nothing() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.commands_per_minute = 20;
        c.boards_per_minute = 3;
        c.max_streams_per_ip = 2;
    })
    .await;
    let board = srv.create_board("limited").await;
    let (mut ok, mut limited, mut retry_after) = (0, 0, None);
    for i in 0..30 {
        let r = srv
            .http
            .post(srv.url(&format!("/api/boards/{board}/commands")))
            .json(&json!({"type": "add_todo", "title": format!("t{i}")}))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 20, "the burst is the whole rate below 100");
    assert_eq!(limited, 10);
    assert!(retry_after.is_some_and(|s| (1..=3).contains(&s)), "Retry-After: {retry_after:?}");
    assert_eq!(srv.state(&board).await.seq, 20, "refused commands changed nothing");

    // Up a WebSocket: the same bucket, an error frame with 429.
    let url = format!("{}/api/boards/{board}/ws?since=20", srv.base.replace("http", "ws"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Text(
        json!({"request_id": "w", "command": {"type": "add_todo", "title": "w"}}).to_string().into(),
    ))
    .await
    .unwrap();
    let answer = answer(&mut ws).await;
    assert_eq!((answer["kind"].as_str(), answer["status"].as_u64()), (Some("error"), Some(429)));

    // Streams: the socket above holds one slot; one SSE more fits, the third stream does not.
    let sse = srv.http.get(srv.url(&format!("/api/boards/{board}/sse"))).send().await.unwrap();
    assert_eq!(sse.status(), 200);
    let third = srv.http.get(srv.url(&format!("/api/boards/{board}/long-poll?since=20&timeout=1"))).send().await;
    assert_eq!(third.unwrap().status(), 429);
    drop(sse);
    drop(ws);
    let mut freed = 0;
    for _ in 0..50 {
        freed = srv
            .http
            .get(srv.url(&format!("/api/boards/{board}/long-poll?since=20&timeout=0")))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if freed == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(freed, 200, "closed streams give their slots back");

    // Board creation: three a minute.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = srv.http.post(srv.url("/api/boards")).json(&json!({"name": "n"})).send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    let r = srv.http.post(srv.url("/api/boards")).json(&json!({"name": "n"})).send().await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    statuses.push(r.status().as_u16());
    // `create_board` above took one of the three.
    assert_eq!(statuses, [201, 201, 429, 429]);
    srv.stop().await;
}

/// A client that sends its headers a byte every few seconds is disconnected after
/// HEADER_TIMEOUT, while other clients are served as usual; connections beyond
/// MAX_CONNECTIONS get 503.
#[tokio::test]
async fn slow_clients_are_dropped_and_connections_are_bounded() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.header_timeout = 2;
        c.max_connections = 4;
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let request = b"GET /api/boards/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1234567890\r\n\r\n";
    let mut dropped_after = None;
    for byte in request.iter() {
        if slow.write_all(&[*byte]).await.is_err() {
            dropped_after = Some(started.elapsed());
            break;
        }
        // Meanwhile the server answers everyone else.
        let r = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap().get(srv.url("/healthz")).send();
        let r = r.await.unwrap();
        assert_eq!(r.status(), 200);
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(500), slow.read(&mut probe)).await {
            dropped_after = Some(started.elapsed());
            break;
        }
    }
    let dropped_after = dropped_after.expect("the slow client was never dropped");
    println!("a client sending one header byte every 0.5 s was dropped after {dropped_after:?}");
    assert!(dropped_after >= Duration::from_secs(2) && dropped_after < Duration::from_secs(5), "{dropped_after:?}");

    // A body trickled in a byte every 0.3 s (never idle for 2 s) is cut off at 2 s in all.
    let mut trickle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = json!({"type": "add_todo", "title": "slowly, slowly, very slowly"}).to_string();
    let head = format!(
        "POST /api/boards/demo/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // A client of its own without kept-alive connections: the server closes idle ones
    // after the header timeout too, and a pooled one could be closed under a request.
    let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let seq = || async {
        let state: serde_json::Value =
            fresh.get(srv.url("/api/boards/demo")).send().await.unwrap().json().await.unwrap();
        state["seq"].as_u64().unwrap()
    };
    let before = seq().await;
    trickle.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    for byte in body.bytes() {
        let _ = trickle.write_all(&[byte]).await;
        let mut buffer = [0u8; 1024];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), trickle.read(&mut buffer)).await {
            answer.extend_from_slice(&buffer[..n]);
            break;
        }
    }
    let cut_after = started.elapsed();
    let answer = String::from_utf8_lossy(&answer).to_string();
    println!(
        "a body sent a byte every 0.3 s was answered after {cut_after:?}: {}",
        answer.lines().next().unwrap_or("")
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(cut_after >= Duration::from_secs(2) && cut_after < Duration::from_secs(4), "{cut_after:?}");
    assert_eq!(seq().await, before, "the slow command changed nothing");

    // Four idle connections fill the replica; the fifth is answered 503 and closed.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), fifth.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""error""#));
    drop(idle);
    srv.stop().await;
}

#[tokio::test]
async fn sqlite_every_path_checks_the_key() {
    every_path_checks_the_key(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_every_path_checks_the_key() {
    every_path_checks_the_key(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite_share_links_and_the_board_list() {
    share_links_and_the_board_list(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_share_links_and_the_board_list() {
    share_links_and_the_board_list(Backend::Postgres).await;
}
