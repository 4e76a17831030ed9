//! The REST API of the contract, on SQLite and on Postgres: every route, every refusal.

mod common;

use board_core::step::Step;
use common::{Backend, TestServer};
use serde_json::{json, Value};

async fn health_and_replica_header(backend: Backend) {
    let srv = TestServer::start(backend).await;
    for path in ["/healthz", "/readyz", "/metrics", "/api/boards", "/api/boards/demo", "/api/boards/nope", "/"] {
        let r = srv.http.get(srv.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["x-replica"], "test-replica", "{path} carries X-Replica");
    }
    let ready: Value = srv.http.get(srv.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    srv.ok("demo", json!({"type": "add_todo", "title": "counted"})).await;
    // Metrics live on their own listener; the public one does not show them.
    let public = srv.http.get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let metrics_addr = server::serve::metrics_listener(
        "127.0.0.1:0",
        srv.app.metrics.clone(),
        srv.app.broker.clone(),
        &srv.app.background,
        srv.app.closing.clone(),
    )
    .await
    .unwrap();
    let metrics = srv.http.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("board_commands_total"), "{metrics}");
    srv.stop().await;
}

/// A board holds at most MAX_TODOS_PER_BOARD todos and MAX_SPRINTS_PER_BOARD sprints;
/// commands beyond answer 422 and change nothing.
async fn board_size_limits(backend: Backend) {
    // Just big enough for the seeded demo board (5 todos, 2 sprints).
    let srv = TestServer::start_with(backend, |c| {
        c.max_todos_per_board = 5;
        c.max_sprints_per_board = 2;
    })
    .await;
    let board = srv.create_board("small").await;
    for i in 0..5 {
        srv.ok(&board, json!({"type": "add_todo", "title": format!("t{i}")})).await;
    }
    let (status, body) = srv.command(&board, json!({"type": "add_todo", "title": "one too many"})).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (422, "a board holds at most 5 todos"));
    srv.ok(&board, json!({"type": "add_sprint", "name": "S"})).await;
    srv.ok(&board, json!({"type": "add_sprint", "name": "T"})).await;
    let (status, _) = srv.command(&board, json!({"type": "add_sprint", "name": "U"})).await;
    assert_eq!(status, 422);
    // Deleting makes room again.
    srv.ok(&board, json!({"type": "delete_todo", "id": 1})).await;
    srv.ok(&board, json!({"type": "add_todo", "title": "fits again"})).await;
    assert_eq!(srv.state(&board).await.seq, 9, "the refused commands took no seq");
    srv.stop().await;
}

/// A stored Idempotency-Key answer is forgotten after IDEMPOTENCY_TTL (the same key then
/// applies anew), and a board keeps only its newest ones.
async fn idempotency_keys_expire_and_are_bounded(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.idempotency_ttl = 1).await;
    let board = srv.create_board("forgetful").await;
    let send = |key: String| {
        srv.http
            .post(srv.url(&format!("/api/boards/{board}/commands")))
            .header("Idempotency-Key", key)
            .json(&json!({"type": "add_todo", "title": "again"}))
            .send()
    };
    let seq = |r: reqwest::Response| async move { r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap() };
    assert_eq!(seq(send("k".into()).await.unwrap()).await, 1);
    assert_eq!(seq(send("k".into()).await.unwrap()).await, 1, "remembered within the TTL");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(seq(send("k".into()).await.unwrap()).await, 2, "forgotten after it");

    // The sweep: nothing is older than a day, but only the newest two per board stay.
    for i in 0..4 {
        send(format!("n-{i}")).await.unwrap();
    }
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(srv.app.store.forget_idempotency_keys(day, 2).await.unwrap(), 3);
    let head = srv.state(&board).await.seq;
    assert_eq!(seq(send("n-3".into()).await.unwrap()).await, head, "a kept key still answers");
    assert_eq!(seq(send("n-0".into()).await.unwrap()).await, head + 1, "a swept one applies anew");
    srv.stop().await;
}

