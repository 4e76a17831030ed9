//! The operator's console, server side: off without `ADMIN_TOKEN` (its routes and its page
//! are `404`), the token as a bearer or the sign-in form's cookie, or `401`; it lists this
//! replica's open streams by transport, pattern and board, with each tab's presence id; it
//! ends one stream, or every stream of a board, and those clients may come straight back.
//! On a cluster it shows every replica (their reports over the bus) and acts on any of
//! them; it pauses and resumes webhooks; sign-ins and watching consoles are bounded.

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
        ("GET", "/api/admin/cluster"),
        ("GET", "/api/admin/stream"),
        ("POST", "/api/admin/replicas/test-replica/connections/1/disconnect"),
        ("POST", "/api/admin/webhooks/w/pause"),
        ("POST", "/api/admin/webhooks/w/resume"),
        ("GET", "/admin"),
        ("POST", "/admin/login"),
        ("POST", "/admin/logout"),
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

    // End every stream of the other board: the socket closes, saying why (4000: the
    // client reconnects).
    let r = srv.http.post(srv.url(&format!("/api/admin/boards/{other}/end"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["ended"], 1);
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                None | Some(Err(_)) => break None,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert_eq!(closed.expect("the socket closed"), Some((4000, "ended by the operator".to_owned())));
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

/// The console as one replica shows it (bearer).
async fn cluster(srv: &TestServer) -> Value {
    let r = srv.http.get(srv.url("/api/admin/cluster")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits until `srv`'s console shows what `shows` looks for.
async fn until_shown(srv: &TestServer, what: &str, shows: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let now = cluster(srv).await;
        if shows(&now) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the console never showed {what}: {}", cluster(srv).await);
}

fn replica<'a>(view: &'a Value, name: &str) -> Option<&'a Value> {
    view["replicas"].as_array()?.iter().find(|r| r["replica"] == name)
}

/// Reads an SSE body until it ends (within 10 s).
async fn ends(body: reqwest::Response) -> bool {
    let mut body = body.bytes_stream();
    tokio::time::timeout(Duration::from_secs(10), async { while let Some(Ok(_)) = body.next().await {} }).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_of_either_replica_shows_both_and_acts_on_either() {
    let database = common::fresh_postgres_database().await;
    let bus = common::redis_url();
    let token = |config: &mut server::config::Config| config.admin_token = Some(TOKEN.into());
    let a = TestServer::replica_with(&database, &bus, "console-a", token).await;
    let b = TestServer::replica_with(&database, &bus, "console-b", token).await;
    let board = a.create_board("watched").await;
    let read = a.owner(&board);
    let open = |srv: &TestServer, tab: &str| {
        srv.http
            .get(srv.url(&format!("/api/boards/{board}/sse?pattern=event-diff&client={tab}&person=p&name=Bea")))
            .bearer_auth(&read)
            .send()
    };
    let on_b = open(&b, "tab-on-b").await.unwrap();
    assert_eq!(on_b.status(), 200);
    a.ok(&board, serde_json::json!({"type": "add_todo", "title": "written on a"})).await;

    // A's console shows B's report, with the tab's stream and the board's load.
    let view = until_shown(&a, "both replicas and the tab on b", |view| {
        replica(view, "console-a").is_some()
            && replica(view, "console-b")
                .is_some_and(|b| b["connections"].as_array().unwrap().iter().any(|c| c["client"] == "tab-on-b"))
    })
    .await;
    assert_eq!(view["here"], "console-a");
    assert_eq!(view["replicas"][0]["replica"], "console-a", "the replica serving the console first");
    let on_b_report = replica(&view, "console-b").unwrap();
    assert_eq!(on_b_report["bus"], "redis");
    assert_eq!(on_b_report["by_way"]["sse/event-diff"], 1);
    let load = on_b_report["boards"].as_array().unwrap().iter().find(|l| l["board"] == board.as_str()).unwrap();
    assert_eq!(load["followers"], 1);
    let written = until_shown(&a, "the board's writes on a", |view| {
        replica(view, "console-a").is_some_and(|a| {
            a["boards"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["board"] == board.as_str() && l["writes_per_minute"].as_u64() > Some(0))
        })
    })
    .await;
    assert!(replica(&written, "console-a").is_some());
    let id = on_b_report["connections"].as_array().unwrap().iter().find(|c| c["client"] == "tab-on-b").unwrap()["id"]
        .clone();

    // The same, live: the stream's first event is the whole view.
    let live = a.http.get(a.url("/api/admin/stream")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let mut live = live.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), live.next()).await.unwrap().unwrap().unwrap();
    let first = String::from_utf8_lossy(&first);
    assert!(first.starts_with("event: cluster\ndata: {"), "{first}");
    assert!(first.contains("\"console-b\""), "{first}");
    drop(live);

    // Disconnecting b's tab from a's console: told over the bus, and b ends it.
    let disconnect = |replica: &str, id: &str| {
        a.http
            .post(a.url(&format!("/api/admin/replicas/{replica}/connections/{id}/disconnect")))
            .bearer_auth(TOKEN)
            .send()
    };
    assert_eq!(disconnect("console-z", "1").await.unwrap().status(), 404, "a replica nobody heard of");
    assert_eq!(disconnect("console-b", "x").await.unwrap().status(), 400);
    assert_eq!(disconnect("console-b", &id.to_string()).await.unwrap().status(), 202);
    assert!(ends(on_b).await, "b ended the tab's stream");
    until_shown(&a, "the tab gone from b", |view| replica(view, "console-b").is_some_and(|b| b["streams"] == 0)).await;

    // Ending a board's streams from a ends them on b too.
    let again = open(&b, "tab-on-b").await.unwrap();
    let here = open(&a, "tab-on-a").await.unwrap();
    until_listed(&b, 1).await;
    until_listed(&a, 1).await;
    let r = a.http.post(a.url(&format!("/api/admin/boards/{board}/end"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!({"ended": 1, "others_told": true}));
    assert!(ends(here).await && ends(again).await, "every replica ended the board's streams");
    b.stop().await;
    a.stop().await;
}

/// A client that does not follow redirects: the sign-in's `303`s are what is checked.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_a_cookie_that_opens_the_console_and_nothing_else() {
    let srv = TestServer::start_with(Backend::Sqlite, |config| config.admin_token = Some(TOKEN.into())).await;
    let http = browser();
    let page = http.get(srv.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-admin-sign-in") && !html.contains("data-admin-live"), "the form, not the console");

    let login = |token: &'static str| http.post(srv.url("/admin/login")).form(&[("token", token)]).send();
    let wrong = login("not-the-operators-token").await.unwrap();
    assert_eq!(wrong.status(), 303);
    assert_eq!(wrong.headers()["location"], "/admin?failed");
    assert!(wrong.headers().get("set-cookie").is_none());
    let failed = http.get(srv.url("/admin?failed")).send().await.unwrap().text().await.unwrap();
    assert!(failed.contains("data-admin-failed"), "the form says the token was wrong");

    let right = login(TOKEN).await.unwrap();
    assert_eq!(right.status(), 303);
    assert_eq!(right.headers()["location"], "/admin");
    let set = right.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("console=") && set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains(TOKEN), "the cookie is not the token");
    let cookie = set.split(';').next().unwrap().to_owned();

    // The cookie opens the console's page and API, same-origin only.
    let page = http.get(srv.url("/admin")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-admin-live") && !html.contains("data-admin-sign-in"), "the console");
    let r = http.get(srv.url("/api/admin/cluster")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let forged = http
        .post(srv.url("/api/admin/boards/demo/end"))
        .header("cookie", &cookie)
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "another site's page cannot act with the operator's cookie");
    let tampered = cookie.replace("console=", "console=9").to_owned();
    let r = http.get(srv.url("/api/admin/cluster")).header("cookie", &tampered).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http.get(srv.url("/api/boards/demo")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "the console's cookie is nothing to a board");

    // Signing out clears it.
    let out = http.post(srv.url("/admin/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));

    // A flood of sign-ins is refused before any comparison: the right token too.
    let mut refused = None;
    for attempt in 0..20 {
        let r = login("guess-guess-guess-guess").await.unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            refused = Some(attempt);
            break;
        }
        assert_eq!(r.status(), 303);
    }
    assert!(refused.is_some_and(|n| n <= 10), "refused after at most LOGINS_PER_MINUTE: {refused:?}");
    assert_eq!(login(TOKEN).await.unwrap().status(), 429);

    // At most WATCHING consoles watch one replica.
    let mut watching = Vec::new();
    for _ in 0..server::admin::view::WATCHING {
        let r = srv.http.get(srv.url("/api/admin/stream")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        watching.push(r);
    }
    let r = srv.http.get(srv.url("/api/admin/stream")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 429);
    watching.pop();
    let mut back = None;
    for _ in 0..50 {
        let r = srv.http.get(srv.url("/api/admin/stream")).bearer_auth(TOKEN).send().await.unwrap();
        if r.status() == 200 {
            back = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back.is_some(), "a console that left frees its place");
    drop((watching, back));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_pauses_and_resumes_a_webhook_with_a_backlog() {
    // A receiver that is not there: every attempt fails, the backlog grows.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = gone.local_addr().unwrap();
    drop(gone);
    let srv = TestServer::start_with(Backend::Sqlite, move |config| {
        config.admin_token = Some(TOKEN.into());
        config.webhook_allow = vec![address.to_string()];
        config.webhook_backoff_ms = 50;
    })
    .await;
    let board = srv.create_board("hooked").await;
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/webhooks")))
        .bearer_auth(srv.owner(&board))
        .json(&serde_json::json!({"url": format!("http://{address}/hook"), "pattern": "push-events"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let hook = r.json::<board_core::api::WebhookCreated>().await.unwrap().webhook.id;
    for n in 0..3 {
        srv.ok(&board, serde_json::json!({"type": "add_todo", "title": format!("todo {n}")})).await;
    }
    let listed = |view: &Value| view["webhooks"].as_array().unwrap().iter().find(|w| w["id"] == hook.as_str()).cloned();
    let view =
        until_shown(&srv, "the failing webhook", |view| listed(view).is_some_and(|w| w["status"] == "failing")).await;
    let line = listed(&view).unwrap();
    assert_eq!((line["backlog"].as_u64(), line["board"].as_str()), (Some(3), Some(board.as_str())));
    assert!(line["last_error"].is_string());

    let act = |verb: &str, id: &str| {
        srv.http.post(srv.url(&format!("/api/admin/webhooks/{id}/{verb}"))).bearer_auth(TOKEN).send()
    };
    assert_eq!(act("pause", "no-such-hook").await.unwrap().status(), 404);
    assert_eq!(
        srv.http.post(srv.url(&format!("/api/admin/webhooks/{hook}/pause"))).send().await.unwrap().status(),
        401
    );
    let paused = act("pause", &hook).await.unwrap();
    assert_eq!(paused.status(), 200);
    assert_eq!(paused.json::<Value>().await.unwrap()["status"], "paused");
    let attempts = |srv: &TestServer| {
        let request = srv
            .http
            .get(srv.url(&format!("/api/boards/{board}/webhooks/{hook}/deliveries")))
            .bearer_auth(srv.owner(&board));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let before = attempts(&srv).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(attempts(&srv).await, before, "no attempt while paused");
    let view = cluster(&srv).await;
    assert_eq!(listed(&view).unwrap()["status"], "paused", "the console shows it paused, its backlog kept");
    assert_eq!(listed(&view).unwrap()["backlog"], 3);

    let resumed = act("resume", &hook).await.unwrap();
    assert_eq!(resumed.json::<Value>().await.unwrap()["status"], "active");
    for _ in 0..100 {
        if attempts(&srv).await != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(attempts(&srv).await, before, "attempts again once resumed");
    srv.stop().await;
}
