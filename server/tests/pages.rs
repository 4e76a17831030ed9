//! What a server-rendered page may cost: a bounded part of a big board, and bounded renders
//! at once, per client and per replica. (What a render costs in CPU and memory, and what
//! four clients looping one cost everyone else, is measured by
//! `cargo bench -p server --bench abuse -- pages`, not here: a timed test fails on a busy
//! machine.)

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use futures::StreamExt;

/// A page's HTML.
async fn page(srv: &TestServer, path: &str) -> String {
    let r = srv.http.get(srv.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().await.unwrap()
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

/// A board of 700 todos in its backlog and 40 sprints: the board page renders at most 300
/// cards and 25 columns at first, with the rest behind "show more"; the compare page
/// shares that budget between its panes; each card lists only the sprints that have a
/// column as places to move to. (It rendered every card, each listing every sprint, five
/// times over on the compare page.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_board_renders_a_bounded_first_page() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.commands_per_minute = 1_000_000).await;
    let board = srv.create_board("big").await;
    futures::stream::iter(0..700)
        .map(|i| srv.ok(&board, serde_json::json!({"type": "add_todo", "title": format!("todo {i}")})))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for i in 0..40 {
        srv.ok(&board, serde_json::json!({"type": "add_sprint", "name": format!("sprint {i}")})).await;
    }

    let html = page(&srv, &format!("/boards/{board}")).await;
    let cards = count(&html, "data-todo-id=");
    let columns = count(&html, "data-column=");
    // 25 columns (the backlog and 24 sprints) share 300 cards; the empty sprints need none.
    assert_eq!(columns, 25, "columns rendered");
    assert_eq!(cards, 300, "cards rendered");
    assert!(html.contains("data-more-cards=\"400\""), "the backlog offers the rest");
    assert!(html.contains("data-more-sprints=\"16\""), "the row offers the other sprints");
    // A card can be moved to the sprints that have a column here (sprints 0 to 23), not to
    // every sprint of the board.
    assert!(html.contains(">sprint 23</option>") && !html.contains(">sprint 24</option>"));

    let html = page(&srv, &format!("/boards/{board}/compare")).await;
    let cards = count(&html, "data-todo-id=");
    let columns = count(&html, "data-column=");
    // Five panes share the page's budget: 6 columns and 60 cards each.
    assert_eq!(columns, 5 * 6, "compare columns");
    assert_eq!(cards, 5 * 60, "compare cards");
    assert!(html.len() < 2 * 1024 * 1024, "a compare page of {} bytes", html.len());

    // More than six panes is a bad request.
    let seven = ["push-ops:sse"; 7].join(",");
    let r = srv.http.get(srv.url(&format!("/boards/{board}/compare?panes={seven}"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    srv.stop().await;
}

/// One client renders at most PAGE_RENDERS_PER_IP pages at once, and a few more wait their
/// turn; beyond those, `429` with `Retry-After` at once. The replica renders at most
/// PAGE_RENDERS at once: a page waits its turn up to 5 s, then gets `503` with
/// `Retry-After`. (Renders are held open here by pausing the database, which every page
/// reads through the access gate; the pool gives up on it after 3 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_are_bounded_per_client_and_per_replica() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.page_renders_per_ip = 2;
        c.page_renders = Some(4);
    })
    .await;
    let get = |path: &str| {
        let (http, url) = (srv.http.clone(), srv.url(path));
        tokio::spawn(async move {
            let r = http.get(url).send().await.unwrap();
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry, Instant::now())
        })
    };
    srv.app.store.pause_database(Duration::from_secs(2));
    // Two render, eight wait: ten pages of one client held.
    let held: Vec<_> = (0..10).map(|_| get("/boards/demo")).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, retry, at) = get("/").await.unwrap();
    assert_eq!((status, retry.as_deref()), (429, Some("1")), "an eleventh page at once from one client");
    for held in held {
        let (status, _, done) = held.await.unwrap();
        assert_eq!(status, 200);
        assert!(done > at, "the held pages answered after the refusal");
    }
    assert_eq!(srv.app.renders.clients(), 0, "a client's entry goes with its last page");
    srv.stop().await;

    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.page_renders_per_ip = 10;
        c.page_renders = Some(1);
    })
    .await;
    // Each held page waits for the database until the pool gives up (3 s), then answers:
    // the first holds the slot from 0 to 3 s, the second from 3 to 6 s, and the third,
    // asked at 0.3 s, has waited its 5 s at 5.3 s.
    srv.app.store.pause_database(Duration::from_secs(10));
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (http, url) = (srv.http.clone(), srv.url("/boards/demo"));
            tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let r = srv.http.get(srv.url("/boards/demo")).send().await.unwrap();
    let waited = asked.elapsed();
    assert_eq!(r.status(), 503, "the replica's one render slot is taken");
    assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    assert!(waited >= Duration::from_secs(5), "it waited its turn first ({waited:?})");
    for held in held {
        // Rendered, with the database unavailable: said so, with its status.
        assert_eq!(held.await.unwrap(), 503);
    }
    srv.stop().await;
}

