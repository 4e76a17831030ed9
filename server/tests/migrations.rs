//! Upgrading a database that holds boards: the schema changes under data, and what a
//! client relies on (each column's order, the board's seq) survives it.

mod common;

use common::{Backend, TestServer};
use serde_json::json;
use sqlx::any::AnyPoolOptions;

/// The last migration before positions became keys.
const BEFORE_POSITION_KEYS: i64 = 20261125000002;

/// A board written by the previous release (dense numeric positions, a log of changes
/// whose events carry them, a remembered answer) is read by this one: every column keeps
/// its order, the old log is gone (a client behind it is told to reset), and the board
/// takes new moves and appends in the right places.
async fn dense_positions_become_keys(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}/old.db?mode=rwc", dir.path().display()),
        Backend::Postgres => common::fresh_postgres_database().await,
    };
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    migrations::MIGRATOR.run_to(BEFORE_POSITION_KEYS, &pool).await.unwrap();
    let old_rows = [
        "INSERT INTO boards (id, name, seq, created_at) VALUES ('old', 'Old board', 7, 0)",
        "INSERT INTO sprints (board_id, id, name, status) VALUES ('old', 5, 'S', 'active')",
        // Backlog order 3, 1, 2 (positions 0, 1, 2); sprint 5 holds 6 then 4; and 300
        // more backlog todos so positions pass one byte.
        "INSERT INTO todos (board_id, id, title, status, sprint_id, position, version) VALUES \
         ('old', 1, 'one', 'todo', NULL, 1, 1), ('old', 2, 'two', 'todo', NULL, 2, 1), \
         ('old', 3, 'three', 'todo', NULL, 0, 2), ('old', 4, 'four', 'done', 5, 1, 1), \
         ('old', 6, 'six', 'doing', 5, 0, 3)",
        "INSERT INTO changes (board_id, seq, at, event, ops, diff) VALUES \
         ('old', 7, 0, '{\"type\":\"todo_moved\",\"id\":3,\"sprint_id\":null,\"position\":0}', '[]', '{}')",
        "INSERT INTO idempotency_keys (board_id, key, response, created_at, request) VALUES \
         ('old', 'k', '{\"seq\":7,\"event\":{\"type\":\"todo_moved\",\"id\":3,\"sprint_id\":null,\"position\":0}}', 0, '')",
    ];
    for sql in old_rows {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap();
    }
    for i in 0..300i64 {
        sqlx::query("INSERT INTO todos (board_id, id, title, status, sprint_id, position, version) VALUES ('old', $1, 'more', 'todo', NULL, $2, 1)")
            .bind(100 + i)
            .bind(3 + i)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    // This release migrates on start.
    let srv = TestServer::start_with(backend, |c| c.database_url = url.clone()).await;
    let state = srv.state("old").await;
    assert_eq!(state.seq, 7, "the board keeps its seq");
    let backlog: Vec<i64> = state.column(None).iter().map(|t| t.id).collect();
    assert_eq!(backlog[..3], [3, 1, 2]);
    assert_eq!(backlog[3..], (100..400).collect::<Vec<_>>()[..], "order kept past position 255");
    assert_eq!(state.column(Some(5)).iter().map(|t| t.id).collect::<Vec<_>>(), [6, 4]);
    assert_eq!(state.todo(6).unwrap().version, 3, "versions are untouched");

    // The old log cannot be replayed: a client behind the head must take a snapshot.
    let r = srv.http.get(srv.url("/api/boards/old/changes?since=6")).send().await.unwrap();
    assert_eq!(r.status(), 410, "a since inside the dropped log");
    let r = srv
        .http
        .post(srv.url("/api/boards/old/commands"))
        .header("idempotency-key", "k")
        .json(&json!({"type": "delete_todo", "id": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the old remembered answer is gone, so this applies");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["seq"], 8);

    // New keys fall in the right places among the migrated ones.
    srv.ok("old", json!({"type": "move_todo", "id": 4, "sprint_id": null, "position": 1})).await;
    srv.ok("old", json!({"type": "add_todo", "title": "last"})).await;
    let state = srv.state("old").await;
    let backlog: Vec<i64> = state.column(None).iter().map(|t| t.id).collect();
    assert_eq!(backlog[..4], [3, 4, 1, 100], "4 moved to place 1; 2 was deleted");
    assert_eq!(*backlog.last().unwrap(), state.seq as i64, "the new todo is last");
    srv.stop().await;
}

#[tokio::test]
async fn dense_positions_become_keys_on_sqlite() {
    dense_positions_become_keys(Backend::Sqlite).await;
}

#[tokio::test]
async fn dense_positions_become_keys_on_postgres() {
    dense_positions_become_keys(Backend::Postgres).await;
}