async fn demo_board_and_etags(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let r = srv.http.get(srv.url("/api/boards/demo")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let state: board_core::domain::BoardState = r.json().await.unwrap();
    assert!(state.seq > 0 && !state.todos.is_empty() && !state.sprints.is_empty(), "the demo board is seeded");
    assert_eq!(etag, format!("\"{}\"", state.seq));
    let r = srv.http.get(srv.url("/api/boards/demo")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304);
    srv.ok("demo", json!({"type": "add_todo", "title": "new"})).await;
    let r = srv.http.get(srv.url("/api/boards/demo")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 200, "a newer seq is a new ETag");
    let boards: Value = srv.http.get(srv.url("/api/boards")).send().await.unwrap().json().await.unwrap();
    assert!(boards.as_array().unwrap().iter().any(|b| b["id"] == "demo"));
    srv.stop().await;
}

/// `/snapshots/{seq}`: the head at an immutable URL (shared caches may keep a public
/// board's for a year, only the browser a private one's); an older seq or another epoch
/// `410`, a seq beyond the head `404`, neither cacheable.
async fn snapshots_at_immutable_urls(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("snapshots").await;
    srv.ok(&board, json!({"type": "add_todo", "title": "one"})).await;
    let head = srv.ok(&board, json!({"type": "add_todo", "title": "two"})).await;
    let get = |path: String| srv.http.get(srv.url(&path)).send();

    let r = get(format!("/api/boards/{board}/snapshots/{head}")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(r.headers()["etag"], format!("\"{head}\""));
    let epoch = r.headers()[board_core::api::EPOCH_HEADER].to_str().unwrap().to_owned();
    let at_head: board_core::domain::BoardState = r.json().await.unwrap();
    assert_eq!(at_head, srv.state(&board).await, "the same board as GET state");
    let r = get(format!("/api/boards/{board}/snapshots/{head}?epoch={epoch}")).await.unwrap();
    assert_eq!(r.status(), 200, "its own epoch");

    for (path, status) in [
        (format!("/api/boards/{board}/snapshots/{}", head - 1), 410),
        (format!("/api/boards/{board}/snapshots/{head}?epoch=another"), 410),
        (format!("/api/boards/{board}/snapshots/{}", head + 1), 404),
        (format!("/api/boards/{board}/snapshots/x"), 400),
        ("/api/boards/nope/snapshots/0".to_owned(), 404),
    ] {
        let r = get(path.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}: a refusal is never cached");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }

    // A private board: its key or nothing, and no shared cache.
    let r = srv.http.post(srv.url("/api/boards")).json(&json!({"name": "secret"})).send().await.unwrap();
    let created: Value = r.json().await.unwrap();
    let (private, read) = (created["id"].as_str().unwrap(), created["keys"]["read"].as_str().unwrap());
    let path = format!("/api/boards/{private}/snapshots/0");
    assert_eq!(get(path.clone()).await.unwrap().status(), 404, "no key, no board");
    let r = srv.http.get(srv.url(&path)).bearer_auth(read).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "private, max-age=31536000, immutable");
    srv.stop().await;
}

async fn create_board_and_commands(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("Team <Rocket>").await;
    assert!(board.starts_with("team-rocket-"), "{board}");
    let state = srv.state(&board).await;
    assert_eq!((state.seq, state.board.name.as_str()), (0, "Team <Rocket>"));

    let (status, answer) = srv.command(&board, json!({"type": "add_sprint", "name": "S1"})).await;
    assert_eq!((status, answer["seq"].as_u64(), answer["id"].as_i64()), (200, Some(1), Some(1)));
    let (_, answer) = srv.command(&board, json!({"type": "add_todo", "title": "a", "sprint_id": 1})).await;
    let todo = answer["id"].as_i64().unwrap();
    srv.ok(&board, json!({"type": "rename_todo", "id": todo, "title": "b", "expected_version": 1})).await;
    srv.ok(&board, json!({"type": "set_todo_status", "id": todo, "status": "doing"})).await;
    srv.ok(&board, json!({"type": "move_todo", "id": todo, "sprint_id": null, "position": 0})).await;
    srv.ok(&board, json!({"type": "move_todo", "id": todo, "sprint_id": 1})).await;
    srv.ok(&board, json!({"type": "start_sprint", "id": 1})).await;
    let seq = srv.ok(&board, json!({"type": "complete_sprint", "id": 1})).await;
    let state = srv.state(&board).await;
    assert_eq!(state.seq, seq);
    let t = state.todo(todo).unwrap();
    assert_eq!((t.title.as_str(), t.sprint_id, t.status.as_str()), ("b", None, "doing"), "unfinished → backlog");
    assert_eq!(state.sprint(1).unwrap().status.as_str(), "completed");
    srv.ok(&board, json!({"type": "delete_todo", "id": todo})).await;
    assert!(srv.state(&board).await.todos.is_empty());
    srv.stop().await;
}

async fn idempotency_and_versions(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("idem").await;
    let send = |key: &'static str| {
        srv.http
            .post(srv.url(&format!("/api/boards/{board}/commands")))
            .header("Idempotency-Key", key)
            .json(&json!({"type": "add_todo", "title": "once"}))
            .send()
    };
    let first: Value = send("k-1").await.unwrap().json().await.unwrap();
    let again: Value = send("k-1").await.unwrap().json().await.unwrap();
    assert_eq!(first, again, "a retry gets the first answer");
    assert_eq!(srv.state(&board).await.todos.len(), 1, "and applies nothing");
    let other: Value = send("k-2").await.unwrap().json().await.unwrap();
    assert_eq!(other["seq"], 2);
    // The same command with its fields in another order is the same command.
    let reordered = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/commands")))
        .header("Idempotency-Key", "k-1")
        .header("content-type", "application/json")
        .body(r#"{"title": "once", "type": "add_todo"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reordered.json::<Value>().await.unwrap(), first);
    // A key reused for a different command is refused, not answered with the first result.
    let reused = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/commands")))
        .header("Idempotency-Key", "k-1")
        .json(&json!({"type": "add_todo", "title": "something else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 422);
    let error: Value = reused.json().await.unwrap();
    assert!(error["error"].as_str().unwrap().contains("different command"), "{error}");
    assert_eq!(srv.state(&board).await.seq, 2, "the refusal changed nothing");

    let (status, body) =
        srv.command(&board, json!({"type": "rename_todo", "id": 1, "title": "x", "expected_version": 7})).await;
    assert_eq!(status, 409);
    assert_eq!(body["current"]["id"], 1);
    assert_eq!(body["current"]["version"], 1);
    assert!(body["error"].as_str().unwrap().contains("version"));
    assert_eq!(srv.state(&board).await.seq, 2);
    srv.stop().await;
}

async fn every_refusal_changes_nothing(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.log_retain = 3).await;
    let board = srv.create_board("refusals").await;
    srv.ok(&board, json!({"type": "add_sprint", "name": "S"})).await;
    srv.ok(&board, json!({"type": "add_todo", "title": "t"})).await;
    srv.ok(&board, json!({"type": "start_sprint", "id": 1})).await;
    srv.ok(&board, json!({"type": "complete_sprint", "id": 1})).await;
    srv.ok(&board, json!({"type": "add_todo", "title": "u"})).await;
    let before = srv.state(&board).await;
    let commands = srv.url(&format!("/api/boards/{board}/commands"));

    let raw =
        |body: &'static str| srv.http.post(&commands).header("content-type", "application/json").body(body).send();
    let cases: Vec<(&str, u16, reqwest::Response)> = vec![
        ("a body that is not JSON", 400, raw("{not json").await.unwrap()),
        ("an unknown command type", 400, raw(r#"{"type":"launch_rocket"}"#).await.unwrap()),
        ("a command without its field", 400, raw(r#"{"type":"add_todo"}"#).await.unwrap()),
        ("an unknown todo status", 400, raw(r#"{"type":"set_todo_status","id":2,"status":"blocked"}"#).await.unwrap()),
        (
            "a command for a board that does not exist",
            404,
            srv.http
                .post(srv.url("/api/boards/nope/commands"))
                .json(&json!({"type":"add_todo","title":"x"}))
                .send()
                .await
                .unwrap(),
        ),
        (
            "a todo that does not exist",
            404,
            srv.http.post(&commands).json(&json!({"type":"rename_todo","id":99,"title":"x"})).send().await.unwrap(),
        ),
        (
            "a sprint that does not exist",
            404,
            srv.http.post(&commands).json(&json!({"type":"start_sprint","id":99})).send().await.unwrap(),
        ),
        (
            "a blank title",
            422,
            srv.http.post(&commands).json(&json!({"type":"add_todo","title":"   "})).send().await.unwrap(),
        ),
        (
            "a title over 500 characters",
            422,
            srv.http.post(&commands).json(&json!({"type":"add_todo","title":"x".repeat(501)})).send().await.unwrap(),
        ),
        (
            "completing a sprint that is not active",
            422,
            srv.http.post(&commands).json(&json!({"type":"complete_sprint","id":1})).send().await.unwrap(),
        ),
        (
            "a body over 64 KiB",
            413,
            srv.http.post(&commands).json(&json!({"type":"add_todo","title":"x".repeat(70_000)})).send().await.unwrap(),
        ),
        (
            "the state of a board that does not exist",
            404,
            srv.http.get(srv.url("/api/boards/nope")).send().await.unwrap(),
        ),
        (
            "the changes of a board that does not exist",
            404,
            srv.http.get(srv.url("/api/boards/nope/changes?since=0")).send().await.unwrap(),
        ),
        (
            "an unknown pattern on SSE",
            400,
            srv.http.get(srv.url(&format!("/api/boards/{board}/sse?pattern=smoke-signals"))).send().await.unwrap(),
        ),
        (
            "an unknown pattern on /changes",
            400,
            srv.http.get(srv.url(&format!("/api/boards/{board}/changes?since=0&pattern=nope"))).send().await.unwrap(),
        ),
        (
            "a seq that is not a number",
            400,
            srv.http.get(srv.url(&format!("/api/boards/{board}/changes?since=minus-one"))).send().await.unwrap(),
        ),
        (
            "a seq older than the retained log",
            410,
            srv.http.get(srv.url(&format!("/api/boards/{board}/changes?since=0"))).send().await.unwrap(),
        ),
        (
            "a board without a name",
            422,
            srv.http.post(srv.url("/api/boards")).json(&json!({"name": ""})).send().await.unwrap(),
        ),
        ("an unknown API route", 404, srv.http.get(srv.url("/api/no/such/route")).send().await.unwrap()),
        (
            "a title with a control character",
            422,
            srv.http.post(&commands).json(&json!({"type":"add_todo","title":"a\u{0}b"})).send().await.unwrap(),
        ),
        (
            "a name with a line break",
            422,
            srv.http.post(&commands).json(&json!({"type":"add_sprint","name":"line\nbreak"})).send().await.unwrap(),
        ),
        ("DELETE on the commands route", 405, srv.http.delete(&commands).send().await.unwrap()),
        ("PUT on a board", 405, srv.http.put(srv.url(&format!("/api/boards/{board}"))).send().await.unwrap()),
        (
            "a board id that is not UTF-8",
            400,
            srv.http.get(srv.url("/api/boards/%FF%FE/changes?since=0")).send().await.unwrap(),
        ),
    ];
    for (case, want, response) in cases {
        assert_eq!(response.status().as_u16(), want, "{case}");
        assert_eq!(response.headers()["content-type"], "application/json", "{case}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{case}: {body}");
        if case.starts_with("an unknown pattern") {
            let e = body["error"].as_str().unwrap();
            assert!(e.contains("poke-pull") && e.contains("event-diff"), "{case}: names the valid patterns: {e}");
        }
    }
    assert_eq!(srv.state(&board).await, before, "no refusal changed the board");
    srv.stop().await;
}

async fn changes_backfill_rebuilds_the_board(backend: Backend) {
    use board_core::patterns::{Frame, PatternKind};
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("backfill").await;
    let start = srv.state(&board).await;
    srv.ok(&board, json!({"type": "add_sprint", "name": "S"})).await;
    for i in 0..5 {
        srv.ok(&board, json!({"type": "add_todo", "title": format!("t{i}"), "sprint_id": 1})).await;
    }
    srv.ok(&board, json!({"type": "start_sprint", "id": 1})).await;
    srv.ok(&board, json!({"type": "set_todo_status", "id": 2, "status": "done"})).await;
    srv.ok(&board, json!({"type": "complete_sprint", "id": 1})).await;
    let server_state = srv.state(&board).await;
    for pattern in PatternKind::ALL {
        let page = srv.frames(&format!("/api/boards/{board}/changes?since=0&pattern={pattern}")).await;
        assert_eq!(page.head, server_state.seq);
        let mut client = srv.client_at(&board, pattern, start.clone());
        for frame in &page.frames {
            if !pattern.self_contained() {
                assert_eq!(frame.seq(), Some(client.seq() + 1), "{pattern}: in order, no gap");
            }
            let taken = client.handle(frame).await;
            assert!(matches!(taken, Step::Applied | Step::Pull), "{pattern}: {taken:?}");
        }
        assert_eq!(client.state, server_state, "{pattern} rebuilds the board from /changes");
        if pattern.self_contained() {
            assert_eq!(page.frames.len(), 1, "{pattern} needs only the latest frame");
        }
        assert!(page.frames.iter().all(|f| !matches!(f, Frame::Reset { .. })));
    }
    srv.stop().await;
}

async fn concurrent_writers_get_contiguous_seqs(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("race").await;
    let writers = 8;
    let each = 15;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let http = srv.http.clone();
        let url = srv.url(&format!("/api/boards/{board}/commands"));
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..each {
                let r = http
                    .post(&url)
                    .json(&json!({"type": "add_todo", "title": format!("w{w}-{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                seqs.push(r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap());
            }
            seqs
        }));
    }
    let mut seqs: Vec<u64> = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    seqs.sort_unstable();
    let total = (writers * each) as u64;
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "every seq once, no gap");
    let state = srv.state(&board).await;
    assert_eq!((state.seq, state.todos.len() as u64), (total, total));
    // Appended in commit order: the column runs in id (= seq) order, each key distinct.
    let column = state.column(None);
    assert_eq!(column.iter().map(|t| t.id as u64).collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>());
    assert!(column.windows(2).all(|w| w[0].position < w[1].position), "keys strictly increase");
    let page = srv.frames(&format!("/api/boards/{board}/changes?since=0")).await;
    let logged: Vec<u64> = page.frames.iter().filter_map(|f| f.seq()).collect();
    assert_eq!(logged, (1..=total).collect::<Vec<_>>(), "the log is contiguous");
    srv.stop().await;
}

/// A change's frames carry the Idempotency-Key its command was sent with (and none without
/// one), in every pattern: live on a stream, from the log (`/changes`), and in the one frame
/// that brings a self-contained client to the head. The tab that sent the command
/// recognises its change by it, even when the frame overtakes the command's answer.
async fn frames_carry_their_commands_key(backend: Backend) {
    use board_core::patterns::{Frame, PatternKind};
    use board_core::protocol::Transport;
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("keyed").await;
    let mut live = Vec::new();
    for pattern in PatternKind::ALL {
        live.push((pattern, srv.subscribe(&board, Transport::Ws, pattern, 0).await));
    }
    let keyed = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/commands")))
        .header("Idempotency-Key", "tab-1-cmd-1")
        .json(&json!({"type": "add_todo", "title": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 200);
    for (pattern, sub) in &mut live {
        let mut frames = Vec::new();
        while !frames.iter().any(|f: &Frame| f.seq() == Some(1)) {
            frames.extend(sub.next_batch(0).await);
        }
        let frame = frames.iter().find(|f| f.seq() == Some(1)).unwrap();
        assert_eq!(frame.key(), Some("tab-1-cmd-1"), "{pattern}: live frame {frame:?}");
    }
    srv.ok(&board, json!({"type": "add_todo", "title": "anyone's"})).await;
    for pattern in PatternKind::ALL {
        let page = srv.frames(&format!("/api/boards/{board}/changes?since=0&pattern={pattern}")).await;
        if pattern.self_contained() {
            // One frame at the head, made by the command without a key.
            assert_eq!(page.frames.last().and_then(Frame::seq), Some(2), "{pattern}");
            assert_eq!(page.frames.last().unwrap().key(), None, "{pattern}");
        } else {
            let keys: Vec<_> = page.frames.iter().map(Frame::key).collect();
            assert_eq!(keys, [Some("tab-1-cmd-1"), None], "{pattern}: from the log");
        }
    }
    // A self-contained client catching up to a head made by a keyed command gets its key.
    srv.http
        .post(srv.url(&format!("/api/boards/{board}/commands")))
        .header("Idempotency-Key", "tab-1-cmd-2")
        .json(&json!({"type": "add_todo", "title": "mine too"}))
        .send()
        .await
        .unwrap();
    for pattern in [PatternKind::PokePull, PatternKind::PushState] {
        let page = srv.frames(&format!("/api/boards/{board}/poll?since=1&pattern={pattern}")).await;
        let last = page.frames.last().expect("a frame at the head");
        assert_eq!((last.seq(), last.key()), (Some(3), Some("tab-1-cmd-2")), "{pattern}: catch-up");
    }
    for (_, sub) in live {
        sub.close().await;
    }
    srv.stop().await;
}

on_both_backends!(
    health_and_replica_header,
    demo_board_and_etags,
    snapshots_at_immutable_urls,
    create_board_and_commands,
    idempotency_and_versions,
    every_refusal_changes_nothing,
    changes_backfill_rebuilds_the_board,
    concurrent_writers_get_contiguous_seqs,
    board_size_limits,
    idempotency_keys_expire_and_are_bounded,
    frames_carry_their_commands_key,
);