/// `/docs/{file}`: the project's docs, which the board's legend links, as plain text that
/// public caches may keep; only the listed names exist, so no path reaches another file.
#[tokio::test]
async fn the_service_worker_keeps_the_shell_the_pages_link() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let r = srv.http.get(srv.url("/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache", "a new build's worker is found at the next page load");
    let worker = r.text().await.unwrap();
    // The files the pages link are the ones it keeps: a page and its script of one build.
    let page = srv.http.get(srv.url("/")).send().await.unwrap().text().await.unwrap();
    let linked = |prefix: &str, suffix: &str| {
        let start = page.find(prefix).unwrap_or_else(|| panic!("the page links {prefix}"));
        let end = start + page[start..].find(suffix).unwrap() + suffix.len();
        page[start..end].to_owned()
    };
    let (script, stylesheet) = (linked("/pkg/", ".js"), linked("/main", ".css"));
    let wasm = script.replace(".js", "_bg.wasm");
    for file in [&script, &wasm, &stylesheet] {
        assert!(worker.contains(&format!("\"{file}\"")), "the worker keeps {file}");
    }
    assert!(!worker.contains("__VERSION__") && !worker.contains("__SHELL__"), "filled in");
    let r = srv.http.post(srv.url("/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), 405, "read-only");
}

#[tokio::test]
async fn pages_say_how_long_a_queued_change_goes_by_itself_never_past_the_keys_memory() {
    let meta = |page: &str| {
        let at = page.find(r#"<meta name="outbox-max-age" content=""#).expect("the page says it");
        page[at..].split('"').nth(3).unwrap().to_owned()
    };
    let srv = TestServer::start(Backend::Sqlite).await;
    let page = srv.http.get(srv.url("/")).send().await.unwrap().text().await.unwrap();
    assert_eq!(meta(&page), "86400", "a day by default");
    // Longer than the server keeps Idempotency-Keys: a resent command could apply twice.
    let srv = TestServer::start_with(Backend::Sqlite, |config| {
        config.outbox_max_age = 7 * 86_400;
        config.idempotency_ttl = 3_600;
    })
    .await;
    let page = srv.http.get(srv.url("/")).send().await.unwrap().text().await.unwrap();
    assert_eq!(meta(&page), "3600");
}

#[tokio::test]
async fn docs_are_the_listed_files_as_plain_text_and_nothing_else() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let r = srv.http.get(srv.url("/docs/patterns.md")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
    assert!(r.text().await.unwrap().contains("poke-pull"));
    for path in ["/docs/nope.md", "/docs/..%2FCargo.toml", "/docs/%2e%2e%2fREADME.md", "/docs/performance%2Fstorm.json"]
    {
        let r = srv.http.get(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = srv.http.post(srv.url("/docs/patterns.md")).send().await.unwrap();
    assert_eq!(r.status(), 405, "read-only");
}
