//! The command service as Leptos server functions (`/api/fn/...`): the same gate, rules
//! and refusals as `POST /api/boards/{board}/commands`, JSON in and out for `run_command`,
//! and a form post that returns to the board for `add_todo` (the no-script add form).

mod common;

use common::{Backend, TestServer};
use serde_json::{json, Value};

/// A private board and its keys.
async fn private_board(srv: &TestServer) -> (String, String, String) {
    let r = srv.http.post(srv.url("/api/boards")).json(&json!({"name": "Private"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let key = |role: &str| created["keys"][role].as_str().unwrap().to_owned();
    (created["id"].as_str().unwrap().to_owned(), key("read"), key("write"))
}

async fn run_command(srv: &TestServer, key: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = srv.http.post(srv.url("/api/fn/run_command")).json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn run_command_is_the_command_service() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let (board, read, write) = private_board(&srv).await;
    let add = |title: &str, key: Option<&str>| json!({"board": board, "command": {"type": "add_todo", "title": title}, "idempotency_key": key});

    let (status, answer) = run_command(&srv, Some(&write), add("one", Some("k-1"))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["seq"].as_u64(), answer["event"]["type"].as_str()), (Some(1), Some("todo_added")));
    // The same Idempotency-Key answers the same, and commits nothing more.
    let (status, again) = run_command(&srv, Some(&write), add("one", Some("k-1"))).await;
    assert_eq!((status, &again), (200, &answer));

    // The refusals of the REST endpoint, with its statuses and words.
    let cases: [(&str, Option<&str>, Value, u16, &str); 5] = [
        ("a read key", Some(&read), add("two", None), 403, "this key can read the board but not change it"),
        ("no key for a private board", None, add("two", None), 404, "does not exist"),
        ("a key HTTP could not send", Some(&write), add("two", Some("tab\there")), 400, "Idempotency-Key must be"),
        ("a blank title", Some(&write), add("   ", None), 422, "title"),
        ("arguments that do not decode", Some(&write), json!({"board": board, "command": {"type": "fly"}}), 400, ""),
    ];
    for (name, key, body, status, words) in cases {
        let (got, refused) = run_command(&srv, key, body).await;
        assert_eq!(got, status, "{name}: {refused}");
        assert_eq!(refused["status"].as_u64(), Some(u64::from(status)), "{name}: {refused}");
        assert!(refused["error"].as_str().unwrap().contains(words), "{name}: {refused}");
    }
    let state = srv.http.get(srv.url(&format!("/api/boards/{board}"))).bearer_auth(&read).send().await.unwrap();
    let state: board_core::domain::BoardState = state.json().await.unwrap();
    assert_eq!((state.seq, state.todos.len()), (1, 1), "no refusal changed the board");

    // A name that is no server function is a JSON 404; a cross-site post never runs one.
    let r = srv.http.post(srv.url("/api/fn/nope")).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    let r = srv
        .http
        .post(srv.url("/api/fn/run_command"))
        .header("origin", "https://evil.example")
        .bearer_auth(&write)
        .json(&add("from elsewhere", None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    srv.stop().await;
}

/// What a browser without the page's script sends: a form post that accepts HTML, with
/// the board's write key in the cookie its share link set. It is sent back to the board.
#[tokio::test]
async fn the_add_form_posts_and_returns_to_the_board() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let (board, read, write) = private_board(&srv).await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let post = |form: Vec<(&'static str, String)>, cookie: String| {
        no_redirects
            .post(srv.url("/api/fn/add_todo"))
            .header("accept", "text/html,application/xhtml+xml")
            .header("origin", srv.base.clone())
            .header("cookie", cookie)
            .form(&form)
            .send()
    };
    let cookie = format!("{}={write}", server::access::cookie_name(&board));

    let r = post(vec![("board", board.clone()), ("title", "from a form".into())], cookie.clone()).await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], format!("/boards/{board}").as_str());

    // Refused (a blank title): back to the board with a code the page words itself, and
    // nothing changed.
    let r = post(vec![("board", board.clone()), ("title", " ".into())], cookie.clone()).await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/boards/{board}?error=refused"));
    // The page says what a code means in its own words; any other text in the URL is not shown.
    let page = |query: &'static str| {
        let request = srv.http.get(srv.url(&format!("/boards/{board}?{query}"))).header("cookie", cookie.clone());
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    assert!(page("error=refused").await.contains("its title was empty or too long"));
    let forged = page("error=Your%20account%20is%20locked%3A%20call%20555-0100").await;
    assert!(!forged.contains("account is locked") && forged.contains("The todo was not added."), "a stranger's words");

    // Without the cookie the board is not this browser's to change.
    let r = post(vec![("board", board.clone()), ("title", "anonymous".into())], String::new()).await.unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("?error="));

    let state = srv.http.get(srv.url(&format!("/api/boards/{board}"))).bearer_auth(&read).send().await.unwrap();
    let state: board_core::domain::BoardState = state.json().await.unwrap();
    let titles: Vec<&str> = state.todos.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["from a form"]);
    srv.stop().await;
}

/// The server functions take only what docs/security.md says: `run_command` JSON (`415`
/// for `text/plain` and forms, which any site's form can send), `add_todo` the page's form,
/// and only from a browser that names its origin (`403` without); and a `429` says when to
/// come back (`Retry-After`), as the REST API's does. Nothing refused changes anything.
#[tokio::test]
async fn server_functions_take_only_what_they_should() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.commands_per_minute = 2).await;
    let (board, read, write) = private_board(&srv).await;
    let command = json!({"board": board, "command": {"type": "add_todo", "title": "smuggled"}}).to_string();
    for mime in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let r = srv
            .http
            .post(srv.url("/api/fn/run_command"))
            .bearer_auth(&write)
            .header("content-type", mime)
            .body(command.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{mime}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    }
    let form = [("board", board.clone()), ("title", "no origin".into())];
    let r = srv.http.post(srv.url("/api/fn/add_todo")).bearer_auth(&write).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403, "a form without a browser's Origin");
    let r = srv
        .http
        .post(srv.url("/api/fn/add_todo"))
        .bearer_auth(&write)
        .header("origin", srv.base.clone())
        .json(&json!({"board": board, "title": "json to the form"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "the form's function takes the form");
    let state = srv.http.get(srv.url(&format!("/api/boards/{board}"))).bearer_auth(&read).send().await.unwrap();
    assert_eq!(
        state.json::<board_core::domain::BoardState>().await.unwrap().seq,
        0,
        "nothing refused changed anything"
    );

    // Past the command rate (2 a minute): 429 with Retry-After.
    let mut limited = None;
    for i in 0..5 {
        let add = json!({"board": board, "command": {"type": "add_todo", "title": format!("t{i}")}});
        let r = srv.http.post(srv.url("/api/fn/run_command")).bearer_auth(&write).json(&add).send().await.unwrap();
        if r.status() == 429 {
            limited = Some(r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap()));
            break;
        }
    }
    let wait = limited.expect("the command rate was reached").expect("a 429 says when to come back");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    srv.stop().await;
}
