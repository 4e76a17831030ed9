//! History: the board at an earlier seq (`GET /history?at=N`), one todo's changes with who
//! made them (`GET /todos/{id}/history`), the actor a command is sent with, and undo as a
//! new command computed from the answer's step. On SQLite and on Postgres, with a short log
//! and snapshots every few seqs, so that pruning and the floor are part of every run.

mod common;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use board_core::api::{HistoryPage, TodoHistoryPage};
use board_core::domain::undo::Step;
use board_core::domain::{BoardState, Command, Event};
use common::{Backend, TestServer};

/// Snapshots every 10 seqs, a log of 25 changes: after 60 changes the log starts at 36 and
/// the oldest snapshot it reaches past is 40.
async fn server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.snapshot_every = 10;
        c.log_retain = 25;
    })
    .await
}

/// Sends a command as `actor` (percent-encoded, as the page does); returns the status and
/// the answer.
async fn command_as(srv: &TestServer, board: &str, actor: &str, body: Value) -> (u16, Value) {
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{board}/commands")))
        .header("Board-Actor", actor)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn history(srv: &TestServer, board: &str, query: &str) -> (u16, Value) {
    let r = srv.http.get(srv.url(&format!("/api/boards/{board}/history?{query}"))).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn board_at(srv: &TestServer, board: &str, at: u64) -> HistoryPage {
    let (status, page) = history(srv, board, &format!("at={at}")).await;
    assert_eq!(status, 200, "history at {at}: {page}");
    serde_json::from_value(page).unwrap()
}

async fn every_retained_seq_shows_the_board_as_it_was(backend: Backend) {
    let srv = server(backend).await;
    let board = srv.create_board("history").await;
    // The board after every seq, as the API answered it then.
    let mut seen: BTreeMap<u64, BoardState> = BTreeMap::new();
    seen.insert(0, srv.state(&board).await);
    for i in 0..60u64 {
        let command = match i % 4 {
            0 | 1 => json!({"type": "add_todo", "title": format!("todo {i}")}),
            2 => json!({"type": "rename_todo", "id": i - 1, "title": format!("renamed {i}")}),
            _ => json!({"type": "move_todo", "id": i - 2, "sprint_id": null, "position": 0}),
        };
        let seq = srv.ok(&board, command).await;
        seen.insert(seq, srv.state(&board).await);
    }
    let head = 60;
    // Early on nothing was pruned: the floor is 0 and seq 0 is the empty board.
    let first = board_at(&srv, &board, head).await;
    assert_eq!((first.floor, first.head), (40, head), "the log keeps 36..=60; the oldest snapshot past 35 is 40");
    for at in first.floor..=head {
        let page = board_at(&srv, &board, at).await;
        assert_eq!(page.state, seen[&at], "the board at seq {at}");
        assert_eq!(page.change.as_ref().map(|c| c.seq), Some(at), "the change at {at} comes with it");
    }
    // Before the floor: 410, saying why and where history starts.
    let (status, refused) = history(&srv, &board, "at=39").await;
    assert_eq!(status, 410);
    let why = refused["error"].as_str().unwrap();
    assert!(why.contains("starts at seq 40") && why.contains("LOG_RETAIN"), "{why}");
    assert_eq!(refused["floor"], 40, "and where, for a slider to stop at");
    // Beyond the head, and nonsense: 404 and 400.
    assert_eq!(history(&srv, &board, "at=61").await.0, 404);
    assert_eq!(history(&srv, &board, "at=x").await.0, 400);
    assert_eq!(history(&srv, &board, "").await.0, 400);
    assert_eq!(history(&srv, &board, "at=45&then=501").await.0, 400);
    // `then` brings the changes after `at`, for stepping forward without asking again;
    // replaying them through the shared reducer lands on the board at each seq.
    let (status, page) = history(&srv, &board, "at=45&then=10").await;
    assert_eq!(status, 200);
    let page: HistoryPage = serde_json::from_value(page).unwrap();
    assert_eq!(page.then.iter().map(|c| c.seq).collect::<Vec<_>>(), (46..=55).collect::<Vec<_>>());
    let mut state = page.state;
    for change in &page.then {
        board_core::domain::evolve::evolve(&mut state, &change.event);
        assert_eq!(state, seen[&change.seq], "replayed to {}", change.seq);
    }
    srv.stop().await;
}

#[tokio::test]
async fn every_retained_seq_shows_the_board_as_it_was_on_sqlite() {
    every_retained_seq_shows_the_board_as_it_was(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_retained_seq_shows_the_board_as_it_was_on_postgres() {
    every_retained_seq_shows_the_board_as_it_was(Backend::Postgres).await;
}

#[tokio::test]
async fn history_reads_are_bounded_gated_and_limited() {
    let srv = server(Backend::Sqlite).await;
    let board = srv.create_board("flood").await;
    srv.ok(&board, json!({"type": "add_todo", "title": "one"})).await;
    // A young board: nothing pruned, so history reaches seq 0, the empty board.
    let empty = board_at(&srv, &board, 0).await;
    assert_eq!((empty.floor, empty.state.todos.len(), empty.change), (0, 0, None));
    // An unknown board is 404, like every other read (private boards: access.rs).
    assert_eq!(history(&srv, "no-such-board", "at=0").await.0, 404);
    // A flood from one client: its burst passes, then 429 with when to try again.
    let mut refused = None;
    for _ in 0..150 {
        let r = srv.http.get(srv.url(&format!("/api/boards/{board}/history?at=1"))).send().await.unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let refused = refused.expect("a client is limited to HISTORY_PER_MINUTE");
    assert!(refused.headers().contains_key("retry-after"));
    // The limit is the client's reads of history: its commands still pass.
    srv.ok(&board, json!({"type": "add_todo", "title": "two"})).await;
    srv.stop().await;
}

#[tokio::test]
async fn a_todos_history_names_every_change_and_who_made_it() {
    let srv = server(Backend::Sqlite).await;
    let board = srv.create_board("who").await;
    let ok = |status: u16, answer: &Value| assert_eq!(status, 200, "{answer}");
    let (s, a) = command_as(&srv, &board, "Ada", json!({"type": "add_sprint", "name": "Sprint"})).await;
    ok(s, &a);
    let sprint = a["id"].as_i64().unwrap();
    command_as(&srv, &board, "Ada", json!({"type": "start_sprint", "id": sprint})).await;
    let (s, a) = command_as(&srv, &board, "Ada%20Lovelace", json!({"type": "add_todo", "title": "tea"})).await;
    ok(s, &a);
    let id = a["id"].as_i64().unwrap();
    // Someone else's todo, whose changes must not show in this one's history.
    srv.ok(&board, json!({"type": "add_todo", "title": "other"})).await;
    let (s, a) =
        command_as(&srv, &board, "Bj%C3%B6rk", json!({"type": "rename_todo", "id": id, "title": "green tea"})).await;
    ok(s, &a);
    srv.ok(&board, json!({"type": "move_todo", "id": id, "sprint_id": sprint})).await;
    srv.ok(&board, json!({"type": "complete_sprint", "id": sprint})).await;
    srv.ok(&board, json!({"type": "delete_todo", "id": id})).await;

    let r = srv.http.get(srv.url(&format!("/api/boards/{board}/todos/{id}/history"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page: TodoHistoryPage = r.json().await.unwrap();
    let kinds: Vec<String> = page
        .changes
        .iter()
        .map(|c| serde_json::to_value(&c.event).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["todo_added", "todo_renamed", "todo_moved", "sprint_completed", "todo_deleted"],
        "every change that touched it, oldest first, and only those"
    );
    let actors: Vec<Option<&str>> = page.changes.iter().map(|c| c.actor.as_deref()).collect();
    assert_eq!(actors, [Some("Ada Lovelace"), Some("Björk"), None, None, None], "who, where the command said");
    assert!(!page.more);

    // An actor that is no name is refused, and the command with it changes nothing.
    let head = srv.state(&board).await.seq;
    for bad in ["%FF", "%20%20", "%0A"] {
        let (status, answer) = command_as(&srv, &board, bad, json!({"type": "add_todo", "title": "x"})).await;
        assert_eq!(status, 400, "actor {bad:?}: {answer}");
    }
    let long = "x".repeat(41);
    assert_eq!(command_as(&srv, &board, &long, json!({"type": "add_todo", "title": "x"})).await.0, 400);
    assert_eq!(srv.state(&board).await.seq, head);
    // A todo id that is not a number is 400; one with no retained change has an empty history.
    let r = srv.http.get(srv.url(&format!("/api/boards/{board}/todos/x/history"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = srv.http.get(srv.url(&format!("/api/boards/{board}/todos/999/history"))).send().await.unwrap();
    assert_eq!(r.json::<TodoHistoryPage>().await.unwrap().changes, []);
    srv.stop().await;
}

#[tokio::test]
async fn an_undo_is_a_new_change_computed_from_the_answers_step() {
    let srv = server(Backend::Sqlite).await;
    let board = srv.create_board("undo").await;
    let (_, added) = command_as(&srv, &board, "Ada", json!({"type": "add_todo", "title": "tea"})).await;
    let id = added["id"].as_i64().unwrap();
    let (status, renamed) =
        command_as(&srv, &board, "Ada", json!({"type": "rename_todo", "id": id, "title": "coffee"})).await;
    assert_eq!(status, 200);
    let step: Step = serde_json::from_value(renamed["step"].clone()).expect("the answer carries its step");
    assert_eq!(step.before.as_ref().map(|t| t.title.as_str()), Some("tea"));

    // The undo: the domain's inverse on the board as it is, sent like any command.
    let now = srv.state(&board).await;
    let undo = step.inverse(&now, None).unwrap();
    assert!(matches!(&undo, Command::RenameTodo { title, .. } if title == "tea"));
    let (status, undone) = command_as(&srv, &board, "Ada", serde_json::to_value(&undo).unwrap()).await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(srv.state(&board).await.todo(id).unwrap().title, "tea");
    // It is a change of its own: the log keeps the rename and its undo.
    let undo_seq = undone["seq"].as_u64().unwrap();
    let page = board_at(&srv, &board, undo_seq - 1).await;
    assert_eq!(page.state.todo(id).unwrap().title, "coffee");
    assert!(matches!(page.change.unwrap().event, Event::TodoRenamed { ref title, .. } if title == "coffee"));

    // Someone renames it between the undo's computation and its arrival: the undo carries
    // the version it saw, so the server refuses it (409) instead of overwriting theirs.
    let redo_step: Step = serde_json::from_value(undone["step"].clone()).unwrap();
    let redo = redo_step.inverse(&srv.state(&board).await, None).unwrap();
    srv.ok(&board, json!({"type": "rename_todo", "id": id, "title": "their title"})).await;
    let (status, refused) = command_as(&srv, &board, "Ada", serde_json::to_value(&redo).unwrap()).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(srv.state(&board).await.todo(id).unwrap().title, "their title");

    // A delete comes back with its id and fields through restore_todo.
    let (_, deleted) = command_as(&srv, &board, "Ada", json!({"type": "delete_todo", "id": id})).await;
    let step: Step = serde_json::from_value(deleted["step"].clone()).unwrap();
    let restore = step.inverse(&srv.state(&board).await, None).unwrap();
    let (status, restored) = command_as(&srv, &board, "Ada", serde_json::to_value(&restore).unwrap()).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["id"], id);
    assert_eq!(srv.state(&board).await.todo(id).unwrap().title, "their title");
    srv.stop().await;
}

#[tokio::test]
async fn pruned_past_every_snapshot_only_now_is_left() {
    // A log of 10 changes and a snapshot every 1000: after 30 changes nothing older than
    // the head can be rebuilt, and history says so.
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.snapshot_every = 1000;
        c.log_retain = 10;
    })
    .await;
    let board = srv.create_board("short").await;
    for i in 0..30 {
        srv.ok(&board, json!({"type": "add_todo", "title": format!("todo {i}")})).await;
    }
    let now = board_at(&srv, &board, 30).await;
    assert_eq!((now.floor, now.head), (30, 30));
    assert_eq!(now.state, srv.state(&board).await);
    let (status, refused) = history(&srv, &board, "at=29").await;
    assert_eq!((status, refused["floor"].as_u64()), (410, Some(30)));
    srv.stop().await;
}
